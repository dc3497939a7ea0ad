"""Rich renderables for the API's answers. Pure: data in, renderables out (printing is the caller's).

User data (names, subjects, e-mail bodies) never goes through rich markup: it is wrapped in :class:`Text`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from rich import box
from rich.console import Console, Group, RenderableType
from rich.measure import Measurement
from rich.panel import Panel
from rich.syntax import Syntax
from rich.table import Table
from rich.text import Text

from crm_cli.i18n import STATUS_STYLES, number, percent, reason_label, status_label, t

__all__ = [
    "TERMINAL_STATUSES",
    "campaign_details",
    "campaigns_table",
    "contact_import_counts",
    "contact_import_rows",
    "done_count",
    "excluded_table",
    "format_time",
    "html_source",
    "import_invalid_table",
    "progress_description",
    "progress_table",
    "sample_panel",
    "status_text",
    "summary_line",
]

# A watch stops at these (a paused campaign sends nothing until resumed).
TERMINAL_STATUSES = frozenset({"completed", "cancelled", "paused"})


def status_text(status: str | None, lang: str) -> Text:
    status = status or "?"
    return Text(status_label(status, lang), style=STATUS_STYLES.get(status, ""))


def format_time(value: Any, *, zone: bool = False) -> str:
    """ISO 8601 -> ``2026-03-02 10:15`` in the local time zone (``... CET`` with ``zone``); ``–`` for nothing, the
    text itself if unparsable."""
    if not value:
        return "–"
    try:
        moment = datetime.fromisoformat(str(value))
    except ValueError:
        return str(value)
    if moment.tzinfo is not None:
        moment = moment.astimezone()
    return moment.strftime("%Y-%m-%d %H:%M %Z" if zone and moment.tzinfo else "%Y-%m-%d %H:%M")


def _progress(campaign: Mapping[str, Any]) -> Mapping[str, Any]:
    progress = campaign.get("progress")
    return progress if isinstance(progress, Mapping) else {}


def _int(mapping: Mapping[str, Any], key: str) -> int:
    value = mapping.get(key)
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def done_count(campaign: Mapping[str, Any]) -> int:
    """Recipients settled one way or another: sent + suppressed + failed."""
    progress = _progress(campaign)
    return _int(progress, "sent") + _int(progress, "suppressed") + _int(progress, "failed")


def campaigns_table(campaigns: Sequence[Mapping[str, Any]], lang: str, console: Console | None = None) -> Table:
    """One row per campaign. Ids and numbers are never cut (an id is typed into the next command): when the table
    does not fit ``console``, it drops its borders, then the creation day; names wrap."""
    keys = ("audience", "sent", "suppressed", "failed")
    rows = [
        (str(c.get("campaign_id", "")), str(c.get("name", "")), c.get("status"),
         [number(_int(_progress(c), key), lang) for key in keys], format_time(c.get("created_at"))[:10])
        for c in campaigns
    ]

    def layout(*, compact: bool, created: bool) -> Table:
        table = Table(title=t(lang, "campaigns_title"), title_justify="left", header_style="bold")
        if compact:
            table.box, table.show_edge, table.pad_edge, table.collapse_padding = box.SIMPLE_HEAD, False, False, True
        table.add_column(t(lang, "id"), style="cyan", no_wrap=True)
        table.add_column(t(lang, "name"), min_width=10, overflow="fold")
        table.add_column(t(lang, "status"), no_wrap=True)
        for key in keys:
            table.add_column(t(lang, key), justify="right", no_wrap=True)
        if created:
            table.add_column(t(lang, "created"), no_wrap=True)
        for campaign_id, name, status, numbers, day in rows:
            extra = [day] if created else []
            table.add_row(Text(campaign_id), Text(name), status_text(status, lang), *numbers, *extra)
        return table

    def fits(table: Table) -> bool:
        return console is None or Measurement.get(console, console.options.update_width(10_000), table).minimum \
            <= console.width

    table = layout(compact=False, created=True)
    for compact, created in ((True, True), (True, False)):
        if fits(table):
            break
        table = layout(compact=compact, created=created)
    return table


def campaign_details(campaign: Mapping[str, Any], lang: str) -> Table:
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold", no_wrap=True)
    grid.add_column()
    segment = campaign.get("segment")
    rows: list[tuple[str, RenderableType]] = [
        (t(lang, "id"), Text(str(campaign.get("campaign_id", "")), style="cyan")),
        (t(lang, "name"), Text(str(campaign.get("name", "")))),
        (t(lang, "status"), status_text(campaign.get("status"), lang)),
        (t(lang, "template"), Text(str(campaign.get("template", "")))),
        (t(lang, "locale"), Text(str(campaign.get("locale") or "–"))),
    ]
    if campaign.get("segment_query"):
        rows.append((t(lang, "segment_query"), Text(str(campaign["segment_query"]))))
    if segment:
        rows.append((t(lang, "segment"), Text(json.dumps(segment, ensure_ascii=False), style="dim")))
    send_at = format_time(campaign["send_at"], zone=True) if campaign.get("send_at") else t(lang, "now")
    rows += [
        (t(lang, "sender"), Text(str(campaign.get("sender") or t(lang, "default_sender")))),
        (t(lang, "send_at"), Text(send_at)),
        (t(lang, "created"), Text(format_time(campaign.get("created_at"), zone=True))),
    ]
    if campaign.get("launched_at"):
        rows.append((t(lang, "launched"), Text(format_time(campaign["launched_at"], zone=True))))
    if campaign.get("completed_at"):
        rows.append((t(lang, "completed_at"), Text(format_time(campaign["completed_at"], zone=True))))
    for label, value in rows:
        grid.add_row(label, value)
    return grid


def _reason_rows(counts: Any, lang: str) -> list[tuple[str, int]]:
    if not isinstance(counts, Mapping):
        return []
    rows = [(reason_label(str(k), lang), v) for k, v in counts.items() if isinstance(v, int) and v]
    return sorted(rows, key=lambda row: (-row[1], row[0]))


def progress_table(campaign: Mapping[str, Any], lang: str) -> Table:
    """Audience, sent, suppressed (one row per reason under it), failed, queued, waiting: counts and shares."""
    progress = _progress(campaign)
    audience = _int(progress, "audience")
    table = Table(title=t(lang, "progress"), title_justify="left", header_style="bold")
    table.add_column("")
    table.add_column(t(lang, "count"), justify="right", no_wrap=True)
    table.add_column(t(lang, "share"), justify="right", no_wrap=True)
    table.add_row(
        Text.assemble(t(lang, "audience"), (f" ({t(lang, 'audience_hint')})", "dim")), number(audience, lang), ""
    )

    def row(key: str, style: str = "", hint: str = "") -> None:
        value = _int(progress, key)
        label = Text.assemble((t(lang, key), style), (f" ({hint})", "dim") if hint else "")
        table.add_row(label, number(value, lang), percent(value, audience, lang))

    row("sent", "green")
    row("suppressed", "yellow")
    for label, count in _reason_rows(progress.get("suppressed_by_reason"), lang):
        table.add_row(Text(f"  · {label}", style="dim"), number(count, lang), percent(count, audience, lang))
    row("failed", "red")
    row("queued")
    row("waiting", hint=t(lang, "waiting_hint"))
    return table


def excluded_table(preview: Mapping[str, Any], lang: str) -> RenderableType:
    """Audience and eligible, then one row per exclusion reason."""
    audience = _int(preview, "audience")
    eligible = _int(preview, "eligible")
    table = Table(header_style="bold")
    table.add_column("")
    table.add_column(t(lang, "count"), justify="right", no_wrap=True)
    table.add_column(t(lang, "share"), justify="right", no_wrap=True)
    table.add_row(
        Text.assemble((t(lang, "audience"), "bold"), (f" ({t(lang, 'audience_hint')})", "dim")),
        number(audience, lang), "",
    )
    table.add_row(Text(t(lang, "eligible"), style="bold green"), number(eligible, lang),
                  percent(eligible, audience, lang))
    reasons = _reason_rows(preview.get("excluded"), lang)
    if reasons:
        table.add_section()
        table.add_row(Text(t(lang, "excluded"), style="bold yellow"),
                      number(sum(count for _, count in reasons), lang), "")
        for label, count in reasons:
            table.add_row(Text(f"  · {label}"), number(count, lang), percent(count, audience, lang))
    else:
        table.add_row(Text(t(lang, "nobody_excluded"), style="dim"), "", "")
    return table


def sample_panel(sample: Mapping[str, Any], n: int, total: int, lang: str) -> Panel:
    recipient = str(sample.get("name") or "")
    if sample.get("email"):
        recipient = f"{recipient} <{sample['email']}>".strip()
    lines = []
    headers = sample.get("headers")
    if isinstance(headers, Mapping) and headers.get("From"):  # not in the contract, shown when the API adds it
        lines.append(Text.assemble((f"{t(lang, 'from')}: ", "bold"), str(headers["From"])))
    lines.append(Text.assemble((f"{t(lang, 'subject')}: ", "bold"), str(sample.get("subject", ""))))
    body = Group(*lines, Text(""), Text(str(sample.get("text", ""))))
    return Panel(
        body,
        title=Text(f"{t(lang, 'sample', n=n, total=total)} · {recipient}"),
        subtitle=Text(str(sample.get("contact_id", "")), style="dim"),
        title_align="left",
        subtitle_align="right",
    )


def html_source(html: str) -> Syntax:
    return Syntax(html, "html", word_wrap=True, theme="ansi_dark", background_color="default")


def progress_description(campaign: Mapping[str, Any], lang: str, *, retrying: bool = False) -> str:
    """The text left of the progress bar: status · queued · waiting (the name is printed above the bar)."""
    progress = _progress(campaign)
    status = str(campaign.get("status") or "?")
    parts = [status_label(status, lang)]
    if status == "scheduled" and campaign.get("send_at"):
        parts.append(t(lang, "scheduled_for", send_at=format_time(campaign["send_at"], zone=True)))
    parts.append(f"{t(lang, 'queued').lower()} {number(_int(progress, 'queued'), lang)}")
    parts.append(f"{t(lang, 'waiting').lower()} {number(_int(progress, 'waiting'), lang)}")
    if retrying:
        parts.append(t(lang, "watch_retry"))
    return " · ".join(parts)


def summary_line(campaign: Mapping[str, Any], lang: str) -> Text:
    progress = _progress(campaign)
    status = str(campaign.get("status") or "?")
    text = t(
        lang, "summary",
        status=status_label(status, lang).capitalize(),
        sent=number(_int(progress, "sent"), lang),
        suppressed=number(_int(progress, "suppressed"), lang),
        failed=number(_int(progress, "failed"), lang),
        audience=number(_int(progress, "audience"), lang),
    )
    return Text(text, style=STATUS_STYLES.get(status, ""))


def import_invalid_table(rows: Sequence[Mapping[str, Any]], lang: str) -> Table:
    table = Table(title=t(lang, "import_invalid_title"), title_justify="left", header_style="bold")
    table.add_column(t(lang, "line"), justify="right", no_wrap=True)
    table.add_column(t(lang, "email"))
    table.add_column(t(lang, "error"))
    for row in rows:
        table.add_row(str(row.get("line", "")), Text(str(row.get("email", ""))), Text(str(row.get("error", ""))))
    return table


CONTACT_IMPORT_OUTCOMES = ("created", "updated", "unchanged", "skipped_suppressed", "skipped_no_consent", "invalid")
_OUTCOME_STYLES = {"created": "green", "updated": "green", "unchanged": "dim", "skipped_suppressed": "yellow",
                   "skipped_no_consent": "yellow", "invalid": "red"}


def contact_import_counts(report: Mapping[str, Any], lang: str) -> Table:
    """Counts per outcome of ``crm import contacts`` (every outcome, zeros included: nothing is left unsaid)."""
    title = t(lang, "contacts_import_dry_title" if report.get("dry_run") else "contacts_import_title",
              source=report.get("source", ""))
    table = Table(title=title, title_justify="left", header_style="bold")
    table.add_column(t(lang, "outcome"))
    table.add_column(t(lang, "count"), justify="right", no_wrap=True)
    counts = report.get("counts") or {}
    for outcome in CONTACT_IMPORT_OUTCOMES:
        value = _int(counts, outcome)
        table.add_row(Text(t(lang, f"outcome_{outcome}"), style=_OUTCOME_STYLES[outcome] if value else "dim"),
                      number(value, lang))
    return table


def contact_import_rows(entries: Sequence[Mapping[str, Any]], lang: str) -> Table:
    """The rows not simply created or updated (invalid, skipped, duplicates), by line; unchanged rows only count."""
    table = Table(title=t(lang, "import_rows_title"), title_justify="left", header_style="bold")
    table.add_column(t(lang, "line"), justify="right", no_wrap=True)
    table.add_column(t(lang, "email"), overflow="fold")
    table.add_column(t(lang, "outcome"), no_wrap=True)
    table.add_column(t(lang, "column"))
    table.add_column(t(lang, "detail"), overflow="fold")
    for entry in sorted(entries, key=lambda e: int(e.get("line") or 0)):
        outcome = str(entry.get("outcome", ""))
        if outcome == "unchanged":
            continue
        if entry.get("duplicate_of"):
            detail = t(lang, "duplicate_of", line=entry["duplicate_of"])
        elif outcome == "skipped_suppressed" and entry.get("suppression"):
            detail = reason_label(str(entry["suppression"]), lang)
        elif outcome == "skipped_no_consent":
            detail = t(lang, "no_consent_detail")
        else:
            detail = str(entry.get("reason") or "")
        table.add_row(str(entry.get("line", "")), Text(str(entry.get("email", ""))),
                      Text(t(lang, f"outcome_short_{outcome}"), style=_OUTCOME_STYLES.get(outcome, "")),
                      Text(str(entry.get("column") or "")), Text(detail))
    return table
