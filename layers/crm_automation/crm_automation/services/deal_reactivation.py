"""The dead-deal reactivation's application services: enrol (daily scan, or a deal postponed), send the personal
e-mail (send timer), and after the wait create the owner's call task (wait timer). Each step decides on the current
records and writes in one conditional transaction with its timer, so re-delivered events and retried timers do
nothing twice."""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta
from email.message import EmailMessage

from aws_lambda_powertools.metrics import MetricUnit

from crm_automation.domain import deal_reactivation as flow
from crm_automation.domain.models import Activity, ActivityKind, Contact, Deal, Timer
from crm_automation.domain.salutation import gender_of, greeting
from crm_automation.email.render import build_message, render, time_ago
from crm_automation.errors import ConcurrentWriteError
from crm_automation.observability import logger, metrics
from crm_automation.services.mail import Delivery, deliver_once
from crm_automation.services.runtime import Runtime
from crm_automation.services.suppressions import address_record

TEMPLATE = "deal_reactivation"


def run_scan(rt: Runtime, now: datetime) -> dict[str, object]:
    """Enrol every open deal that has been silent long enough (reads the due slice of ReactivationDue only)."""
    outcomes: Counter[str] = Counter()
    for deal in rt.store.deals.quiet_since_before(now - timedelta(days=rt.settings.deal_stale_days)):
        outcomes[enrol(rt, deal, "stale", now)] += 1
    metrics.add_metric(name="DealsEnrolled", unit=MetricUnit.Count, value=outcomes["enrolled"])
    report = {"scanned": sum(outcomes.values()), **outcomes}
    logger.info("Deal reactivation scan finished", extra=report)
    return report


def on_deal_change(rt: Runtime, deal_id: str, now: datetime) -> str:
    """A deal whose status became "Odloženo" (deals stream)."""
    deal = rt.store.deals.get(deal_id)
    return "deal gone" if deal is None else enrol(rt, deal, "postponed", now)


def enrol(rt: Runtime, deal: Deal, trigger: str, now: datetime, retried: bool = False) -> str:
    if not flow.can_enrol(deal, trigger, now, rt.settings):
        return "not due"
    plan = flow.plan_enrolment(deal, trigger, now, rt.settings)
    try:
        rt.store.transact([rt.store.deals.save_op(plan.deal), rt.store.flows.timer_create_op(plan.send_timer)])
    except ConcurrentWriteError:
        fresh = rt.store.deals.get(deal.deal_id)  # a stale index copy, or a concurrent write: decide again
        if fresh is None or retried or fresh.version == deal.version:
            return "already enrolled" if fresh is not None and fresh.in_reactivation else "conflict"
        return enrol(rt, fresh, trigger, now, retried=True)
    logger.info("Deal enrolled in reactivation", extra={"deal_id": deal.deal_id, "trigger": trigger})
    return "enrolled"


def send(rt: Runtime, timer: Timer, now: datetime) -> str:
    """The send timer: the personal e-mail, or, when it must not or cannot go, the owner's call task at once."""
    store, settings = rt.store, rt.settings
    deal = store.deals.get(timer.subject_id)
    if not flow.current(deal, timer, "sending") or deal is None:
        store.transact([store.flows.timer_end_op(timer.timer_id, "fired", now, note="stale: enrolment is over")])
        return "stale"
    contact = store.contacts.get(deal.contact_id)
    operations = [store.flows.timer_end_op(timer.timer_id, "fired", now)]
    blocker = flow.send_blocker(contact, address_record(rt, contact))
    if blocker is not None:
        task = flow.call_task(deal, contact, now, settings, no_email_reason=flow.reason_label(blocker, settings))
        operations += [store.tasks.create_op(task),
                       store.deals.save_op(flow.called(deal, task, now, email="skipped", skip_reason=blocker.value))]
        store.transact(operations)
        metrics.add_metric(name="DealEmailSuppressed", unit=MetricUnit.Count, value=1)
        return f"suppressed ({blocker.value}): call task"
    assert contact is not None and contact.email
    delivery = _send_email(rt, deal, contact, now)
    if delivery.state == "failed":
        task = flow.call_task(deal, contact, now, settings,
                              no_email_reason=flow.reason_label("reason_email_failed", settings))
        operations += [store.tasks.create_op(task), store.deals.save_op(flow.called(deal, task, now, email="failed"))]
        store.transact(operations)
        return "e-mail refused: call task"
    waiting, wait_timer = flow.after_send(deal, delivery.state, now, settings)
    operations += [store.flows.timer_create_op(wait_timer), store.deals.save_op(waiting)]
    store.transact(operations)
    return f"e-mail {delivery.state}, waiting"


def followup(rt: Runtime, timer: Timer, now: datetime) -> str:
    """The wait timer: no reaction in 14 days, so the owner gets the call task."""
    store = rt.store
    deal = store.deals.get(timer.subject_id)
    if not flow.current(deal, timer, "waiting") or deal is None:
        store.transact([store.flows.timer_end_op(timer.timer_id, "fired", now, note="stale: enrolment is over")])
        return "stale"
    task = flow.call_task(deal, store.contacts.get(deal.contact_id), now, rt.settings)
    store.transact([store.flows.timer_end_op(timer.timer_id, "fired", now, note="no reaction"),
                    store.tasks.create_op(task), store.deals.save_op(flow.called(deal, task, now))])
    metrics.add_metric(name="DealCallTasks", unit=MetricUnit.Count, value=1)
    return "call task"


def _send_email(rt: Runtime, deal: Deal, contact: Contact, now: datetime) -> Delivery:
    """The e-mail in the owner's name (owner as Reply-To), sent once per enrolment; its activity is recorded in
    the transaction that confirms the send."""
    settings = rt.settings
    assert deal.reactivation is not None and contact.email
    send_key = f"{deal.reactivation.enrolment_id}-email"
    owner = settings.owner_profile(deal.owner)
    context = {
        "greeting": greeting(contact.first_name, contact.last_name, settings.locale),
        "deal_title": deal.title,
        "company": contact.company,
        # the last interaction with the client, on this deal or not (a call without the deal's id counts too)
        "last_contact": time_ago((now - max(deal.last_activity_at, contact.last_activity_at)).days, settings.locale),
        "owner_name": owner.name,
        # "Chtěl" / "Chtěla" bych from a configured owner's name; the team's default name writes "Chtěli bychom"
        "owner_gender": gender_of(owner.name) if deal.owner in settings.owners else None,
    }
    rendered = render(settings.templates_dir, TEMPLATE, settings.locale, context)
    if deal.owner not in settings.owners:
        logger.warning("Owner has no profile in OWNERS: the e-mail goes in the team's name, without Reply-To",
                       extra={"owner": deal.owner})
        metrics.add_metric(name="OwnerProfileMissing", unit=MetricUnit.Count, value=1)
    # From must be covered by the verified SES identity: the owner's own address when the identity is their
    # domain, else the team address (the owner is then in the display name and Reply-To)
    identity = settings.sender_identity.lower()
    on_identity = bool(owner.email) and "@" not in identity and owner.email.rsplit("@", 1)[-1].lower() == identity
    from_address = owner.email if on_identity and owner.email else settings.sender_email

    def build() -> EmailMessage:
        return build_message(rendered, sender_email=from_address, sender_name=owner.name, to_email=contact.email,
                             to_name=contact.name, sent_at=now, reply_to=owner.email,
                             headers={"X-CRM-Workflow": flow.WORKFLOW})

    def record(message_id: str) -> list[dict]:
        activity = Activity(
            activity_id=f"act-{send_key}", contact_id=contact.contact_id, deal_id=deal.deal_id,
            kind=ActivityKind.EMAIL_OUT, direction="out", occurred_at=now, subject=rendered.subject,
            summary=(f"Automatický reaktivační e-mail k obchodu (SES {message_id})" if settings.locale == "cs"
                     else f"Automated deal reactivation e-mail (SES {message_id})"),
            automated=True, workflow=flow.WORKFLOW, created_at=now)
        return [rt.store.activities.create_op(activity)]

    return deliver_once(rt.store, rt.mailer, send_key, contact.contact_id, now, build, record)
