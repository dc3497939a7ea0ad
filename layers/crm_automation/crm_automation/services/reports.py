"""Reports (issue #7), the read side: loss reasons, retention, workflow results and campaign results as JSON.

Each report reads a few items per month, never the business tables: the running aggregates the report aggregator
keeps in the reports table (`rt.store.reports`), the sparse `ByWorkflow` index of the tasks table (the tasks a
workflow created in the period, and their status now) and the `ByCreated` index of the campaigns (their counters
live on the campaign item). The figures are computed in `domain/report_views.py`. A parameter that cannot be used
is an InvalidRequestError (HTTP 400) naming it; nothing is written.
"""

from __future__ import annotations

from typing import Any

from crm_automation.domain import report_views as views
from crm_automation.domain.reports import rollup_prefix
from crm_automation.errors import InvalidRequestError
from crm_automation.services.runtime import Runtime


def _months(rt: Runtime, month_from: str | None, month_to: str | None) -> tuple[views.Month, views.Month]:
    return views.month_range(month_from, month_to, rt.clock.now(), rt.settings.timezone)


def loss_reasons(rt: Runtime, month_from: str | None = None, month_to: str | None = None,
                 by: str | None = None) -> dict[str, Any]:
    """Lost deals by reason (counts, shares, value per currency), overall and per segment, with won deals and the
    win rate. Reads only the rollup of the segment's dimension (`all` for month and none) in each month."""
    try:
        start, end = _months(rt, month_from, month_to)
        segment = views.parse_by(by)
    except views.ReportParameterError as error:
        raise InvalidRequestError(str(error)) from error
    prefix = rollup_prefix(views.dimension_of(segment))
    items = {str(month): rt.store.reports.partition(f"DEALS#{month}", prefix) for month in views.months(start, end)}
    return views.loss_reasons(items, start, end, segment, rt.settings.currency)


def retention(rt: Runtime, period: str | None = None) -> dict[str, Any]:
    """Repeat purchases in a period (`YYYY`, `YYYY-Qn`, `YYYY-MM`, `all`; the current year by default)."""
    try:
        chosen = views.parse_period(period, rt.clock.now(), rt.settings.timezone)
    except views.ReportParameterError as error:
        raise InvalidRequestError(str(error)) from error
    return views.retention(chosen, rt.store.reports.get(f"RH#{chosen.key}", "H"), rt.settings.currency)


def workflows(rt: Runtime, month_from: str | None = None, month_to: str | None = None) -> dict[str, Any]:
    """Per workflow: enrolments, tasks created in the period (and their status now), e-mails, reactions, new and
    won deals."""
    try:
        start, end = _months(rt, month_from, month_to)
    except views.ReportParameterError as error:
        raise InvalidRequestError(str(error)) from error
    items = [item for month in views.months(start, end) for item in rt.store.reports.partition(f"WF#{month}")]
    first, last = views.utc_bounds(start, end, rt.settings.timezone)
    task_workflows = sorted({t for names in views.TASK_WORKFLOWS.values() for t in names})
    tasks = {name: views.task_counts(rt.store.tasks.by_workflow(name, first, last)) for name in task_workflows}
    return views.workflows(items, tasks, start, end)


def campaigns(rt: Runtime, month_from: str | None = None, month_to: str | None = None) -> dict[str, Any]:
    """The campaigns created in the period, newest first: sent, delivered, opened, clicked, bounced, complained,
    unsubscribed, suppressed by reason, and the rates; with totals."""
    try:
        start, end = _months(rt, month_from, month_to)
    except views.ReportParameterError as error:
        raise InvalidRequestError(str(error)) from error
    first, last = views.utc_bounds(start, end, rt.settings.timezone)
    return views.campaigns(rt.store.campaigns.list(first, last), start, end)
