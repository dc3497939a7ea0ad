"""The report aggregator: adds each deals-stream record and each applied activity to the running totals of the
reports (ReportsTable), exactly once per record.

- A deal record adds contributions(new image) - contributions(old image) (domain/reports.py), with the marker
  `deal#<deal_id>#<new version>` in the same transaction; a record that changes no total writes nothing.
- An activity record (the one where `applied_at` appears) adds its workflow e-mail and reactions, and a purchase
  its customer's retention state in the four periods, with the marker `activity#<activity_id>`. A purchase races
  with the customer's other purchases on the `RC` items' versions: the loser reads again and retries.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit

from crm_automation.adapters.reports import TooManyCells, backoff
from crm_automation.domain import reports
from crm_automation.domain.models import Activity, ActivityKind, Deal
from crm_automation.errors import ConcurrentWriteError, TransientError
from crm_automation.observability import logger, metrics
from crm_automation.services.runtime import Runtime
from crm_automation.services.streams import UnexpectedRecord

RACE_ATTEMPTS = 5  # a purchase's re-reads after lost races before the record is left to Lambda's retry


def on_record(rt: Runtime, keys: dict[str, Any] | None, old: dict[str, Any] | None, new: dict[str, Any] | None,
              now: datetime) -> str:
    """One stream record of the deals or the activities table, told apart by its key."""
    keys = keys or {}
    try:
        if isinstance(keys.get("deal_id"), str):
            return on_deal(rt, old, new, now)
        if isinstance(keys.get("activity_id"), str):
            return on_activity(rt, old, new, now)
    except OverflowError as error:  # an imported time at the very end of the calendar has no local month
        raise UnexpectedRecord(f"a time out of the calendar's range: {error}") from None
    except TooManyCells as error:  # cannot succeed on a retry either: parked at once, with the reason
        raise UnexpectedRecord(str(error)) from None
    raise UnexpectedRecord("record without a deal_id or activity_id key")


def _applied(rt: Runtime, key: str, result: str, cells: int) -> str:
    logger.info("Report aggregates", extra={"marker": key, "result": result, "cells": cells})
    if result == "applied":
        metrics.add_metric(name="ReportCellsUpdated", unit=MetricUnit.Count, value=cells)
    elif result == "duplicate":
        metrics.add_metric(name="ReportDuplicateRecords", unit=MetricUnit.Count, value=1)
    return result


def on_deal(rt: Runtime, old: dict[str, Any] | None, new: dict[str, Any] | None, now: datetime) -> str:
    if not new:
        raise UnexpectedRecord("deal record without a new image")
    after = Deal.model_validate(new)
    before = Deal.model_validate(old) if old else None
    cells = reports.deal_change(before, after, rt.settings.timezone, rt.settings.report_attribution_days)
    if not cells:
        return "unchanged"  # no total moves: no transaction, no marker
    return _apply(rt, f"deal#{after.deal_id}#{after.version}", cells, now)


def on_activity(rt: Runtime, old: dict[str, Any] | None, new: dict[str, Any] | None, now: datetime) -> str:
    # Only the record where applied_at appears counts (the stream filter passes only those; checked here again so
    # that a record let through by a wider filter is never counted twice).
    if not new or not new.get("applied_at") or (old or {}).get("applied_at"):
        return "ignored"
    activity = Activity.model_validate(new)
    settings = rt.settings
    cells = reports.activity_contributions(activity, reports.reactions_of(new), settings.timezone)
    key = f"activity#{activity.activity_id}"
    if activity.kind != ActivityKind.PURCHASE:
        if not cells:
            return "unchanged"
        return _apply(rt, key, cells, now)
    return _purchase(rt, key, activity, cells, now)


def _purchase(rt: Runtime, key: str, activity: Activity, cells: reports.Contributions, now: datetime) -> str:
    """The purchase in the customer's four periods: read their states, write the new ones (version conditions) and
    the histogram changes with the marker in one transaction; a lost race reads again."""
    periods = reports.period_keys(activity.occurred_at, rt.settings.timezone)
    amount = reports.purchase_amount(activity)
    for attempt in range(RACE_ATTEMPTS):
        customers: dict[str, tuple[reports.CustomerState | None, reports.CustomerState]] = {}
        histograms: reports.Contributions = {}
        for period in periods:
            state = rt.store.reports.customer(period, activity.contact_id)
            after = reports.after_purchase(state, activity.occurred_at, amount)
            customers[period] = (state, after)
            if change := reports.histogram_change(state, after):
                histograms[(f"RH#{period}", "H")] = reports.Cell(numbers=change)
        all_cells = reports.merge(cells, histograms)
        try:
            result = rt.store.reports.apply(key, all_cells, now, contact_id=activity.contact_id, customers=customers)
        except (ConcurrentWriteError, TransientError) as error:
            # another purchase of the customer changed its state meanwhile (or a transaction on the same
            # histogram was in flight): read again; a marker written meanwhile makes the next attempt a duplicate
            metrics.add_metric(name="ReportRetentionRaces", unit=MetricUnit.Count, value=1)
            logger.info("Retention state changed meanwhile, reading again",
                        extra={"marker": key, "attempt": attempt + 1, "error": type(error).__name__})
            backoff(attempt)
            continue
        return _applied(rt, key, result, len(all_cells) + len(customers))
    raise ConcurrentWriteError(f"{key}: the customer's retention state kept changing; left for a retry")


def _apply(rt: Runtime, key: str, cells: reports.Contributions, now: datetime) -> str:
    """Add the cells with the marker; a transaction that collided with another one on the same cell (the totals
    of a month are shared by every record of that month) is tried again a few times before the record is left to
    Lambda's retry."""
    for attempt in range(RACE_ATTEMPTS):
        try:
            return _applied(rt, key, rt.store.reports.apply(key, cells, now), len(cells))
        except TransientError:
            if attempt == RACE_ATTEMPTS - 1:
                raise
            backoff(attempt)
    raise AssertionError("unreachable")
