"""The inactivity workflow's application services: the daily scan and the follow-up a timer fires."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from email.message import EmailMessage

from aws_lambda_powertools.metrics import MetricUnit

from crm_automation.domain import inactivity as flow
from crm_automation.domain.models import Activity, ActivityKind, Contact, Timer
from crm_automation.email.render import build_message, render, time_ago
from crm_automation.errors import ConcurrentWriteError
from crm_automation.observability import logger, metrics
from crm_automation.services.mail import Delivery, deliver_once
from crm_automation.services.runtime import Runtime
from crm_automation.domain.addresses import address_key
from crm_automation.services.suppressions import address_record, unsubscribe_link

TEMPLATE = "inactivity_reactivation"


@dataclass
class ScanReport:
    scanned: int = 0
    enrolled: list[dict[str, str]] = field(default_factory=list)
    skipped: Counter[str] = field(default_factory=Counter)

    def as_dict(self) -> dict[str, object]:
        return {"scanned": self.scanned, "enrolled": len(self.enrolled), "skipped": dict(self.skipped)}


def run_scan(rt: Runtime, now: datetime) -> ScanReport:
    """Enrol every contact that became inactive. Reads only the due slice of the InactivityDue index.

    Each enrolment (tag + task + timer) is one transaction conditioned on the contact's version and on the task and
    timer not existing, so a second run on the same day, a retry or a crash half-way never doubles anything.
    """
    settings = rt.settings
    report = ScanReport()
    for contact in rt.store.contacts.due_candidates(flow.cutoff(now, settings)):
        report.scanned += 1
        _enrol(rt, contact, now, report)
    metrics.add_metric(name="ContactsEnrolled", unit=MetricUnit.Count, value=len(report.enrolled))
    logger.info("Inactivity scan finished", extra=report.as_dict())
    return report


def _enrol(rt: Runtime, contact: Contact, now: datetime, report: ScanReport, retried: bool = False) -> None:
    settings = rt.settings
    if not flow.is_inactive(contact, now, settings):
        report.skipped["no longer inactive"] += 1
        return
    plan = flow.plan_enrolment(contact, now, settings)
    try:
        rt.store.transact([
            rt.store.contacts.save_op(plan.contact),
            rt.store.tasks.create_op(plan.task),
            rt.store.flows.timer_create_op(plan.timer),
        ])
    except ConcurrentWriteError:
        # The index copy was stale or someone wrote the contact meanwhile: decide again on the real record.
        fresh = rt.store.contacts.get(contact.contact_id)
        if fresh is None or retried or fresh.version == contact.version:
            report.skipped["already enrolled" if fresh and fresh.inactivity else "conflict"] += 1
            return
        _enrol(rt, fresh, now, report, retried=True)
        return
    report.enrolled.append({"contact_id": contact.contact_id, "task_id": plan.task.task_id,
                            "strategy": plan.strategy.value})


def followup(rt: Runtime, timer: Timer, now: datetime) -> str:
    """Fire the 30-day follow-up of one enrolment. Returns the outcome. Safe to call again for the same timer."""
    settings, store = rt.settings, rt.store
    contact = store.contacts.get(timer.subject_id)
    task = store.tasks.get(contact.inactivity.task_id) if contact and contact.inactivity else None
    decision = flow.decide_followup(contact, task, timer, settings, address_record(rt, contact))
    if decision is None or contact is None:
        store.transact([store.flows.timer_end_op(timer.timer_id, "fired", now, note="stale: enrolment is over")])
        return "stale"
    operations = [store.flows.timer_end_op(timer.timer_id, "fired", now, note=decision.outcome.value)]
    closed = flow.close_followup(contact, decision, now, settings)
    if decision.strategy == flow.Strategy.VIP_CALL:
        operations.append(store.tasks.create_op(flow.vip_call_task(contact, now, settings)))
    if decision.strategy == flow.Strategy.SEND_EMAIL:
        delivery = _send_reactivation(rt, contact, now)
        if delivery.state != "sent":  # "unknown" (an earlier attempt died mid-send) or "failed" (SES refused): recorded as such
            closed = flow.with_outcome(closed, f"email_{delivery.state}")
    operations.append(store.contacts.save_op(closed))
    store.transact(operations)
    outcome = closed.inactivity.outcome if closed.inactivity and closed.inactivity.outcome else decision.outcome.value
    metrics.add_metric(name=f"Followup_{outcome}", unit=MetricUnit.Count, value=1)
    return outcome


def _send_key(enrolment_id: str) -> str:
    return f"{enrolment_id}-reactivation"


def _context(rt: Runtime, contact: Contact, now: datetime) -> dict[str, object]:
    return {
        "first_name": contact.first_name,
        "last_name": contact.last_name,
        "company": contact.company,
        "last_contact": time_ago((now - contact.last_activity_at).days, rt.settings.locale),
        "sender_name": rt.settings.sender_name,
    }


def _sent_activity(rt: Runtime, contact_id: str, send_key: str, subject: str, now: datetime,
                   message_id: str | None) -> Activity:
    return Activity(
        activity_id=f"act-{send_key}",
        contact_id=contact_id,
        kind=ActivityKind.EMAIL_OUT,
        direction="out",
        occurred_at=now,
        subject=subject,
        summary=f"Automatický reaktivační e-mail (SES {message_id})" if rt.settings.locale == "cs"
        else f"Automated reactivation e-mail (SES {message_id})",
        automated=True,
        workflow=flow.WORKFLOW,
        created_at=now,
    )


def _send_reactivation(rt: Runtime, contact: Contact, now: datetime) -> Delivery:
    """Send once; the e-mail activity is written in the same transaction that confirms the send, so the contact's
    history has it whatever happens to the rest of the follow-up."""
    settings = rt.settings
    assert contact.inactivity is not None and contact.email
    send_key = _send_key(contact.inactivity.enrolment_id)
    # a marketing e-mail: it carries the recipient's one-click unsubscribe like every campaign e-mail
    url, unsubscribe_headers = unsubscribe_link(rt, contact.contact_id, flow.WORKFLOW,
                                                address_key(contact.email, rt.keys.address))
    rendered = render(settings.templates_dir, TEMPLATE, settings.locale,
                      _context(rt, contact, now) | {"unsubscribe_url": url})

    def build() -> EmailMessage:
        return build_message(rendered, sender_email=settings.sender_email, sender_name=settings.sender_name,
                             to_email=contact.email, to_name=contact.name, sent_at=now,
                             headers=unsubscribe_headers | {"X-CRM-Workflow": flow.WORKFLOW})

    def record(message_id: str) -> list[dict]:
        activity = _sent_activity(rt, contact.contact_id, send_key, rendered.subject, now, message_id)
        return [rt.store.activities.create_op(activity)]

    return deliver_once(rt.store, rt.mailer, send_key, contact.contact_id, now, build, record)
