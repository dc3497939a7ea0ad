"""``crm``: campaigns and suppressions from the command line (typer + rich).

    crm campaigns list
    crm campaigns create --name "Jarní akce" --template spring_offer --segment-query "tag = VIP"
    crm campaigns show ID | preview ID | launch ID | watch ID | pause ID | resume ID
    crm suppressions import unsubscribed.csv
    crm import contacts veletrh.csv --source "Veletrh 2026" [--dry-run] [--allow-without-consent]
    crm report loss-reasons --from 2026-01 --to 2026-06 --by owner
    crm report retention --period 2026-Q2 | workflows | campaigns
    crm report html --out out/report.html  # one self-contained HTML file with charts
    crm --json campaigns show ID          # raw JSON for scripts
    crm --api https://abc.execute-api.eu-central-1.amazonaws.com campaigns list   # SigV4 (AWS credentials)

Every API failure (unreachable, 401/403, 4xx/5xx) is one line on stderr and exit code 1.
"""

from __future__ import annotations

import json
import re
import sys
from dataclasses import dataclass
from datetime import datetime
from enum import Enum
from pathlib import Path
from time import sleep
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Column
from rich.text import Text
from typer.core import TyperGroup

from crm_cli import __version__
from crm_cli.client import DEFAULT_API_URL, ApiError, ApiUnreachable, CrmClient, CrmError
from crm_cli.contacts_import import BATCH_SIZE, ImportReport, read_file, run_import
from crm_cli.i18n import number, status_label, t
from crm_cli.render import (
    TERMINAL_STATUSES,
    campaign_details,
    campaigns_table,
    contact_import_counts,
    contact_import_rows,
    done_count,
    excluded_table,
    format_time,
    html_source,
    import_invalid_table,
    progress_description,
    progress_table,
    sample_panel,
    summary_line,
)
from crm_cli.report_tables import campaigns_report, loss_reasons_report, retention_report, workflows_report
from crm_cli.suppressions import SUPPRESSION_REASONS, ImportResult, import_rows, read_csv

__all__ = ["app", "main"]

# A watch rides out this many failed polls in a row (a 503 "retry", a restarting `make local`) before giving up.
WATCH_RETRIES = 5


class Lang(str, Enum):
    cs = "cs"
    en = "en"


class Auth(str, Enum):
    auto = "auto"
    bearer = "bearer"
    sigv4 = "sigv4"


SuppressionReason = Enum("SuppressionReason", {r: r for r in SUPPRESSION_REASONS}, type=str)  # type: ignore[misc]


class _Group(TyperGroup):
    """The top-level group: a :class:`CrmError` anywhere below becomes one red line on stderr and exit code 1."""

    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except CrmError as exc:
            Console(stderr=True, soft_wrap=True, highlight=False).print(Text(f"Error: {exc}", style="red"))
            raise typer.Exit(1) from None


@dataclass
class State:
    client: CrmClient
    lang: str
    json: bool
    console: Console
    err: Console

    def say(self, key: str, style: str = "", **values: Any) -> None:
        self.console.print(Text(t(self.lang, key, **values), style=style))

    def dump(self, data: Any) -> None:
        typer.echo(json.dumps(data, ensure_ascii=False, indent=2))


app = typer.Typer(
    cls=_Group,
    name="crm",
    help="Campaigns and suppressions of the CRM marketing automation.",
    no_args_is_help=True,
    rich_markup_mode="rich",
    add_completion=False,
)
campaigns_app = typer.Typer(help="Create, preview, launch and watch e-mail campaigns.", no_args_is_help=True)
suppressions_app = typer.Typer(help="Addresses that must not get marketing e-mail.", no_args_is_help=True)
app.add_typer(campaigns_app, name="campaigns")
app.add_typer(suppressions_app, name="suppressions")
import_app = typer.Typer(help="Import lists: contacts from a CSV, with a report by line.", no_args_is_help=True)
app.add_typer(import_app, name="import")
report_app = typer.Typer(help="Reports: loss reasons, retention, workflow and campaign results (tables, JSON, HTML).",
                         no_args_is_help=True)
app.add_typer(report_app, name="report")


def _version(value: bool) -> None:
    if value:
        typer.echo(f"crm {__version__}")
        raise typer.Exit()


@app.callback()
def _global_options(
    ctx: typer.Context,
    api: Annotated[str, typer.Option(
        "--api", envvar="CRM_API_URL",
        help="API base URL: `make local` or https://<id>.execute-api.<region>.amazonaws.com",
    )] = DEFAULT_API_URL,
    token: Annotated[str | None, typer.Option(
        "--token", envvar="CRM_LOCAL_TOKEN", show_default=False,
        help="Bearer token of the local API [default: local-admin-token]",
    )] = None,
    auth: Annotated[Auth, typer.Option(
        "--auth", help="auto: SigV4 for execute-api URLs, the bearer token otherwise",
    )] = Auth.auto,
    region: Annotated[str | None, typer.Option(
        "--region", show_default=False, help="AWS region for SigV4 [default: from the execute-api host]",
    )] = None,
    timeout: Annotated[float, typer.Option("--timeout", min=1, help="seconds to wait for one answer")] = 30.0,
    json_output: Annotated[bool, typer.Option("--json", help="print the API's JSON instead of tables")] = False,
    lang: Annotated[Lang, typer.Option("--lang", help="language of labels")] = Lang.cs,
    version: Annotated[bool, typer.Option(
        "--version", callback=_version, is_eager=True, help="print the version and exit",
    )] = False,
) -> None:
    """Campaigns and suppressions of the CRM marketing automation."""
    ctx.obj = State(
        client=CrmClient(api, token=token, auth=auth.value, region=region, timeout=timeout),
        lang=lang.value,
        json=json_output,
        console=Console(highlight=False),
        err=Console(stderr=True, highlight=False, soft_wrap=True),
    )


def _state(ctx: typer.Context) -> State:
    state = ctx.find_object(State)
    assert state is not None, "the crm callback sets the state"
    return state


# --- campaigns ------------------------------------------------------------------------------------------------


@campaigns_app.command("list")
def list_campaigns(ctx: typer.Context) -> None:
    """All campaigns, newest first: status, audience and how many were sent, suppressed or failed."""
    state = _state(ctx)
    campaigns = state.client.list_campaigns()
    if state.json:
        state.dump({"campaigns": campaigns})
        return
    if not campaigns:
        state.say("no_campaigns")
        return
    campaigns.sort(key=lambda c: str(c.get("created_at") or ""), reverse=True)
    state.console.print(campaigns_table(campaigns, state.lang, state.console))


def _load_segment(path: Path) -> dict[str, Any]:
    try:
        segment = json.loads(path.read_text(encoding="utf-8-sig"))
    except ValueError as exc:
        raise typer.BadParameter(f"{path} is not valid JSON: {exc}", param_hint="--segment-file") from None
    if not isinstance(segment, dict):
        raise typer.BadParameter(f"{path} must hold a JSON object (a segment filter)", param_hint="--segment-file")
    return segment


def _check_send_at(value: str | None) -> str | None:
    if value is None:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise typer.BadParameter(f"{value!r} is not ISO 8601, e.g. 2026-03-02T09:00:00+01:00") from None
    if moment.tzinfo is None:
        raise typer.BadParameter(f"{value!r} has no time zone: add one, e.g. {value}+01:00 or {value}Z")
    return value


@campaigns_app.command("create")
def create_campaign(
    ctx: typer.Context,
    name: Annotated[str, typer.Option("--name", help="campaign name (marketers see it)")],
    template: Annotated[str, typer.Option("--template", help="e-mail template name")],
    segment_query: Annotated[str | None, typer.Option(
        "--segment-query", help='segment as filter text, e.g. "tag = VIP and city = Brno"', show_default=False,
    )] = None,
    segment_file: Annotated[Path | None, typer.Option(
        "--segment-file", exists=True, dir_okay=False, readable=True, show_default=False,
        help="segment as a JSON filter object in a file",
    )] = None,
    sender: Annotated[str | None, typer.Option(
        "--sender", show_default=False, help="login of the owner the e-mail comes from [default: the team sender]",
    )] = None,
    send_at: Annotated[str | None, typer.Option(
        "--send-at", callback=_check_send_at, show_default=False,
        help="ISO 8601 with a time zone, e.g. 2026-03-02T09:00:00+01:00 [default: at launch]",
    )] = None,
    locale: Annotated[Lang | None, typer.Option("--locale", show_default=False, help="e-mail language")] = None,
) -> None:
    """Create a draft campaign (nothing is sent until `crm campaigns launch`)."""
    state = _state(ctx)
    if (segment_query is None) == (segment_file is None):
        raise typer.BadParameter("give the segment either as --segment-query TEXT or as --segment-file FILE.json",
                                 param_hint="'--segment-query' / '--segment-file'")
    campaign = state.client.create_campaign(
        name=name,
        template=template,
        segment=_load_segment(segment_file) if segment_file else None,
        segment_query=segment_query,
        sender=sender,
        send_at=send_at,
        locale=locale.value if locale else None,
    )
    if state.json:
        state.dump(campaign)
        return
    state.console.print(campaign_details(campaign, state.lang))
    state.say("next_steps", style="dim", id=campaign.get("campaign_id", ""))


CampaignId = Annotated[str, typer.Argument(help="campaign id (see `crm campaigns list`)", show_default=False)]


@campaigns_app.command("show")
def show_campaign(ctx: typer.Context, campaign_id: CampaignId) -> None:
    """One campaign: settings and progress, with the suppressed recipients by reason."""
    state = _state(ctx)
    campaign = state.client.get_campaign(campaign_id)
    if state.json:
        state.dump(campaign)
        return
    state.console.print(campaign_details(campaign, state.lang))
    state.console.print(progress_table(campaign, state.lang))


def _file_name(contact_id: str, n: int) -> str:
    safe = re.sub(r"[^\w.@-]", "_", contact_id).strip("._")
    return f"{safe or f'sample-{n}'}.html"


@campaigns_app.command("preview")
def preview_campaign(
    ctx: typer.Context,
    campaign_id: CampaignId,
    samples: Annotated[int, typer.Option("--samples", min=0, help="how many sample e-mails to render")] = 3,
    html: Annotated[bool, typer.Option("--html", help="also print each sample's HTML source")] = False,
    save_dir: Annotated[Path | None, typer.Option(
        "--save-dir", file_okay=False, show_default=False, help="write each sample's HTML to DIR/<contact_id>.html",
    )] = None,
) -> None:
    """Who would get the campaign (and who not, by reason) and how the e-mail reads, without sending anything."""
    state = _state(ctx)
    preview = state.client.preview(campaign_id, samples)
    items = [s for s in preview.get("samples") or [] if isinstance(s, dict)]
    saved: list[Path] = []
    if save_dir is not None:
        try:
            save_dir.mkdir(parents=True, exist_ok=True)
            for n, sample in enumerate(items, 1):
                path = save_dir / _file_name(str(sample.get("contact_id", "")), n)
                path.write_text(str(sample.get("html", "")), encoding="utf-8")
                saved.append(path)
        except OSError as exc:
            raise CrmError(f"Cannot write the HTML to {save_dir}: {exc.strerror or exc}") from None
    if state.json:
        state.dump(preview)
        return
    state.console.print(excluded_table(preview, state.lang))
    if preview.get("window_open") is False and preview.get("next_window"):  # beyond the contract: shown if given
        state.say("window_closed", style="yellow", next=format_time(preview["next_window"]))
    if not items:
        state.say("no_samples", style="dim")
    for n, sample in enumerate(items, 1):
        state.console.print(sample_panel(sample, n, len(items), state.lang))
        if saved:
            state.say("saved_html", style="dim", path=saved[n - 1])
        elif html:
            state.console.print(html_source(str(sample.get("html", ""))))


def _watch(state: State, campaign: dict[str, Any], interval: float) -> dict[str, Any]:
    """Poll ``GET /campaigns/{id}`` until the campaign completes, is cancelled or paused; Ctrl-C only stops watching.

    Returns the last campaign seen.
    """
    campaign_id = str(campaign.get("campaign_id"))
    lang = state.lang
    failures = 0

    def poll() -> bool:
        """Fetch the campaign again; ``False`` when this poll failed (retried up to WATCH_RETRIES in a row)."""
        nonlocal campaign, failures
        try:
            campaign = state.client.get_campaign(campaign_id)
        except (ApiUnreachable, ApiError) as exc:
            if (isinstance(exc, ApiError) and exc.status < 500) or failures >= WATCH_RETRIES:
                raise
            failures += 1
            return False
        failures = 0
        return True

    if state.json:  # scripts: no display, the final state only
        try:
            while campaign.get("status") not in TERMINAL_STATUSES:
                sleep(interval)
                poll()
        except KeyboardInterrupt:
            pass
        return campaign

    percent = "{task.percentage:>3.0f} %" if lang == "cs" else "{task.percentage:>3.0f}%"
    progress = Progress(  # the description wraps and the bar shrinks on a narrow terminal; the numbers never do
        TextColumn("{task.description}", markup=False, table_column=Column(ratio=3, min_width=16, overflow="fold")),
        BarColumn(bar_width=None, table_column=Column(ratio=2, min_width=10)),
        TextColumn(percent, table_column=Column(no_wrap=True)),
        MofNCompleteColumn(table_column=Column(no_wrap=True)),
        TimeElapsedColumn(table_column=Column(no_wrap=True)),
        console=state.console,
        expand=True,
    )

    def show(ok: bool = True) -> None:
        audience = int((campaign.get("progress") or {}).get("audience") or 0)
        done = done_count(campaign)
        total = max(audience, done)
        if not total and campaign.get("status") == "completed":
            total = done = 1  # nobody to send to: done is 100 %, not 0 %
        progress.update(task, description=progress_description(campaign, lang, retrying=not ok),
                        total=total or None, completed=done)

    try:
        with progress:
            task = progress.add_task(progress_description(campaign, lang), total=None)
            show()
            while campaign.get("status") not in TERMINAL_STATUSES:
                sleep(interval)
                show(poll())
    except KeyboardInterrupt:
        state.say("watch_stopped", style="dim", id=campaign_id)
        return campaign
    state.console.print(summary_line(campaign, lang))
    if campaign.get("status") == "paused":
        state.say("paused_msg", name=campaign.get("name", ""), status=status_label("paused", lang), id=campaign_id)
    return campaign


def _confirm_launch(state: State, campaign_id: str) -> None:
    campaign = state.client.get_campaign(campaign_id)
    values = {"name": campaign.get("name", ""), "id": campaign_id}
    try:
        preview = state.client.preview(campaign_id, 0)
    except ApiError as exc:  # a campaign the API no longer previews: fall back on its recorded audience
        if exc.status in (401, 403) or exc.status >= 500:
            raise
        audience = int((campaign.get("progress") or {}).get("audience") or 0)
        question = t(state.lang, "confirm_launch_audience", audience=number(audience, state.lang), **values)
    else:
        counts = {"audience": number(preview.get("audience"), state.lang),
                  "eligible": number(preview.get("eligible"), state.lang)}
        if campaign.get("send_at"):
            question = t(state.lang, "confirm_launch_scheduled", send_at=format_time(campaign["send_at"], zone=True),
                         **counts, **values)
        else:
            question = t(state.lang, "confirm_launch", **counts, **values)
    if not typer.confirm(question, default=False, err=True):
        state.err.print(Text(t(state.lang, "aborted"), style="yellow"))
        raise typer.Exit(1)


Interval = Annotated[float, typer.Option("--interval", min=0, help="seconds between polls")]


@campaigns_app.command("launch")
def launch_campaign(
    ctx: typer.Context,
    campaign_id: CampaignId,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="do not ask for confirmation")] = False,
    watch: Annotated[bool | None, typer.Option(
        "--watch/--no-watch", show_default=False, help="follow the sending [default: on a terminal]",
    )] = None,
    interval: Interval = 2.0,
) -> None:
    """Launch a campaign (after confirming its audience) and follow the sending."""
    state = _state(ctx)
    if not yes:
        _confirm_launch(state, campaign_id)
    campaign = state.client.launch(campaign_id)
    if watch is None:
        watch = not state.json and sys.stdout.isatty()
    if not state.json:
        state.say("launched_msg", style="green", name=campaign.get("name", ""),
                  status=status_label(str(campaign.get("status")), state.lang))
    if watch:
        campaign = _watch(state, campaign, interval)
    elif not state.json:
        state.say("watch_hint", style="dim", id=campaign_id)
    if state.json:
        state.dump(campaign)


@campaigns_app.command("watch")
def watch_campaign(ctx: typer.Context, campaign_id: CampaignId, interval: Interval = 2.0) -> None:
    """Follow a launched campaign until it completes, is cancelled or paused (Ctrl-C stops watching only)."""
    state = _state(ctx)
    campaign = state.client.get_campaign(campaign_id)
    if campaign.get("status") == "draft":
        raise CrmError(f"Campaign {campaign_id} is a draft, nothing to watch: crm campaigns launch {campaign_id}")
    if not state.json:
        state.console.print(Text.assemble((str(campaign.get("name", "")), "bold"), f" ({campaign_id})"))
    campaign = _watch(state, campaign, interval)
    if state.json:
        state.dump(campaign)


@campaigns_app.command("pause")
def pause_campaign(ctx: typer.Context, campaign_id: CampaignId) -> None:
    """Stop sending; recipients not reached yet wait until `resume`."""
    state = _state(ctx)
    campaign = state.client.pause(campaign_id)
    if state.json:
        state.dump(campaign)
        return
    state.say("paused_msg", style="yellow", name=campaign.get("name", ""), id=campaign_id,
              status=status_label(str(campaign.get("status")), state.lang))
    state.console.print(summary_line(campaign, state.lang))


@campaigns_app.command("resume")
def resume_campaign(ctx: typer.Context, campaign_id: CampaignId) -> None:
    """Continue a paused campaign."""
    state = _state(ctx)
    campaign = state.client.resume(campaign_id)
    if state.json:
        state.dump(campaign)
        return
    state.say("resumed_msg", style="green", name=campaign.get("name", ""),
              status=status_label(str(campaign.get("status")), state.lang))
    state.console.print(summary_line(campaign, state.lang))
    state.say("watch_hint", style="dim", id=campaign_id)


# --- suppressions ---------------------------------------------------------------------------------------------


@suppressions_app.command("import")
def import_suppressions(
    ctx: typer.Context,
    file: Annotated[Path, typer.Argument(
        exists=True, dir_okay=False, readable=True, show_default=False,
        help="CSV with an `email` column (and optionally `reason`); comma or semicolon separated",
    )],
    reason: Annotated[SuppressionReason, typer.Option(  # type: ignore[valid-type]
        "--reason", help="reason for rows without a `reason` column value",
    )] = SuppressionReason.unsubscribed,  # type: ignore[attr-defined]
    source: Annotated[str | None, typer.Option(
        "--source", show_default=False, help="where the list comes from [default: the file name]",
    )] = None,
) -> None:
    """Add the addresses of a CSV to the suppression list (in batches of 500)."""
    state = _state(ctx)
    rows, rejected = read_csv(file, reason.value)
    if not rows and not rejected:
        raise CrmError(t("en", "import_nothing", file=file))
    label = source or f"crm import {file.name}"[:100]  # the API takes up to 100 characters
    result = import_rows(rows, lambda batch: state.client.add_suppressions(batch, label),
                         result=ImportResult(invalid=list(rejected)))
    if state.json:
        state.dump(result.as_json())
        return
    state.say("import_summary", style="green" if not result.invalid else "yellow",
              added=number(result.added, state.lang), already=number(result.already, state.lang),
              invalid=number(len(result.invalid), state.lang))
    if result.invalid:
        state.console.print(import_invalid_table(result.as_json()["invalid"], state.lang))


# --- import contacts ------------------------------------------------------------------------------------------

_OWNER = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:@-]{0,127}$")


def _check_owner(value: str | None) -> str | None:
    if value is not None and not _OWNER.match(value):
        raise typer.BadParameter(f"{value!r} is not an owner login (letters, digits and . _ : @ -)")
    return value


@import_app.command("contacts")
def import_contacts(
    ctx: typer.Context,
    file: Annotated[Path, typer.Argument(
        exists=True, dir_okay=False, readable=True, show_default=False,
        help="CSV with a header line and an `email` column; `;` or `,` separated, UTF-8 or Windows-1250",
    )],
    source: Annotated[str | None, typer.Option(
        "--source", show_default=False,
        help="the list's name (the same name again is the same import) [default: the file name]",
    )] = None,
    owner: Annotated[str | None, typer.Option(
        "--owner", callback=_check_owner, show_default=False,
        help="owner of new contacts whose row names none [default: the CRM's default lead owner]",
    )] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="report what would happen, write nothing")] = False,
    allow_without_consent: Annotated[bool, typer.Option(
        "--allow-without-consent",
        help="import rows that do not state consent as contacts WITHOUT marketing consent (a CRM migration)",
    )] = False,
    batch_size: Annotated[int, typer.Option("--batch-size", min=1, max=5000, help="rows per request")] = BATCH_SIZE,
) -> None:
    """Import contacts from a CSV: created, updated, unchanged, skipped (suppressed / no consent) and invalid rows,
    by line. Exit code 0: every row handled; 1: some rows invalid; 2: usage or API/connection error."""
    state = _state(ctx)
    label = (source or file.name)[:100]
    try:
        contact_file = read_file(file)
        if not contact_file.rows:
            raise CrmError(t("en", "import_no_rows", file=file))
        if contact_file.encoding != "utf-8" and not state.json:
            state.err.print(Text(t(state.lang, "import_converted", file=file.name), style="dim"))
        report = ImportReport(source=label, dry_run=dry_run, require_consent=not allow_without_consent)

        def send(text: str, first_line: int) -> dict[str, Any]:
            return state.client.import_contacts(text, source=label, owner=owner,
                                                require_consent=not allow_without_consent, dry_run=dry_run,
                                                first_line=first_line)

        if state.json or not state.console.is_terminal:
            run_import(contact_file, send, report, batch_size=batch_size)
        else:
            with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                          console=state.console, transient=True) as progress:
                task = progress.add_task(t(state.lang, "import_progress"), total=len(contact_file.rows))
                run_import(contact_file, send, report, batch_size=batch_size,
                           progress=lambda done: progress.update(task, completed=done))
    except CrmError as exc:  # nothing or only part imported: exit 2 (1 means "done, some rows invalid")
        state.err.print(Text(f"Error: {exc}", style="red"))
        raise typer.Exit(2) from None
    result = report.as_json()
    if state.json:
        state.dump(result)
    else:
        state.console.print(contact_import_counts(result, state.lang))
        shown = [e for e in result["entries"] if e.get("outcome") != "unchanged"]
        if shown:
            state.console.print(contact_import_rows(shown, state.lang))
        if dry_run:
            state.say("import_dry_hint", style="dim")
    if result["counts"]["invalid"]:
        raise typer.Exit(1)


# --- reports --------------------------------------------------------------------------------------------------

_MONTH = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")
_PERIOD = re.compile(r"^(\d{4}(-Q[1-4]|-(0[1-9]|1[0-2]))?|all)$", re.IGNORECASE)


def _check_month(value: str | None) -> str | None:
    if value is not None and not _MONTH.match(value):
        raise typer.BadParameter(f"{value!r} is not a month YYYY-MM, e.g. 2026-03")
    return value


def _check_period(value: str | None) -> str | None:
    if value is not None and not _PERIOD.match(value):
        raise typer.BadParameter(f"{value!r} is not a period: 2026, 2026-Q2, 2026-06 or all")
    return value if value is None else ("all" if value.lower() == "all" else value.upper())


class LossBy(str, Enum):
    industry = "industry"
    owner = "owner"
    product = "product"
    month = "month"
    none = "none"


MonthFrom = Annotated[str | None, typer.Option(
    "--from", callback=_check_month, show_default=False, help="first month YYYY-MM [default: 11 months before --to]",
)]
MonthTo = Annotated[str | None, typer.Option(
    "--to", callback=_check_month, show_default=False, help="last month YYYY-MM [default: this month]",
)]
Period = Annotated[str | None, typer.Option(
    "--period", callback=_check_period, show_default=False,
    help="2026 (year), 2026-Q2 (quarter), 2026-06 (month) or all [default: this year]",
)]


@report_app.command("loss-reasons")
def report_loss_reasons(
    ctx: typer.Context,
    month_from: MonthFrom = None,
    month_to: MonthTo = None,
    by: Annotated[LossBy, typer.Option("--by", help="segment the reasons by")] = LossBy.industry,
) -> None:
    """Why deals are lost: share of lost deals by reason (count, value), overall and per segment."""
    state = _state(ctx)
    report = state.client.report_loss_reasons(month_from=month_from, month_to=month_to, by=by.value)
    if state.json:
        state.dump(report)
        return
    state.console.print(loss_reasons_report(report, state.lang))


@report_app.command("retention")
def report_retention(ctx: typer.Context, period: Period = None) -> None:
    """Customer retention: repeat and retention rate, average order of one-time vs returning customers, groups."""
    state = _state(ctx)
    report = state.client.report_retention(period=period)
    if state.json:
        state.dump(report)
        return
    state.console.print(retention_report(report, state.lang))


@report_app.command("workflows")
def report_workflows(ctx: typer.Context, month_from: MonthFrom = None, month_to: MonthTo = None) -> None:
    """Workflow results: contacts enrolled, tasks, e-mails, reactions and new deals per workflow."""
    state = _state(ctx)
    report = state.client.report_workflows(month_from=month_from, month_to=month_to)
    if state.json:
        state.dump(report)
        return
    state.console.print(workflows_report(report, state.lang))


@report_app.command("campaigns")
def report_campaigns(ctx: typer.Context, month_from: MonthFrom = None, month_to: MonthTo = None) -> None:
    """Campaign results: sent, delivered, opened, clicked, bounced, complaints, unsubscribed, suppressed by reason."""
    state = _state(ctx)
    report = state.client.report_campaigns(month_from=month_from, month_to=month_to)
    if state.json:
        state.dump(report)
        return
    state.console.print(campaigns_report(report, state.lang))


@report_app.command("html")
def report_html(
    ctx: typer.Context,
    month_from: MonthFrom = None,
    month_to: MonthTo = None,
    period: Period = None,
    out: Annotated[Path, typer.Option("--out", dir_okay=False, help="the HTML file to write")] = Path(
        "out/report.html"),
    lang: Annotated[Lang | None, typer.Option(
        "--lang", show_default=False, help="language of the report [default: the global --lang]",
    )] = None,
) -> None:
    """All four reports in ONE self-contained HTML file with charts (opens offline, prints well)."""
    from crm_cli.report_html import write_report

    state = _state(ctx)
    locale = lang.value if lang else state.lang
    path = write_report(state.client, out, month_from=month_from, month_to=month_to, period=period, locale=locale)
    if state.json:
        state.dump({"path": str(path)})
        return
    state.console.print(Text(t(locale, "report_written", path=path), style="green"))


def main() -> None:
    """The ``crm`` console script."""
    app(prog_name="crm")
