"""The inactivity workflow's decisions, without AWS."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest

from crm_automation.domain import inactivity as flow
from crm_automation.domain.models import (
    ActivityKind,
    Consent,
    EmailStatus,
    Lifecycle,
    MarketingStatus,
    TaskStatus,
)
from crm_automation.domain.suppression import SuppressionReason
from crm_automation.settings import Settings
from tests.factories import NOW, activity, contact, task_for, timer_for

S = Settings()


# -------------------------------------------------------------------- who is inactive


@pytest.mark.parametrize(
    ("days_quiet", "expected"),
    [(179, False), (180, True), (181, True), (400, True)],
)
def test_inactive_after_the_configured_number_of_days(days_quiet: int, expected: bool) -> None:
    # Given a contact whose last activity was `days_quiet` days ago
    c = contact(last_activity_at=NOW - timedelta(days=days_quiet))
    # When / Then
    assert flow.is_inactive(c, NOW, S) is expected


def test_threshold_is_configuration() -> None:
    c = contact(last_activity_at=NOW - timedelta(days=100))
    assert not flow.is_inactive(c, NOW, S)
    assert flow.is_inactive(c, NOW, Settings(inactivity_days=90))


@pytest.mark.parametrize(
    "overrides",
    [
        {"open_deal_ids": ["d-1"]},
        {"archived": True},
    ],
    ids=["open deal", "archived"],
)
def test_a_contact_with_an_open_deal_or_archived_is_never_inactive(overrides: dict) -> None:
    assert not flow.is_inactive(contact(**overrides), NOW, S)


def test_a_contact_already_in_the_flow_is_not_a_candidate() -> None:
    # Given a contact enrolled today
    enrolled = flow.plan_enrolment(contact(), NOW, S).contact
    # Then it is not a candidate any more, so the index drops it and no second scan picks it up
    assert not flow.is_candidate(enrolled)
    assert not flow.is_inactive(enrolled, NOW + timedelta(days=1), S)


# -------------------------------------------------------------------- enrolment


def test_enrolment_tags_creates_the_owner_task_and_a_30_day_timer() -> None:
    # Given an inactive contact
    c = contact()
    # When it is enrolled
    plan = flow.plan_enrolment(c, NOW, S)
    # Then it is tagged, the owner has a Czech task due in 14 days, and the follow-up waits 30 days
    assert "Neaktivní 6m+" in plan.contact.tags
    assert plan.task.owner == "petr.svoboda"
    assert plan.task.title == "Prověřit neaktivní kontakt Jana Nováková"
    assert plan.task.due_date == date(2026, 6, 15)  # Monday 1 June + 14 days = Monday 15 June
    assert plan.timer.due_at == NOW + timedelta(days=30)
    assert plan.contact.inactivity is not None and plan.contact.inactivity.state == "waiting"
    assert "200 dní (poslední 13. 11. 2025)" in plan.task.description
    assert "Pokud se do 1. 7. 2026 nic nezmění, odejde mu automatický reaktivační e-mail." in plan.task.description


def test_enrolment_ids_are_the_same_for_the_same_day_so_a_rerun_collides() -> None:
    first = flow.plan_enrolment(contact(), NOW, S)
    again = flow.plan_enrolment(contact(), NOW + timedelta(hours=5), S)
    assert (first.task.task_id, first.timer.timer_id) == (again.task.task_id, again.timer.timer_id)


def test_task_due_date_moves_off_weekends_and_czech_holidays() -> None:
    # 2026-12-10 (Thu) + 14 days = 24 Dec (Štědrý den), 25 and 26 are holidays too, 27 Sunday -> Monday 28 Dec
    start = NOW.replace(year=2026, month=12, day=10)
    c = contact(last_activity_at=start - timedelta(days=300))
    assert flow.plan_enrolment(c, start, S).task.due_date == date(2026, 12, 28)
    # 2026-06-06 is a Saturday: + 14 days = Saturday 20 June -> Monday 22 June
    saturday = NOW.replace(day=6)
    assert flow.plan_enrolment(contact(last_activity_at=saturday - timedelta(days=300)), saturday,
                               S).task.due_date == date(2026, 6, 22)


def test_labels_and_language_are_configuration() -> None:
    english = Settings(locale="en")
    assert flow.plan_enrolment(contact(), NOW, english).task.title == "Review inactive contact Jana Nováková"
    custom = Settings(labels={"inactive_tag": "Spí"})
    assert "Spí" in flow.plan_enrolment(contact(), NOW, custom).contact.tags


def test_enrolling_an_active_contact_is_refused() -> None:
    with pytest.raises(ValueError, match="not inactive"):
        flow.plan_enrolment(contact(last_activity_at=NOW - timedelta(days=3)), NOW, S)


# -------------------------------------------------------------------- segments


@pytest.mark.parametrize(
    ("overrides", "strategy", "reason"),
    [
        ({}, flow.Strategy.SEND_EMAIL, None),
        ({"lifetime_revenue": Decimal("250000")}, flow.Strategy.VIP_CALL, None),
        ({"lifetime_revenue": Decimal("900000"), "email_status": EmailStatus.BOUNCED}, flow.Strategy.VIP_CALL, None),
        ({"email_status": EmailStatus.BOUNCED}, flow.Strategy.PROPOSE_ARCHIVE, SuppressionReason.BOUNCED),
        ({"marketing_status": MarketingStatus.DO_NOT_CONTACT}, flow.Strategy.SKIP_EMAIL,
         SuppressionReason.DO_NOT_CONTACT),
        ({"marketing_status": MarketingStatus.UNSUBSCRIBED}, flow.Strategy.SKIP_EMAIL, SuppressionReason.UNSUBSCRIBED),
        ({"marketing_consent": None}, flow.Strategy.SKIP_EMAIL, SuppressionReason.NO_CONSENT),
        ({"marketing_consent": Consent(granted=False)}, flow.Strategy.SKIP_EMAIL, SuppressionReason.NO_CONSENT),
        ({"email": None}, flow.Strategy.SKIP_EMAIL, SuppressionReason.NO_EMAIL),
        ({"email_status": EmailStatus.COMPLAINED}, flow.Strategy.SKIP_EMAIL, SuppressionReason.COMPLAINT),
    ],
    ids=["e-mail", "vip", "vip-bounced", "bounced", "do-not-contact", "unsubscribed", "no-consent",
         "consent-refused", "no-address", "complained"],
)
def test_each_segment_gets_its_own_strategy(overrides: dict, strategy: flow.Strategy,
                                            reason: SuppressionReason | None) -> None:
    assert flow.strategy_for(contact(**overrides), S) == (strategy, reason)


def test_vip_threshold_is_configuration() -> None:
    c = contact(lifetime_revenue=Decimal("50000"))
    assert flow.strategy_for(c, S)[0] == flow.Strategy.SEND_EMAIL
    assert flow.strategy_for(c, Settings(vip_revenue_threshold=Decimal("40000")))[0] == flow.Strategy.VIP_CALL


# -------------------------------------------------------------------- follow-up


def _enrolled(**overrides):
    return flow.plan_enrolment(contact(**overrides), NOW, S).contact


def test_followup_sends_the_email_when_nothing_changed() -> None:
    c = _enrolled()
    decision = flow.decide_followup(c, task_for(c), timer_for(c), S)
    assert decision == flow.FollowupDecision(act=True, outcome=flow.Outcome.EMAIL_SENT,
                                             strategy=flow.Strategy.SEND_EMAIL)


@pytest.mark.parametrize(
    ("change", "outcome"),
    [
        (lambda c, t: (c.model_copy(update={"last_activity_at": NOW + timedelta(days=3)}), t),
         flow.Outcome.ACTIVITY_SINCE),
        (lambda c, t: (c.model_copy(update={"tags": []}), t), flow.Outcome.TAG_REMOVED),
        (lambda c, t: (c, t.model_copy(update={"status": TaskStatus.DONE})), flow.Outcome.OWNER_ACTED),
        (lambda c, t: (c.model_copy(update={"open_deal_ids": ["d-9"]}), t), flow.Outcome.DEAL_OPENED),
        (lambda c, t: (c.model_copy(update={"archived": True}), t), flow.Outcome.ARCHIVED),
    ],
    ids=["activity", "tag removed", "task completed", "deal opened", "archived"],
)
def test_followup_does_nothing_automated_when_something_changed(change, outcome: flow.Outcome) -> None:
    c = _enrolled()
    changed, task = change(c, task_for(c))
    decision = flow.decide_followup(changed, task, timer_for(c), S)
    assert decision is not None and decision.act is False and decision.outcome == outcome


def test_a_stale_timer_does_nothing() -> None:
    # Given the contact left the flow and was enrolled again later (a new enrolment)
    c = _enrolled()
    old_timer = timer_for(c, reference="inactivity-c-1-2025-01-01")
    # Then the old enrolment's timer is ignored, as is a timer for a contact that is no longer waiting
    assert flow.decide_followup(c, task_for(c), old_timer, S) is None
    done = flow.close_followup(c, flow.decide_followup(c, task_for(c), timer_for(c), S), NOW, S)
    assert flow.decide_followup(done, task_for(c), timer_for(c), S) is None
    assert flow.decide_followup(None, None, timer_for(c), S) is None


def test_closing_a_bounced_contact_proposes_archiving() -> None:
    c = _enrolled(email_status=EmailStatus.BOUNCED)
    decision = flow.decide_followup(c, task_for(c), timer_for(c), S)
    closed = flow.close_followup(c, decision, NOW + timedelta(days=30), S)
    assert closed.archive_proposed and "Návrh k archivaci" in closed.categories
    assert not closed.archived  # proposed, a person decides
    assert closed.inactivity.state == "followed_up" and closed.inactivity.outcome == "archive_proposed"


def test_vip_call_task_is_a_personal_call_for_the_owner() -> None:
    c = _enrolled(lifetime_revenue=Decimal("480000"))
    task = flow.vip_call_task(c, NOW + timedelta(days=30), S)
    assert task.kind == "call" and task.owner == c.owner
    assert task.title == "Osobně zavolat VIP klientovi Jana Nováková"
    assert "480\u00a0000 CZK" in task.description


# -------------------------------------------------------------------- activities


def test_an_activity_moves_last_activity_forward_only() -> None:
    c = contact()
    newer = flow.apply_activity(c, activity(occurred_at=NOW - timedelta(days=10)), NOW, S).contact
    assert newer.last_activity_at == NOW - timedelta(days=10)
    older_import = flow.apply_activity(newer, activity(occurred_at=NOW - timedelta(days=300)), NOW, S).contact
    assert older_import.last_activity_at == NOW - timedelta(days=10)


@pytest.mark.parametrize("kind", [ActivityKind.BOUNCE])
def test_bounces_and_automated_mail_are_not_signs_of_life(kind: ActivityKind) -> None:
    c = contact()
    assert flow.apply_activity(c, activity(kind=kind), NOW, S).contact.last_activity_at == c.last_activity_at
    automated = activity(kind=ActivityKind.EMAIL_OUT, automated=True)
    assert flow.apply_activity(c, automated, NOW, S).contact.last_activity_at == c.last_activity_at


def test_a_reply_takes_the_contact_out_of_the_flow_and_cancels_the_followup() -> None:
    # Given a contact waiting for its follow-up
    c = _enrolled()
    # When the contact replies
    effect = flow.apply_activity(c, activity(kind=ActivityKind.EMAIL_IN, direction="in",
                                             occurred_at=NOW + timedelta(days=5)), NOW + timedelta(days=5), S)
    # Then it leaves the flow: tag removed, timer cancelled, and it is a candidate again for a later scan
    assert effect.left_flow and effect.cancel_timer_id == c.inactivity.timer_id
    assert "Neaktivní 6m+" not in effect.contact.tags
    assert effect.contact.inactivity.state == "exited" and effect.contact.inactivity.outcome == "reactivated"
    assert flow.is_candidate(effect.contact)


def test_reactivation_after_the_followup_keeps_the_outcome_and_cancels_nothing() -> None:
    c = _enrolled()
    closed = flow.close_followup(c, flow.decide_followup(c, task_for(c), timer_for(c), S), NOW, S)
    effect = flow.apply_activity(closed, activity(occurred_at=NOW + timedelta(days=40)), NOW + timedelta(days=40), S)
    assert effect.left_flow and effect.cancel_timer_id is None
    assert effect.contact.inactivity.outcome == "email_sent"  # the e-mail worked: reporting can count it


def test_an_old_imported_activity_does_not_take_the_contact_out() -> None:
    c = _enrolled()
    effect = flow.apply_activity(c, activity(occurred_at=NOW - timedelta(days=190)), NOW, S)
    assert not effect.left_flow and "Neaktivní 6m+" in effect.contact.tags


def test_purchase_adds_revenue_and_makes_a_customer() -> None:
    c = contact(lifecycle=Lifecycle.FORMER_CUSTOMER)
    after = flow.apply_activity(c, activity(kind=ActivityKind.PURCHASE, amount=Decimal("1500.50")), NOW, S).contact
    assert after.lifetime_revenue == Decimal("13500.50") and after.lifecycle == Lifecycle.CUSTOMER


def test_a_bounce_marks_the_address_bounced() -> None:
    after = flow.apply_activity(contact(), activity(kind=ActivityKind.BOUNCE, direction="in"), NOW, S).contact
    assert after.email_status == EmailStatus.BOUNCED
