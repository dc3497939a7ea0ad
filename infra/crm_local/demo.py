"""`make demo`: the workflows on the local emulation, with the bundled Czech sample CRM.

The story: the sample CRM is loaded through the HTTP API; the clock then moves from 2 March to the end of June
2026. Every morning at 06:00 (Europe/Prague) the daily scan runs from its ScheduleV2 event; every 15 minutes the
timer sweep runs (coalesced to every 6 hours while fast-forwarding; it catches up on everything due). On the way,
a client replies, an owner completes a task, the first scan is delivered a second time, the helpdesk reports a very
unhappy client (escalation to the team lead, resolved by the lead) and a sleeping client is rated very unhappy (her
reactivation e-mail is held back by the marketing pause until a neutral rating lifts it). At the end the demo prints
what the workflows did, from the data the functions wrote and the events they published, and the reports: a short
summary of the key figures and the self-contained HTML report (demo_reports).
"""

from __future__ import annotations

import json
import warnings
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from email import message_from_bytes, policy
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from rich.console import Console
from rich.table import Table

from crm_local import sample_data
from crm_local.demo_campaign import print_campaign_report, run_campaign_story
from crm_local.demo_leads import print_leads_report, run_leads_story
from crm_local.demo_reports import print_reports_summary, run_reports_story

PRAGUE = ZoneInfo("Europe/Prague")
START = datetime(2026, 3, 2, 4, 0, tzinfo=UTC)  # Monday 05:00 in Prague, before the first daily scan
END = datetime(2026, 6, 30, 18, 0, tzinfo=UTC)
SWEEP_RESOLUTION = timedelta(hours=6)
ROOT = Path(__file__).resolve().parents[2]
# Template parameters of the demo deployment: the sample CRM's sales team leads and owners' names in e-mails.
PARAMETERS = {"TeamLeads": json.dumps(sample_data.TEAM_LEADS), "Owners": json.dumps(sample_data.OWNER_PROFILES),
              "PublicBaseUrl": "http://127.0.0.1:3000"}  # unsubscribe links point at `make local`
VERY_UNHAPPY = "Vysoká nespokojenost"

OUTCOME_CS = {
    None: "čeká na follow-up",
    "email_sent": "odeslán reaktivační e-mail",
    "vip_call_task": "VIP: úkol osobně zavolat",
    "archive_proposed": "navržen k archivaci",
    "email_skipped": "e-mail nepůjde (potlačeno)",
    "owner_acted": "obchodník úkol splnil",
    "tag_removed": "štítek odebrán ručně",
    "activity_since_enrolment": "nová aktivita",
    "deal_opened": "otevřen obchod",
    "archived": "archivován",
    "reactivated": "znovu aktivní (vypadl z flow)",
    "email_unknown": "výsledek odeslání neznámý",
    "email_failed": "SES e-mail odmítl",
}


def cz_date(value: date | datetime | str) -> str:
    if isinstance(value, str):
        value = datetime.fromisoformat(value.replace("Z", "+00:00")) if "T" in value else date.fromisoformat(value)
    if isinstance(value, datetime):
        value = value.astimezone(PRAGUE).date()
    return f"{value.day}. {value.month}. {value.year}"


@dataclass
class DemoResult:
    """What the workflow did, read back from the tables and the mail folder after the run."""

    loaded: dict[str, int]
    contacts: dict[str, dict[str, Any]]
    tasks: list[dict[str, Any]]
    emails: list[dict[str, Any]]
    duplicate_delivery: dict[str, int]
    invocations: dict[str, int]
    filtered: dict[str, int]
    events: list[tuple[str, str]] = field(default_factory=list)
    bus_events: list[dict[str, Any]] = field(default_factory=list)  # what went out on the EventBridge bus
    deals: list[dict[str, Any]] = field(default_factory=list)
    campaign: dict[str, Any] = field(default_factory=dict)  # the win-back campaign (demo_campaign)
    leads: dict[str, Any] = field(default_factory=dict)  # forms, chatbot, consent, scoring, import, erasure
    reports: dict[str, Any] = field(default_factory=dict)  # the four reports' JSON and the HTML report's path

    def enrolled(self) -> list[dict[str, Any]]:
        return [c for c in self.contacts.values() if c.get("inactivity")]

    def tasks_for(self, contact_id: str) -> list[dict[str, Any]]:
        return [t for t in self.tasks if t.get("contact_id") == contact_id]

    def emails_to(self, address: str) -> list[dict[str, Any]]:
        return [e for e in self.emails if address in e["to"]]


def _check(status: int, body: Any, what: str) -> Any:
    if status >= 300:
        raise RuntimeError(f"{what} failed with HTTP {status}: {body}")
    return body


def _scan(cloud: Any, logical_id: str) -> list[dict[str, Any]]:
    return cloud.items(logical_id)


def _read_mail(paths: list[Path]) -> list[dict[str, Any]]:
    emails = []
    for path in paths:
        message = message_from_bytes(Path(path).read_bytes(), policy=policy.default)
        emails.append({"to": str(message["To"]), "subject": str(message["Subject"]), "date": str(message["Date"]),
                       "path": str(path), "workflow": str(message.get("X-CRM-Workflow", ""))})
    return emails


def load_sample(cloud: Any, crm: sample_data.SampleCrm) -> dict[str, int]:
    for contact in crm.contacts:
        _check(*cloud.http("POST", "/contacts", json=contact)[::2], f"contact {contact['contact_id']}")
    for deal in crm.deals:
        _check(*cloud.http("POST", "/deals", json=deal)[::2], f"deal {deal['deal_id']}")
    for activity in crm.activities:
        _check(*cloud.http("POST", "/activities", json=activity)[::2], f"activity {activity['activity_id']}")
    return {"contacts": len(crm.contacts), "deals": len(crm.deals), "activities": len(crm.activities)}


def run_scenario(cloud: Any, *, background: int = 240, say: Any = None) -> DemoResult:
    """Drive the story on a started LocalCloud (clock at START). Used by `make demo` and the end-to-end test."""
    say = say or (lambda *_: None)
    events: list[tuple[str, str]] = []

    def note(text: str) -> None:
        events.append((cz_date(cloud.clock.now()), text))
        say(text)

    crm = sample_data.generate(START, background=background)
    loaded = load_sample(cloud, crm)
    note(f"Načten ukázkový CRM přes HTTP API: {loaded['contacts']} kontaktů, {loaded['deals']} obchodů, "
         f"{loaded['activities']} aktivit")

    # Day 1, 06:00 Prague: the first daily scan
    first_scan = datetime(2026, 3, 2, 5, 0, tzinfo=UTC)
    cloud.advance(first_scan + timedelta(minutes=1) - cloud.clock.now(), rate_resolution=SWEEP_RESOLUTION)
    tasks_after_first = len(_scan(cloud, "TasksTable"))
    note(f"Denní kontrola 06:00: {tasks_after_first} kontaktů označeno „Neaktivní 6m+“ a dostalo úkol")

    # EventBridge Scheduler delivers at least once: the same scheduled run arrives again
    cloud.fire("InactivityScanFunction", "Daily", at=first_scan)
    tasks_after_duplicate = len(_scan(cloud, "TasksTable"))
    note(f"Stejné spuštění doručeno podruhé: úkolů {tasks_after_first} → {tasks_after_duplicate} (nic navíc)")

    # Day 6: Martin Kučera answers his salesperson's e-mail
    cloud.advance(timedelta(days=4, hours=4), rate_resolution=SWEEP_RESOLUTION)
    _check(*cloud.http("POST", "/activities", json={
        "activity_id": "story-replies-reply", "contact_id": "story-replies", "kind": "email_in",
        "subject": "Re: Jak se vám daří?", "summary": "Klient odpověděl, má zájem o schůzku v dubnu.",
    })[::2], "reply")
    note("Martin Kučera odpověděl na e-mail → vypadl z flow, štítek odebrán, follow-up zrušen")

    # Day 6 too: Veronika Malá answers the deal reactivation e-mail she got on day 1 (her deal was 100 days quiet)
    _check(*cloud.http("POST", "/activities", json={
        "activity_id": "story-deal-replies-reply", "contact_id": "story-deal-replies", "kind": "email_in",
        "subject": "Re: Nový e-shop – je to pro vás stále aktuální?",
        "summary": "E-shop chceme spustit na podzim, ozvěte se v srpnu.",
    })[::2], "deal reply")
    note("Veronika Malá odpověděla na reaktivační e-mail k obchodu „Nový e-shop“ → čekání skončilo, úkol nebude")

    # ... and Martin Král postpones the office refurbishment deal of Ondřej Kratochvíl
    _check(*cloud.http("PATCH", "/deals/story-deal-postponed-d0", json={"status": "postponed"})[::2], "postpone")
    note("Obchod „Rekonstrukce kanceláří“ (Ondřej Kratochvíl) přepnut na „Odloženo“ → osobní e-mail od "
         "Martina Krále při nejbližším průchodu časovačů, pak 14 dní čekání")

    # Day 10: Lucie Veselá's owner completes the review task
    cloud.advance(timedelta(days=4), rate_resolution=SWEEP_RESOLUTION)
    task_id = next(t["task_id"] for t in _scan(cloud, "TasksTable") if t.get("contact_id") == "story-owner-acts")
    _check(*cloud.http("POST", f"/tasks/{task_id}/complete", json={
        "completed_by": "jana.dvorakova", "resolution": "Kontakt ověřen, klientka je na mateřské, ozve se v září."
    })[::2], "task completion")
    note("Jana Dvořáková splnila úkol u Lucie Veselé → po 30 dnech žádný automatický e-mail")

    # Day 12: the helpdesk logs a ticket rating Karel Beneš very unhappy; his owner's team lead gets the task
    cloud.advance(timedelta(days=2), rate_resolution=SWEEP_RESOLUTION)
    _check(*cloud.http("POST", "/activities", json={
        "activity_id": "story-escalation-ticket", "contact_id": "story-escalation", "kind": "ticket",
        "subject": "Linka stojí už třetí den", "summary": "Zákazník zvažuje odstoupení od servisní smlouvy.",
        "satisfaction": VERY_UNHAPPY,
    })[::2], "helpdesk ticket")
    escalation_task = next(t for t in _scan(cloud, "TasksTable")
                           if t.get("contact_id") == "story-escalation" and t.get("workflow") == "escalation")
    note(f"Helpdesk: tiket Karla Beneše s „{VERY_UNHAPPY}“ → úkol „{escalation_task['title']}“ pro "
         f"{escalation_task['owner']} do {cz_date(escalation_task['due_date'])}, „Nutno řešit“, marketing pozastaven")

    # The same day: a sleeping client (in the inactivity flow) is rated very unhappy from a survey
    _check(*cloud.http("PATCH", "/contacts/story-paused", json={"satisfaction": VERY_UNHAPPY})[::2], "rating")
    note("Alena Svobodová (čeká na reaktivační e-mail) ohodnocena z průzkumu „Vysoká nespokojenost“ → eskalace, "
         "marketing pozastaven")

    # Day 19: the lead has sorted it out and completes the task marked resolved
    cloud.advance(timedelta(days=7), rate_resolution=SWEEP_RESOLUTION)
    _check(*cloud.http("POST", f"/tasks/{escalation_task['task_id']}/complete", json={
        "completed_by": escalation_task["owner"], "resolved": True,
        "resolution": "Osobní schůzka, náhradní technik zajištěn, sleva 10 % na servis do konce roku.",
    })[::2], "escalation task")
    note(f"{escalation_task['owner']} splnil úkol jako vyřešený → pauza zrušena, „Nutno řešit“ odebráno, "
         "historie eskalace zůstává")

    # 15 April: after her follow-up was held back (1 April), Alena Svobodová is rated neutral again
    cloud.advance(datetime(2026, 4, 15, 8, 0, tzinfo=UTC) - cloud.clock.now(), rate_resolution=SWEEP_RESOLUTION)
    _check(*cloud.http("PATCH", "/contacts/story-paused", json={"satisfaction": "Neutrální"})[::2], "rating")
    note("Alena Svobodová: reaktivační e-mail 1. 4. nešel (marketing pozastaven); spokojenost „Neutrální“ → "
         "pauza zrušena, úkol vedoucího uzavřen")

    # The same day Martin Kučera, who answered in March while in the inactivity flow, orders a service contract
    _check(*cloud.http("POST", "/deals", json={
        "deal_id": "story-replies-d0", "contact_id": "story-replies", "title": "Servisní smlouva 2026",
        "product": "Servis", "value": 45000})[::2], "new deal")
    note("Martin Kučera (odpověděl během čekání ve flow neaktivity) otevřel obchod "
         "„Servisní smlouva 2026“ za 45 000 Kč → reporty ho připíšou flow neaktivity")

    # Then four months pass: follow-ups after 30 days, new contacts crossing 180 days every morning
    cloud.advance(END - cloud.clock.now(), rate_resolution=SWEEP_RESOLUTION)
    note("Hodiny posunuty na 30. 6. 2026: follow-upy po 30 dnech i nově neaktivní kontakty zpracovány")
    # Veronika Malá, reactivated twice, signs the e-shop
    _check(*cloud.http("PATCH", "/deals/story-deal-replies-d0", json={"status": "won"})[::2], "won")
    note("Veronika Malá podepsala „Nový e-shop“ (96 000 Kč) → obchod vyhrán; reporty ho připíšou "
         "reaktivaci obchodů")

    # Marketing's win-back campaign, from the preview to an unsubscribe
    campaign = run_campaign_story(cloud, note)
    # Leads from the website and the chatbot, a double opt-in, scoring, a list import and an erasure
    leads = run_leads_story(cloud, note)
    # The year in figures: the reports through the API and the HTML report
    reports = run_reports_story(cloud, note, crm)

    contacts = {c["contact_id"]: c for c in _scan(cloud, "ContactsTable")}
    return DemoResult(
        loaded=loaded,
        contacts=contacts,
        tasks=_scan(cloud, "TasksTable"),
        emails=_read_mail(list(cloud.mail_files)),
        duplicate_delivery={"before": tasks_after_first, "after": tasks_after_duplicate},
        invocations=dict(cloud.invocations),
        filtered=dict(cloud.filtered),
        events=events,
        bus_events=cloud.bus_events(),
        deals=_scan(cloud, "DealsTable"),
        campaign=campaign,
        leads=leads,
        reports=reports,
    )


def _deal_outcome(reactivation: dict[str, Any]) -> str:
    state, outcome = reactivation["state"], reactivation.get("outcome")
    if state == "waiting":
        return "čeká na reakci (14 dní)"
    if state == "sending":
        return "e-mail se odesílá"
    if outcome == "reaction":
        return "klient zareagoval → bez úkolu"
    if outcome == "status_changed":
        return "změněn stav obchodu → bez úkolu"
    if reactivation.get("email") == "skipped":
        return f"e-mail nešel ({reactivation.get('skip_reason')}) → hned úkol zavolat"
    return "bez reakce → úkol „Reaktivační hovor“"


def _name(contact: dict[str, Any]) -> str:
    return " ".join(p for p in (contact.get("first_name"), contact.get("last_name")) if p)


def print_report(result: DemoResult, console: Console, story: list[sample_data.StoryContact]) -> None:
    enrolled = sorted(result.enrolled(), key=lambda c: (c["inactivity"]["started_at"], _name(c)))

    timeline = Table(title="Průběh dema", title_justify="left")
    timeline.add_column("Den")
    timeline.add_column("Co se stalo")
    for day, text in result.events:
        timeline.add_row(day, text)
    console.print(timeline)

    cases = Table(title="Modelové případy (seed 001)", title_justify="left", show_lines=True)
    for column in ("Kontakt", "Případ", "Štítek", "Úkoly", "E-mail", "Výsledek"):
        cases.add_column(column)
    for s in story:
        c = result.contacts[s.payload["contact_id"]]
        flow = c.get("inactivity") or {}
        outcome = "nezařazen" if not flow else OUTCOME_CS.get(flow.get("outcome"), flow.get("outcome"))
        if flow.get("state") == "exited":
            outcome = f"{OUTCOME_CS['reactivated']}" + (f" (předtím: {OUTCOME_CS.get(flow.get('outcome'))})"
                                                        if flow.get("outcome") not in (None, "reactivated") else "")
        tasks = "\n".join(f"{t['title']} (do {cz_date(t['due_date'])}, {t['status']})"
                          for t in result.tasks_for(c["contact_id"])) or "–"
        mails = "\n".join(Path(e["path"]).name for e in result.emails_to(c.get("email") or "@@")) or "–"
        cases.add_row(_name(c), s.case, "ano" if "Neaktivní 6m+" in c.get("tags", []) else "ne", tasks, mails,
                      outcome)
    console.print(cases)

    tagged = Table(title=f"Zařazeno do flow neaktivity: {len(enrolled)} kontaktů (prvních 25)", title_justify="left")
    for column in ("Zařazen", "Kontakt", "Firma", "Obchodník", "Poslední aktivita", "Výsledek"):
        tagged.add_column(column)
    for c in enrolled[:25]:
        flow = c["inactivity"]
        outcome = OUTCOME_CS["reactivated"] if flow["state"] == "exited" else OUTCOME_CS.get(flow.get("outcome"))
        tagged.add_row(cz_date(flow["started_at"]), _name(c), c.get("company") or "–", c["owner"],
                       cz_date(flow["last_activity_at"]), outcome or "")
    console.print(tagged)

    by_owner = Counter((t["owner"], t.get("workflow"), t["status"]) for t in result.tasks)
    owners = Table(title="Úkoly pro obchodníky", title_justify="left")
    for column in ("Obchodník / vedoucí", "Prověřit neaktivní kontakt", "VIP telefonát", "Eskalace", "z toho splněno"):
        owners.add_column(column)
    for owner in sorted({t["owner"] for t in result.tasks}):
        counts = [sum(n for (o, w, _), n in by_owner.items() if o == owner and w == workflow)
                  for workflow in ("inactivity", "inactivity_vip", "escalation")]
        done = sum(n for (o, _, s), n in by_owner.items() if o == owner and s == "done")
        owners.add_row(owner, *map(str, counts), str(done))
    console.print(owners)

    mails = Table(title=f"Odeslané reaktivační e-maily: {len(result.emails)} (prvních 15)", title_justify="left")
    for column in ("Komu", "Předmět", "Soubor .eml"):
        mails.add_column(column)
    for e in result.emails[:15]:
        mails.add_row(e["to"], e["subject"], e["path"])
    console.print(mails)

    skipped = Counter()
    for c in enrolled:
        outcome = (c["inactivity"].get("outcome") or "")
        if outcome and outcome != "email_sent":
            skipped[OUTCOME_CS.get(outcome, outcome)] += 1
    quiet_with_deal = sum(1 for c in result.contacts.values()
                          if not c.get("inactivity") and c.get("open_deal_ids") and
                          datetime.fromisoformat(c["last_activity_at"].replace("Z", "+00:00")) < END - timedelta(days=180))
    skipped["nezařazen: má otevřený obchod"] = quiet_with_deal
    reasons = Table(title="Bez automatického e-mailu – a proč", title_justify="left")
    reasons.add_column("Důvod")
    reasons.add_column("Kontaktů", justify="right")
    for reason, count in skipped.most_common():
        reasons.add_row(reason, str(count))
    console.print(reasons)

    escalations = Table(title="Eskalace nespokojenosti", title_justify="left", show_lines=True)
    for column in ("Kontakt", "Hodnocení", "Úkol vedoucího", "Nyní", "Jak vyřešeno"):
        escalations.add_column(column)
    for c in sorted(result.contacts.values(), key=_name):
        for e in [*c.get("escalation_history", []), *([c["escalation"]] if c.get("escalation") else [])]:
            task = next((t for t in result.tasks if t["task_id"] == e["task_id"]), {})
            rated_by = str(e.get("rated_by") or "?")
            rated_by = "helpdesk (tiket)" if rated_by.startswith("activity:") else rated_by.rsplit("/", 1)[-1]
            how = "–" if e["state"] == "open" else (
                f"{cz_date(e['resolved_at'])}: " + ("vedoucí splnil úkol" if e["resolution"] == "task" else
                                                    f"spokojenost změněna ({c.get('satisfaction')})")
                + (f" – {e['resolution_note']}" if e.get("resolution_note") else ""))
            now_state = "otevřená, marketing pozastaven" if e["state"] == "open" else "vyřešena, marketing běží"
            escalations.add_row(_name(c), f"{e['satisfaction']}\n{cz_date(e['rated_at'])}, {rated_by}",
                                f"{task.get('title')}\n{task.get('owner')}, do {cz_date(task['due_date'])}, "
                                f"{task.get('status')}" if task else "–", now_state, how)
    console.print(escalations)

    in_flow = [d for d in result.deals if d.get("reactivation")]
    passes = [(d, r) for d in in_flow for r in [*d.get("reactivation_history", []), d["reactivation"]]]
    outcomes = Counter(_deal_outcome(r) for _, r in passes)
    summary = Table(title=f"Reaktivace obchodů (seed 002): {len(in_flow)} obchodů, {len(passes)} průchodů "
                          f"(po 90denní pauze se tichý obchod vrací)", title_justify="left")
    summary.add_column("Stav / výsledek")
    summary.add_column("Průchodů", justify="right")
    for outcome, count in outcomes.most_common():
        summary.add_row(outcome, str(count))
    console.print(summary)
    story_passes = [(d, r) for d, r in passes if str(d["deal_id"]).startswith("story-")]
    detail = Table(title="Reaktivace obchodů – modelové případy (každý průchod)", title_justify="left",
                   show_lines=True)
    for column in ("Obchod", "Klient", "Spouštěč", "E-mail", "Výsledek", "Úkol"):
        detail.add_column(column)
    for d, r in sorted(story_passes, key=lambda pair: (pair[0]["title"], pair[1]["started_at"])):
        contact = result.contacts.get(d["contact_id"], {})
        task = next((t for t in result.tasks if t["task_id"] == r.get("task_id")), None)
        detail.add_row(d["title"], _name(contact), {"postponed": "Odloženo", "stale": "90 dní bez aktivity"}[r["trigger"]],
                       f"{r.get('email') or '–'} {cz_date(r['email_at']) if r.get('email_at') else ''}".strip(),
                       _deal_outcome(r),
                       f"{task['title']}\n{task['description'].splitlines()[0]}" if task else "–")
    console.print(detail)

    published = Counter(e["detail-type"] for e in result.bus_events)
    bus = Table(title=f"Události na EventBridge sběrnici: {len(result.bus_events)}", title_justify="left")
    bus.add_column("Typ (detail-type)")
    bus.add_column("Počet", justify="right")
    for kind, count in sorted(published.items()):
        bus.add_row(kind, str(count))
    console.print(bus)

    calls = Table(title="Volání funkcí (lokální emulace)", title_justify="left")
    for column in ("Funkce", "Vyvolání", "Záznamů odfiltrováno FilterCriteria"):
        calls.add_column(column)
    for name in sorted(result.invocations):
        calls.add_row(name, str(result.invocations[name]), str(result.filtered.get(name, 0)))
    console.print(calls)


def run_demo(out_dir: str = "out", background: int = 240) -> DemoResult:
    from crm_local import LocalCloud

    warnings.filterwarnings("ignore", message="No application metrics to publish")
    # markup off: CRM data (names, task titles, notes) is printed as typed, never read as rich markup
    console = Console(width=max(Console().width, 150), markup=False)
    out = ROOT / out_dir
    console.rule("CRM automatizace – lokální demo (bez AWS účtu, bez Dockeru)", style="bold")
    with LocalCloud(template=str(ROOT / "template.yaml"), start=START, out_dir=str(out),
                    parameters=PARAMETERS, quiet=True, function_log=out / "functions.log") as cloud:
        console.print(f"moto server: {cloud.endpoint_url}  (aws --endpoint-url {cloud.endpoint_url} dynamodb "
                      f"scan --table-name {cloud.physical_name('ContactsTable')})")
        result = run_scenario(cloud, background=background, say=lambda text: console.print(f"• {text}"))
        print_report(result, console, sample_data.story_contacts(START))
        print_campaign_report(result.campaign, console)
        print_leads_report(result.leads, console)
        print_reports_summary(result.reports, console)
        console.print(f"\nE-maily jako soubory .eml: {out / 'mail'} (otevřete v poštovním klientu)")
        if cloud.bus_events():
            console.print(f"Události EventBridge (JSON Lines): {cloud.events_file}")
        console.print(f"Logy funkcí (JSON, Powertools): {cloud.function_log}")
    return result
