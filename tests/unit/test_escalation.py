"""The dissatisfaction escalation's decisions, its domain events and its stream filters, without AWS."""

from __future__ import annotations

import json
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import yaml
from boto3.dynamodb.types import TypeSerializer
from moto.events.models import EventPattern

from crm_automation.adapters.dynamodb import ContactsRepo, Store, TasksRepo
from crm_automation.domain import escalation as flow
from crm_automation.domain.domain_events import contact_events, task_events
from crm_automation.domain.inactivity import Strategy, apply_activity, strategy_for
from crm_automation.domain.models import ActivityKind, Contact, Deal, DealStatus, SatisfactionLevel, TaskStatus
from crm_automation.domain.suppression import SuppressionReason, marketing_suppression
from crm_automation.settings import Settings
from tests.factories import NOW, activity, contact

S = Settings()
CRITICAL = "Vysoká nespokojenost"
ROOT = Path(__file__).resolve().parents[2]


def rated(value: str | None = CRITICAL, at=NOW, by: str = "arn:aws:iam::1:user/jana", **overrides: Any) -> Contact:
    return flow.rate(contact(**overrides), value, at, by, S)


def escalated(**overrides: Any) -> Contact:
    return flow.plan_escalation(rated(**overrides), [], [], NOW, S).contact


def deal(title: str, status: DealStatus = DealStatus.OPEN, value: str = "50000", **overrides: Any) -> Deal:
    values: dict[str, Any] = {"deal_id": f"d-{title}", "contact_id": "c-1", "owner": "petr.svoboda", "title": title,
                              "value": Decimal(value), "status": status, "last_activity_at": NOW - timedelta(days=3),
                              "created_at": NOW - timedelta(days=90), "updated_at": NOW}
    values.update(overrides)
    return Deal(**values)


# -------------------------------------------------------------------- the scale


@pytest.mark.parametrize(("value", "canonical", "level"), [
    ("Vysoká nespokojenost", CRITICAL, SatisfactionLevel.CRITICAL),
    ("  vysoká   NESPOKOJENOST ", CRITICAL, SatisfactionLevel.CRITICAL),
    ("Nespokojenost", "Nespokojenost", SatisfactionLevel.NEGATIVE),
    ("neutrální", "Neutrální", SatisfactionLevel.NEUTRAL),
    ("Vysoká spokojenost", "Vysoká spokojenost", SatisfactionLevel.POSITIVE),
])
def test_values_match_the_scale_ignoring_case_and_spacing(value: str, canonical: str, level: SatisfactionLevel) -> None:
    assert flow.normalise_satisfaction(value, S) == (canonical, level)


def test_an_unknown_value_is_an_error_listing_the_scale() -> None:
    with pytest.raises(flow.UnknownSatisfaction, match='"Vysoká nespokojenost"'):
        flow.normalise_satisfaction("Hodně naštvaný", S)


def test_the_scale_is_configuration_and_follows_the_locale() -> None:
    assert flow.normalise_satisfaction("very dissatisfied", Settings(locale="en"))[1] == SatisfactionLevel.CRITICAL
    custom = Settings(satisfaction_scale={"Katastrofa": "critical", "OK": "positive"})
    assert flow.normalise_satisfaction("katastrofa", custom) == ("Katastrofa", SatisfactionLevel.CRITICAL)
    with pytest.raises(flow.UnknownSatisfaction):
        flow.normalise_satisfaction(CRITICAL, custom)


# -------------------------------------------------------------------- when it escalates and resolves


def test_a_critical_rating_needs_an_escalation_and_nothing_else_does() -> None:
    assert flow.needs_escalation(rated(CRITICAL))
    for value in ("Nespokojenost", "Neutrální", "Spokojenost", None):
        assert not flow.needs_escalation(rated(value))
    assert not flow.needs_escalation(rated(CRITICAL, archived=True))


def test_an_open_escalation_blocks_a_second_one_for_any_later_rating() -> None:
    c = escalated()
    assert not flow.needs_escalation(c)
    again = flow.rate(c, CRITICAL, NOW + timedelta(days=1), "activity:t-2", S)
    assert not flow.needs_escalation(again)


def test_after_a_resolution_only_a_new_critical_rating_escalates_again() -> None:
    c = escalated()
    while_open = flow.rate(c, CRITICAL, NOW + timedelta(hours=1), "activity:t-2", S)  # the client complains again
    resolved_by_lead = flow.resolve(while_open, "task", "marie", "sleva", NOW + timedelta(hours=2), S)
    assert not flow.needs_escalation(resolved_by_lead)  # ratings given while it was open are covered by it
    new_rating = flow.rate(resolved_by_lead, CRITICAL, NOW + timedelta(days=7), "activity:t-9", S)
    assert flow.needs_escalation(new_rating)
    second = flow.plan_escalation(new_rating, [], [], NOW + timedelta(days=7), S)
    assert second.contact.escalation is not None and second.contact.escalation.escalation_id == "esc-c-1-2"
    assert [e.escalation_id for e in second.contact.escalation_history] == ["esc-c-1-1"]
    assert second.task.task_id == "task-esc-c-1-2"


@pytest.mark.parametrize(("value", "resolves"), [
    ("Spokojenost", True), ("Vysoká spokojenost", True), ("Neutrální", True), ("Nespokojenost", False),
    (CRITICAL, False), (None, False)])
def test_a_neutral_or_positive_rating_resolves(value: str | None, resolves: bool) -> None:
    c = flow.rate(escalated(), value, NOW + timedelta(hours=1), "petr", S)
    assert flow.needs_resolution(c) is resolves


def test_the_escalation_plan() -> None:
    c = rated(company=None, owner="petr.svoboda")
    settings = Settings(team_leads={"petr.svoboda": "marie.kralova"})
    plan = flow.plan_escalation(c, [], [], NOW, settings)
    assert plan.task.owner == "marie.kralova"
    assert plan.task.title == "Prověřit situaci u klienta Jana Nováková"
    assert plan.task.due_date == date(2026, 6, 2)  # Monday 1 June -> Tuesday
    assert plan.task.workflow == "escalation" and plan.task.status == TaskStatus.OPEN
    after = plan.contact
    assert after.categories == ["Nutno řešit"]
    assert after.marketing_pause is not None and after.marketing_pause.reference == "esc-c-1-1"
    assert after.escalation is not None
    assert (after.escalation.state, after.escalation.lead, after.escalation.rated_by) == (
        "open", "marie.kralova", "arn:aws:iam::1:user/jana")
    assert flow.plan_escalation(rated(), [], [], NOW, S).task.owner == "vedouci.obchodu"  # the default lead


def test_due_date_skips_weekends_and_czech_holidays() -> None:
    friday_before_easter = NOW.replace(year=2026, month=4, day=3)  # Good Friday 2026 is itself a holiday
    plan = flow.plan_escalation(rated(), [], [], friday_before_easter, S)
    assert plan.task.due_date == date(2026, 4, 7)  # Sat, Sun, Easter Monday skipped


def test_the_leads_task_lists_recent_complaints_and_tickets_and_open_deals() -> None:
    activities = [
        activity(activity_id="a1", kind=ActivityKind.TICKET, subject="Nefunguje export", occurred_at=NOW - timedelta(days=2),
                 summary="Zákazník   nemůže\nexportovat faktury.", satisfaction=CRITICAL),
        activity(activity_id="a2", kind=ActivityKind.COMPLAINT, subject="Pozdní dodávka", occurred_at=NOW - timedelta(days=30)),
        activity(activity_id="a3", kind=ActivityKind.TICKET, subject="Starý", occurred_at=NOW - timedelta(days=120)),
        activity(activity_id="a4", kind=ActivityKind.CALL, subject="Hovor", occurred_at=NOW - timedelta(days=1)),
    ]
    deals = [deal("Malý", value="1000"), deal("Velký", value="250000", status=DealStatus.POSTPONED),
             deal("Ztracený", status=DealStatus.LOST)]
    text = flow.task_description(rated(), activities, deals, NOW, S)
    assert text.splitlines()[2:] == [
        "Stížnosti a tikety za posledních 90 dní:",
        "- 30. 5. 2026 · Tiket · Nefunguje export · Vysoká nespokojenost: Zákazník nemůže exportovat faktury.",
        "- 2. 5. 2026 · Stížnost · Pozdní dodávka",
        "",
        "Otevřené obchody:",
        "- Velký · 250\u00a0000 CZK · odloženo · poslední aktivita 29. 5. 2026",
        "- Malý · 1\u00a0000 CZK · otevřený · poslední aktivita 29. 5. 2026",
    ]
    assert "Pekárna Novák s.r.o. (Jana Nováková, vlastník petr.svoboda)" in text
    assert "„Vysoká nespokojenost“ (1. 6. 2026, zadal jana)" in text


def test_the_leads_task_says_so_when_there_is_no_context() -> None:
    text = flow.task_description(rated(), [], [], NOW, S)
    assert "Stížnosti a tikety: za posledních 90 dní žádné." in text and "Otevřené obchody: žádné." in text


def test_resolution_keeps_the_history_and_lifts_only_its_own_pause() -> None:
    c = escalated(categories=["VIP"])
    later = NOW + timedelta(days=2)
    resolved, note = flow.resolution_by_rating(flow.rate(c, "Spokojenost", later, "petr", S), later, S)
    assert resolved.marketing_pause is None and resolved.categories == ["VIP"]
    assert resolved.escalation is not None
    assert (resolved.escalation.state, resolved.escalation.resolution, resolved.escalation.resolved_by,
            resolved.escalation.resolved_at) == ("resolved", "satisfaction", "petr", later)
    assert note == "Vyřešeno bez úkolu: spokojenost změněna na „Spokojenost“ (zadal petr)."


def test_only_its_own_task_marked_resolved_resolves() -> None:
    c = escalated()
    assert c.escalation is not None
    plan_task = flow.plan_escalation(rated(), [], [], NOW, S).task
    done = plan_task.model_copy(update={"status": TaskStatus.DONE, "resolved": True})
    assert flow.task_resolves(c, done)
    assert not flow.task_resolves(c, done.model_copy(update={"resolved": None}))
    assert not flow.task_resolves(c, done.model_copy(update={"task_id": "task-other"}))


# -------------------------------------------------------------------- ratings from the helpdesk


def test_a_ticket_carrying_a_rating_rates_the_contact() -> None:
    ticket = activity(activity_id="t-1", kind=ActivityKind.TICKET, satisfaction=CRITICAL)
    effect = apply_activity(contact(), ticket, NOW, S)
    assert (effect.contact.satisfaction, effect.contact.satisfaction_by) == (CRITICAL, "activity:t-1")
    assert flow.needs_escalation(effect.contact)


def test_an_older_ticket_imported_late_does_not_overwrite_a_newer_rating() -> None:
    c = rated("Spokojenost", at=NOW)
    late = activity(activity_id="t-0", kind=ActivityKind.TICKET, satisfaction=CRITICAL, occurred_at=NOW - timedelta(days=3))
    assert apply_activity(c, late, NOW, S).contact.satisfaction == "Spokojenost"


# -------------------------------------------------------------------- the one suppression decision


def test_a_paused_contact_is_suppressed_for_marketing_and_gets_no_reactivation_e_mail() -> None:
    c = escalated()
    assert marketing_suppression(c) == SuppressionReason.MARKETING_PAUSED
    assert strategy_for(c, S) == (Strategy.SKIP_EMAIL, SuppressionReason.MARKETING_PAUSED)
    assert S.label("reason_marketing_paused") == "marketing pozastaven (eskalace nespokojenosti)"


# -------------------------------------------------------------------- domain events


def test_escalating_and_resolving_produce_their_events() -> None:
    before = rated()
    opened = flow.plan_escalation(before, [], [], NOW, S)
    assert [e.detail_type for e in contact_events(before, opened.contact)] == [
        "contact.escalated", "contact.marketing_paused"]
    resolved = flow.resolve(opened.contact, "task", "marie", None, NOW, S)
    events = contact_events(opened.contact, resolved)
    assert [e.detail_type for e in events] == ["contact.escalation_resolved", "contact.marketing_resumed"]
    assert events[0].detail["escalation"]["resolution"] == "task"
    assert contact_events(resolved, resolved.model_copy(update={"phone": "1"})) == []


def test_task_events() -> None:
    task = flow.plan_escalation(rated(), [], [], NOW, S).task
    [created] = task_events(None, task)
    assert created.detail_type == "task.created"
    assert created.detail["due_date"] == "2026-06-02" and "version" not in created.detail
    assert "description" not in created.detail and "title" not in created.detail  # the text stays in the CRM
    done = task.model_copy(update={"status": TaskStatus.DONE})
    assert [e.detail_type for e in task_events(task, done)] == ["task.completed"]
    cancelled = task.model_copy(update={"status": TaskStatus.CANCELLED})
    assert [e.detail_type for e in task_events(task, cancelled)] == ["task.cancelled"]
    assert task_events(done, done.model_copy(update={"description": "x"})) == []


# -------------------------------------------------------------------- the template's stream filters


class _Ignore(yaml.SafeLoader):
    pass


_Ignore.add_multi_constructor("!", lambda loader, suffix, node: None)


def _patterns(function: str, event: str) -> list[EventPattern]:
    template = yaml.load((ROOT / "template.yaml").read_text(), Loader=_Ignore)  # noqa: S506 - SafeLoader subclass
    filters = template["Resources"][function]["Properties"]["Events"][event]["Properties"]["FilterCriteria"]["Filters"]
    return [EventPattern.load(f["Pattern"]) for f in filters]


def _record(old: dict[str, Any] | None, new: dict[str, Any]) -> dict[str, Any]:
    """A stream record as Lambda's filter sees it (DynamoDB JSON images)."""
    serializer = TypeSerializer()
    dynamodb = {"NewImage": {k: serializer.serialize(v) for k, v in new.items()}}
    if old is not None:
        dynamodb["OldImage"] = {k: serializer.serialize(v) for k, v in old.items()}
    return {"eventName": "INSERT" if old is None else "MODIFY", "dynamodb": dynamodb}


def _passes(patterns: list[EventPattern], old: Contact | None, new: Contact) -> bool:
    repo = ContactsRepo(Store.__new__(Store), "contacts")
    repo.store.settings = S
    record = _record(repo.to_item(old) if old else None, repo.to_item(new))
    return any(p.matches_event(json.loads(json.dumps(record, default=str))) for p in patterns)


def test_the_escalation_filter_passes_only_a_rating_that_needs_escalation_or_resolution() -> None:
    patterns = _patterns("EscalationFunction", "ContactChanges")
    calm = contact()
    angry = flow.rate(calm, CRITICAL, NOW, "u", S)
    opened = flow.plan_escalation(angry, [], [], NOW, S).contact
    happy_again = flow.rate(opened, "Spokojenost", NOW + timedelta(hours=1), "u", S)
    assert _passes(patterns, calm, angry)  # became critical
    assert _passes(patterns, None, angry)  # created critical (an import)
    assert _passes(patterns, opened, happy_again)  # resolution due
    assert not _passes(patterns, angry, opened)  # the escalation function's own write
    assert not _passes(patterns, calm, calm.model_copy(update={"phone": "+420 1"}))
    assert not _passes(patterns, opened, opened.model_copy(update={"tags": ["x"]}))  # unrelated, while open
    assert not _passes(patterns, calm, flow.rate(calm, "Nespokojenost", NOW, "u", S))
    assert not _passes(patterns, opened, flow.rate(opened, CRITICAL, NOW + timedelta(days=1), "u", S))
    resolved_by_lead = flow.resolve(opened, "task", "marie", None, NOW, S)
    assert not _passes(patterns, opened, resolved_by_lead)
    assert _passes(patterns, resolved_by_lead, flow.rate(resolved_by_lead, CRITICAL, NOW + timedelta(days=9), "u", S))


def test_the_task_filters() -> None:
    repo = TasksRepo(Store.__new__(Store), "tasks")
    escalation_task = flow.plan_escalation(rated(), [], [], NOW, S).task
    done = escalation_task.model_copy(update={"status": TaskStatus.DONE, "resolved": True})

    def passes(patterns: list[EventPattern], old: Any, new: Any) -> bool:
        record = _record(repo.to_item(old) if old else None, repo.to_item(new))
        return any(p.matches_event(json.loads(json.dumps(record, default=str))) for p in patterns)

    resolving = _patterns("EscalationFunction", "TaskChanges")
    assert passes(resolving, escalation_task, done)
    assert not passes(resolving, escalation_task, done.model_copy(update={"resolved": False}))
    assert not passes(resolving, escalation_task, done.model_copy(update={"workflow": "inactivity"}))
    assert not passes(resolving, done, done.model_copy(update={"description": "edited"}))
    publishing = _patterns("EventPublisherFunction", "TaskChanges")
    assert passes(publishing, None, escalation_task)
    assert passes(publishing, escalation_task, done)
    assert not passes(publishing, done, done.model_copy(update={"description": "edited"}))


def test_the_publisher_filter_passes_escalation_changes_only() -> None:
    patterns = _patterns("EventPublisherFunction", "ContactChanges")
    angry = rated()
    opened = flow.plan_escalation(angry, [], [], NOW, S).contact
    resolved = flow.resolve(opened, "task", "marie", None, NOW, S)
    reopened = flow.plan_escalation(flow.rate(resolved, CRITICAL, NOW + timedelta(days=9), "u", S), [], [], NOW, S)
    assert _passes(patterns, angry, opened)
    assert _passes(patterns, opened, resolved)
    assert _passes(patterns, resolved, reopened.contact)
    assert not _passes(patterns, contact(), angry)
    assert not _passes(patterns, opened, opened.model_copy(update={"phone": "1"}))


def test_items_carry_the_due_flags_only_while_due() -> None:
    repo = ContactsRepo(Store.__new__(Store), "contacts")
    repo.store.settings = S
    assert "escalate_due" in repo.to_item(rated())
    assert "escalate_due" not in repo.to_item(escalated())
    assert "resolve_due" in repo.to_item(flow.rate(escalated(), "Neutrální", NOW, "u", S))
