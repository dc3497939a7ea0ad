"""Archive, erasure (GDPR Art. 17) and export (Art. 15) as pure decisions. No AWS, no I/O.

Archiving hides a contact from the workflows and campaigns and keeps everything. Erasure replaces the contact with a
tombstone that holds no personal data, keeps the address's hashed suppression (so the address stays suppressed when it
comes back) and the anonymised figures of its deals, and removes or scrubs everything else:

    contact --erase--> tombstone {contact_id, erased, erased_at, address_key, version}  (+ ERASED on the address record,
                       |                                                                + the erasure_finish timer)
                       +--finish--> deals anonymised, activities and consent entries deleted, tasks scrubbed
                                    --> tombstone completed (the timer fired in the same transaction)
"""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel

from crm_automation.domain.models import Contact, Deal, Task, TaskStatus, UtcDatetime

WORKFLOW = "erasure"
FINISH_TIMER = "erasure_finish"
FINISH_DELAY_MINUTES = 10  # the timer finishes an erasure whose API call died (the sweep runs every 15 minutes)
ERASED_TEXT = "[erased]"  # what a kept task says instead of its title (the title may name the person)


class Tombstone(BaseModel):
    """What is left of an erased contact in the contacts table: no personal data, no index attributes (so no scan,
    ByEmail or InactivityDue read ever returns it). `address_key` is the keyed hash the address record is kept
    under; `erasure_reason` is the operator's note (must not contain personal data)."""

    contact_id: str
    erased: bool = True
    erased_at: UtcDatetime
    address_key: str | None = None
    erasure_reason: str | None = None
    erasure_timer_id: str
    erasure_completed_at: UtcDatetime | None = None
    erasure_counts: dict[str, int] | None = None
    version: int = 0

    @property
    def completed(self) -> bool:
        return self.erasure_completed_at is not None


def is_tombstone(item: dict | None) -> bool:
    return bool(item) and bool(item.get("erased"))  # type: ignore[union-attr]


# ---------------------------------------------------------------- archive


def archived(contact: Contact, reason: str | None, now: datetime) -> Contact | None:
    """The contact archived (None: it already is). History, deals and tasks stay; the contact leaves the inactivity
    scan (not a candidate), its pending follow-up does nothing when it fires, and every automated marketing e-mail
    skips it (suppression reason `archived`)."""
    if contact.archived:
        return None
    return contact.model_copy(update={"archived": True, "archived_at": now, "archive_reason": reason,
                                      "updated_at": now})


def unarchived(contact: Contact, now: datetime) -> Contact | None:
    if not contact.archived:
        return None
    return contact.model_copy(update={"archived": False, "archived_at": None, "archive_reason": None,
                                      "updated_at": now})


def deal_with_contact_status(deal: Deal, status: str, now: datetime) -> tuple[Deal, str | None] | None:
    """The deal once its contact is archived / active again / erased: it leaves (or re-enters) the dead-deal scan; a
    reactivation in flight ends (outcome `contact_<status>`) and its pending timer is to be cancelled. None: no
    change. Returns (deal, timer id to cancel or None)."""
    if deal.contact_status == status:
        return None
    update: dict[str, object] = {"contact_status": status, "updated_at": now}
    cancel = None
    flow = deal.reactivation
    if status != "active" and flow is not None and flow.state in ("sending", "waiting"):
        cancel = flow.send_timer_id if flow.state == "sending" else flow.wait_timer_id
        update["reactivation"] = flow.model_copy(update={"state": "ended", "outcome": f"contact_{status}",
                                                         "ended_at": now})
    return deal.model_copy(update=update), cancel


# ---------------------------------------------------------------- erasure


def tombstone_of(contact: Contact, now: datetime, address_key: str | None, reason: str | None) -> Tombstone:
    return Tombstone(contact_id=contact.contact_id, erased_at=now, address_key=address_key, erasure_reason=reason,
                     erasure_timer_id=f"erasure-{contact.contact_id}", version=contact.version)


def anonymised_deal(deal: Deal, now: datetime) -> tuple[Deal, str | None] | None:
    """The deal's figures without anything about the person: value, currency, status, loss reason, dates, owner and
    the reactivation steps stay; the title goes. None: already anonymised."""
    moved = deal_with_contact_status(deal, "erased", now)
    if moved is None and deal.title == ERASED_TEXT:
        return None
    deal, cancel = moved if moved is not None else (deal, None)
    return deal.model_copy(update={"title": ERASED_TEXT, "updated_at": now}), cancel


def scrubbed_task(task: Task, now: datetime) -> Task | None:
    """A task of an erased contact: an open one is cancelled; every one keeps its ids, owner, dates, status, kind and
    workflow (reports count them) and loses title, description and resolution (they name the person or quote
    them). None: nothing left to scrub."""
    update: dict[str, object] = {}
    if task.status == TaskStatus.OPEN:
        update |= {"status": TaskStatus.CANCELLED, "completed_at": now, "completed_by": WORKFLOW}
    if task.title != ERASED_TEXT or task.description or task.resolution:
        update |= {"title": ERASED_TEXT, "description": "", "resolution": None}
    return task.model_copy(update=update) if update else None
