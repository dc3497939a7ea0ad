"""Campaigns (product brief workflow 4): a segment, a template, a sender, an optional send time; launched, the
audience is cut into chunks that a rate-limited sender works through, each recipient getting at most one copy.

Pure models and decisions; the services do the I/O.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, Field

from crm_automation.domain.addresses import AddressRecord
from crm_automation.domain.models import Contact, UtcDatetime
from crm_automation.domain.suppression import SuppressionReason, marketing_suppression


class CampaignStatus(StrEnum):
    DRAFT = "draft"
    SCHEDULED = "scheduled"  # launched with a send time in the future
    RUNNING = "running"
    PAUSED = "paused"
    COMPLETED = "completed"
    CANCELLED = "cancelled"


class Progress(BaseModel):
    audience: int = 0  # contacts matching the segment (counted while planning)
    sent: int = 0
    failed: int = 0  # SES refused the message
    waiting: int = 0  # held back by the send window or a pause
    suppressed_by_reason: dict[str, int] = Field(default_factory=dict)
    unsubscribed: int = 0  # unsubscribes through this campaign's links
    bounced: int = 0
    complaints: int = 0
    opens: int = 0  # Open events (a recipient opening twice counts twice)
    clicks: int = 0  # Click events
    delivered: int = 0  # messages SES delivered (Delivery events, once per message)
    opened: int = 0  # messages opened at least once (unique recipients: one recipient per message)
    clicked: int = 0  # messages with at least one click

    @property
    def suppressed(self) -> int:
        return sum(self.suppressed_by_reason.values())

    @property
    def queued(self) -> int:
        return max(0, self.audience - self.sent - self.failed - self.suppressed - self.waiting)

    def view(self) -> dict[str, Any]:
        return self.model_dump() | {"suppressed": self.suppressed, "queued": self.queued}


class Campaign(BaseModel):
    campaign_id: str
    name: str
    template: str
    locale: Literal["cs", "en"] = "cs"
    segment: dict[str, Any]  # the filter AST (domain.segments), as stored
    segment_query: str  # the same filter in the text syntax
    sender: str | None = None  # an owner login: the e-mail comes in their name; None = the team sender
    send_at: UtcDatetime | None = None
    status: CampaignStatus = CampaignStatus.DRAFT
    created_at: UtcDatetime
    created_by: str | None = None
    launched_at: UtcDatetime | None = None
    completed_at: UtcDatetime | None = None
    segments_total: int = 0  # parallel scan segments the planner uses (set at launch)
    segments_done: int = 0
    chunks_total: int = 0
    chunks_done: int = 0
    progress: Progress = Field(default_factory=Progress)
    version: int = 0

    def view(self) -> dict[str, Any]:
        data = self.model_dump(mode="json", exclude={"version", "progress", "segments_total", "segments_done",
                                                     "chunks_total", "chunks_done"})
        return data | {"progress": self.progress.view()}


class ChunkState(StrEnum):
    QUEUED = "queued"
    PARKED = "parked"  # waiting for the send window or a resume; re-queued by a timer or by resume
    DONE = "done"


class Chunk(BaseModel):
    """A slice of the audience (one scan page of matches), processed by one sender at a time under a lease."""

    campaign_id: str
    chunk_id: str  # "<segment>-<page>", e.g. "03-000017"
    contact_ids: list[str]
    state: ChunkState = ChunkState.QUEUED
    lease_id: str | None = None
    lease_until: UtcDatetime | None = None
    attempts: int = 0
    sent: set[str] = Field(default_factory=set)  # address keys confirmed sent
    failed: set[str] = Field(default_factory=set)  # address keys SES refused
    skipped: dict[str, str] = Field(default_factory=dict)  # contact id -> suppression reason / "duplicate"
    ses_sent: set[str] = Field(default_factory=set)  # address keys SES reported sent (Send events), reconciles a crash
    waiting: int = 0  # recipients counted in the campaign's "waiting" while parked
    version: int = 0

    @property
    def settled(self) -> set[str]:
        return self.sent | self.failed


class Outcome(StrEnum):
    SEND = "send"
    SUPPRESSED = "suppressed"
    DUPLICATE = "duplicate"  # the address already has this campaign's copy, reserved through another contact/chunk
    DONE = "done"  # this chunk already recorded it
    UNCERTAIN = "uncertain"  # reserved by an earlier attempt of this chunk that died before recording


@dataclass(frozen=True)
class Decision:
    outcome: Outcome
    reason: SuppressionReason | None = None


def decide(contact: Contact, address: AddressRecord | None, campaign_id: str, chunk: Chunk, now: datetime,
           weekly_cap: int) -> Decision:
    """What to do for one recipient of a chunk, at send time."""
    if contact.contact_id in chunk.skipped:
        return Decision(Outcome.DONE)
    if address is not None and address.address_key in chunk.settled:  # recorded here (whatever the address keeps)
        return Decision(Outcome.DONE)
    if address is not None and campaign_id in address.sends:
        reserved = address.sends[campaign_id]
        if reserved.chunk != chunk.chunk_id:
            return Decision(Outcome.DUPLICATE)
        if address.address_key in chunk.settled:
            return Decision(Outcome.DONE)
        return Decision(Outcome.UNCERTAIN)
    reason = marketing_suppression(contact, address)
    if reason is not None:
        return Decision(Outcome.SUPPRESSED, reason)
    if weekly_cap and address is not None and address.sends_within(now) >= weekly_cap:
        return Decision(Outcome.SUPPRESSED, SuppressionReason.FREQUENCY_CAP)
    return Decision(Outcome.SEND)


def exclusion(contact: Contact, address: AddressRecord | None, now: datetime, weekly_cap: int) -> SuppressionReason | None:
    """The preview's question: would this contact be left out, and why."""
    reason = marketing_suppression(contact, address)
    if reason is None and weekly_cap and address is not None and address.sends_within(now) >= weekly_cap:
        return SuppressionReason.FREQUENCY_CAP
    return reason


def reconcile_at(address: AddressRecord, campaign_id: str, window: timedelta) -> datetime:
    """When an uncertain send may be decided as "not sent": SES publishes a Send event for every message it
    accepted; if none arrived within `window` of the reservation, the message never reached SES."""
    return address.sends[campaign_id].at + window


def chunk_id_of(segment: int, page: int) -> str:
    return f"{segment:02d}-{page:06d}"


@dataclass
class SendPacer:
    """Keeps one sender inside the shared per-second send rate.

    Tokens are granted per calendar second by the shared limiter (at most `limit` per second across all senders),
    and a token is only ever used in the second it was granted for: a send starts before that second ends (less a
    margin for the request's way to SES), so SES never sees more than `limit` sends in one second. To leave the rest
    of a second's tokens to other senders, a sender asks only for as many as it can use before the second ends, by
    its own measured send time.
    """

    limit: int
    margin: float = 0.05  # seconds before the end of a second after which no send starts on that second's token
    seconds_per_send: float = 0.05  # moving average of this sender's send time
    second: int = -1
    left: int = 0

    def ask(self, now: float, remaining: int) -> tuple[int, int] | None:
        """None: a token for this moment is in hand. Else (second, how many) to ask the limiter for; a second whose
        usable part is over asks for the next one."""
        second = int(now)
        if second == self.second and self.left > 0 and now < second + 1 - self.margin:
            return None
        if now >= second + 1 - self.margin:
            second += 1
            now = float(second)
        usable = second + 1 - self.margin - now
        want = 1 + int(usable / max(self.seconds_per_send, 0.001))
        return second, max(1, min(remaining, self.limit, want))

    def granted(self, second: int, tokens: int) -> None:
        self.second, self.left = second, tokens

    def sent(self, took: float) -> None:
        self.left -= 1
        self.seconds_per_send = 0.8 * self.seconds_per_send + 0.2 * max(took, 0.0)
