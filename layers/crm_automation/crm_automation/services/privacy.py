"""Archive, erasure (GDPR Art. 17) and export (Art. 15) of a contact.

Archive: the contact and its deals in one transaction (deals leave the dead-deal scan; a reactivation in flight ends
and its timer is cancelled). Pending inactivity follow-ups are not cancelled: the follow-up skips an archived contact
when it fires (outcome `archived`), so unarchiving within the wait needs no bookkeeping.

Erasure spans more than one transaction, so it is resumable and idempotent:
1. one transaction: the contact becomes its tombstone, the address record gets `erased` (its sends and its contact
   claim dropped), a durable `erasure_finish` timer is created (and a pending inactivity follow-up cancelled);
2. a pass over the rest, each step idempotent: deals anonymised (pending reactivation timers cancelled), activities
   and consent ledger entries deleted, tasks cancelled if open and scrubbed; its counts are added to the tombstone and
   the timer is (re)scheduled 10 minutes on (at once if the pass ran out of time);
3. when the timer fires, it runs another pass; only a pass of the timer that finds nothing more to delete completes
   the tombstone and fires the timer (one transaction). The ByContact indexes lag the tables, and a writer in flight
   (an SES open, the consent mailer, an unsubscribe) may add a record after a pass: a later pass finds it.
So the API call answers `completed: false` with the counts of its pass; the timer (swept every 15 minutes) completes
the erasure. If the call dies after step 1, the timer does it all. Erasing a completed erasure again is a no-op.
"""

from __future__ import annotations

import base64
import binascii
import json
import time
from collections import Counter
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from crm_automation.domain import segments
from crm_automation.domain import privacy as policy
from crm_automation.domain.addresses import AddressReason, AddressRecord, AddressSuppression, address_key
from crm_automation.domain.models import Contact, Timer
from crm_automation.domain.privacy import Tombstone
from crm_automation.errors import ConcurrentWriteError, GoneError, InvalidRequestError, NotFoundError
from crm_automation.observability import logger
from crm_automation.services import scoring
from crm_automation.services.runtime import Runtime

Reason = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=500,
                                          pattern=r"^[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f]+$")]
TimeLeft = Callable[[], float]
_RESERVE_SECONDS = 8.0  # stop a step this long before the function's time runs out
_MAX_DEALS_WITH_CONTACT = 90  # deals written in the contact's own transaction (TransactWriteItems: 100 items)
FIRE_BUDGET_SECONDS = 40.0  # one firing of the erasure timer (TimerWorker times out after 60 s)


def _forever() -> float:
    return 3600.0


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class ArchiveIn(_In):
    reason: Reason | None = Field(None, description="Why (shown on the contact; no personal data of others)")


class BulkArchiveIn(_In):
    segment: dict[str, Any] | None = Field(None, description="The filter as JSON (docs/segments.md)")
    segment_query: Annotated[str, StringConstraints(max_length=4000)] | None = Field(
        None, description="The filter in the text syntax")
    reason: Reason | None = None
    dry_run: bool = Field(False, description="Count what would be archived, change nothing")
    cursor: Annotated[str, StringConstraints(max_length=2000)] | None = Field(
        None, description="Where the previous call stopped (its `cursor`); absent: from the start")
    page_size: int = Field(200, ge=1, le=1000)

    @model_validator(mode="after")
    def _one_filter(self) -> BulkArchiveIn:
        if (self.segment is None) == (self.segment_query is None):
            raise ValueError("give the contacts as exactly one of 'segment' (JSON) or 'segment_query' (text)")
        return self


class EraseIn(_In):
    confirm: Annotated[str, StringConstraints(max_length=128)] = Field(
        description="The contact's id again: erasure cannot be undone")
    reason: Reason | None = Field(None, description="The request it fulfils, e.g. a ticket number (no personal data)")


# ---------------------------------------------------------------- archive


def _existing(rt: Runtime, contact_id: str) -> Contact:
    record = rt.store.contacts.read(contact_id)
    if record is None:
        raise NotFoundError(f"contact {contact_id} not found")
    if isinstance(record, Tombstone):
        raise GoneError(f"contact {contact_id} was erased")
    return record


def _cancel_op(rt: Runtime, timer_id: str | None, now: datetime, note: str,
               state: str = "cancelled") -> list[dict[str, Any]]:
    """End the timer (cancel it, or `state`) in the caller's transaction if it is still pending."""
    if not timer_id:
        return []
    timer = rt.store.flows.get_timer(timer_id)
    if timer is None or timer.state != "pending":
        return []
    return [rt.store.flows.timer_end_op(timer_id, state, now, note=note)]


def _deal_ops(rt: Runtime, contact_id: str, status: str, now: datetime) -> list[list[dict[str, Any]]]:
    """Per deal of the contact that changes: its writes (the deal, and its reactivation timer's cancellation)."""
    out = []
    for deal in rt.store.deals.by_contact(contact_id):
        moved = policy.deal_with_contact_status(deal, status, now)
        if moved is not None:
            updated, cancel = moved
            out.append([rt.store.deals.save_op(updated), *_cancel_op(rt, cancel, now, f"contact {status}")])
    return out


def _set_archived(rt: Runtime, contact_id: str, archive: bool, reason: str | None, now: datetime) -> Contact:
    for _ in range(5):
        contact = _existing(rt, contact_id)
        updated = policy.archived(contact, reason, now) if archive else policy.unarchived(contact, now)
        deal_ops = _deal_ops(rt, contact_id, "archived" if archive else "active", now)
        if updated is None and not deal_ops:
            return contact  # already so: a no-op
        operations = [rt.store.contacts.save_op(updated)] if updated is not None else []
        rest = []
        for ops in deal_ops:
            if len(operations) + len(ops) <= _MAX_DEALS_WITH_CONTACT:
                operations += ops
            else:
                rest.append(ops)
        try:
            rt.store.transact(operations)
            for ops in rest:  # a contact with very many deals: the others after it (idempotent, retried next call)
                rt.store.transact(ops)
        except ConcurrentWriteError:
            continue  # someone wrote the contact or a deal meanwhile: decide again on fresh records
        return updated.model_copy(update={"version": updated.version + 1}) if updated is not None else contact
    raise ConcurrentWriteError(f"contact {contact_id} kept changing")


def archive(rt: Runtime, contact_id: str, reason: str | None, now: datetime) -> Contact:
    contact = _set_archived(rt, contact_id, True, reason, now)
    logger.info("Contact archived", extra={"contact_id": contact_id})
    return contact


def unarchive(rt: Runtime, contact_id: str, now: datetime) -> Contact:
    contact = _set_archived(rt, contact_id, False, None, now)
    logger.info("Contact unarchived", extra={"contact_id": contact_id})
    return contact


def _encode_cursor(cursor: dict[str, Any] | None) -> str | None:
    if cursor is None:
        return None
    return base64.urlsafe_b64encode(json.dumps(cursor, separators=(",", ":")).encode()).decode()


def _decode_cursor(text: str | None) -> dict[str, Any] | None:
    if not text:
        return None
    try:
        cursor = json.loads(base64.urlsafe_b64decode(text.encode("ascii")))
    except (ValueError, UnicodeError, binascii.Error):
        raise InvalidRequestError("cursor: not a cursor this API returned") from None
    if not (isinstance(cursor, dict) and set(cursor) == {"contact_id"} and isinstance(cursor["contact_id"], str)
            and 0 < len(cursor["contact_id"]) <= 256):
        raise InvalidRequestError("cursor: not a cursor this API returned")
    return cursor


def bulk_archive(rt: Runtime, data: BulkArchiveIn, now: datetime, time_left: TimeLeft = _forever) -> dict[str, Any]:
    """Archive every contact of the segment, page by page, until the pages end or the time budget does; the answer's
    `cursor` continues where this call stopped (null: done). `dry_run` counts without writing."""
    try:
        node = segments.parse_segment(data.segment) if data.segment is not None else \
            segments.parse_query(data.segment_query or "")
    except segments.SegmentError as error:
        raise InvalidRequestError(f"segment: {error}") from error
    matcher = segments.compile_segment(node, rt.settings.timezone, scoring.score_getter(rt.settings))
    cursor = _decode_cursor(data.cursor)
    counts: Counter[str] = Counter()
    stopped = False
    while not stopped:
        page, cursor = rt.store.scan_contacts_page(0, 1, cursor, data.page_size)
        for i, contact in enumerate(page):
            counts["scanned"] += 1
            if matcher(contact, now):
                counts["matched"] += 1
                if contact.archived:
                    counts["already_archived"] += 1
                elif data.dry_run:
                    counts["would_archive"] += 1
                else:
                    try:
                        _set_archived(rt, contact.contact_id, True, data.reason, now)
                        counts["archived"] += 1
                    except (ConcurrentWriteError, NotFoundError):  # kept changing / erased meanwhile
                        counts["skipped"] += 1
            if i < len(page) - 1 and time_left() < _RESERVE_SECONDS:
                # out of time within the page: the next call starts right after this contact (its key is the scan's
                # ExclusiveStartKey), so no contact of the page is skipped
                cursor, stopped = {"contact_id": contact.contact_id}, True
                break
        if cursor is None or time_left() < _RESERVE_SECONDS:
            break
    report = {"dry_run": data.dry_run, "segment_query": segments.to_query(node),
              **{k: counts[k] for k in ("scanned", "matched", "archived", "would_archive", "already_archived",
                                        "skipped")},
              "cursor": _encode_cursor(cursor), "complete": cursor is None}
    logger.info("Bulk archive", extra={k: v for k, v in report.items() if k != "segment_query"})
    return report


# ---------------------------------------------------------------- erasure


def _erased_address(record: AddressRecord, now: datetime) -> AddressRecord:
    """The address record of an erased contact: the erased suppression (with the others it had), nothing else."""
    suppressions = dict(record.suppressions)
    suppressions.setdefault(AddressReason.ERASED, AddressSuppression(at=now, source="erasure"))
    return record.model_copy(update={"suppressions": suppressions, "sends": {}, "contact_id": None})


def _start(rt: Runtime, contact: Contact, reason: str | None, now: datetime) -> Tombstone:
    """Transaction 1: tombstone + erased address + the finishing timer (+ the pending follow-up cancelled)."""
    key = address_key(contact.email, rt.keys.address) if contact.email else None
    tombstone = policy.tombstone_of(contact, now, key, reason)
    timer = Timer(timer_id=tombstone.erasure_timer_id, kind=policy.FINISH_TIMER, subject_id=contact.contact_id,
                  reference=contact.contact_id, due_at=now + timedelta(minutes=policy.FINISH_DELAY_MINUTES),
                  created_at=now)
    operations = [rt.store.contacts.tombstone_op(tombstone), rt.store.flows.timer_create_op(timer)]
    if contact.inactivity is not None and contact.inactivity.state == "waiting":
        operations += _cancel_op(rt, contact.inactivity.timer_id, now, "contact erased")
    if key is not None:
        record = rt.store.addresses.get(key) or AddressRecord(address_key=key)
        operations.append(rt.store.addresses.save_op(_erased_address(record, now)))
    rt.store.transact(operations)
    return tombstone.model_copy(update={"version": tombstone.version + 1})


def _finish_steps(rt: Runtime, contact_id: str, now: datetime, time_left: TimeLeft) -> tuple[Counter[str], bool]:
    """One pass of step 2 of the erasure (idempotent): what it changed, and whether it went all the way (False: out
    of time, the timer goes on later)."""
    store = rt.store
    counts: Counter[str] = Counter()

    def out_of_time() -> bool:
        return time_left() < _RESERVE_SECONDS

    for deal in store.deals.by_contact(contact_id):
        changed = policy.anonymised_deal(deal, now)
        if changed is not None:
            if out_of_time():
                return counts, False
            anonymised, cancel = changed
            store.transact([store.deals.save_op(anonymised), *_cancel_op(rt, cancel, now, "contact erased")])
            counts["deals_anonymised"] += 1
    for activity_id in store.activities.keys_by_contact(contact_id):
        if out_of_time():
            return counts, False
        store.activities.delete(activity_id)
        counts["activities_deleted"] += 1
    for task in store.tasks.by_contact(contact_id):
        scrubbed = policy.scrubbed_task(task, now)
        if scrubbed is not None:
            if out_of_time():
                return counts, False
            store.tasks.save(scrubbed)
            counts["tasks_scrubbed"] += 1
    if out_of_time():
        return counts, False
    counts["consents_deleted"] += store.consents.delete_all(contact_id)
    return counts, True


def _finish_timer(tombstone: Tombstone, due_at: datetime) -> Timer:
    return Timer(timer_id=tombstone.erasure_timer_id, kind=policy.FINISH_TIMER, subject_id=tombstone.contact_id,
                 reference=tombstone.contact_id, due_at=due_at, created_at=tombstone.erased_at)


def finish(rt: Runtime, contact_id: str, now: datetime, time_left: TimeLeft = _forever, *,
           by_timer: bool = False) -> Tombstone:
    """One pass of step 2 of an erasure that has started, then either step 3 -- only when the timer runs it and the
    pass found nothing more to delete: the tombstone completed and the timer fired in one transaction -- or the pass's
    counts added to the tombstone and the timer (re)scheduled: due FINISH_DELAY_MINUTES on after a full pass (the
    ByContact indexes lag the tables and writers in flight may still add records: the next pass finds them), at
    once after a pass that ran out of time. Returns the tombstone as stored."""
    for _ in range(5):
        record = rt.store.contacts.read(contact_id)
        if not isinstance(record, Tombstone):
            raise NotFoundError(f"contact {contact_id} has no erasure in progress")
        if record.completed:
            return record
        counts, done = _finish_steps(rt, contact_id, now, time_left)
        found = +counts  # what this pass changed (no zero entries)
        totals = {k: int(v) for k, v in (Counter(record.erasure_counts or {}) + found).items()}
        complete = by_timer and done and not found
        if complete:
            operations = [rt.store.contacts.tombstone_completed_op(record, now, totals),
                          *_cancel_op(rt, record.erasure_timer_id, now, "erasure completed", "fired")]
            stored = record.model_copy(update={"erasure_completed_at": now, "erasure_counts": totals})
        else:
            due = now + timedelta(minutes=policy.FINISH_DELAY_MINUTES) if done else now
            stored = record.model_copy(update={"erasure_counts": totals})
            operations = [rt.store.contacts.tombstone_op(stored),
                          rt.store.flows.timer_schedule_op(_finish_timer(record, due))]
        try:
            rt.store.transact(operations)
        except ConcurrentWriteError:
            continue  # the timer worker or another call wrote the tombstone meanwhile: read again (a pass is cheap)
        if complete:
            logger.info("Contact erased", extra={"contact_id": contact_id, **totals})
        else:
            logger.info("Contact erasure pass", extra={"contact_id": contact_id, "complete_pass": done, **found})
        return stored.model_copy(update={"version": record.version + 1})
    raise ConcurrentWriteError(f"erasure of {contact_id} kept colliding")


def _view(tombstone: Tombstone, already: bool) -> dict[str, Any]:
    return {"contact_id": tombstone.contact_id, "erased": True, "erased_at": tombstone.erased_at.isoformat(),
            "completed": tombstone.completed, "already_erased": already, "counts": tombstone.erasure_counts or {}}


def erase(rt: Runtime, contact_id: str, data: EraseIn, now: datetime, time_left: TimeLeft = _forever) -> dict[str, Any]:
    if data.confirm != contact_id:
        raise InvalidRequestError("confirm: repeat the contact's id to confirm the erasure (it cannot be undone)")
    for _ in range(5):
        record = rt.store.contacts.read(contact_id)
        if record is None:
            raise NotFoundError(f"contact {contact_id} not found")
        if isinstance(record, Tombstone):
            if record.completed:
                return _view(record, already=True)  # erasing twice is a no-op
            return _view(finish(rt, contact_id, now, time_left), already=True)
        try:
            _start(rt, record, data.reason, now)
        except ConcurrentWriteError:
            continue  # the contact or its address record changed meanwhile: read again
        logger.info("Contact erasure started", extra={"contact_id": contact_id})
        return _view(finish(rt, contact_id, now, time_left), already=False)
    raise ConcurrentWriteError(f"contact {contact_id} kept changing")


def fire_finish(rt: Runtime, timer: Timer, now: datetime, time_left: TimeLeft | None = None) -> str:
    """The erasure_finish timer: another pass of the erasure; it completes the erasure when it finds nothing more to
    delete (else it is due again later). Works at most FIRE_BUDGET_SECONDS (and within `time_left`, the invocation's
    remaining time, if given); a long history goes on at the next sweep."""
    started = time.monotonic()

    def budget() -> float:
        own = FIRE_BUDGET_SECONDS - (time.monotonic() - started)
        return min(own, time_left()) if time_left is not None else own

    record = rt.store.contacts.read(timer.subject_id)
    if not isinstance(record, Tombstone) or record.completed:
        try:
            rt.store.transact([rt.store.flows.timer_end_op(timer.timer_id, "fired", now, note="nothing to finish")])
        except ConcurrentWriteError:
            pass
        return "nothing to finish"
    done = finish(rt, timer.subject_id, now, budget, by_timer=True)
    return "erasure completed" if done.completed else "erasure continues"


# ---------------------------------------------------------------- export


def _dump(model: BaseModel) -> dict[str, Any]:
    return model.model_dump(mode="json", exclude_none=True)


def export(rt: Runtime, contact_id: str, now: datetime) -> dict[str, Any]:
    """Everything held about the person (GDPR Art. 15) as one JSON document."""
    store = rt.store
    contact = _existing(rt, contact_id)
    deals = store.deals.by_contact(contact_id)
    address: dict[str, Any] | None = None
    campaigns: list[dict[str, Any]] = []
    if contact.email:
        key = address_key(contact.email, rt.keys.address)
        record = store.addresses.get(key)
        if record is not None:
            address = {"address_key": key, "suppressions": {k.value: _dump(v) for k, v in record.suppressions.items()},
                       "campaign_sends": {cid: _dump(s) for cid, s in record.sends.items()}}
            for campaign_id, send in sorted(record.sends.items(), key=lambda kv: kv[1].at):
                campaign = store.campaigns.get(campaign_id)
                campaigns.append({"campaign_id": campaign_id, "reserved_at": send.at.isoformat(),
                                  **({"name": campaign.name, "template": campaign.template,
                                      "status": campaign.status.value} if campaign else {})})
    timer_ids = [contact.inactivity.timer_id] if contact.inactivity else []
    for deal in deals:
        for flow in [*deal.reactivation_history, *([deal.reactivation] if deal.reactivation else [])]:
            timer_ids += [t for t in (flow.send_timer_id, flow.wait_timer_id) if t]
    timers = [_dump(t) for i in dict.fromkeys(timer_ids) if (t := store.flows.get_timer(i)) is not None]
    logger.info("Contact exported", extra={"contact_id": contact_id})
    return {
        "exported_at": now.isoformat(),
        "contact_id": contact_id,
        "contact": _dump(contact),
        "deals": [_dump(d) for d in deals],
        "activities": [_dump(a) for a in store.activities.all_by_contact(contact_id)],
        "tasks": [_dump(t) for t in store.tasks.by_contact(contact_id)],
        "consents": [_dump(e) for e in store.consents.by_contact(contact_id)],
        "address": address,
        "campaigns": campaigns,
        "workflows": {
            "inactivity": _dump(contact.inactivity) if contact.inactivity else None,
            "deal_reactivation": {d.deal_id: _dump(d.reactivation) for d in deals if d.reactivation},
            "timers": timers,
        },
    }
