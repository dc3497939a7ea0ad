"""The demo scenario end to end on the emulated template: tags, tasks (Czech titles, working-day due dates),
reactivation e-mails as .eml files, VIP call tasks, skipped contacts with reasons."""

from __future__ import annotations

import html
import re
from collections import Counter
from datetime import date, datetime
from decimal import Decimal
from email import message_from_bytes, policy
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from crm_local import LocalCloud, sample_data
from crm_local.demo import PARAMETERS, START, run_scenario
from crm_local.demo_reports import MONTH_FROM, MONTH_TO, summary_lines
from crm_automation.domain.calendar import is_working_day

ROOT = Path(__file__).resolve().parents[2]
TAG = "Neaktivní 6m+"


@pytest.fixture(scope="module")
def result(tmp_path_factory):
    out = tmp_path_factory.mktemp("demo")
    with LocalCloud(template=str(ROOT / "template.yaml"), start=START, out_dir=out, quiet=True,
                    parameters=PARAMETERS) as cloud:
        yield run_scenario(cloud, background=40)


BACKGROUND = 40
PRAGUE = ZoneInfo("Europe/Prague")


def _story(result, key):
    return result.contacts[f"story-{key}"]


def test_the_inactive_contact_is_tagged_gets_a_task_and_then_the_email(result) -> None:
    jana = _story(result, "email")
    assert TAG in jana["tags"]
    [task] = result.tasks_for("story-email")
    assert task["title"] == "Prověřit neaktivní kontakt Jana Nováková"
    assert task["owner"] == "petr.svoboda" and task["due_date"] == "2026-03-16"
    [mail] = result.emails_to("jana.novakova@example.cz")
    message = message_from_bytes(Path(mail["path"]).read_bytes(), policy=policy.default)
    assert message["Subject"] == "Dlouho jsme se neslyšeli – můžeme vám s něčím pomoci?"
    assert "naposledy jsme spolu byli v kontaktu před 8 měsíci" in message.get_body(("plain",)).get_content()
    assert jana["inactivity"]["outcome"] == "email_sent"


def test_the_vip_gets_a_personal_call_task_and_no_email(result) -> None:
    tasks = {t["workflow"]: t for t in result.tasks_for("story-vip")}
    assert tasks["inactivity_vip"]["title"] == "Osobně zavolat VIP klientovi Pavel Dvořák"
    assert tasks["inactivity_vip"]["owner"] == "jana.dvorakova" and tasks["inactivity_vip"]["kind"] == "call"
    assert result.emails_to("pavel.dvorak@example.cz") == []


@pytest.mark.parametrize(
    ("key", "address", "outcome"),
    [("bounced", "tomas.prochazka@example.cz", "archive_proposed"),
     ("do-not-contact", "eva.cerna@example.cz", "email_skipped"),
     ("no-consent", "jiri.marek@example.cz", "email_skipped"),
     ("owner-acts", "lucie.vesela@example.cz", "owner_acted")],
)
def test_skipped_contacts_get_no_email_and_the_reason_is_recorded(result, key, address, outcome) -> None:
    contact = _story(result, key)
    assert contact["inactivity"]["outcome"] == outcome
    assert len(result.tasks_for(f"story-{key}")) == 1
    assert result.emails_to(address) == []
    if key == "bounced":
        assert "Návrh k archivaci" in contact["categories"] and not contact.get("archived")


def test_a_reply_takes_the_contact_out_of_the_flow(result) -> None:
    martin = _story(result, "replies")
    assert TAG not in martin["tags"] and martin["inactivity"]["state"] == "exited"
    assert result.emails_to("martin.kucera@example.cz") == []


def test_a_contact_that_becomes_inactive_later_is_enrolled_on_that_day(result) -> None:
    hana = _story(result, "later")
    assert hana["inactivity"]["started_at"].startswith("2026-04-11")  # 140 + 40 = 180 days quiet
    assert result.emails_to("hana.horakova@example.cz")


def test_open_deal_and_active_contacts_are_left_alone_by_the_inactivity_flow(result) -> None:
    for key in ("open-deal", "active"):
        assert "inactivity" not in _story(result, key)
    assert result.tasks_for("story-active") == []
    # the quiet contact's open deal is the deal workflow's business: reactivated there, not as an inactive contact
    assert {t["workflow"] for t in result.tasks_for("story-open-deal")} == {"deal_reactivation"}


def test_duplicate_delivery_of_the_first_scan_created_nothing(result) -> None:
    assert result.duplicate_delivery["before"] == result.duplicate_delivery["after"] > 5


def test_every_task_is_due_on_a_working_day_and_every_email_went_to_an_enrolled_contact(result) -> None:
    assert all(is_working_day(date.fromisoformat(t["due_date"])) for t in result.tasks)
    enrolled = {c["email"] for c in result.enrolled() if c["inactivity"].get("outcome") == "email_sent"}
    recipients = [e["to"].split("<")[-1].rstrip(">") for e in result.emails if e["workflow"] == "inactivity"]
    assert sorted(recipients) == sorted(enrolled) and len(recipients) == len(set(recipients))
    deal_emails = [e for e in result.emails if e["workflow"] == "deal_reactivation"]
    sent = [r for d in result.deals for r in [*d.get("reactivation_history", []), d.get("reactivation") or {}]
            if r.get("email") == "sent"]
    assert len(deal_emails) == len(sent) > 0  # one e-mail per enrolment that sent one
    # and the double opt-in confirmations of the leads part
    assert {e["workflow"] for e in result.emails} == {"inactivity", "deal_reactivation", "campaign", "double_opt_in"}


def test_unrelated_writes_never_invoke_the_activity_processor(result) -> None:
    # Only activity INSERTs pass its FilterCriteria; the applied_at updates it writes itself are filtered out
    assert result.filtered["ActivityProcessorFunction"] >= result.invocations["ActivityProcessorFunction"] > 0


def test_the_helpdesk_escalation_reaches_the_team_lead_and_the_lead_resolves_it(result) -> None:
    karel = _story(result, "escalation")
    [task] = [t for t in result.tasks_for("story-escalation") if t.get("workflow") == "escalation"]
    assert task["title"] == "Prověřit situaci u klienta Strojírna Beneš s.r.o."
    assert task["owner"] == "tomas.bartos"  # martin.kral's team lead
    assert task["due_date"] == "2026-03-13"  # ticket on Thursday 12 March -> Friday
    for context in ("Reklamace: vadná ložiska", "Servisní technik nedorazil", "Linka stojí už třetí den",
                    "Servisní smlouva 2026 · 180\u00a0000 CZK · otevřený", "odloženo"):
        assert context in task["description"]
    assert task["status"] == "done" and task["resolved"] is True
    escalation = karel["escalation"]
    assert escalation["state"] == "resolved" and escalation["resolution"] == "task"
    assert escalation["rated_by"] == "activity:story-escalation-ticket"
    assert "Nutno řešit" not in karel["categories"] and "marketing_pause" not in karel


def test_the_paused_sleeping_client_gets_no_e_mail_and_a_neutral_rating_lifts_the_pause(result) -> None:
    alena = _story(result, "paused")
    assert alena["inactivity"]["outcome"] == "email_skipped"  # the 1 April follow-up, while paused
    assert alena["inactivity"]["skip_reason"] == "marketing_paused"
    assert result.emails_to(alena["email"]) == []
    assert alena["escalation"]["resolution"] == "satisfaction" and "marketing_pause" not in alena
    [task] = [t for t in result.tasks_for("story-paused") if t.get("workflow") == "escalation"]
    assert task["owner"] == "tomas.bartos" and task["status"] == "cancelled"


def test_every_escalation_action_went_out_on_the_bus(result) -> None:
    kinds = Counter(e["detail-type"] for e in result.bus_events)
    assert kinds["contact.escalated"] == 2 and kinds["contact.escalation_resolved"] == 2
    assert kinds["contact.marketing_paused"] == 2 and kinds["contact.marketing_resumed"] == 2
    assert kinds["task.created"] == len(result.tasks)  # every task, of every workflow
    assert result.invocations["EscalationFunction"] <= 4  # two escalations, two resolutions, nothing else


def _deal(result, deal_id):
    return next(d for d in result.deals if d["deal_id"] == deal_id)


def test_a_postponed_deal_gets_the_owners_email_and_after_14_days_the_call_task(result) -> None:
    deal = _deal(result, "story-deal-postponed-d0")
    assert deal["reactivation"]["trigger"] == "postponed" and deal["reactivation"]["state"] == "called"
    [mail] = [e for e in result.emails_to("ondrej.kratochvil@example.cz")]
    message = message_from_bytes(Path(mail["path"]).read_bytes(), policy=policy.default)
    assert message["From"] == "Martin Král <martin.kral@example.cz>"
    assert message["Reply-To"] == "martin.kral@example.cz"
    text = message.get_body(("plain",)).get_content()
    assert text.startswith("Dobrý den, pane Kratochvíle,\n")
    assert "ohledně „Rekonstrukce kanceláří“ pro Kratochvíl Stavby s.r.o. Chtěl bych" in text  # one full stop
    [task] = [t for t in result.tasks_for("story-deal-postponed") if t.get("workflow") == "deal_reactivation"]
    assert task["title"] == "Reaktivační hovor - Klient Ondřej Kratochvíl nereagoval na e-mail."
    # last activity 18 February (12 days before the start); postponed and e-mailed 6 March; task 20 March
    assert task["description"].startswith("Prosím, kontaktuj telefonicky klienta Ondřej Kratochvíl. "
                                          "Poslední aktivita před 30 dny. Odeslán automatický e-mail před 14 dny")
    assert task["due_date"] == "2026-03-23"  # Friday 20 March -> the next working day, Monday


def test_a_reply_ends_the_deal_wait_and_no_task_follows(result) -> None:
    deal = _deal(result, "story-deal-replies-d0")
    first, *later = [*deal.get("reactivation_history", []), deal["reactivation"]]
    assert first["trigger"] == "stale" and (first["state"], first["outcome"]) == ("ended", "reaction")
    assert not any(t["created_at"] < "2026-04" for t in result.tasks_for("story-deal-replies"))
    # her reply made the deal active again: it is due only 90 days after the reply (June), not after the cool-down
    assert all(r["started_at"] >= "2026-06-04" for r in later)


# ---------------------------------------------------------------- the win-back campaign


def test_the_win_back_preview_shows_who_is_left_out_and_why(result) -> None:
    preview = result.campaign["preview"]
    # the six story former customers lost to "Chybějící funkce A" are in the segment (background ones may join)
    assert preview["audience"] >= 6
    assert preview["excluded"]["erased"] >= 1 and preview["excluded"]["unsubscribed"] >= 1
    assert preview["excluded"]["no_consent"] >= 1
    assert preview["audience"] == preview["eligible"] + sum(preview["excluded"].values())
    assert preview["samples"][0]["headers"]["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"


def test_the_win_back_waits_for_the_send_window_then_sends_once_per_address(result) -> None:
    assert result.campaign["after_launch"]["progress"]["sent"] == 0
    assert result.campaign["after_launch"]["progress"]["waiting"] == result.campaign["preview"]["audience"]
    final = result.campaign["final"]
    assert final["status"] == "completed" and final["progress"]["sent"] == result.campaign["preview"]["eligible"]
    for address in ("jitka.stastna@example.cz", "radek.pospisil@example.cz", "bounce@simulator.amazonses.com"):
        mails = [m for m in result.emails_to(address) if m["subject"].startswith("Funkce A")]
        assert len(mails) == 1
    for address in ("roman.fiala@example.cz", "zdenek.kolar@example.cz", "ivana.benesova@example.cz"):
        assert [m for m in result.emails_to(address) if m["subject"].startswith("Funkce A")] == []


def test_the_win_back_feedback_and_the_unsubscribe_are_recorded(result) -> None:
    final = result.campaign["final"]["progress"]
    assert (final["opens"], final["clicks"], final["bounced"], final["unsubscribed"]) == (1, 1, 1, 1)
    contacts = result.campaign["contacts"]
    assert contacts["wb-unsubscribes"]["contact"]["marketing_status"] == "unsubscribed"
    assert contacts["wb-bounces"]["contact"]["email_status"] == "bounced"
    assert {"open", "click"} <= {a["kind"] for a in contacts["wb-clicks"]["activities"]}
    unsubscribe = result.campaign["unsubscribe"]
    assert unsubscribe["get_status"] == 200 and unsubscribe["post_status"] == 200 and unsubscribe["confirmed"]
    second = result.campaign["second_preview"]["excluded"]
    assert second["unsubscribed"] == result.campaign["preview"]["excluded"]["unsubscribed"] + 1
    assert second["bounced"] >= 1


# ---------------------------------------------------------------- leads, consent, scoring, import, erasure

def test_the_form_lead_is_captured_confirms_its_consent_and_becomes_qualified(result) -> None:
    leads = result.leads
    tereza = leads["form"]["contact"]
    assert leads["form"]["status"] in (202, 303) and tereza["lead_source"] == "form:kontakt"
    assert tereza["utm"] == {"utm_source": "newsletter", "utm_medium": "email", "utm_campaign": "jaro-2026"}
    doi = leads["doi"]
    assert doi["get_status"] == 200 and not doi["granted_before"] and doi["post_status"] == 200
    assert doi["ledger"][:2] == ["confirmed", "pending"]  # newest first
    assert leads["dedupe"] == {"status": 202, "contacts": 1}
    assert leads["honeypot"]["written"] == 0
    scoring = leads["scoring"]
    assert scoring["lead_score"] >= 50 and scoring["qualified_at"]
    assert scoring["task"]["title"].startswith("Kvalifikovaný lead: Tereza Vondráčková")


def test_the_chatbot_lead_is_signed_replayed_once_and_forgeries_are_refused(result) -> None:
    chatbot = result.leads["chatbot"]
    assert chatbot["statuses"] == [202, 202, 202] and chatbot["replay"] == 200 and chatbot["forged"] == 401
    assert chatbot["contact"]["lead_source"] == "chatbot" and chatbot["contact"]["utm"]["utm_source"] == "google"
    assert chatbot["chat_activities"] == 2  # the intent before the contact details, and the details


def test_the_import_report_has_every_outcome_with_line_numbers(result) -> None:
    report = result.leads["import"]
    assert report["counts"] == {"created": 2, "updated": 2, "unchanged": 0, "skipped_suppressed": 2,
                                "skipped_no_consent": 1, "invalid": 3}
    by_line = {e["line"]: e["outcome"] for e in report["entries"]}
    assert by_line[6] == by_line[7] == "skipped_suppressed" and by_line[8] == "skipped_no_consent"
    assert [line for line, outcome in by_line.items() if outcome == "invalid"] == [9, 10, 11]


def test_the_erasure_leaves_no_trace_and_the_address_stays_suppressed(result) -> None:
    leads = result.leads
    assert leads["erased_returns"]["suppressions"] == ["erased"]
    erasure = leads["erasure"]
    assert erasure["traces_before"] >= 1 and erasure["traces_after"] == 0 and erasure["get_status"] == 410
    assert erasure["returns"]["suppressions"] == ["erased"]
    assert leads["events"]["contact.erased"] == 1 and leads["events"]["lead.qualified"] == 1
    assert leads["events"]["lead.captured"] >= 4 and leads["events"]["consent.changed"] >= 2
    erased = [e for e in result.bus_events if e["detail-type"] == "contact.erased"]
    assert erased and set(erased[0]["detail"]) == {"event_id", "occurred_at", "contact_id", "erased_at"}


# ---------------------------------------------------------------- reports (issue #7)
# The expected figures are counted here from the sample data and the story (not with the report code).


def _local(at: str) -> datetime:
    return datetime.fromisoformat(at.replace("Z", "+00:00")).astimezone(PRAGUE)


def test_the_html_report_is_written_and_self_contained(result) -> None:
    path = Path(result.reports["html"])
    assert path.is_file() and path.name == "report.html"
    text = path.read_text(encoding="utf-8")
    assert text.lstrip().lower().startswith("<!doctype html") and "<svg" in text  # charts drawn inline
    # nothing loaded from elsewhere: no external scripts, styles, images, frames or fonts
    external = re.compile(r"""<(?:script|link|img|iframe|source|embed|object|use)\b[^>]*\b(?:src|href|data)\s*=\s*"""
                          r"""["']?\s*(?:https?:)?//""", re.IGNORECASE)
    assert not external.search(text)
    assert not re.search(r"""url\(\s*["']?\s*(?:https?:)?//""", text, re.IGNORECASE)
    assert "@import" not in text
    shown = html.unescape(text)
    top = next(r for r in result.reports["loss"]["reasons"] if r["reason"])
    assert top["reason"] in shown
    assert "Win-back: funkce A je tady" in shown


def test_the_loss_reasons_report_counts_every_deal_closed_in_the_last_twelve_months(result) -> None:
    crm = sample_data.generate(START, background=BACKGROUND)
    lost: Counter[str | None] = Counter()
    won = 1  # Veronika Malá's "Nový e-shop", won on 30 June
    for deal in crm.deals + crm.late_deals:
        closed = deal.get("closed_at") or deal["created_at"]  # a deal imported closed without a time: its creation
        if deal["status"] in ("won", "lost") and MONTH_FROM <= f"{_local(closed):%Y-%m}" <= MONTH_TO:
            if deal["status"] == "lost":
                lost[deal.get("loss_reason")] += 1
            else:
                won += 1
    loss = result.reports["loss"]
    assert (loss["from"], loss["to"]) == (MONTH_FROM, MONTH_TO)
    assert (loss["totals"]["lost"], loss["totals"]["won"]) == (sum(lost.values()), won)
    assert {r["reason"]: r["lost"] for r in loss["reasons"]} == dict(lost)
    [(top_reason, top_count)] = [(r, n) for r, n in lost.most_common() if r][:1]
    assert top_reason == "Cena" and top_count > lost[sample_data.WINBACK_LOSS_REASON]  # no tie at the top
    top = loss["reasons"][0]
    assert (top["reason"], top["lost"]) == (top_reason, top_count)
    assert top["share"] == round(top_count / sum(lost.values()), 4)
    # the six former customers lost to feature A (the win-back story) are among them
    assert lost[sample_data.WINBACK_LOSS_REASON] >= 6
    assert sum(s["lost"] for s in loss["segments"]) == sum(lost.values())


def test_the_retention_report_counts_the_orders_of_2026(result) -> None:
    crm = sample_data.generate(START, background=BACKGROUND)
    orders: Counter[str] = Counter()
    revenue = Decimal(0)
    for activity in crm.activities + crm.late_activities:
        if activity["kind"] == "purchase" and _local(activity["occurred_at"]).year == 2026:
            orders[activity["contact_id"]] += 1
            revenue += Decimal(str(activity.get("amount") or 0))
    retention = result.reports["retention"]
    assert (retention["period"], retention["customers"], retention["orders"]) == (
        "2026", len(orders), sum(orders.values()))
    assert Decimal(retention["revenue"]) == revenue
    retained = sum(1 for n in orders.values() if n >= 3)
    returning = sum(1 for n in orders.values() if n >= 2)
    assert (retention["retained_customers"], retention["returning_customers"]) == (retained, returning)
    assert retention["retention_rate"] == round(retained / len(orders), 4)
    # the report customers: Pekárna Kolín (3 orders in 2026), Zahradnictví Kolín (4), Strojírny Plzeň (3) ...
    assert retained >= 3 and retention["aov_one_time"] is not None and retention["aov_returning"] is not None


def test_the_workflow_report_matches_what_the_workflows_did(result) -> None:
    flows = {w["workflow"]: w for w in result.reports["workflows"]["workflows"]}
    inactivity = flows["inactivity"]
    tasks = Counter(t.get("workflow") for t in result.tasks)
    assert inactivity["enrolled"] == tasks["inactivity"]
    assert inactivity["tasks_created"] == tasks["inactivity"] + tasks["inactivity_vip"]
    assert inactivity["emails_sent"] == sum(1 for e in result.emails if e["workflow"] == "inactivity")
    # Martin Kučera answered within the wait, and opened a 45 000 deal on 15 April
    assert (inactivity["reactions_wait"], inactivity["new_deals"]) == (1, 1)
    assert inactivity["new_deal_value"] == {"CZK": "45000.00"}
    reactivation = flows["deal_reactivation"]
    passes = [r for d in result.deals for r in [*d.get("reactivation_history", []), d.get("reactivation")] if r]
    assert reactivation["enrolled"] == len(passes)
    assert reactivation["emails_sent"] == sum(1 for e in result.emails if e["workflow"] == "deal_reactivation")
    # Veronika Malá answered (March) and won the e-shop (30 June, 96 000)
    assert reactivation["reactions"] >= 1
    assert (reactivation["won_deals"], reactivation["won_value"]) == (1, {"CZK": "96000.00"})
    escalation = flows["escalation"]
    assert (escalation["enrolled"], escalation["tasks_completed"]) == (2, 1)  # Karel's done, Alena's cancelled


def test_the_campaign_report_matches_the_win_back(result) -> None:
    campaigns = {c["campaign_id"]: c for c in result.reports["campaigns"]["campaigns"]}
    winback = campaigns[result.campaign["campaign_id"]]
    progress = result.campaign["final"]["progress"]
    assert winback["sent"] == progress["sent"] and winback["suppressed_total"] == progress["suppressed"]
    assert (winback["opened"], winback["clicked"], winback["bounced"], winback["unsubscribed"]) == (1, 1, 1, 1)
    assert winback["delivered"] == progress["sent"] - 1  # all but the simulator's bounce
    lines = summary_lines(result.reports)
    assert any(line.startswith("Nejčastější důvod ztráty") for line in lines)
    assert any("Win-back" in line and "otevřelo 1" in line for line in lines)
