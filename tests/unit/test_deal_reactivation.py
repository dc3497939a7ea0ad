"""The dead-deal reactivation's decisions and the Czech vocative greeting, without AWS."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import pytest

from crm_automation.domain import deal_reactivation as flow
from crm_automation.domain.models import ActivityKind, Deal, DealStatus, MarketingStatus
from crm_automation.domain.salutation import gender_of, greeting
from crm_automation.domain.suppression import SuppressionReason
from crm_automation.settings import Settings
from tests.factories import NOW, activity, contact

S = Settings()


def deal(**overrides: Any) -> Deal:
    values: dict[str, Any] = {"deal_id": "d-1", "contact_id": "c-1", "owner": "petr.svoboda", "title": "Servis 2026",
                              "value": Decimal("120000"), "last_activity_at": NOW - timedelta(days=100),
                              "created_at": NOW - timedelta(days=200), "updated_at": NOW - timedelta(days=100)}
    values.update(overrides)
    return Deal(**values)


def enrolled(trigger: str = "stale", **overrides: Any) -> Deal:
    return flow.plan_enrolment(deal(**overrides), trigger, NOW, S).deal


# -------------------------------------------------------------------- greeting


@pytest.mark.parametrize(("first", "last", "expected"), [
    ("Jan", "Novák", "Dobrý den, pane Nováku,"),
    ("Jana", "Nováková", "Dobrý den, paní Nováková,"),
    ("Karel", "Beneš", "Dobrý den, pane Beneši,"),
    ("Martin", "Kučera", "Dobrý den, pane Kučero,"),
    ("Ondřej", "Kratochvíl", "Dobrý den, pane Kratochvíle,"),
    ("Eva", "Černá", "Dobrý den, paní Černá,"),
    (None, "Dvořák", "Dobrý den, pane Dvořáku,"),
    ("Jana", "Smith", "Dobrý den,"),  # first and last name disagree: no risk of the wrong gender
    ("Jan", "O'Neil", "Dobrý den,"),  # not a plain name: not declined
    ("Jan", None, "Dobrý den,"),
    (None, None, "Dobrý den,"),
])
def test_czech_vocative_greeting_with_a_neutral_fallback(first: str | None, last: str | None, expected: str) -> None:
    assert greeting(first, last, "cs") == expected


def test_english_greeting() -> None:
    assert greeting("Jana", "Nováková", "en") == "Hello Jana Nováková,"
    assert greeting(None, None, "en") == "Hello,"


def test_the_owners_gender_for_the_first_person_verb() -> None:
    assert (gender_of("Petr Svoboda"), gender_of("Jana Dvořáková"), gender_of("Obchod")) == ("m", "w", None)


# -------------------------------------------------------------------- who is due


def test_an_open_deal_outside_the_flow_is_indexed_by_since_when_it_is_quiet() -> None:
    d = deal(last_activity_at=NOW - timedelta(days=10))
    assert flow.quiet_since(d) == NOW - timedelta(days=10)
    assert flow.quiet_since(deal(status=DealStatus.WON)) is None
    assert flow.quiet_since(enrolled()) is None  # in the flow: out of the index


def test_after_an_enrolment_the_cooldown_decides_when_it_is_due_again() -> None:
    ended = flow.reaction(enrolled(), activity(kind=ActivityKind.EMAIL_IN, occurred_at=NOW), NOW)
    assert ended is not None
    assert flow.quiet_since(ended.deal) == NOW  # the reaction (and the enrolment) count as touches
    assert not flow.can_enrol(ended.deal, "stale", NOW + timedelta(days=89), S)
    assert flow.can_enrol(ended.deal, "stale", NOW + timedelta(days=90), S)
    assert not flow.can_enrol(ended.deal.model_copy(update={"status": DealStatus.POSTPONED}), "postponed",
                              NOW + timedelta(days=30), S)


def test_triggers() -> None:
    assert flow.can_enrol(deal(), "stale", NOW, S)
    assert not flow.can_enrol(deal(last_activity_at=NOW - timedelta(days=89)), "stale", NOW, S)
    assert flow.can_enrol(deal(status=DealStatus.POSTPONED, last_activity_at=NOW), "postponed", NOW, S)
    assert not flow.can_enrol(deal(), "postponed", NOW, S)  # not postponed
    assert not flow.can_enrol(enrolled(), "stale", NOW, S)  # already in the flow


def test_enrolment_plans_a_send_timer_due_now_and_keeps_history() -> None:
    plan = flow.plan_enrolment(deal(), "stale", NOW, S)
    assert plan.send_timer.due_at == NOW and plan.send_timer.kind == flow.SEND_TIMER
    assert plan.deal.reactivation is not None and plan.deal.reactivation.state == "sending"
    assert plan.deal.reactivation.enrolment_id == "deal_reactivation-d-1-2026-06-01"
    again = flow.plan_enrolment(plan.deal.model_copy(update={"reactivation": plan.deal.reactivation.model_copy(
        update={"state": "ended"})}), "stale", NOW + timedelta(days=100), S)
    assert [r.enrolment_id for r in again.deal.reactivation_history] == ["deal_reactivation-d-1-2026-06-01"]


# -------------------------------------------------------------------- the wait and its end


def test_after_sending_the_wait_is_14_days() -> None:
    waiting, wait = flow.after_send(enrolled(), "sent", NOW, S)
    assert wait.due_at == NOW + timedelta(days=14) and wait.kind == flow.WAIT_TIMER
    assert waiting.reactivation is not None and waiting.reactivation.state == "waiting"


@pytest.mark.parametrize(("kind", "reacts"), [
    (ActivityKind.EMAIL_IN, True), (ActivityKind.CALL, True), (ActivityKind.MEETING, True),
    (ActivityKind.NOTE, False), (ActivityKind.OPEN, False), (ActivityKind.EMAIL_OUT, False)])
def test_what_counts_as_a_reaction(kind: ActivityKind, reacts: bool) -> None:
    waiting, wait = flow.after_send(enrolled(), "sent", NOW, S)
    ending = flow.reaction(waiting, activity(kind=kind, occurred_at=NOW + timedelta(days=3)), NOW)
    assert (ending is not None) is reacts
    if ending:
        assert ending.cancel_timer_id == wait.timer_id and ending.deal.reactivation.outcome == "reaction"  # type: ignore[union-attr]


def test_an_activity_from_before_the_enrolment_is_not_a_reaction() -> None:
    assert flow.reaction(enrolled(), activity(kind=ActivityKind.CALL, occurred_at=NOW - timedelta(days=1)), NOW) is None


def test_a_status_change_ends_the_flow_and_cancels_the_pending_timer() -> None:
    before = enrolled()
    ending = flow.status_changed(before, before.model_copy(update={"status": DealStatus.WON}), NOW)
    assert ending is not None and ending.cancel_timer_id == before.reactivation.send_timer_id  # type: ignore[union-attr]
    assert flow.status_changed(before, before.model_copy(update={"title": "x"}), NOW) is None


# -------------------------------------------------------------------- the call task


def test_the_call_task_after_the_wait() -> None:
    waiting, _ = flow.after_send(enrolled(), "sent", NOW, S)
    later = NOW + timedelta(days=14)
    task = flow.call_task(waiting, contact(), later, S)
    assert task.title == "Reaktivační hovor - Klient Jana Nováková nereagoval na e-mail."
    assert task.description.splitlines()[0] == (
        "Prosím, kontaktuj telefonicky klienta Jana Nováková. Poslední aktivita před 114 dny. "
        "Odeslán automatický e-mail před 14 dny bez reakce.")
    assert task.due_date == date(2026, 6, 16) and task.owner == "petr.svoboda" and task.kind == "call"


def test_a_suppressed_contact_gets_the_call_task_at_once_saying_why() -> None:
    blocked = contact(marketing_status=MarketingStatus.UNSUBSCRIBED)
    assert flow.send_blocker(blocked) == SuppressionReason.UNSUBSCRIBED
    assert flow.send_blocker(None) == SuppressionReason.NO_EMAIL
    task = flow.call_task(enrolled(), blocked, NOW, S,
                          no_email_reason=flow.reason_label(SuppressionReason.UNSUBSCRIBED, S))
    assert task.title == "Reaktivační hovor - Klient Jana Nováková: e-mail nešel (odhlášen z odběru)."
    assert "Automatický reaktivační e-mail nebyl odeslán: odhlášen z odběru." in task.description
