"""The dead-deal reactivation (product brief workflow 3, seed 002) as pure decisions.

Flow of one deal::

    status -> "Odloženo", or open and silent 90 days
        --enrol--> sending --send timer (next sweep)--> e-mail in the owner's name --> waiting (14 days)
                      |                                                                 |
                      +-- contact suppressed / e-mail refused: the call task at once --> called
                      |                                         wait over, no reaction: call task --> called
                      +-- a reaction (inbound e-mail, call, meeting) or a status change ----------> ended

Re-entry: not before ``deal_reactivation_cooldown_days`` after the last enrolment. Open deals outside the flow are
in the sparse ``ReactivationDue`` index keyed by since when they have been quiet (the later of the last activity
and the last enrolment), so the daily scan reads only the deals that are due.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from crm_automation.domain.calendar import due_date_in, format_money, local_date
from crm_automation.domain.models import (
    Activity,
    ActivityKind,
    Contact,
    Deal,
    DealReactivation,
    DealStatus,
    Task,
    Timer,
)
from crm_automation.domain.addresses import AddressRecord
from crm_automation.domain.suppression import REASON_LABEL_KEYS, SuppressionReason, marketing_suppression
from crm_automation.settings import Settings

WORKFLOW = "deal_reactivation"
SEND_TIMER = "deal_reactivation_send"
WAIT_TIMER = "deal_reactivation_wait"
# What counts as the client reacting (seed 002): an inbound e-mail or reply, a call or a meeting.
REACTION_KINDS = frozenset({ActivityKind.EMAIL_IN, ActivityKind.CALL, ActivityKind.MEETING})


def quiet_since(deal: Deal) -> datetime | None:
    """Since when an open deal outside the flow has been quiet, or None if it is not a scan candidate (not open, or
    in the flow now). The last enrolment counts as a touch, so a deal is due again only after being quiet that
    long since then too (the cool-down is checked on enrolment as well). The adapter keys the sparse
    ReactivationDue index on it; the scan applies DEAL_STALE_DAYS at query time, so changing it needs no rewrite."""
    if deal.status != DealStatus.OPEN or deal.in_reactivation or deal.contact_status != "active":
        return None  # (a deal of an archived or erased contact is never reactivated)
    if deal.reactivation is not None:
        return max(deal.last_activity_at, deal.reactivation.started_at)
    return deal.last_activity_at


def can_enrol(deal: Deal, trigger: str, now: datetime, settings: Settings) -> bool:
    if deal.in_reactivation or deal.contact_status != "active":
        return False
    if deal.reactivation is not None and now < deal.reactivation.started_at + timedelta(
            days=settings.deal_reactivation_cooldown_days):
        return False  # cool-down: no client gets a reactivation e-mail every month
    if trigger == "postponed":
        return deal.status == DealStatus.POSTPONED
    return deal.status == DealStatus.OPEN and deal.last_activity_at <= now - timedelta(days=settings.deal_stale_days)


@dataclass(frozen=True)
class Enrolment:
    deal: Deal
    send_timer: Timer


def plan_enrolment(deal: Deal, trigger: str, now: datetime, settings: Settings) -> Enrolment:
    if not can_enrol(deal, trigger, now, settings):
        raise ValueError(f"deal {deal.deal_id} cannot be enrolled ({trigger})")
    # One enrolment per deal per local day: a second delivery or scan the same day cannot create another.
    enrolment_id = f"{WORKFLOW}-{deal.deal_id}-{local_date(now, settings.timezone).isoformat()}"
    timer = Timer(timer_id=f"send-{enrolment_id}", kind=SEND_TIMER, subject_id=deal.deal_id, reference=enrolment_id,
                  due_at=now, created_at=now)
    history = [*deal.reactivation_history, *([deal.reactivation] if deal.reactivation else [])]
    state = DealReactivation(enrolment_id=enrolment_id, trigger=trigger, started_at=now,  # type: ignore[arg-type]
                             last_activity_at=deal.last_activity_at, send_timer_id=timer.timer_id)
    return Enrolment(deal=deal.model_copy(update={"reactivation": state, "reactivation_history": history,
                                                  "updated_at": now}), send_timer=timer)


def current(deal: Deal | None, timer: Timer, state: str) -> bool:
    """Is `timer` still the live step of this deal's enrolment?"""
    return (deal is not None and deal.reactivation is not None
            and deal.reactivation.enrolment_id == timer.reference and deal.reactivation.state == state)


def send_blocker(contact: Contact | None, address: AddressRecord | None = None) -> SuppressionReason | None:
    """Why the e-mail must not go (the one suppression decision), or None."""
    if contact is None:
        return SuppressionReason.NO_EMAIL
    return marketing_suppression(contact, address)


def reason_label(reason: SuppressionReason | str, settings: Settings) -> str:
    if isinstance(reason, SuppressionReason):
        return settings.label(REASON_LABEL_KEYS[reason])
    return settings.label(reason)


def call_task(deal: Deal, contact: Contact | None, now: datetime, settings: Settings,
              no_email_reason: str | None = None) -> Task:
    """The owner's call task: after the wait, or at once (with the reason) when no e-mail could go."""
    assert deal.reactivation is not None
    name = contact.name if contact else deal.title
    # the real last activity with the client, on this deal or not (the automated e-mail does not count)
    last = max(deal.last_activity_at, contact.last_activity_at) if contact else deal.last_activity_at
    days = (now - last).days
    if no_email_reason is None:
        title = settings.label("deal_call_task_title", name=name)
        sent = deal.reactivation.email_at
        description = settings.label("deal_call_task_description", name=name, days=days,
                                     wait=(now - sent).days if sent else settings.deal_reactivation_wait_days)
    else:
        title = settings.label("deal_call_task_title_no_email", name=name, reason=no_email_reason)
        description = settings.label("deal_call_task_description_no_email", name=name, days=days,
                                     reason=no_email_reason)
    description += "\n" + settings.label(
        "deal_context", title=deal.title, value=format_money(deal.value, deal.currency),
        status=settings.label(f"deal_status_{deal.status.value}") if deal.is_open else deal.status.value)
    return Task(
        task_id=f"call-{deal.reactivation.enrolment_id}",
        owner=deal.owner,
        title=title,
        description=description,
        due_date=due_date_in(now, 1, settings.timezone, settings.holidays_country),
        contact_id=deal.contact_id,
        deal_id=deal.deal_id,
        workflow=WORKFLOW,
        kind="call",
        created_at=now,
    )


def after_send(deal: Deal, email: str, now: datetime, settings: Settings) -> tuple[Deal, Timer]:
    """The e-mail went (or its outcome is unknown): wait for a reaction."""
    assert deal.reactivation is not None
    wait = Timer(timer_id=f"wait-{deal.reactivation.enrolment_id}", kind=WAIT_TIMER, subject_id=deal.deal_id,
                 reference=deal.reactivation.enrolment_id,
                 due_at=now + timedelta(days=settings.deal_reactivation_wait_days), created_at=now)
    state = deal.reactivation.model_copy(update={"state": "waiting", "email": email, "email_at": now,
                                                 "wait_timer_id": wait.timer_id})
    return deal.model_copy(update={"reactivation": state, "updated_at": now}), wait


def called(deal: Deal, task: Task, now: datetime, email: str | None = None, skip_reason: str | None = None) -> Deal:
    """The flow ends with the owner's call task."""
    assert deal.reactivation is not None
    update: dict[str, object] = {"state": "called", "task_id": task.task_id, "outcome": "call_task", "ended_at": now}
    if email is not None:
        update |= {"email": email, "email_at": now, "skip_reason": skip_reason}
    return deal.model_copy(update={"reactivation": deal.reactivation.model_copy(update=update), "updated_at": now})


@dataclass(frozen=True)
class Ending:
    deal: Deal
    cancel_timer_id: str | None


def _end(deal: Deal, outcome: str, now: datetime) -> Ending:
    assert deal.reactivation is not None
    flow = deal.reactivation
    pending = flow.send_timer_id if flow.state == "sending" else flow.wait_timer_id
    state = flow.model_copy(update={"state": "ended", "outcome": outcome, "ended_at": now})
    return Ending(deal=deal.model_copy(update={"reactivation": state, "updated_at": now}), cancel_timer_id=pending)


def reaction(deal: Deal, activity: Activity, now: datetime) -> Ending | None:
    """A client reaction ends the wait at once (no task). None if the activity is not a reaction to this flow."""
    if (not deal.in_reactivation or deal.reactivation is None or activity.kind not in REACTION_KINDS
            or not activity.counts_as_activity or activity.occurred_at < deal.reactivation.started_at):
        return None
    return _end(deal, "reaction", now)


def status_changed(before: Deal, after: Deal, now: datetime) -> Ending | None:
    """A status change of the deal ends the wait too (the salesperson is on it)."""
    if before.status == after.status or not after.in_reactivation:
        return None
    return _end(after, "status_changed", now)
