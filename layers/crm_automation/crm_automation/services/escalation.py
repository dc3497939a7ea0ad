"""The dissatisfaction escalation's application service: decide on the contact as it is now, write the decision in
one transaction. Stream records only say *that* something may be due; a re-delivered or stale record finds
nothing due and does nothing."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

from aws_lambda_powertools.metrics import MetricUnit

from crm_automation.domain import escalation as flow
from crm_automation.domain.models import COMPLAINT_KINDS, Contact, Task, TaskStatus
from crm_automation.errors import ConcurrentWriteError
from crm_automation.observability import logger, metrics
from crm_automation.services.runtime import Runtime

ATTEMPTS = 3  # a lost race re-reads and decides again; after that the stream retries the record


def _retrying(decide: Callable[[], str]) -> str:
    for _ in range(ATTEMPTS - 1):
        try:
            return decide()
        except ConcurrentWriteError:
            continue  # someone wrote the contact meanwhile: decide again on the fresh record
    return decide()


def on_contact(rt: Runtime, contact_id: str, now: datetime) -> str:
    """A contact whose record says an escalation or a resolution is due."""
    return _retrying(lambda: _decide(rt, contact_id, now))


def _decide(rt: Runtime, contact_id: str, now: datetime) -> str:
    contact = rt.store.contacts.get(contact_id)
    if contact is None:
        return "contact gone"
    if flow.needs_escalation(contact):
        return _escalate(rt, contact, now)
    if flow.needs_resolution(contact):
        return _resolve_by_rating(rt, contact, now)
    return "nothing due"


def _escalate(rt: Runtime, contact: Contact, now: datetime) -> str:
    store = rt.store
    since = now - timedelta(days=rt.settings.escalation_context_days)
    complaints = store.activities.by_contact_since(contact.contact_id, since, COMPLAINT_KINDS)
    plan = flow.plan_escalation(contact, complaints, store.deals.by_contact(contact.contact_id), now, rt.settings)
    store.transact([store.contacts.save_op(plan.contact), store.tasks.create_op(plan.task)])
    metrics.add_metric(name="EscalationsOpened", unit=MetricUnit.Count, value=1)
    logger.info("Dissatisfaction escalated", extra={"contact_id": contact.contact_id, "task_id": plan.task.task_id,
                                                    "lead": plan.task.owner})
    return "escalated"


def _resolve_by_rating(rt: Runtime, contact: Contact, now: datetime) -> str:
    store = rt.store
    assert contact.escalation is not None
    resolved, note = flow.resolution_by_rating(contact, now, rt.settings)
    operations = [store.contacts.save_op(resolved)]
    task = store.tasks.get(contact.escalation.task_id)
    if task is not None and task.status == TaskStatus.OPEN:  # the lead's task is moot now: closed with the reason
        operations.append(store.tasks.save_op(task.model_copy(update={
            "status": TaskStatus.CANCELLED, "completed_at": now, "completed_by": contact.satisfaction_by,
            "resolution": note})))
    store.transact(operations)
    _resolved(contact, "satisfaction")
    return "resolved by rating"


def on_task_done(rt: Runtime, task: Task, now: datetime) -> str:
    """An escalation task completed (tasks stream): marked resolved, it ends the escalation and its pause."""
    if task.contact_id is None or task.workflow != flow.WORKFLOW:
        return "not an escalation task"
    return _retrying(lambda: _resolve_by_task(rt, task, now))


def _resolve_by_task(rt: Runtime, task: Task, now: datetime) -> str:
    assert task.contact_id is not None
    contact = rt.store.contacts.get(task.contact_id)
    if contact is None or not flow.task_resolves(contact, task):
        return "nothing to resolve"
    rt.store.contacts.save(flow.resolve(contact, "task", task.completed_by, task.resolution, now, rt.settings))
    _resolved(contact, "task")
    return "resolved by task"


def _resolved(contact: Contact, how: str) -> None:
    metrics.add_metric(name="EscalationsResolved", unit=MetricUnit.Count, value=1)
    logger.info("Escalation resolved", extra={"contact_id": contact.contact_id, "how": how})
