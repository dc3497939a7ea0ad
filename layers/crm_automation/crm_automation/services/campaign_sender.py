"""The campaign sender: one chunk of recipients at a time, exactly one copy per address and campaign.

For each chunk (under a lease, so one sender works on it at a time):

1. Read the chunk's contacts and their address records in two batch reads; decide each recipient (suppressed,
   weekly cap reached, already sent, or a duplicate address).
2. Per batch of recipients: take send tokens from the shared per-second limiter (never more than the SES send
   rate across all senders), then **reserve** the batch in one transaction: each address record gets this
   campaign's send (conditional on the version we read, so a concurrent unsubscribe or another campaign's
   reservation makes us read again and decide again) and each contact's version is checked (a pause or an
   opt-out that arrived meanwhile is seen).
3. Send each reserved message (a throttled call waits and is retried; a permanent refusal is recorded as failed).
4. **Record** the batch on the chunk (sent / failed address keys, skipped contacts) and add to the campaign's
   counters, in one transaction under the lease.

A sender that dies between 3 and 4 leaves reservations without a record: the next attempt of the chunk treats them
as uncertain and asks SES's own account of what it accepted: the Send events that the feedback function writes on
the chunk. An address SES reported is recorded as sent; one it did not report within the reconcile window
(default 15 minutes) never reached SES and is sent now. So nobody gets two copies and nobody is skipped.
"""

from __future__ import annotations

import re
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from aws_lambda_powertools.metrics import MetricUnit
from jinja2 import TemplateError

from crm_automation.adapters.marketing import SENDER_ATTRIBUTES, contacts_by_id
from crm_automation.domain.addresses import AddressRecord, address_key
from crm_automation.domain.campaigns import (Campaign, CampaignStatus, Chunk, ChunkState, Outcome, SendPacer, decide,
                                              reconcile_at)
from crm_automation.domain.models import Contact
from crm_automation.domain.suppression import SuppressionReason, marketing_suppression
from crm_automation.errors import ConcurrentWriteError, PermanentSendError, TransientError
from crm_automation.observability import logger, metrics
from crm_automation.services import campaigns as campaign_service
from crm_automation.services.runtime import Runtime

THROTTLE_RETRIES = 8
CAMPAIGN_REREAD = timedelta(seconds=5)  # how often a sender looks whether its campaign was paused
_TAG_SAFE = re.compile(r"[A-Za-z0-9_-]{1,256}")


@dataclass
class ChunkReport:
    outcome: str = ""
    sent: int = 0
    failed: int = 0
    skipped: Counter[str] = field(default_factory=Counter)
    reconciled: int = 0


class LeaseLost(TransientError):
    """Another sender took the chunk over (ours outlived its lease): stop without recording."""


class _Work:
    """One attempt at one chunk."""

    def __init__(self, rt: Runtime, campaign: Campaign, chunk: Chunk, lease_id: str, now: datetime) -> None:
        self.rt, self.campaign, self.chunk, self.lease_id = rt, campaign, chunk, lease_id
        self.store = rt.store
        self.report = ChunkReport()
        self.contacts: dict[str, Contact] = {}
        self.keys: dict[str, str] = {}
        self.addresses: dict[str, AddressRecord] = {}
        self.pacer = SendPacer(limit=max(1, int(rt.settings.ses_max_send_rate)))
        self.campaign_read_at = now

    # -- reading and deciding
    def load(self, contact_ids: list[str]) -> None:
        self.contacts.update(contacts_by_id(self.store, contact_ids, SENDER_ATTRIBUTES))
        for cid in contact_ids:
            contact = self.contacts.get(cid)
            if contact is not None and contact.email:
                self.keys[cid] = address_key(contact.email, self.rt.keys.address)
        wanted = [self.keys[c] for c in contact_ids if c in self.keys]
        self.addresses.update(self.store.addresses.batch_get(wanted))

    def decide(self, cid: str) -> tuple[Outcome, str | None]:
        contact = self.contacts.get(cid)
        if contact is None:  # erased since planning
            return Outcome.SUPPRESSED, SuppressionReason.ERASED.value
        key = self.keys.get(cid)
        decision = decide(contact, self.addresses.get(key) if key else None, self.campaign.campaign_id, self.chunk,
                          self.rt.clock.now(), self.rt.settings.marketing_weekly_cap)
        if decision.outcome == Outcome.DUPLICATE:
            return Outcome.DUPLICATE, "duplicate"
        return decision.outcome, decision.reason.value if decision.reason else None

    # -- tokens, reservations, sending
    def token(self, remaining: int) -> None:
        """Block (on the clock) until this sender holds a send token for the current second (shared limiter)."""
        clock = self.rt.clock
        while True:
            now = clock.now().timestamp()
            ask = self.pacer.ask(now, remaining)
            if ask is None:
                return
            second, want = ask
            if second > now:  # the usable part of this second is over: wait for the next one
                clock.sleep(second - now)
                continue
            granted = self.store.campaigns.take_tokens(second, want, self.pacer.limit)
            if granted:
                self.pacer.granted(second, granted)
                return
            clock.sleep(max(0.001, second + 1 - now))

    def reserve(self, batch: list[str], renew: set[str] = frozenset()) -> tuple[list[str], dict[str, str]]:  # type: ignore[assignment]
        """Reserve `batch` (contact ids decided SEND, or in `renew`: an earlier attempt's reservation SES never
        confirmed, renewed with a new time) in one transaction. Returns (reserved, skipped on re-read)."""
        skipped: dict[str, str] = {}
        for _ in range(10):
            if not batch:
                return [], skipped
            now = self.rt.clock.now()
            ops = [{"ConditionCheck": {"TableName": self.store.campaigns.table,
                                       "Key": {"pk": f"CAMPAIGN#{self.campaign.campaign_id}",
                                               "sk": f"CHUNK#{self.chunk.chunk_id}"},
                                       "ConditionExpression": "lease_id = :l",
                                       "ExpressionAttributeValues": {":l": self.lease_id}}}]
            for cid in batch:
                contact = self.contacts[cid]
                key = self.keys[cid]
                ops.append(self.store.addresses.reserve_op(self.addresses.get(key), key, self.campaign.campaign_id,
                                                           self.chunk.chunk_id, now))
                ops.append({"ConditionCheck": {"TableName": self.rt.settings.contacts_table,
                                               "Key": {"contact_id": cid}, "ConditionExpression": "#v = :v",
                                               "ExpressionAttributeNames": {"#v": "version"},
                                               "ExpressionAttributeValues": {":v": contact.version}}})
            try:
                self.store.transact(ops)
            except ConcurrentWriteError:
                # someone changed a contact or an address meanwhile (or we lost the lease): read again, decide again
                current = self.store.campaigns.get_chunk(self.campaign.campaign_id, self.chunk.chunk_id)
                if current is None or current.lease_id != self.lease_id:
                    raise LeaseLost("chunk lease lost") from None
                self.load(batch)
                still = []
                for cid in batch:
                    outcome, reason = self.decide(cid)
                    if outcome == Outcome.UNCERTAIN and cid in renew:  # still ours, still unconfirmed
                        blocked = marketing_suppression(self.contacts[cid], self.addresses.get(self.keys[cid]))
                        outcome, reason = (Outcome.SEND, None) if blocked is None else \
                            (Outcome.SUPPRESSED, blocked.value)
                    if outcome == Outcome.SEND:
                        still.append(cid)
                    elif outcome in (Outcome.SUPPRESSED, Outcome.DUPLICATE):
                        skipped[cid] = reason or "duplicate"
                batch = still
                continue
            for cid in batch:  # what we now hold, so a later re-read in this attempt decides correctly
                key = self.keys[cid]
                record = self.addresses.get(key) or AddressRecord(address_key=key)
                self.addresses[key] = record.model_copy(update={
                    "sends": record.with_send(self.campaign.campaign_id, self.chunk.chunk_id, now),
                    "version": record.version + 1})
            return batch, skipped
        raise TransientError("reservations kept conflicting")

    def send(self, cid: str, remaining: int) -> bool:
        """Send one reserved message, each attempt on a send token of its own second. True: sent; False: SES
        refused it for good (or it cannot be built). A throttled attempt waits and tries again."""
        contact = self.contacts[cid]
        key = self.keys[cid]
        try:
            message = campaign_service.compose(self.rt, self.campaign, contact, key, self.rt.clock.now())
        except (ValueError, TemplateError) as error:  # e.g. a header the email package refuses: this one fails
            logger.error("Campaign message could not be built", extra={"error": type(error).__name__,
                                                                       "campaign_id": self.campaign.campaign_id})
            return False
        tags = {"campaign": self.campaign.campaign_id, "chunk": self.chunk.chunk_id, "address": key}
        if _TAG_SAFE.fullmatch(cid):  # SES tag values allow only these; feedback finds other contacts by address
            tags["contact"] = cid
        clock = self.rt.clock
        for attempt in range(THROTTLE_RETRIES):
            self.token(remaining)
            started = clock.now()
            try:
                self.rt.mailer.send_simple(message, tags=tags)
                return True
            except TransientError:
                metrics.add_metric(name="SesThrottled", unit=MetricUnit.Count, value=1)
                clock.sleep(min(0.1 * 2 ** attempt, 5.0))
            except PermanentSendError as error:
                logger.warning("SES refused a campaign message", extra={"error_code": str(error),
                                                                          "campaign_id": self.campaign.campaign_id})
                return False
            finally:
                self.pacer.sent((clock.now() - started).total_seconds())
        raise TransientError("SES kept throttling")

    def record(self, sent: set[str], failed: set[str], skipped: dict[str, str], *, state: ChunkState | None = None,
               waiting: int | None = None, release: bool = False, chunk_done: bool = False) -> None:
        counts: Counter[str] = Counter({"sent": len(sent), "failed": len(failed)})
        for reason in skipped.values():
            counts[f"sup:{reason}"] += 1
        if waiting is not None:
            counts["waiting"] += waiting - self.chunk.waiting
        ops = [self.store.campaigns.record_op(self.chunk, self.lease_id, sent=sent, failed=failed, skipped=skipped,
                                              state=state, waiting=waiting, release=release)]
        counter = self.store.campaigns.count_op(self.campaign.campaign_id, counts, chunks_done=1 if chunk_done else 0)
        if counter:
            ops.append(counter)
        try:
            self.store.transact(ops)
        except ConcurrentWriteError as error:
            raise LeaseLost("chunk lease lost before recording") from error
        self.chunk = self.chunk.model_copy(update={"sent": self.chunk.sent | sent, "failed": self.chunk.failed | failed,
                                                   "skipped": self.chunk.skipped | skipped,
                                                   "waiting": waiting if waiting is not None else self.chunk.waiting})
        self.report.sent += len(sent)
        self.report.failed += len(failed)
        self.report.skipped.update(skipped.values())


def send_chunk(rt: Runtime, campaign_id: str, chunk_id: str, now: datetime,
               time_left: Callable[[], float] = lambda: 900.0) -> ChunkReport:
    store = rt.store
    settings = rt.settings
    campaign = store.campaigns.get(campaign_id)
    chunk = store.campaigns.get_chunk(campaign_id, chunk_id)
    if campaign is None or chunk is None:
        logger.warning("Chunk of an unknown campaign dropped", extra={"campaign_id": campaign_id, "chunk_id": chunk_id})
        return ChunkReport(outcome="missing")
    if chunk.state == ChunkState.DONE:  # (an attempt may have died between recording it and this check)
        store.campaigns.complete_if_finished(campaign_id, now)
        return ChunkReport(outcome="already done")
    if campaign.status in (CampaignStatus.CANCELLED, CampaignStatus.COMPLETED):
        return ChunkReport(outcome=f"campaign {campaign.status.value}")
    lease_id = uuid.uuid4().hex
    ops = [store.campaigns.lease_op(chunk, lease_id, now + timedelta(seconds=settings.sender_lease_seconds), now)]
    if chunk.waiting:  # a parked chunk's recipients stop counting as waiting
        ops.append(store.campaigns.count_op(campaign_id, {"waiting": -chunk.waiting}))
    try:
        store.transact(ops)
    except ConcurrentWriteError:
        # Another sender holds the chunk (a duplicate message), or an attempt died holding it. Either way this
        # message is done: a timer queues the chunk again once that lease has run out, should it not be finished.
        current = store.campaigns.get_chunk(campaign_id, chunk_id)
        if current is None or current.state == ChunkState.DONE:
            return ChunkReport(outcome="already done")
        if current.lease_until is None or current.lease_until < now:
            raise TransientError("chunk changed while taking its lease") from None  # SQS delivers it again
        campaign_service.schedule_requeue(rt, campaign_id, current.lease_until + timedelta(seconds=1), now)
        return ChunkReport(outcome="held by another sender")
    work = _Work(rt, campaign, chunk.model_copy(update={"waiting": 0}), lease_id, now)
    remaining = [cid for cid in chunk.contact_ids if cid not in chunk.skipped]
    parked = _park_if_closed(work, remaining)
    if parked:
        return parked
    work.load(remaining)
    to_send: list[str] = []
    resend: list[str] = []
    skipped: dict[str, str] = {}
    reconciled: set[str] = set()
    wait_until: datetime | None = None
    seen: set[str] = set()  # one copy per address: a second contact with an address of this chunk is a duplicate
    for cid in remaining:
        outcome, reason = work.decide(cid)
        key = work.keys.get(cid)
        if outcome in (Outcome.SEND, Outcome.UNCERTAIN) and key in seen:
            outcome, reason = Outcome.DUPLICATE, "duplicate"
        if outcome == Outcome.SEND:
            to_send.append(cid)
            seen.add(key)  # type: ignore[arg-type]
        elif outcome in (Outcome.SUPPRESSED, Outcome.DUPLICATE):
            skipped[cid] = reason or "duplicate"
        elif outcome == Outcome.UNCERTAIN:
            seen.add(key)  # type: ignore[arg-type]
            if key in chunk.ses_sent:
                reconciled.add(key)  # type: ignore[arg-type]  # SES accepted it before the earlier attempt died
                continue
            due = reconcile_at(work.addresses[key], campaign_id,  # type: ignore[index]
                               timedelta(minutes=settings.send_reconcile_minutes))
            if now < due:
                wait_until = max(wait_until or due, due)
                continue
            # no Send event in the window: SES never got it. Decide again as a fresh send (it may have been
            # suppressed meanwhile); its reservation is renewed with the batch
            blocked = marketing_suppression(work.contacts[cid], work.addresses.get(key))  # type: ignore[arg-type]
            if blocked is not None:
                skipped[cid] = blocked.value
            else:
                resend.append(cid)
    if reconciled or skipped:
        work.record(reconciled, set(), skipped)
        work.report.reconciled = len(reconciled)
    queue = resend + to_send
    batch_size = settings.send_batch_size
    while queue:
        closed = _park_if_closed(work, queue, reread=True)
        if closed:
            return closed
        if time_left() < 20:  # hand the rest to a new invocation rather than be killed mid-batch
            return _continue_later(work, set(), set(), {})
        batch, queue = queue[:batch_size], queue[batch_size:]
        ready, lost = work.reserve(batch, renew=set(resend))
        sent: set[str] = set()
        failed: set[str] = set()
        for n, cid in enumerate(ready):
            if time_left() < 15:  # the rest of the batch is reserved: the next attempt reconciles it
                return _continue_later(work, sent, failed, lost)
            (sent if work.send(cid, len(ready) - n + len(queue)) else failed).add(work.keys[cid])
        work.record(sent, failed, lost)
    if wait_until is not None:  # some sends of a crashed attempt are still unaccounted for: decide them later
        work.record(set(), set(), {}, state=ChunkState.PARKED, release=True)
        campaign_service.schedule_requeue(rt, campaign_id, wait_until, now)
        work.report.outcome = "waiting for SES send events"
        return work.report
    work.record(set(), set(), {}, state=ChunkState.DONE, release=True, chunk_done=True)
    store.campaigns.complete_if_finished(campaign_id, rt.clock.now())
    metrics.add_metric(name="CampaignMessagesSent", unit=MetricUnit.Count, value=work.report.sent)
    work.report.outcome = "done"
    return work.report


def _continue_later(work: _Work, sent: set[str], failed: set[str], skipped: dict[str, str]) -> ChunkReport:
    """Record what is done, give the chunk up and queue it for a new invocation."""
    work.record(sent, failed, skipped, release=True)
    work.rt.send_queue.send_all([{"campaign_id": work.campaign.campaign_id, "chunk_id": work.chunk.chunk_id}])
    work.report.outcome = "continued"
    return work.report


def _park_if_closed(work: _Work, remaining: list[str], reread: bool = False) -> ChunkReport | None:
    """Outside the send window, or the campaign paused: park the chunk (its recipients count as waiting) until the
    window opens (a durable timer re-queues it) or the campaign is resumed."""
    rt = work.rt
    now = rt.clock.now()
    if reread and now - work.campaign_read_at >= CAMPAIGN_REREAD:  # a pause takes effect within seconds
        campaign = rt.store.campaigns.get(work.campaign.campaign_id)
        work.campaign_read_at = now
        if campaign is not None:
            work.campaign = campaign
    window = campaign_service.window(rt)
    paused = work.campaign.status != CampaignStatus.RUNNING
    if not paused and window.is_open(now):
        return None
    chunk = work.chunk
    unsettled = max(0, len(chunk.contact_ids) - len(chunk.skipped) - len(chunk.sent) - len(chunk.failed))
    work.record(set(), set(), {}, state=ChunkState.PARKED, waiting=unsettled, release=True)
    if not paused:
        campaign_service.schedule_requeue(rt, work.campaign.campaign_id, window.next_open(now), now)
    elif (fresh := rt.store.campaigns.get(work.campaign.campaign_id)) and fresh.status == CampaignStatus.RUNNING:
        rt.send_queue.send_all([{"campaign_id": fresh.campaign_id, "chunk_id": work.chunk.chunk_id}])  # resumed meanwhile
    work.report.outcome = "paused" if paused else "outside the send window"
    return work.report
