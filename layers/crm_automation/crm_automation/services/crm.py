"""The CRM side: what the HTTP API does with contacts, deals, activities and tasks.

Writes that touch two records (a deal and its contact's open-deal list) are one transaction. Imports may pass
past timestamps. Every input model forbids unknown fields, so a typo is an error that names the field.
"""

from __future__ import annotations

import uuid
from types import EllipsisType
from datetime import datetime
from decimal import Decimal
from typing import Annotated, Literal, TypeVar

from email_validator import EmailNotValidError, validate_email
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints, ValidationError

from crm_automation.domain import deal_reactivation
from crm_automation.domain.escalation import WORKFLOW as ESCALATION
from crm_automation.domain.escalation import normalise_satisfaction, rate
from crm_automation.domain.reports import attribution_for, industry_of
from crm_automation.domain.scoring import set_score
from crm_automation.domain.models import (
    CLOSED_DEAL_STATUSES,
    INBOUND_KINDS,
    Activity,
    ActivityKind,
    Consent,
    Contact,
    Deal,
    DealBrief,
    DealStatus,
    EmailStatus,
    Lifecycle,
    MarketingStatus,
    Task,
    TaskStatus,
    UtcDatetime,
    closed_at_after,
)
from crm_automation.errors import ConcurrentWriteError, ConflictError, GoneError, InvalidRequestError, NotFoundError
from crm_automation.services.runtime import Runtime
from crm_automation.services import scoring as lead_scoring
from crm_automation.domain.addresses import AddressRecord, address_key, normalise_email
from crm_automation.services.suppressions import write_through_ops
from crm_automation.services.consent import marketing_consent_ops
from crm_automation.settings import get_settings


def _email(value: str) -> str:
    try:
        # allow_smtputf8=False: SES sends only to ASCII local parts (an internationalised domain is fine: IDNA)
        return validate_email(value, check_deliverability=False, allow_smtputf8=False).normalized
    except EmailNotValidError as error:
        raise ValueError(str(error)) from error


def _satisfaction(value: str) -> str:
    return normalise_satisfaction(value, get_settings())[0]


Email = Annotated[str, AfterValidator(_email)]
Satisfaction = Annotated[str, AfterValidator(_satisfaction),
                         Field(description="A value of the satisfaction scale, e.g. \"Vysoká nespokojenost\"")]
Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200,
                                        pattern=r"^[^\x00-\x1f\x7f]+$")]  # no line breaks or control characters
Ident = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9._:@-]{0,127}$")]
Label = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class ContactIn(_In):
    contact_id: Ident | None = Field(None, description="Your id (imports); generated when absent")
    first_name: Name | None = None
    last_name: Name
    email: Email | None = None
    phone: Annotated[str, StringConstraints(max_length=40)] | None = None
    company: Name | None = None
    owner: Ident = Field(description="The salesperson who owns the contact")
    tags: list[Label] = Field(default_factory=list, max_length=100)
    categories: list[Label] = Field(default_factory=list, max_length=100)
    custom_fields: dict[Label, str | int | float | bool | None] = Field(default_factory=dict, max_length=100)
    company_fields: dict[Label, str | int | float | bool | None] = Field(default_factory=dict, max_length=100)
    lead_score: int = Field(0, ge=-100000, le=100000,
                            description="A score carried over (e.g. from an older CRM); it decays like behaviour points")
    satisfaction: Satisfaction | None = None
    lifecycle: Lifecycle = Lifecycle.LEAD
    marketing_status: MarketingStatus = MarketingStatus.SUBSCRIBED
    marketing_consent: Consent | None = None
    email_status: EmailStatus = EmailStatus.OK
    lifetime_revenue: Decimal = Field(Decimal("0"), ge=0)
    last_activity_at: UtcDatetime | None = Field(None, description="Past times are accepted for imports")
    created_at: UtcDatetime | None = Field(None, description="Past times are accepted for imports")


class ContactPatch(_In):
    first_name: Name | None = None
    last_name: Name | None = None
    email: Email | None = None
    phone: Annotated[str, StringConstraints(max_length=40)] | None = None
    company: Name | None = None
    owner: Ident | None = None
    tags: list[Label] | None = Field(None, max_length=100)
    categories: list[Label] | None = Field(None, max_length=100)
    custom_fields: dict[Label, str | int | float | bool | None] | None = Field(None, max_length=100)
    company_fields: dict[Label, str | int | float | bool | None] | None = Field(None, max_length=100)
    lead_score: int | None = Field(None, ge=-100000, le=100000,
                                   description="Set the score by hand; it decays like behaviour points")
    satisfaction: Satisfaction | None = Field(None, description="A changed value is a new rating; null clears it")
    lifecycle: Lifecycle | None = None
    marketing_status: MarketingStatus | None = None
    marketing_consent: Consent | None = None
    email_status: EmailStatus | None = None
    archived: bool | None = None
    lifetime_revenue: Decimal | None = Field(None, ge=0)


class DealIn(_In):
    deal_id: Ident | None = None
    contact_id: Ident
    owner: Ident | None = Field(None, description="Defaults to the contact's owner")
    title: Name
    value: Decimal = Field(Decimal("0"), ge=0)
    currency: Annotated[str, StringConstraints(pattern=r"^[A-Z]{3}$")] = "CZK"
    status: DealStatus = DealStatus.OPEN
    loss_reason: Label | None = None
    product: Label | None = Field(None, description="\"Produkt\": what the deal is about (reports segment by it)")
    closed_at: UtcDatetime | None = Field(None, description="When it was won or lost (imports; only with status "
                                                            "won or lost); defaults to created_at")
    last_activity_at: UtcDatetime | None = None
    created_at: UtcDatetime | None = None


class DealPatch(_In):
    owner: Ident | None = None
    title: Name | None = None
    value: Decimal | None = Field(None, ge=0)
    status: DealStatus | None = None
    loss_reason: Label | None = None
    product: Label | None = None


class ActivityIn(_In):
    activity_id: Ident | None = Field(None, description="Idempotency key: the same id twice records one activity")
    contact_id: Ident
    deal_id: Ident | None = None
    kind: ActivityKind
    direction: Literal["in", "out", "internal"] | None = Field(None, description="Derived from kind when absent")
    occurred_at: UtcDatetime | None = Field(None, description="Past times are accepted for imports")
    subject: Annotated[str, StringConstraints(max_length=500)] | None = None
    summary: Annotated[str, StringConstraints(max_length=5000)] | None = None
    amount: Decimal | None = Field(None, ge=0)
    satisfaction: Satisfaction | None = Field(None, description="A rating given with it, e.g. by the helpdesk")


class TaskCompletion(_In):
    completed_by: Ident | None = None
    resolution: Annotated[str, StringConstraints(max_length=2000)] | None = None
    resolved: bool | None = Field(None, description="Escalation tasks: true ends the escalation and its pause")


class ContactView(BaseModel):
    contact: Contact
    deals: list[Deal]
    activities: list[Activity]
    tasks: list[Task]


_Record = TypeVar("_Record", Contact, Deal)


def _patched(record: _Record, changes: dict, now: datetime) -> _Record:
    """The record with a PATCH applied, validated: a null for a field the record cannot be without (e.g.
    `"lifecycle": null`) is a 400 naming the fields, never a 500 or a stored record that no longer reads."""
    try:
        return record.model_validate(record.model_dump() | changes | {"updated_at": now})
    except ValidationError as error:
        fields = sorted({str(e["loc"][0]) for e in error.errors() if e.get("loc")})
        raise InvalidRequestError(f"{', '.join(fields) or 'body'}: null is not allowed here "
                                  "(leave a field out to keep its value)") from None


def _new_id(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:20]}"


def contact_holding(rt: Runtime, email: str, record: AddressRecord | None | EllipsisType = ...) -> Contact | None:
    """The contact that holds this e-mail (any letter case; plus-addressing is another address): the one that
    claimed its address record, else (contacts from before claims) the oldest found through the ByEmail index.
    `record`: the address record if already read (None: there is none)."""
    if record is ...:
        record = rt.store.addresses.get(address_key(email, rt.keys.address))
    wanted = normalise_email(email)
    if record is not None and record.contact_id:
        claimed = rt.store.contacts.get(record.contact_id)
        if claimed is not None and claimed.email and normalise_email(claimed.email) == wanted:
            return claimed
    found = [c for i in rt.store.contacts.ids_by_email(email) if (c := rt.store.contacts.get(i)) is not None
             and c.email and normalise_email(c.email) == wanted]
    return min(found, key=lambda c: (c.created_at, c.contact_id)) if found else None


def create_contact(rt: Runtime, data: ContactIn, now: datetime, caller: str | None = None) -> Contact:
    existing = contact_holding(rt, data.email) if data.email else None
    if existing is not None:
        raise ConflictError(f"a contact with this e-mail already exists: {existing.contact_id}")
    fields = data.model_dump(exclude={"contact_id", "last_activity_at", "created_at", "satisfaction"})
    created = data.created_at or now
    contact = Contact(
        contact_id=data.contact_id or _new_id("c"),
        last_activity_at=data.last_activity_at or created,
        created_at=created,
        updated_at=now,
        **fields,
    )
    if data.satisfaction:
        contact = rate(contact, data.satisfaction, now, caller, rt.settings)
    # a consent given with the contact goes to the consent ledger in the same transaction
    contact, consent_ops = marketing_consent_ops(rt, None, contact, now, caller)
    try:  # the contact claims its address in the same transaction: of two concurrent creates one wins
        return _save(rt, None, contact, now, consent_ops, claim=True)
    except ConcurrentWriteError:
        if data.email and (holder := contact_holding(rt, data.email)) is not None:
            raise ConflictError(f"a contact with this e-mail already exists: {holder.contact_id}") from None
        raise


def _save(rt: Runtime, before: Contact | None, contact: Contact, now: datetime,
          extra: list[dict] | tuple = (), *, claim: bool = False) -> Contact:
    """Save the contact, and in the same transaction mark its address with any opt-out or bounce it now carries,
    plus the `extra` operations of the same business event (e.g. consent ledger entries). `claim`: the contact
    also claims its address record (lead dedupe; conditioned on the record's version)."""
    # lead score from the record's completeness, qualification and the owner's task (docs/leads.md#lead-scoring)
    contact, scoring_ops = lead_scoring.scored(rt, contact, now)
    operations = [*write_through_ops(rt, before, contact, now, claim=claim), *scoring_ops, *extra]
    if not operations:
        return rt.store.contacts.save(contact, new=before is None)
    rt.store.transact([rt.store.contacts.save_op(contact, new=before is None), *operations])
    return contact.model_copy(update={"version": contact.version + 1})


def get_contact(rt: Runtime, contact_id: str) -> Contact:
    contact = rt.store.contacts.read(contact_id)
    if contact is None:
        raise NotFoundError(f"contact {contact_id} not found")
    if not isinstance(contact, Contact):  # the tombstone of an erased contact: 410
        raise GoneError(f"contact {contact_id} was erased")
    return contact


def update_contact(rt: Runtime, contact_id: str, patch: ContactPatch, now: datetime,
                   caller: str | None = None) -> Contact:
    contact = get_contact(rt, contact_id)
    changes = patch.model_dump(exclude_unset=True)
    if patch.email and patch.email != contact.email:
        holder = contact_holding(rt, patch.email)
        if (holder is not None and holder.contact_id != contact_id) or \
                any(i != contact_id for i in rt.store.contacts.ids_by_email(patch.email)):
            raise ConflictError("another contact already has this e-mail")
    rating_changed = "satisfaction" in changes and changes.pop("satisfaction") != contact.satisfaction
    if changes.get("lead_score", 0) is None:
        changes.pop("lead_score")  # null: no change
    updated = _patched(contact, changes, now)
    if rating_changed:  # the same value sent again (e.g. by a CRM sync) is not a new rating
        updated = rate(updated, patch.satisfaction, now, caller, rt.settings)
    if patch.lead_score is not None:  # a score set by hand: what lies above the profile points decays from now
        updated = set_score(updated, patch.lead_score, now, rt.settings.lead_scoring, rt.settings.timezone)
    # a changed consent goes to the consent ledger in the same transaction (the same one sent again does not)
    updated, consent_ops = marketing_consent_ops(rt, contact.marketing_consent, updated, now, caller)
    new_address = bool(updated.email) and normalise_email(updated.email or "") != normalise_email(contact.email or "")
    return _save(rt, contact, updated, now, consent_ops, claim=new_address)


def contact_view(rt: Runtime, contact_id: str, now: datetime | None = None) -> ContactView:
    """The contact with its deals, activities and tasks; the lead score as it stands at `now` (decayed)."""
    contact = get_contact(rt, contact_id)
    return ContactView(
        contact=lead_scoring.current(rt, contact, now) if now is not None else contact,
        deals=rt.store.deals.by_contact(contact_id),
        activities=rt.store.activities.by_contact(contact_id),
        tasks=rt.store.tasks.by_contact(contact_id),
    )


def _with_open_deal(contact: Contact, deal: Deal, now: datetime) -> Contact | None:
    """The contact with `deal` in or out of its open-deal list and with the deal's status and loss reason in its
    deal briefs (what campaign segments filter on), or None if nothing changes."""
    ids = [i for i in contact.open_deal_ids if i != deal.deal_id]
    if deal.is_open:
        ids.append(deal.deal_id)
    briefs = [b for b in contact.deals if b.deal_id != deal.deal_id]
    briefs.append(DealBrief(deal_id=deal.deal_id, status=deal.status, loss_reason=deal.loss_reason))
    if sorted(ids) == sorted(contact.open_deal_ids) and sorted(briefs, key=lambda b: b.deal_id) == \
            sorted(contact.deals, key=lambda b: b.deal_id):
        return None
    return contact.model_copy(update={"open_deal_ids": ids, "deals": briefs, "updated_at": now})


def create_deal(rt: Runtime, data: DealIn, now: datetime) -> Deal:
    contact = rt.store.contacts.get(data.contact_id)
    if contact is None:
        raise InvalidRequestError(f"contact_id: contact {data.contact_id} does not exist")
    if data.closed_at is not None and data.status not in CLOSED_DEAL_STATUSES:
        raise InvalidRequestError("closed_at: only a deal with status won or lost has a closing time")
    if data.closed_at is not None and data.closed_at > now:
        raise InvalidRequestError("closed_at: a deal cannot be closed in the future")
    created = data.created_at or now
    settings = rt.settings
    deal = Deal(
        deal_id=data.deal_id or _new_id("d"),
        owner=data.owner or contact.owner,
        contact_status="archived" if contact.archived else "active",  # an archived contact's deal is not reactivated
        last_activity_at=data.last_activity_at or created,
        created_at=created,
        updated_at=now,
        industry=industry_of(contact, settings.report_industry_field),
        **data.model_dump(exclude={"deal_id", "owner", "last_activity_at", "created_at"}),
    )
    others = [d for d in rt.store.deals.by_contact(contact.contact_id) if d.deal_id != deal.deal_id]
    deal = deal.model_copy(update={
        "closed_at": closed_at_after(None, deal, now),
        # the workflow enrolment that brought the deal (reports: a workflow's new deals); set once, here
        "attribution": attribution_for(contact, others, created, settings.report_attribution_days)})
    operations = [rt.store.deals.save_op(deal, new=True)]
    if (changed := _with_open_deal(contact, deal, now)) is not None:
        operations.append(rt.store.contacts.save_op(changed))
    rt.store.transact(operations)
    return deal.model_copy(update={"version": 1})


def get_deal(rt: Runtime, deal_id: str) -> Deal:
    deal = rt.store.deals.get(deal_id)
    if deal is None:
        raise NotFoundError(f"deal {deal_id} not found")
    return deal


def update_deal(rt: Runtime, deal_id: str, patch: DealPatch, now: datetime) -> Deal:
    deal = get_deal(rt, deal_id)
    updated = _patched(deal, patch.model_dump(exclude_unset=True), now)
    contact = rt.store.contacts.get(deal.contact_id)
    update: dict[str, object] = {"closed_at": closed_at_after(deal, updated, now)}
    if contact is not None:  # the industry snapshot follows the contact (an erased contact: keep the last one)
        update["industry"] = industry_of(contact, rt.settings.report_industry_field)
    updated = updated.model_copy(update=update)
    operations = []
    ending = deal_reactivation.status_changed(deal, updated, now)  # a status change ends a reactivation wait
    if ending is not None:
        updated = ending.deal
        if ending.cancel_timer_id:
            operations.append(rt.store.flows.timer_end_op(ending.cancel_timer_id, "cancelled", now,
                                                          note="deal status changed"))
    operations.append(rt.store.deals.save_op(updated))
    if contact is not None and (changed := _with_open_deal(contact, updated, now)) is not None:
        operations.append(rt.store.contacts.save_op(changed))
    rt.store.transact(operations)
    return updated.model_copy(update={"version": deal.version + 1})


def record_activity(rt: Runtime, data: ActivityIn, now: datetime) -> tuple[Activity, bool]:
    """Store the activity (its effects on contact and deal follow from the activities stream).
    Returns (activity, created); the same activity_id again is an idempotent replay."""
    if rt.store.contacts.get(data.contact_id) is None:
        raise InvalidRequestError(f"contact_id: contact {data.contact_id} does not exist")
    if data.deal_id:
        deal = rt.store.deals.get(data.deal_id)
        if deal is None or deal.contact_id != data.contact_id:
            raise InvalidRequestError(f"deal_id: deal {data.deal_id} does not exist for this contact")
    occurred = data.occurred_at or now
    if occurred > now:
        raise InvalidRequestError("occurred_at: an activity cannot happen in the future")
    activity = Activity(
        activity_id=data.activity_id or _new_id("a"),
        contact_id=data.contact_id,
        deal_id=data.deal_id,
        kind=data.kind,
        direction=data.direction or ("in" if data.kind in INBOUND_KINDS else
                                     "internal" if data.kind == ActivityKind.NOTE else "out"),
        occurred_at=occurred,
        subject=data.subject,
        summary=data.summary,
        amount=data.amount,
        satisfaction=data.satisfaction,
        created_at=now,
    )
    try:
        rt.store.activities.create(activity)
    except ConcurrentWriteError:
        existing = rt.store.activities.get(activity.activity_id)
        if existing is None:
            raise
        stored = Activity.model_validate(existing)
        if (stored.contact_id, stored.kind, stored.deal_id) != (activity.contact_id, activity.kind, activity.deal_id):
            raise ConflictError(f"activity_id {activity.activity_id} already exists with different content") from None
        return stored, False
    return activity, True


def list_tasks(rt: Runtime, owner: str | None, contact_id: str | None, status: TaskStatus | None) -> list[Task]:
    if owner:
        tasks = rt.store.tasks.by_owner(owner)
        if contact_id:
            tasks = [t for t in tasks if t.contact_id == contact_id]
    elif contact_id:
        tasks = rt.store.tasks.by_contact(contact_id)
    else:
        raise InvalidRequestError("owner or contact_id: give at least one of them")
    return [t for t in tasks if status is None or t.status == status]


def complete_task(rt: Runtime, task_id: str, data: TaskCompletion, now: datetime, caller: str | None) -> Task:
    task = rt.store.tasks.get(task_id)
    if task is None:
        raise NotFoundError(f"task {task_id} not found")
    if task.status == TaskStatus.DONE:
        return task  # completing twice is a no-op
    if task.status == TaskStatus.CANCELLED:
        raise ConflictError(f"task {task_id} was cancelled")
    if task.workflow == ESCALATION and data.resolved is None:
        raise InvalidRequestError("resolved: an escalation task needs it: true ends the escalation and the marketing "
                                  "pause, false keeps them until the client's satisfaction is neutral or positive")
    done = task.model_copy(update={"status": TaskStatus.DONE, "completed_at": now, "resolved": data.resolved,
                                   "completed_by": data.completed_by or caller, "resolution": data.resolution})
    return rt.store.tasks.save(done)
