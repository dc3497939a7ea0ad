"""Publishing domain events from the contacts, tasks and consents streams (the outbox)."""

from __future__ import annotations

from typing import Any

from crm_automation.domain.domain_events import (DomainEvent, consent_event, contact_events, erased_event,
                                                  task_events)
from crm_automation.domain.models import Contact, Task
from crm_automation.services.runtime import Runtime
from crm_automation.services.streams import UnexpectedRecord


def events_of(rt: Runtime, table: str, old: dict[str, Any] | None, new: dict[str, Any] | None) -> list[DomainEvent]:
    if not new:
        raise UnexpectedRecord("record without a new image")
    if table == rt.settings.contacts_table:
        if new.get("erased") or (old or {}).get("erased"):  # an erasure tombstone: no contact to read any more
            return erased_event(old, new)
        return contact_events(Contact.model_validate(old) if old else None, Contact.model_validate(new))
    if table == rt.settings.consents_table:
        return [consent_event(new)] if old is None else []  # the ledger is append-only: inserts only
    if table == rt.settings.tasks_table:
        return task_events(Task.model_validate(old) if old else None, Task.model_validate(new))
    raise UnexpectedRecord(f"record from table {table}, not contacts, tasks or consents")


def publish(rt: Runtime, table: str, event_id: str, old: dict[str, Any] | None, new: dict[str, Any] | None,
            occurred_at: str) -> list[str]:
    """Put the change's events on the bus; each carries the stream record's id so consumers can deduplicate."""
    events = [DomainEvent(e.detail_type, {"event_id": f"{event_id}:{e.detail_type}", "occurred_at": occurred_at,
                                          **e.detail})
              for e in events_of(rt, table, old, new)]
    if events:
        rt.bus.put(events)
    return [e.detail_type for e in events]
