"""Domain events: what a change of a contact or a task means to the outside world (a CRM connector putting tasks
into the salesperson's calendar, a helpdesk, analytics). Derived from a record's old and new image, so they go out
from the tables' streams (a transactional outbox): whatever commits is published, nothing that did not commit is.

Every event carries ``event_id`` (stable across re-deliveries) so a consumer can drop the rare duplicate. Details
carry ids, states and times, never an e-mail address, a name or request metadata: the bus archive keeps events for
30 days and must hold nothing an erasure would have to find.
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
    """What a calendar or CRM connector needs to place the task (owner, due date, kind, workflow, ids). Its text
    (title, description, resolution: they name the client and quote complaints) stays in the CRM, read through
    `GET /tasks?owner=...`, rather than sitting in every rule target and the 30-day archive, where an erasure
    could not reach it."""
    return task.model_dump(mode="json", exclude={"version", "title", "description", "resolution"}, exclude_none=True)


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
    return events + lead_events(old, new)


def lead_events(old: Contact | None, new: Contact) -> list[DomainEvent]:
    """lead.captured: a form, the chatbot or an import brought the contact (again); lead.qualified: its score
    crossed the threshold."""
    events: list[DomainEvent] = []
    capture = new.last_capture
    if capture is not None and (old is None or old.last_capture is None
                                or old.last_capture.capture_id != capture.capture_id):
        events.append(DomainEvent("lead.captured", {
            "contact_id": new.contact_id, "owner": new.owner, "new_contact": old is None,
            "capture_id": capture.capture_id, "channel": capture.channel, "source": capture.source,
            "captured_at": capture.at.isoformat(), "utm": capture.utm, "lead_source": new.lead_source}))
    if new.qualified_at is not None and (old is None or old.qualified_at is None):
        events.append(DomainEvent("lead.qualified", {
            "contact_id": new.contact_id, "owner": new.owner, "lead_score": new.lead_score,
            "qualified_at": new.qualified_at.isoformat(), "lead_source": new.lead_source}))
    return events


def erased_event(old: dict[str, Any] | None, new: dict[str, Any]) -> list[DomainEvent]:
    """contact.erased: the contact's record became an erasure tombstone (GDPR Art. 17). Downstream systems that
    keep copies (a CRM connector, a mail archive) erase theirs on it."""
    if not new.get("erased") or (old or {}).get("erased"):
        return []
    return [DomainEvent("contact.erased", {"contact_id": new["contact_id"], "erased_at": new.get("erased_at")})]


CONSENT_EVENT_FIELDS = ("contact_id", "entry_id", "purpose", "state", "effective", "channel", "source", "text_version",
                        "at", "request_id")


# Channels whose `source` is a label the system sets ("form:kontakt", "chatbot", "unsubscribe-one-click"); an import
# row's or an API caller's source is free text that may name a person, so it stays in the ledger.
_SYSTEM_SOURCE_CHANNELS = frozenset({"form", "chatbot", "unsubscribe", "confirmation"})


def consent_event(entry: dict[str, Any]) -> DomainEvent:
    """consent.changed: one new consent-ledger entry (pending, granted, confirmed, withdrawn). The request metadata
    (IP address, user agent, page) and free-text sources stay in the ledger."""
    detail = {k: entry[k] for k in CONSENT_EVENT_FIELDS if entry.get(k) is not None}
    if entry.get("channel") not in _SYSTEM_SOURCE_CHANNELS:
        detail.pop("source", None)
    return DomainEvent("consent.changed", detail)
