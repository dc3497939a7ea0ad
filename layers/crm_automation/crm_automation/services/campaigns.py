"""Campaigns: create, preview, launch, pause, resume, and the planner that cuts the audience into chunks.

Launch → (at send_at, through a durable timer) the campaign runs: one plan message per parallel-scan segment goes
to the plan queue; each planner invocation walks its segment of the contacts table page by page, writing one chunk
of matching contacts per page (chunk + cursor + counters in one transaction) and queueing it for the sender. A
planner that dies re-reads its cursor and re-queues the last chunk (the sender ignores a second copy).
"""

from __future__ import annotations

import json
import re
import uuid
from collections import Counter
from collections.abc import Callable
from datetime import datetime
from email.header import decode_header, make_header
from email.utils import formataddr
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from crm_automation.adapters.dynamodb import fmt_time
from crm_automation.domain import segments
from crm_automation.domain.addresses import address_key, ascii_address
from crm_automation.domain.campaigns import Campaign, CampaignStatus, Chunk, ChunkState, chunk_id_of, exclusion
from crm_automation.domain.models import Contact, Timer, UtcDatetime
from crm_automation.domain.salutation import gender_of, greeting
from crm_automation.domain.send_window import SendWindow, parse_window
from crm_automation.adapters.ses import SimpleMail
from crm_automation.email.render import render
from crm_automation.errors import ConcurrentWriteError, InvalidRequestError, NotFoundError
from crm_automation.observability import logger
from crm_automation.services import scoring as lead_scoring
from crm_automation.services.runtime import Runtime
from crm_automation.services.suppressions import unsubscribe_link

LAUNCH_TIMER = "campaign_launch"
REQUEUE_TIMER = "campaign_requeue"  # the send window opens again / a crashed chunk may be reconciled
_TEMPLATE_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
MAX_SEGMENT_CHARS = 20_000  # well inside DynamoDB's 400 KB item (the campaign keeps the JSON and the text form)


class CampaignIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=200)
    template: str = Field(description="A folder in templates/ with <locale>/subject.txt, body.txt, body.html")
    segment: dict[str, Any] | None = Field(None, description="The filter as JSON (docs/segments.md)")
    segment_query: str | None = Field(None, max_length=4000, description="The filter in the text syntax")
    sender: str | None = Field(None, max_length=100, description="An owner login: the e-mail comes in their name")
    send_at: UtcDatetime | None = None
    locale: Literal["cs", "en"] | None = None

    @field_validator("name")
    @classmethod
    def _plain(cls, value: str) -> str:
        if _CONTROL.search(value):
            raise ValueError("must not contain control characters")
        return value.strip()

    @field_validator("template")
    @classmethod
    def _template(cls, value: str) -> str:
        if not _TEMPLATE_NAME.match(value):
            raise ValueError("a template folder name: lower-case letters, digits, '-' and '_'")
        return value

    @model_validator(mode="after")
    def _one_filter(self) -> CampaignIn:
        if (self.segment is None) == (self.segment_query is None):
            raise ValueError("give the audience as exactly one of 'segment' (JSON) or 'segment_query' (text)")
        if self.segment is not None and len(json.dumps(self.segment, ensure_ascii=False)) > MAX_SEGMENT_CHARS:
            raise ValueError(f"the segment is longer than {MAX_SEGMENT_CHARS} characters of JSON")
        return self


def _filter(data: CampaignIn) -> tuple[dict[str, Any], str]:
    try:
        node = segments.parse_segment(data.segment) if data.segment is not None else \
            segments.parse_query(data.segment_query or "")
    except segments.SegmentError as error:
        raise InvalidRequestError(f"segment: {error}") from error
    return segments.dump(node), segments.to_query(node)


def create(rt: Runtime, data: CampaignIn, now: datetime, caller: str | None) -> Campaign:
    settings = rt.settings
    locale = data.locale or settings.locale
    folder = settings.templates_dir / data.template / locale
    if not all((folder / part).is_file() for part in ("subject.txt", "body.txt", "body.html")):
        raise InvalidRequestError(f"template {data.template!r} has no complete {locale} version in templates/ "
                                  "(subject.txt, body.txt, body.html)")
    if data.sender is not None and data.sender not in settings.owners:
        raise InvalidRequestError(f"sender {data.sender!r} is not a configured owner (OWNERS)")
    if data.send_at is not None and data.send_at <= now:
        raise InvalidRequestError("send_at is in the past; leave it out to send at launch")
    segment, query = _filter(data)
    campaign = Campaign(campaign_id=f"cmp-{uuid.uuid4().hex[:12]}", name=data.name, template=data.template,
                        locale=locale, segment=segment, segment_query=query, sender=data.sender,
                        send_at=data.send_at, created_at=now, created_by=caller)
    rt.store.campaigns.create(campaign)
    logger.info("Campaign created", extra={"campaign_id": campaign.campaign_id})
    return campaign


def get(rt: Runtime, campaign_id: str) -> Campaign:
    campaign = rt.store.campaigns.get(campaign_id)
    if campaign is None:
        raise NotFoundError(f"campaign {campaign_id} not found")
    return campaign


def list_all(rt: Runtime) -> list[Campaign]:
    return rt.store.campaigns.list()


def window(rt: Runtime) -> SendWindow:
    return parse_window(rt.settings.send_window, rt.settings.timezone, rt.settings.holidays_country)


# ---------------------------------------------------------------- the e-mail


def compose(rt: Runtime, campaign: Campaign, contact: Contact, key: str, now: datetime) -> SimpleMail:
    """The campaign e-mail for one contact: personal salutation, a visible unsubscribe link, and the RFC 8058
    List-Unsubscribe / List-Unsubscribe-Post headers with a token signed for this recipient. SES builds the MIME
    message from it (Simple content)."""
    settings = rt.settings
    assert contact.email
    unsubscribe_url, unsubscribe_headers = unsubscribe_link(rt, contact.contact_id, campaign.campaign_id, key)
    owner = settings.owner_profile(campaign.sender) if campaign.sender else None
    sender_name = owner.name if owner else settings.sender_name
    context = {
        "greeting": greeting(contact.first_name, contact.last_name, campaign.locale),
        "first_name": contact.first_name, "last_name": contact.last_name, "company": contact.company,
        "sender_name": sender_name, "sender_gender": gender_of(owner.name) if owner else None,
        "unsubscribe_url": unsubscribe_url, "campaign_name": campaign.name,
    }
    rendered = render(settings.templates_dir, campaign.template, campaign.locale, context)
    identity = settings.sender_identity.lower()
    on_identity = bool(owner and owner.email) and "@" not in identity and \
        owner.email.rsplit("@", 1)[-1].lower() == identity  # type: ignore[union-attr]
    from_address = owner.email if on_identity and owner and owner.email else settings.sender_email
    return SimpleMail(
        sender=formataddr((sender_name, from_address), charset="utf-8"),
        to=formataddr((contact.name, ascii_address(contact.email)), charset="utf-8"),
        subject=rendered.subject, text=rendered.text, html=rendered.html,
        reply_to=owner.email if owner else None,
        headers=unsubscribe_headers | {"X-CRM-Workflow": "campaign", "X-CRM-Campaign": campaign.campaign_id})


# ---------------------------------------------------------------- preview


def _readable(address: str) -> str:
    """'=?utf-8?q?Obchodn=C3=AD_t=C3=BDm?= <a@b.cz>' as a person reads it: 'Obchodní tým <a@b.cz>'."""
    return str(make_header(decode_header(address)))


def preview(rt: Runtime, campaign_id: str, samples: int, now: datetime) -> dict[str, Any]:
    """Dry run: who matches, who would be left out and why, and the e-mail rendered for real recipients.
    Sends nothing and writes nothing."""
    campaign = get(rt, campaign_id)
    matcher = segments.compile_segment(segments.parse_segment(campaign.segment), rt.settings.timezone,
                                       lead_scoring.score_getter(rt.settings))
    matched: list[Contact] = [c for c in rt.store.scan_contacts() if matcher(c, now)]
    keys = {c.contact_id: address_key(c.email, rt.keys.address) for c in matched if c.email}
    addresses = rt.store.addresses.batch_get(list(set(keys.values())))
    excluded: Counter[str] = Counter()
    eligible: list[Contact] = []
    seen: set[str] = set()
    for contact in matched:
        key = keys.get(contact.contact_id)
        reason = exclusion(contact, addresses.get(key) if key else None, now, rt.settings.marketing_weekly_cap)
        if reason is None and key in seen:
            reason = "duplicate"
        if reason is not None:
            excluded[str(reason)] += 1
            continue
        seen.add(key)  # type: ignore[arg-type]
        eligible.append(contact)
    sample_mails = []
    for contact in eligible[:samples]:
        mail = compose(rt, campaign, contact, keys[contact.contact_id], now)
        headers = {"From": _readable(mail.sender), "To": _readable(mail.to)} | \
            ({"Reply-To": mail.reply_to} if mail.reply_to else {}) | mail.headers
        sample_mails.append({"contact_id": contact.contact_id, "name": contact.name, "email": contact.email,
                             "subject": mail.subject, "text": mail.text, "html": mail.html, "headers": headers})
    return {"campaign_id": campaign_id, "audience": len(matched), "eligible": len(eligible),
            "excluded": dict(sorted(excluded.items(), key=lambda kv: -kv[1])), "samples": sample_mails,
            "window_open": window(rt).is_open(now), "next_window": fmt_time(window(rt).next_open(now))}


# ---------------------------------------------------------------- launch, pause, resume


def launch(rt: Runtime, campaign_id: str, now: datetime) -> Campaign:
    campaign = get(rt, campaign_id)
    if campaign.status != CampaignStatus.DRAFT:
        raise InvalidRequestError(f"campaign is {campaign.status.value}; only a draft can be launched")
    if campaign.send_at is not None and campaign.send_at > now:
        timer = Timer(timer_id=f"{campaign_id}-launch", kind=LAUNCH_TIMER, subject_id=campaign_id,
                      reference=campaign_id, due_at=campaign.send_at, created_at=now)
        rt.store.transact([
            rt.store.campaigns.set_status_op(campaign_id, CampaignStatus.SCHEDULED, {CampaignStatus.DRAFT},
                                             {"launched_at": now}),
            rt.store.flows.timer_create_op(timer)])
    else:
        _start(rt, campaign_id, now, {CampaignStatus.DRAFT})
    return get(rt, campaign_id)


def fire_launch(rt: Runtime, timer: Timer, now: datetime) -> str:
    """The send time of a scheduled campaign has come. Start, queue the planners, then end the timer: a retry after
    a crash in between queues them again (harmless), it never loses them."""
    try:
        rt.store.transact(_start_ops(rt, timer.subject_id, now, {CampaignStatus.SCHEDULED}))
    except ConcurrentWriteError:
        campaign = rt.store.campaigns.get(timer.subject_id)
        if campaign is None or campaign.status != CampaignStatus.RUNNING:
            _end_timer(rt, timer, now)
            return "not scheduled any more"
    _queue_plans(rt, timer.subject_id, only_unfinished=True)
    _end_timer(rt, timer, now)
    return "launched"


def _end_timer(rt: Runtime, timer: Timer, now: datetime) -> None:
    try:
        rt.store.transact([rt.store.flows.timer_end_op(timer.timer_id, "fired", now)])
    except ConcurrentWriteError:
        pass  # a parallel delivery of the same timer ended it


def _start_ops(rt: Runtime, campaign_id: str, now: datetime, allowed: set[CampaignStatus]) -> list[dict[str, Any]]:
    fields: dict[str, Any] = {"segments_total": rt.settings.campaign_scan_segments, "segments_done": 0,
                              "chunks_total": 0, "chunks_done": 0, "started_at": now}
    if CampaignStatus.DRAFT in allowed:
        fields["launched_at"] = now
    return [rt.store.campaigns.set_status_op(campaign_id, CampaignStatus.RUNNING, allowed, fields)]


def _start(rt: Runtime, campaign_id: str, now: datetime, allowed: set[CampaignStatus]) -> None:
    try:
        rt.store.transact(_start_ops(rt, campaign_id, now, allowed))
    except ConcurrentWriteError as error:
        raise InvalidRequestError("the campaign was launched meanwhile") from error
    _queue_plans(rt, campaign_id)
    logger.info("Campaign launched", extra={"campaign_id": campaign_id})


def _queue_plans(rt: Runtime, campaign_id: str, only_unfinished: bool = False) -> None:
    campaign = get(rt, campaign_id)
    total = campaign.segments_total or rt.settings.campaign_scan_segments
    segments = [i for i in range(total)
                if not only_unfinished or not rt.store.campaigns.get_plan(campaign_id, i)["done"]]
    rt.plan_queue.send_all({"campaign_id": campaign_id, "segment": i, "segments": total} for i in segments)


def pause(rt: Runtime, campaign_id: str, now: datetime) -> Campaign:
    try:
        rt.store.campaigns.set_status(campaign_id, CampaignStatus.PAUSED,
                                      {CampaignStatus.RUNNING, CampaignStatus.SCHEDULED}, {"paused_at": now})
    except ConcurrentWriteError as error:
        raise InvalidRequestError(f"campaign is {get(rt, campaign_id).status.value}; only a running or scheduled "
                                  "campaign can be paused") from error
    return get(rt, campaign_id)


def resume(rt: Runtime, campaign_id: str, now: datetime) -> Campaign:
    campaign = get(rt, campaign_id)
    if campaign.status == CampaignStatus.RUNNING:  # a nudge: queue again whatever is unfinished (a lost message)
        _queue_plans(rt, campaign_id, only_unfinished=True)
        requeue(rt, campaign_id, now)
        return get(rt, campaign_id)
    if campaign.status != CampaignStatus.PAUSED:
        raise InvalidRequestError(f"campaign is {campaign.status.value}; only a paused or running campaign can be "
                                  "resumed")
    if campaign.segments_total == 0:  # paused before its send time: scheduled again (its timer is still pending)
        rt.store.campaigns.set_status(campaign_id, CampaignStatus.SCHEDULED, {CampaignStatus.PAUSED})
        return get(rt, campaign_id)
    rt.store.campaigns.set_status(campaign_id, CampaignStatus.RUNNING, {CampaignStatus.PAUSED}, {"resumed_at": now})
    requeue(rt, campaign_id, now)
    rt.store.campaigns.complete_if_finished(campaign_id, now)
    return get(rt, campaign_id)


def requeue(rt: Runtime, campaign_id: str, now: datetime, everything: bool = True) -> int:
    """Queue chunks that are not done again. `everything`: also those whose message may simply still be in the queue
    (resume: a message may have been lost); else only parked ones and ones whose sender died (expired lease). A
    chunk queued twice is harmless: one sender holds its lease, and per-address reservations stop a second copy."""
    def wanted(chunk: Chunk) -> bool:
        return everything or chunk.state == ChunkState.PARKED or \
            (chunk.lease_until is not None and chunk.lease_until < now)

    queued = rt.send_queue.send_all({"campaign_id": campaign_id, "chunk_id": chunk.chunk_id}
                                    for chunk in rt.store.campaigns.chunks(campaign_id,
                                                                           {ChunkState.PARKED, ChunkState.QUEUED})
                                    if wanted(chunk))
    logger.info("Campaign chunks queued again", extra={"campaign_id": campaign_id, "chunks": queued})
    return queued


def fire_requeue(rt: Runtime, timer: Timer, now: datetime) -> str:
    """Queue the parked chunks, then end the timer (a crash in between queues them again: harmless)."""
    campaign = rt.store.campaigns.get(timer.subject_id)
    outcome = "campaign not running"
    if campaign is not None and campaign.status == CampaignStatus.RUNNING:
        outcome = f"{requeue(rt, timer.subject_id, now, everything=False)} chunks queued"
    _end_timer(rt, timer, now)
    return outcome


def schedule_requeue(rt: Runtime, campaign_id: str, at: datetime, now: datetime) -> None:
    """A durable timer that re-queues the campaign's parked chunks at `at` (one per campaign and moment)."""
    timer = Timer(timer_id=f"{campaign_id}-requeue-{int(at.timestamp())}", kind=REQUEUE_TIMER, subject_id=campaign_id,
                  reference=campaign_id, due_at=at, created_at=now)
    try:
        rt.store.transact([rt.store.flows.timer_create_op(timer)])
    except ConcurrentWriteError:
        pass  # another sender parked a chunk for the same moment: one timer serves both


# ---------------------------------------------------------------- planning


def plan_segment(rt: Runtime, campaign_id: str, segment: int, segments_total: int, now: datetime,
                 time_left: Callable[[], float]) -> str:
    """Walk one scan segment of the contacts table from its saved cursor, one chunk per page."""
    store = rt.store
    campaign = store.campaigns.get(campaign_id)
    if campaign is None or campaign.status in (CampaignStatus.CANCELLED, CampaignStatus.COMPLETED):
        return "campaign not active"
    matcher = segments.compile_segment(segments.parse_segment(campaign.segment), rt.settings.timezone,
                                       lead_scoring.score_getter(rt.settings))
    plan = store.campaigns.get_plan(campaign_id, segment)
    pages = int(plan["pages"])
    if pages:  # a previous attempt may have died between writing its last chunk and queueing it (a page without
        # matches has no chunk: the sender drops that message as "missing")
        rt.send_queue.send_all([{"campaign_id": campaign_id, "chunk_id": chunk_id_of(segment, pages - 1)}])
    if plan["done"]:
        store.campaigns.complete_if_finished(campaign_id, now)
        return "segment already planned"
    cursor = json.loads(plan["cursor"]) if plan.get("cursor") else None
    while True:
        if time_left() < 30:
            rt.plan_queue.send_all([{"campaign_id": campaign_id, "segment": segment, "segments": segments_total}])
            return "continued in a new invocation"
        contacts, cursor = store.scan_contacts_page(segment, segments_total, cursor, rt.settings.campaign_chunk_size)
        matched = [c.contact_id for c in contacts if matcher(c, now)]
        done = cursor is None
        chunk = Chunk(campaign_id=campaign_id, chunk_id=chunk_id_of(segment, pages), contact_ids=matched)
        ops = [store.campaigns.plan_step_op(campaign_id, segment, pages, cursor, done)]
        if matched:
            ops.append(store.campaigns.create_chunk_op(chunk))
        counter = store.campaigns.count_op(campaign_id, {"audience": len(matched)}, chunks_total=1 if matched else 0,
                                           segments_done=1 if done else 0)
        if counter:
            ops.append(counter)
        store.transact(ops)
        pages += 1
        if matched:
            rt.send_queue.send_all([{"campaign_id": campaign_id, "chunk_id": chunk.chunk_id}])
        if done:
            store.campaigns.complete_if_finished(campaign_id, now)
            return f"planned {pages} pages"
