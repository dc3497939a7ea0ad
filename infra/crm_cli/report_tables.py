"""Rich tables of the four reports (``crm report ...``). Pure: the API's JSON in, renderables out.

Reasons, segments and campaign names are user data: they only ever go into :class:`Text`, never through markup.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from crm_cli.i18n import (
    WORKFLOWS,
    decimal,
    money,
    money_map,
    number,
    rate,
    reason_label,
    segment_label,
    status_label,
    t,
    workflow_label,
)

__all__ = [
    "campaigns_report",
    "loss_reasons_report",
    "period_text",
    "retention_report",
    "workflows_report",
]


def _list(value: Any) -> list[Mapping[str, Any]]:
    return [item for item in value if isinstance(item, Mapping)] if isinstance(value, Sequence) else []


def _map(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def period_text(report: Mapping[str, Any]) -> str:
    """``2026-01 – 2026-06`` (or one month)."""
    start, end = report.get("from"), report.get("to")
    if start and end and start != end:
        return f"{start} – {end}"
    return str(start or end or "")


def _title(lang: str, key: str, report: Mapping[str, Any], **values: Any) -> Text:
    return Text.assemble((t(lang, key, **values), "bold"), ("  " + period_text(report), "dim"))


# --- loss reasons ---------------------------------------------------------------------------------------------


def _reasons_table(reasons: Sequence[Mapping[str, Any]], lang: str, title: str) -> Table:
    table = Table(title=title, title_justify="left", header_style="bold")
    table.add_column(t(lang, "reason"), overflow="fold")
    table.add_column(t(lang, "lost"), justify="right", no_wrap=True)
    table.add_column(t(lang, "share"), justify="right", no_wrap=True)
    table.add_column(t(lang, "value"), justify="right")
    for reason in reasons:
        table.add_row(Text(segment_label(reason.get("reason"), lang)), number(reason.get("lost"), lang),
                      rate(reason.get("share"), lang), money_map(reason.get("value"), lang))
    return table


def loss_reasons_report(report: Mapping[str, Any], lang: str) -> RenderableType:
    """Totals line, the reasons table, then one row per segment with its reasons (count and share)."""
    totals = _map(report.get("totals"))
    parts: list[RenderableType] = [_title(lang, "loss_title", report)]
    parts.append(Text(t(
        lang, "loss_totals", lost=number(totals.get("lost"), lang), won=number(totals.get("won"), lang),
        lost_value=money_map(totals.get("lost_value"), lang), won_value=money_map(totals.get("won_value"), lang),
        win_rate=rate(totals.get("win_rate"), lang),
    )))
    reasons = _list(report.get("reasons"))
    if not reasons:
        parts.append(Text(t(lang, "no_lost"), style="yellow"))
        return Group(*parts)
    parts.append(_reasons_table(reasons, lang, t(lang, "loss_reasons_title")))
    segments = _list(report.get("segments"))
    by = str(report.get("by") or "none")
    if segments and by != "none":
        table = Table(title=t(lang, "loss_segments_title", by=t(lang, f"by_{by}")), title_justify="left",
                      header_style="bold")
        table.add_column(t(lang, f"by_{by}").capitalize(), overflow="fold")
        table.add_column(t(lang, "lost"), justify="right", no_wrap=True)
        table.add_column(t(lang, "won"), justify="right", no_wrap=True)
        table.add_column(t(lang, "win_rate"), justify="right", no_wrap=True)
        table.add_column(t(lang, "lost_value"), justify="right")
        table.add_column(t(lang, "reasons"), overflow="fold")
        for segment in segments:
            lines = Text("\n").join(
                Text.assemble(segment_label(r.get("reason"), lang),
                              (f"  {number(r.get('lost'), lang)} · {rate(r.get('share'), lang)}", "dim"))
                for r in _list(segment.get("reasons"))
            )
            table.add_row(Text(segment_label(segment.get("segment"), lang)), number(segment.get("lost"), lang),
                          number(segment.get("won"), lang), rate(segment.get("win_rate"), lang),
                          money_map(segment.get("lost_value"), lang, sep="\n"), lines)
        parts.append(table)
    return Group(*parts)


# --- retention ------------------------------------------------------------------------------------------------


def retention_period(report: Mapping[str, Any], lang: str) -> str:
    """``2026 (2026-01-01 – 2026-12-31)``; ``celá historie`` for ``all``."""
    period = str(report.get("period") or "")
    if period.lower() == "all" or not report.get("from"):
        return t(lang, "period_all") if period.lower() in ("all", "") else period
    return f"{period} ({report.get('from')} – {report.get('to')})"


def retention_report(report: Mapping[str, Any], lang: str) -> RenderableType:
    """Key figures (customers, orders, revenue, repeat and retention rate, AOVs, gap) and the groups table."""
    currency = str(report.get("currency") or "")
    head = Text.assemble((t(lang, "retention_title"), "bold"), ("  " + retention_period(report, lang), "dim"))
    if not report.get("customers"):
        return Group(head, Text(t(lang, "no_customers"), style="yellow"))
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold")
    grid.add_column(justify="right", no_wrap=True)
    grid.add_column(justify="right", no_wrap=True, style="dim")
    rows = [
        ("customers", number(report.get("customers"), lang), ""),
        ("orders", number(report.get("orders"), lang), ""),
        ("revenue", money(report.get("revenue"), currency, lang), ""),
        ("returning_customers", number(report.get("returning_customers"), lang), rate(report.get("repeat_rate"), lang)),
        ("retained_customers", number(report.get("retained_customers"), lang),
         rate(report.get("retention_rate"), lang)),
        ("aov", money(report.get("aov"), currency, lang), ""),
        ("aov_one_time", money(report.get("aov_one_time"), currency, lang), ""),
        ("aov_returning", money(report.get("aov_returning"), currency, lang), ""),
        ("avg_gap_days", decimal(report.get("avg_gap_days"), lang), ""),
    ]
    for key, value, share in rows:
        grid.add_row(t(lang, key), value, share)
    table = Table(title=t(lang, "groups_title"), title_justify="left", header_style="bold")
    table.add_column(t(lang, "orders_count"), justify="right", no_wrap=True)
    for key in ("customers", "share_customers", "orders", "revenue", "share_revenue"):
        table.add_column(t(lang, key), justify="right", no_wrap=True)
    for group in _list(report.get("groups")):
        table.add_row(str(group.get("label") or group.get("orders") or ""), number(group.get("customers"), lang),
                      rate(group.get("share_customers"), lang), number(group.get("orders_total"), lang),
                      money(group.get("revenue"), currency, lang), rate(group.get("share_revenue"), lang))
    return Group(head, grid, Text(""), table)


# --- workflows ------------------------------------------------------------------------------------------------

WORKFLOW_FIGURES = (
    "enrolled", "tasks_created", "tasks_completed", "tasks_cancelled", "tasks_open", "emails_sent",
    "emails_skipped", "reactions", "reactions_wait", "reactions_after", "new_deals", "new_deal_value", "won_deals",
    "won_value",
)
MONEY_FIGURES = frozenset({"new_deal_value", "won_value"})
SUB_FIGURES = frozenset({"tasks_completed", "tasks_cancelled", "tasks_open", "reactions_wait", "reactions_after"})


def workflow_figure(row: Mapping[str, Any], key: str, lang: str) -> str:
    value = row.get(key)
    return money_map(value, lang, sep="\n") if key in MONEY_FIGURES else number(value, lang)


def ordered_workflows(report: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """The contract's four in their order, then any other the API adds."""
    rows = _list(report.get("workflows"))
    rank = {name: n for n, name in enumerate(WORKFLOWS)}
    return sorted(rows, key=lambda row: rank.get(str(row.get("workflow")), len(rank)))


def workflows_report(report: Mapping[str, Any], lang: str) -> RenderableType:
    """One column per workflow, one row per figure (``–`` where a figure does not apply)."""
    rows = ordered_workflows(report)
    table = Table(title=_title(lang, "workflows_title", report), title_justify="left", header_style="bold")
    table.add_column("")
    for row in rows:
        table.add_column(Text(workflow_label(str(row.get("workflow")), lang)), justify="right")
    for key in WORKFLOW_FIGURES:
        indent = "  · " if key in SUB_FIGURES else ""
        table.add_row(Text(indent + t(lang, f"wf_{key}"), style="dim" if indent else ""),
                      *(workflow_figure(row, key, lang) for row in rows))
    return table


# --- campaigns ------------------------------------------------------------------------------------------------

FUNNEL = ("sent", "delivered", "opened", "clicked")
RATE_OF = {"delivered": "delivery", "opened": "open", "clicked": "click", "bounced": "bounce",
           "complained": "complaint", "unsubscribed": "unsubscribe"}
CAMPAIGN_COLUMNS = ("audience", "sent", "delivered", "opened", "clicked", "bounced", "complained", "unsubscribed",
                    "suppressed")


def campaign_cell(row: Mapping[str, Any], key: str, lang: str) -> Text:
    """``98`` with its rate under it (``98,0 %``) where the contract has one."""
    value = row.get("suppressed_total" if key == "suppressed" else key)
    text = Text(number(value, lang))
    if key in RATE_OF:
        text.append(f"\n{rate(_map(row.get('rates')).get(RATE_OF[key]), lang)}", style="dim")
    return text


def campaigns_report(report: Mapping[str, Any], lang: str) -> RenderableType:
    """One row per campaign (counts, rates under them), a totals row, and the suppressed recipients by reason."""
    campaigns = _list(report.get("campaigns"))
    head = _title(lang, "campaign_results_title", report)
    if not campaigns:
        return Group(head, Text(t(lang, "no_campaigns_period"), style="yellow"))
    table = Table(title=head, title_justify="left", header_style="bold")
    table.add_column(t(lang, "campaign"), overflow="fold", min_width=12)
    table.add_column(t(lang, "status"), no_wrap=True)
    for key in CAMPAIGN_COLUMNS:
        table.add_column(t(lang, key), justify="right", no_wrap=True)
    for row in campaigns:
        name = Text(str(row.get("name") or ""))
        name.append(f"\n{row.get('campaign_id', '')}", style="dim")
        table.add_row(name, Text(status_label(str(row.get("status") or "?"), lang)),
                      *(campaign_cell(row, key, lang) for key in CAMPAIGN_COLUMNS))
    totals = _map(report.get("totals"))
    if totals:
        table.add_section()
        table.add_row(Text(t(lang, "total"), style="bold"), "",
                      *(campaign_cell(totals, key, lang) for key in CAMPAIGN_COLUMNS))
    parts: list[RenderableType] = [table]
    suppressed = sorted(((reason_label(str(k), lang), v) for k, v in _map(totals.get("suppressed")).items()
                         if isinstance(v, int) and v), key=lambda kv: (-kv[1], kv[0]))
    if suppressed:
        by_reason = Table(title=t(lang, "suppressed_by_reason"), title_justify="left", header_style="bold")
        by_reason.add_column(t(lang, "reason"))
        by_reason.add_column(t(lang, "count"), justify="right", no_wrap=True)
        for label, count in suppressed:
            by_reason.add_row(Text(label), number(count, lang))
        parts.append(by_reason)
    return Group(*parts)
