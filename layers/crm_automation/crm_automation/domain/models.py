"""The CRM records the workflows act on. Plain pydantic models: no AWS, no I/O.

Times are timezone-aware UTC datetimes; money is Decimal. ``version`` is the optimistic-locking counter the
repositories check on every write, so two writers never overwrite each other's changes silently.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field


def _aware(value: datetime) -> datetime:
    if value.tzinfo is None:
        raise ValueError("timestamp must include a timezone (e.g. 2026-01-31T09:00:00Z)")
    return value.astimezone(UTC)


UtcDatetime = Annotated[datetime, AfterValidator(_aware)]


class Lifecycle(StrEnum):
    LEAD = "lead"
    CUSTOMER = "customer"
    FORMER_CUSTOMER = "former_customer"


class MarketingStatus(StrEnum):
    SUBSCRIBED = "subscribed"
    UNSUBSCRIBED = "unsubscribed"
    DO_NOT_CONTACT = "do_not_contact"  # "Nezasílat marketing"


class EmailStatus(StrEnum):
    OK = "ok"
    BOUNCED = "bounced"  # hard bounce
    COMPLAINED = "complained"


class DealStatus(StrEnum):
    OPEN = "open"
    WON = "won"
    LOST = "lost"
    POSTPONED = "postponed"  # "Odloženo"
    PAUSED = "paused"  # "Pozastaveno"


# A deal that is not closed keeps the contact "in play": such a contact is never inactive.
NOT_CLOSED_DEAL_STATUSES = frozenset({DealStatus.OPEN, DealStatus.POSTPONED, DealStatus.PAUSED})


class SatisfactionLevel(StrEnum):
    """Where a satisfaction value ("Spokojenost") sits on the configured scale (settings.satisfaction_scale)."""

    CRITICAL = "critical"  # "Vysoká nespokojenost": escalates
    NEGATIVE = "negative"
    NEUTRAL = "neutral"
    POSITIVE = "positive"


class ActivityKind(StrEnum):
    EMAIL_OUT = "email_out"
    EMAIL_IN = "email_in"  # an inbound e-mail or a reply
    CALL = "call"
    MEETING = "meeting"
    NOTE = "note"
    TICKET = "ticket"  # a helpdesk ticket
    COMPLAINT = "complaint"  # "Stížnost"
    PURCHASE = "purchase"
    FORM = "form"
    OPEN = "open"
    CLICK = "click"
    BOUNCE = "bounce"
    SPAM_COMPLAINT = "spam_complaint"  # the recipient marked a marketing e-mail as spam (SES complaint feedback)
    UNSUBSCRIBE = "unsubscribe"
    CHAT = "chat"  # a chatbot conversation: contact details given, an intent expressed
    PAGE_VIEW = "page_view"  # a tracked visit of a web page (lead scoring)
    AD_VIEW = "ad_view"  # an ad impression reported by an ad platform (lead scoring; not a sign of life)
    CONSENT = "consent"  # a consent given, confirmed or withdrawn (the ledger holds the details)


INBOUND_KINDS = frozenset({ActivityKind.EMAIL_IN, ActivityKind.TICKET, ActivityKind.COMPLAINT, ActivityKind.FORM,
                           ActivityKind.OPEN, ActivityKind.CLICK, ActivityKind.PURCHASE, ActivityKind.BOUNCE,
                           ActivityKind.CHAT, ActivityKind.PAGE_VIEW, ActivityKind.AD_VIEW, ActivityKind.CONSENT})
# What the team lead of an escalation reads first: the client's own words about problems.
COMPLAINT_KINDS = frozenset({ActivityKind.TICKET, ActivityKind.COMPLAINT})


class TaskStatus(StrEnum):
    OPEN = "open"
    DONE = "done"
    CANCELLED = "cancelled"


class Consent(BaseModel):
    """A marketing consent as recorded (GDPR): what was agreed, when, where, with which wording."""

    model_config = ConfigDict(extra="forbid")
    granted: bool
    purpose: str = "marketing"
    at: UtcDatetime | None = None
    source: str | None = Field(None, max_length=200)
    text_version: str | None = Field(None, max_length=100)


class ConsentRequest(BaseModel):
    """A consent given on a form or in a chat that waits for the double opt-in: it counts only once the recipient
    confirms it through the signed link in the confirmation e-mail (the ledger entry ``entry_id`` holds the details)."""

    request_id: str
    entry_id: str  # the ledger entry of the request (pending)
    purpose: str = "marketing"
    text_version: str | None = None
    source: str
    requested_at: UtcDatetime


class LeadCapture(BaseModel):
    """The latest arrival of the contact through a form, the chatbot or a list import (lead.captured)."""

    capture_id: str  # stable per submission / chatbot event / import row: a replay is recognised
    channel: Literal["form", "chatbot", "import"]
    source: str  # e.g. "form:kontakt", "chatbot", "import:veletrh-2026.csv"
    at: UtcDatetime
    utm: dict[str, str] = Field(default_factory=dict)


class LeadScore(BaseModel):
    """The lead score's parts (seed 004): profile points are recomputed from the record, behaviour points decay
    with time (``behaviour`` is their value at ``at``)."""

    profile: int = 0
    behaviour: float = 0.0
    at: UtcDatetime
    days: dict[str, dict[str, int]] = Field(default_factory=dict)  # points counted per local day and kind (daily caps)


class InactivityState(BaseModel):
    """The contact's place in the inactivity workflow (seed 001)."""

    enrolment_id: str
    started_at: UtcDatetime
    last_activity_at: UtcDatetime  # the last activity that made the contact inactive
    task_id: str
    timer_id: str
    state: Literal["waiting", "followed_up", "exited"] = "waiting"
    outcome: str | None = None  # e-mail sent / vip call / archive proposed / e-mail skipped / reactivated ...
    skip_reason: str | None = None  # why no e-mail went (the suppression reason), when skipped
    ended_at: UtcDatetime | None = None


class Escalation(BaseModel):
    """One dissatisfaction escalation (product brief workflow 2): who rated, when, why, and how it was resolved."""

    escalation_id: str
    state: Literal["open", "resolved"] = "open"
    opened_at: UtcDatetime
    satisfaction: str  # the rating that escalated
    rated_at: UtcDatetime  # when that rating was given (identifies it: one escalation per rating)
    rated_by: str | None = None  # the user, or "activity:<id>" when the helpdesk rated through a ticket
    lead: str  # the team lead who got the task
    task_id: str
    resolved_at: UtcDatetime | None = None
    resolved_by: str | None = None
    resolution: Literal["satisfaction", "task"] | None = None  # satisfaction back to neutral/positive, or the lead
    resolution_note: str | None = None


class MarketingPause(BaseModel):
    """Automated marketing is paused for the contact (a salesperson can still write by hand)."""

    reason: str
    source: Literal["escalation"] = "escalation"
    reference: str  # e.g. the escalation id
    since: UtcDatetime


Scalar = str | int | float | bool | Decimal | None


class DealBrief(BaseModel):
    """What a contact's record keeps of each of its deals, so a segment can filter on deal status and loss reason
    without reading the deals table (kept in step by the CRM service on every deal write)."""

    deal_id: str
    status: DealStatus
    loss_reason: str | None = None  # "Důvod ztráty"


class Contact(BaseModel):
    contact_id: str
    first_name: str | None = None
    last_name: str | None = None  # forms and chatbots may give only an e-mail
    email: str | None = None
    phone: str | None = None
    company: str | None = None
    company_fields: dict[str, Scalar] = Field(default_factory=dict)  # e.g. {"industry": "Strojírenství", "employees": 120}
    owner: str
    tags: list[str] = Field(default_factory=list)
    categories: list[str] = Field(default_factory=list)
    custom_fields: dict[str, Scalar] = Field(default_factory=dict)
    satisfaction: str | None = None  # "Spokojenost", a value of the configured scale
    satisfaction_level: SatisfactionLevel | None = None
    satisfaction_at: UtcDatetime | None = None
    satisfaction_by: str | None = None  # who gave the rating: a user, or "activity:<id>" (helpdesk ticket)
    escalation: Escalation | None = None  # the latest escalation, open or resolved
    escalation_history: list[Escalation] = Field(default_factory=list)  # earlier ones, oldest first
    marketing_pause: MarketingPause | None = None
    lifecycle: Lifecycle = Lifecycle.LEAD
    marketing_status: MarketingStatus = MarketingStatus.SUBSCRIBED
    marketing_consent: Consent | None = None
    email_status: EmailStatus = EmailStatus.OK
    archived: bool = False
    archive_proposed: str | None = None  # reason why a workflow proposes archiving
    last_activity_at: UtcDatetime
    lifetime_revenue: Decimal = Decimal("0")
    open_deal_ids: list[str] = Field(default_factory=list)
    deals: list[DealBrief] = Field(default_factory=list)  # every deal of the contact, open or closed
    lead_score: int = 0  # the score when it was last computed (see `score` for its parts)
    score: LeadScore | None = None
    qualified_at: UtcDatetime | None = None  # when the score first crossed the threshold (lead.qualified)
    lead_source: str | None = None  # where the contact first came from ("form:kontakt", "chatbot", "import:...")
    utm: dict[str, str] = Field(default_factory=dict)  # the first capture's UTM parameters (first touch)
    last_capture: LeadCapture | None = None
    consents: dict[str, Consent] = Field(default_factory=dict)  # consents for purposes other than "marketing"
    pending_consent: ConsentRequest | None = None  # a consent waiting for its double opt-in confirmation
    archived_at: UtcDatetime | None = None
    archive_reason: str | None = None  # why it was archived (POST /contacts/{id}/archive)
    inactivity: InactivityState | None = None
    created_at: UtcDatetime
    updated_at: UtcDatetime
    version: int = 0

    @property
    def name(self) -> str:
        return " ".join(p for p in (self.first_name, self.last_name) if p)

    def has_tag(self, tag: str) -> bool:
        return tag in self.tags

    def with_tag(self, tag: str) -> list[str]:
        return self.tags if tag in self.tags else [*self.tags, tag]

    def without_tag(self, tag: str) -> list[str]:
        return [t for t in self.tags if t != tag]

    def with_category(self, category: str) -> list[str]:
        return self.categories if category in self.categories else [*self.categories, category]

    def without_category(self, category: str) -> list[str]:
        return [c for c in self.categories if c != category]

    @property
    def escalation_open(self) -> bool:
        return self.escalation is not None and self.escalation.state == "open"


class DealReactivation(BaseModel):
    """A deal's pass through the dead-deal reactivation (seed 002): e-mail, a 14-day wait, then a call task."""

    enrolment_id: str
    trigger: Literal["postponed", "stale"]  # status became "Odloženo" / no activity for 90 days
    started_at: UtcDatetime
    last_activity_at: UtcDatetime  # the deal's last activity when it was enrolled
    state: Literal["sending", "waiting", "called", "ended"] = "sending"
    send_timer_id: str
    wait_timer_id: str | None = None
    email: Literal["sent", "skipped", "unknown", "failed"] | None = None
    email_at: UtcDatetime | None = None
    skip_reason: str | None = None  # why no e-mail went (suppression reason)
    task_id: str | None = None
    outcome: str | None = None  # call_task / reaction / status_changed
    ended_at: UtcDatetime | None = None


class Attribution(BaseModel):
    """The workflow enrolment a new deal is credited to (reports: "new deals" of a workflow)."""

    workflow: str  # "inactivity" or "deal_reactivation"
    enrolment_id: str
    started_at: UtcDatetime


CLOSED_DEAL_STATUSES = frozenset({DealStatus.WON, DealStatus.LOST})


def closed_at_after(before: Deal | None, after: Deal, now: datetime) -> datetime | None:
    """When the deal was closed (won or lost), as it must be stored after a write; None while it is not closed.
    Set to `now` when the status becomes won/lost from another status (a new deal already won/lost: the given
    closed_at, else its created_at); kept while it stays closed (a deal closed before closed_at existed gets the
    time of its last write, so its month does not move with every later edit); cleared when it leaves won/lost."""
    if after.status not in CLOSED_DEAL_STATUSES:
        return None
    if before is None:
        return after.closed_at or after.created_at
    if before.status != after.status:
        return now
    return before.closed_at or before.updated_at


class Deal(BaseModel):
    deal_id: str
    contact_id: str
    owner: str
    title: str
    value: Decimal = Decimal("0")
    currency: str = "CZK"
    status: DealStatus = DealStatus.OPEN
    loss_reason: str | None = None  # "Důvod ztráty"
    product: str | None = None  # "Produkt"
    closed_at: UtcDatetime | None = None  # when it became won / lost (see closed_at_after); None while not closed
    industry: str | None = None  # the contact's industry when the deal was last written (a snapshot for reports)
    attribution: Attribution | None = None  # the workflow enrolment that brought the deal (set on create only)
    last_activity_at: UtcDatetime
    reactivation: DealReactivation | None = None  # the latest pass through the reactivation flow
    reactivation_history: list[DealReactivation] = Field(default_factory=list)  # earlier ones, oldest first
    # the contact archived (or erased): the deal leaves the dead-deal scan and the reactivation flow
    contact_status: Literal["active", "archived", "erased"] = "active"
    created_at: UtcDatetime
    updated_at: UtcDatetime
    version: int = 0

    @property
    def is_open(self) -> bool:
        return self.status in NOT_CLOSED_DEAL_STATUSES

    @property
    def in_reactivation(self) -> bool:
        return self.reactivation is not None and self.reactivation.state in ("sending", "waiting")


class Activity(BaseModel):
    activity_id: str
    contact_id: str
    deal_id: str | None = None
    kind: ActivityKind
    direction: Literal["in", "out", "internal"]
    occurred_at: UtcDatetime
    subject: str | None = None
    summary: str | None = None
    amount: Decimal | None = None  # purchases
    satisfaction: str | None = None  # a rating given with the activity (e.g. by the helpdesk on a ticket)
    automated: bool = False  # sent or recorded by a workflow, not by a person or the contact
    workflow: str | None = None
    created_at: UtcDatetime

    @property
    def counts_as_activity(self) -> bool:
        """Does this activity show the contact is alive? Automated outbound mail and bounces do not."""
        return not self.automated and self.kind not in (ActivityKind.BOUNCE, ActivityKind.SPAM_COMPLAINT,
                                                         ActivityKind.UNSUBSCRIBE)


class Task(BaseModel):
    task_id: str
    owner: str
    title: str
    description: str = ""
    due_date: date
    status: TaskStatus = TaskStatus.OPEN
    contact_id: str | None = None
    deal_id: str | None = None
    workflow: str | None = None  # the workflow that made it ("inactivity", "inactivity_vip", ...)
    kind: Literal["task", "call"] = "task"
    created_at: UtcDatetime
    completed_at: UtcDatetime | None = None
    completed_by: str | None = None
    resolution: str | None = None
    resolved: bool | None = None  # escalation tasks: the lead marked the situation resolved
    version: int = 0


class Timer(BaseModel):
    """A durable, cancellable timer. Pending timers sit in the sparse DueTimers index until fired or cancelled."""

    timer_id: str
    kind: str  # which service fires it, e.g. "inactivity_followup"
    subject_id: str  # e.g. the contact id
    reference: str  # e.g. the enrolment id: a timer only acts on the enrolment that created it
    due_at: UtcDatetime
    state: Literal["pending", "fired", "cancelled"] = "pending"
    created_at: UtcDatetime
    ended_at: UtcDatetime | None = None
    note: str | None = None
