"""Domain events: what a change of a contact or a task means to the outside world (a CRM connector putting tasks
into the salesperson's calendar, a helpdesk, analytics). Derived from a record's old and new image, so they go out
from the tables' streams (a transactional outbox): whatever commits is published, nothing that did not commit is.

Every event carries ``event_id`` (stable across re-deliveries) so a consumer can drop the rare duplicate.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from crm_automation.domain.models import Contact, Task, TaskStatus


@dataclass(frozen=True)
class DomainEvent:
    detail_type: str  # e.g. "contact.escalated"
    detail: dict[str, Any]


def _task_detail(task: Task) -> dict[str, Any]:
    """What a calendar or CRM connector needs; the description and resolution (complaint summaries, notes) stay
    in the CRM, fetched by id when needed, rather than sitting in every rule target and the archive."""
    return task.model_dump(mode="json", exclude={"version", "description", "resolution"}, exclude_none=True)


def task_events(old: Task | None, new: Task) -> list[DomainEvent]:
    if old is None:
        return [DomainEvent("task.created", _task_detail(new))]
    if old.status == TaskStatus.OPEN and new.status == TaskStatus.DONE:
        return [DomainEvent("task.completed", _task_detail(new))]
    if old.status == TaskStatus.OPEN and new.status == TaskStatus.CANCELLED:
        return [DomainEvent("task.cancelled", _task_detail(new))]
    return []


def contact_events(old: Contact | None, new: Contact) -> list[DomainEvent]:
    events: list[DomainEvent] = []
    before, after = (old.escalation if old else None), new.escalation
    if after is not None and after.state == "open" and (before is None or before.escalation_id != after.escalation_id):
        events.append(DomainEvent("contact.escalated", {
            "contact_id": new.contact_id, "owner": new.owner, "categories": new.categories,
            "escalation": after.model_dump(mode="json", exclude_none=True)}))
    if (after is not None and after.state == "resolved" and before is not None and before.state == "open"
            and before.escalation_id == after.escalation_id):
        events.append(DomainEvent("contact.escalation_resolved", {
            "contact_id": new.contact_id, "owner": new.owner, "categories": new.categories,
            "escalation": after.model_dump(mode="json", exclude_none=True)}))
    pause_before, pause_after = (old.marketing_pause if old else None), new.marketing_pause
    if pause_after is not None and (pause_before is None or pause_before.reference != pause_after.reference):
        events.append(DomainEvent("contact.marketing_paused", {
            "contact_id": new.contact_id, "pause": pause_after.model_dump(mode="json")}))
    if pause_before is not None and pause_after is None:
        events.append(DomainEvent("contact.marketing_resumed", {
            "contact_id": new.contact_id, "pause": pause_before.model_dump(mode="json")}))
    return events
