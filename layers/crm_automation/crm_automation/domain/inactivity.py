"""The inactivity workflow (seed 001) as pure decisions over a contact, its task and a clock reading.

Flow of one contact::

    candidate --scan--> waiting --timer (30 d)--> followed_up     (e-mail / VIP call / archive proposal / skip)
                          |                          |
                          +---- activity ----------> exited (reactivated; candidate again)

A contact is a *candidate* when it is not archived, has no deal that is still in play, and is not in the flow
(never enrolled, or exited by a new activity). The DynamoDB InactivityDue index holds exactly the candidates,
keyed by last activity, so the daily scan reads only those whose last activity is older than the cut-off.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from enum import StrEnum

from crm_automation.domain.calendar import due_date_in, format_date, format_money, local_date
from crm_automation.domain.escalation import is_newer_rating, rate
from crm_automation.domain.models import (
    Activity,
    ActivityKind,
    Contact,
    EmailStatus,
    InactivityState,
    Lifecycle,
    Task,
    TaskStatus,
    Timer,
)
from crm_automation.domain.addresses import AddressReason, AddressRecord
from crm_automation.domain.suppression import REASON_LABEL_KEYS, SuppressionReason, marketing_suppression
from crm_automation.settings import Settings

WORKFLOW = "inactivity"
VIP_WORKFLOW = "inactivity_vip"
TIMER_KIND = "inactivity_followup"


class Strategy(StrEnum):
    """What the follow-up does for a contact that stayed inactive (seed 001 §2 segments)."""

    SEND_EMAIL = "send_email"
    VIP_CALL = "vip_call"  # sleeping VIP: a personal call, never an automated e-mail
    PROPOSE_ARCHIVE = "propose_archive"  # outdated contact: last e-mail bounced
    SKIP_EMAIL = "skip_email"  # opted out / no consent: the task only, never the e-mail


class Outcome(StrEnum):
    EMAIL_SENT = "email_sent"
    VIP_CALL_TASK = "vip_call_task"
    ARCHIVE_PROPOSED = "archive_proposed"
    EMAIL_SKIPPED = "email_skipped"
    OWNER_ACTED = "owner_acted"  # the review task was completed within the wait
    TAG_REMOVED = "tag_removed"  # someone removed the tag by hand
    ACTIVITY_SINCE = "activity_since_enrolment"
    DEAL_OPENED = "deal_opened"
    ARCHIVED = "archived"
    REACTIVATED = "reactivated"


def is_candidate(contact: Contact) -> bool:
    return (
        not contact.archived
        and not contact.open_deal_ids
        and (contact.inactivity is None or contact.inactivity.state == "exited")
    )


def cutoff(now: datetime, settings: Settings) -> datetime:
    return now - timedelta(days=settings.inactivity_days)


def is_inactive(contact: Contact, now: datetime, settings: Settings) -> bool:
    return is_candidate(contact) and contact.last_activity_at <= cutoff(now, settings)


def is_vip(contact: Contact, settings: Settings) -> bool:
    return contact.lifetime_revenue >= settings.vip_revenue_threshold


def strategy_for(contact: Contact, settings: Settings,
                 address: AddressRecord | None = None) -> tuple[Strategy, SuppressionReason | None]:
    """The segment decides: VIP first (a person calls, whatever the e-mail state), then bounced, then opt-out."""
    if is_vip(contact, settings):
        return Strategy.VIP_CALL, None
    if contact.email_status == EmailStatus.BOUNCED or (address is not None and address.suppressed(AddressReason.BOUNCED)):
        return Strategy.PROPOSE_ARCHIVE, SuppressionReason.BOUNCED
    reason = marketing_suppression(contact, address)
    if reason is not None:
        return Strategy.SKIP_EMAIL, reason
    return Strategy.SEND_EMAIL, None


def reason_label(reason: SuppressionReason, settings: Settings) -> str:
    return settings.label(REASON_LABEL_KEYS[reason])


@dataclass(frozen=True)
class Enrolment:
    contact: Contact  # the contact as it must be written (tag added, flow state set, version bumped)
    task: Task
    timer: Timer
    strategy: Strategy
    reason: SuppressionReason | None


def enrolment_id_for(contact: Contact, now: datetime, settings: Settings) -> str:
    # One enrolment per contact per local day: a second scan on the same day cannot create another.
    return f"{WORKFLOW}-{contact.contact_id}-{local_date(now, settings.timezone).isoformat()}"


def plan_enrolment(contact: Contact, now: datetime, settings: Settings) -> Enrolment:
    if not is_inactive(contact, now, settings):
        raise ValueError(f"contact {contact.contact_id} is not inactive at {now.isoformat()}")
    enrolment_id = enrolment_id_for(contact, now, settings)
    task_id = f"task-{enrolment_id}"
    timer_id = f"timer-{enrolment_id}"
    days = (now - contact.last_activity_at).days
    followup_at = now + timedelta(days=settings.inactivity_followup_days)
    strategy, reason = strategy_for(contact, settings)
    action = {
        Strategy.SEND_EMAIL: settings.label("followup_action_email"),
        Strategy.VIP_CALL: settings.label("followup_action_vip"),
        Strategy.PROPOSE_ARCHIVE: settings.label("followup_action_archive"),
        Strategy.SKIP_EMAIL: settings.label("followup_action_none", reason=reason_label(reason, settings))
        if reason
        else "",
    }[strategy]
    task = Task(
        task_id=task_id,
        owner=contact.owner,
        title=settings.label("inactivity_task_title", name=contact.name),
        description=settings.label(
            "inactivity_task_description",
            name=contact.name,
            days=days,
            last_activity=format_date(local_date(contact.last_activity_at, settings.timezone), settings.locale),
            followup_date=format_date(local_date(followup_at, settings.timezone), settings.locale),
            followup_action=action,
        ),
        due_date=due_date_in(now, settings.inactivity_task_due_days, settings.timezone, settings.holidays_country),
        contact_id=contact.contact_id,
        workflow=WORKFLOW,
        created_at=now,
    )
    timer = Timer(
        timer_id=timer_id,
        kind=TIMER_KIND,
        subject_id=contact.contact_id,
        reference=enrolment_id,
        due_at=followup_at,
        created_at=now,
    )
    updated = contact.model_copy(
        update={
            "tags": contact.with_tag(settings.label("inactive_tag")),
            "inactivity": InactivityState(
                enrolment_id=enrolment_id,
                started_at=now,
                last_activity_at=contact.last_activity_at,
                task_id=task_id,
                timer_id=timer_id,
            ),
            "updated_at": now,
        }
    )
    return Enrolment(contact=updated, task=task, timer=timer, strategy=strategy, reason=reason)


@dataclass(frozen=True)
class FollowupDecision:
    """What the follow-up timer does. ``act`` False means the flow ends without any automated action."""

    act: bool
    outcome: Outcome
    strategy: Strategy | None = None
    reason: SuppressionReason | None = None


def decide_followup(contact: Contact | None, task: Task | None, timer: Timer, settings: Settings,
                    address: AddressRecord | None = None) -> FollowupDecision | None:
    """None: the timer is stale (the enrolment it belongs to is over) and must do nothing at all."""
    if contact is None or contact.inactivity is None:
        return None
    flow = contact.inactivity
    if flow.enrolment_id != timer.reference or flow.state != "waiting":
        return None
    if contact.archived:
        return FollowupDecision(act=False, outcome=Outcome.ARCHIVED)
    if contact.last_activity_at > flow.last_activity_at:
        return FollowupDecision(act=False, outcome=Outcome.ACTIVITY_SINCE)
    if contact.open_deal_ids:
        return FollowupDecision(act=False, outcome=Outcome.DEAL_OPENED)
    if not contact.has_tag(settings.label("inactive_tag")):
        return FollowupDecision(act=False, outcome=Outcome.TAG_REMOVED)
    if task is not None and task.status != TaskStatus.OPEN:
        return FollowupDecision(act=False, outcome=Outcome.OWNER_ACTED)
    strategy, reason = strategy_for(contact, settings, address)
    outcome = {
        Strategy.SEND_EMAIL: Outcome.EMAIL_SENT,
        Strategy.VIP_CALL: Outcome.VIP_CALL_TASK,
        Strategy.PROPOSE_ARCHIVE: Outcome.ARCHIVE_PROPOSED,
        Strategy.SKIP_EMAIL: Outcome.EMAIL_SKIPPED,
    }[strategy]
    return FollowupDecision(act=True, outcome=outcome, strategy=strategy, reason=reason)


def close_followup(contact: Contact, decision: FollowupDecision, now: datetime, settings: Settings) -> Contact:
    """The contact after its follow-up: flow state followed_up with the outcome (and the archive proposal)."""
    assert contact.inactivity is not None
    update: dict[str, object] = {
        "inactivity": contact.inactivity.model_copy(
            update={"state": "followed_up", "outcome": decision.outcome.value, "ended_at": now,
                    "skip_reason": decision.reason.value if decision.reason else None}
        ),
        "updated_at": now,
    }
    if decision.strategy == Strategy.PROPOSE_ARCHIVE:
        update["archive_proposed"] = reason_label(SuppressionReason.BOUNCED, settings)
        update["categories"] = contact.with_category(settings.label("archive_proposed_category"))
    return contact.model_copy(update=update)


def with_outcome(contact: Contact, outcome: str) -> Contact:
    assert contact.inactivity is not None
    return contact.model_copy(update={"inactivity": contact.inactivity.model_copy(update={"outcome": outcome})})


def vip_call_task(contact: Contact, now: datetime, settings: Settings) -> Task:
    assert contact.inactivity is not None
    return Task(
        task_id=f"call-{contact.inactivity.enrolment_id}",
        owner=contact.owner,
        title=settings.label("vip_call_task_title", name=contact.name),
        description=settings.label(
            "vip_call_task_description",
            name=contact.name,
            revenue=format_money(contact.lifetime_revenue, settings.currency),
            days=(now - contact.last_activity_at).days,
        ),
        due_date=due_date_in(now, 1, settings.timezone, settings.holidays_country),
        contact_id=contact.contact_id,
        workflow=VIP_WORKFLOW,
        kind="call",
        created_at=now,
    )


@dataclass(frozen=True)
class ActivityEffect:
    contact: Contact
    left_flow: bool  # the contact became active again and left the inactivity flow
    cancel_timer_id: str | None  # the pending follow-up to cancel


def apply_activity(contact: Contact, activity: Activity, now: datetime, settings: Settings) -> ActivityEffect:
    """The contact after one activity. Applied exactly once per activity (the caller guarantees that)."""
    update: dict[str, object] = {"updated_at": now}
    last = contact.last_activity_at
    if activity.counts_as_activity and activity.occurred_at > last:
        last = activity.occurred_at
        update["last_activity_at"] = last
    if activity.kind == ActivityKind.PURCHASE and activity.amount:
        update["lifetime_revenue"] = contact.lifetime_revenue + Decimal(activity.amount)
        if contact.lifecycle != Lifecycle.CUSTOMER:
            update["lifecycle"] = Lifecycle.CUSTOMER
    if activity.kind == ActivityKind.BOUNCE:
        update["email_status"] = EmailStatus.BOUNCED
    flow = contact.inactivity
    left_flow = False
    cancel_timer_id = None
    if (
        flow is not None
        and flow.state != "exited"
        and activity.counts_as_activity
        and last > cutoff(now, settings)
    ):
        left_flow = True
        if flow.state == "waiting":
            cancel_timer_id = flow.timer_id
        update["tags"] = contact.without_tag(settings.label("inactive_tag"))
        update["inactivity"] = flow.model_copy(
            update={
                "state": "exited",
                "outcome": Outcome.REACTIVATED.value if flow.state == "waiting" else flow.outcome,
                "ended_at": now,
            }
        )
    updated = contact.model_copy(update=update)
    if activity.satisfaction and is_newer_rating(contact, activity.occurred_at):
        # the helpdesk rated the client with a ticket: the same rating path as a user's (it may escalate)
        updated = rate(updated, activity.satisfaction, activity.occurred_at, f"activity:{activity.activity_id}",
                       settings)
    return ActivityEffect(contact=updated, left_flow=left_flow, cancel_timer_id=cancel_timer_id)
