"""Lead capture: one person, one contact, whichever way they arrive (form, chatbot, list import).

`upsert` is the one dedupe path. The key is the normalised e-mail (any letter case is one person; plus-addressing
is another address). A new contact claims its address record (`AddressRecord.contact_id`) in the same transaction
that creates it, conditioned on the version of the record read, so of two first arrivals of one address exactly one
creates the contact and the other re-reads the claim and updates the winner. Contacts from before claims are found
through the ByEmail index and claimed on their next write here.

Each capture has a `capture_id`; its marker (Flows table), the contact, the FORM / CHAT activity, the consent ledger
entry and the caller's own operations commit in one transaction, so a replay of the same capture writes nothing and
a crash leaves nothing half-written. An address suppression (erased, unsubscribed, do not contact, bounce,
complaint) is never lifted by a capture: the contact is created or updated, and the one suppression decision keeps
excluding it.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any, Literal
from urllib.parse import urlencode, urlsplit, urlunsplit

from aws_lambda_powertools.metrics import MetricUnit
from pydantic import (AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, StringConstraints,
                      ValidationError)

from crm_automation.adapters.leads import LeadsRepo
from crm_automation.domain.addresses import AddressReason, AddressRecord, address_key
from crm_automation.domain.consent import ConsentGiven
from crm_automation.adapters.secrets import secret_value
from crm_automation.domain.leads import (UTM_KEYS, Conversation, InvalidSignature, MalformedBody, PendingIntent,
                                         UnsupportedMediaType, activity_id_of, address_suppression,
                                         chatbot_capture_id, digest, form_capture_id, parse_body,
                                         rate_client, utm_of, verify_signature)
from crm_automation.domain.models import (Activity, ActivityKind, Contact, EmailStatus, LeadCapture, Lifecycle,
                                            MarketingStatus, UtcDatetime)
from crm_automation.domain.suppression import SuppressionReason
from crm_automation.errors import ConcurrentWriteError, TransientError
from crm_automation.observability import logger, metrics
from crm_automation.services import consent as consents
from crm_automation.services import crm
from crm_automation.services.crm import Email, Ident, Label, Name
from crm_automation.services.runtime import Runtime
from crm_automation.settings import FormConfig

Phone = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=40,
                                         pattern=r"^[^\x00-\x1f\x7f]+$")]
Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200,
                                        pattern=r"^[^\x00-\x1f\x7f]+$")]
FieldValue = str | int | float | bool | None

ATTEMPTS = 8


class LeadIn(BaseModel):
    """What a form, the chatbot or an import row says about a person."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)
    email: Email
    first_name: Name | None = None
    last_name: Name | None = None
    phone: Phone | None = None
    company: Name | None = None
    owner: Ident | None = Field(None, description="Owner of a new contact; default settings.default_lead_owner")
    tags: list[Label] = Field(default_factory=list, max_length=100)
    categories: list[Label] = Field(default_factory=list, max_length=100)
    custom_fields: dict[Label, FieldValue] = Field(default_factory=dict, max_length=100)
    company_fields: dict[Label, FieldValue] = Field(default_factory=dict, max_length=100)
    source: Text = Field(description='"form:<form_id>", "chatbot", "import:<name>"')
    channel: Literal["form", "chatbot", "import"]
    capture_id: Annotated[str, StringConstraints(min_length=1, max_length=300, pattern=r"^[^\x00-\x1f\x7f]+$")]
    utm: dict[Annotated[str, StringConstraints(max_length=50)], Annotated[str, StringConstraints(max_length=200)]] = \
        Field(default_factory=dict, max_length=10)
    consent: ConsentGiven | None = None
    at: UtcDatetime


@dataclass
class Upserted:
    contact: Contact  # as saved (a replay: as stored now)
    created: bool
    changed: bool  # False: an exact replay of capture_id (nothing written)
    suppressed: SuppressionReason | None  # the address's own suppression (erased, unsubscribed, ...), if any


Extra = Sequence[dict[str, Any]] | Callable[[Contact], Sequence[dict[str, Any]]]


def upsert(rt: Runtime, lead: LeadIn, now: datetime, *, activity: Activity | None = None,
           extra: Extra = ()) -> Upserted:
    """Create or update the one contact of `lead.email`, with the capture's activity, consent and `extra` operations
    in the same transaction.

    `activity`: the activity to record (its `activity_id` should derive from the capture id; its `contact_id` is
    replaced by the contact's). None: forms and the chatbot record a default FORM / CHAT activity
    (`domain.leads.activity_id_of(capture_id)`), imports none. `extra`: further operations of the same business
    event, or a function of the contact to be saved returning them (called again on each retry)."""
    repo = LeadsRepo(rt.store)
    marker_key = digest(lead.capture_id)
    key = address_key(lead.email, rt.keys.address)
    for attempt in range(ATTEMPTS):
        marker = repo.capture(marker_key)
        record = rt.store.addresses.get(key)
        if marker is not None:
            return _replay(rt, str(marker.get("contact_id", "")), lead, record)
        existing = crm.contact_holding(rt, lead.email, record)
        contact = _merged(existing, lead, now) if existing is not None else _new_contact(rt, lead, record, now)
        operations: list[dict[str, Any]] = []
        if lead.consent is not None:
            contact, consent_ops = consents.consent_ops(rt, contact, lead.consent, now)
            operations += consent_ops
        recorded = _activity(rt, lead, contact.contact_id, activity, now)
        if recorded is not None:
            operations.append(rt.store.activities.create_op(recorded))
        operations.append(repo.capture_op(marker_key, contact.contact_id, lead.channel, now))
        operations += list(extra(contact) if callable(extra) else extra)
        claim = record is None or record.contact_id != contact.contact_id
        try:
            saved = crm._save(rt, existing, contact, now, extra=operations, claim=claim)
        except ConcurrentWriteError:
            # a concurrent arrival of the same address or capture won: read again and update the winner
            if recorded is not None and rt.store.activities.get(recorded.activity_id) is not None:
                return _replay(rt, str(rt.store.activities.get(recorded.activity_id)["contact_id"]), lead, record)
            continue
        except TransientError:
            time.sleep(min(0.05 * 2 ** attempt, 1.0))
            continue
        return Upserted(saved, created=existing is None, changed=True, suppressed=address_suppression(record))
    raise TransientError("the contact of this address kept changing; retry")


def _replay(rt: Runtime, contact_id: str, lead: LeadIn, record: AddressRecord | None) -> Upserted:
    contact = rt.store.contacts.get(contact_id) if contact_id else None
    if contact is None:  # erased since the capture: the replay does not bring the person back
        contact = crm.contact_holding(rt, lead.email, record)
    return Upserted(contact, created=False, changed=False,  # type: ignore[arg-type]
                    suppressed=address_suppression(record))


def _capture(lead: LeadIn) -> LeadCapture:
    return LeadCapture(capture_id=lead.capture_id, channel=lead.channel, source=lead.source, at=lead.at,
                       utm=dict(lead.utm))


def _merged(contact: Contact, lead: LeadIn, now: datetime) -> Contact:
    """The existing contact with what the lead brings: nothing is blanked out, tags and categories are added,
    lifecycle and owner stay, lead source and UTM stay the first touch's. A list import (the marketer's own file)
    overwrites the fields it gives; a public form or the chatbot only fills fields that are empty, so whoever knows a
    client's e-mail cannot rename the client or change their phone through a public endpoint."""
    update: dict[str, Any] = {"updated_at": now, "last_capture": _capture(lead)}
    trusted = lead.channel == "import"
    for name in ("first_name", "last_name", "phone", "company"):
        if (value := getattr(lead, name)) is not None and (trusted or not getattr(contact, name)):
            update[name] = value
    update["tags"] = list(dict.fromkeys([*contact.tags, *lead.tags]))
    update["categories"] = list(dict.fromkeys([*contact.categories, *lead.categories]))
    if trusted:
        update["custom_fields"] = contact.custom_fields | lead.custom_fields
        update["company_fields"] = contact.company_fields | lead.company_fields
    else:
        update["custom_fields"] = lead.custom_fields | contact.custom_fields
        update["company_fields"] = lead.company_fields | contact.company_fields
    if contact.lead_source is None:
        update["lead_source"] = lead.source
        if not contact.utm:
            update["utm"] = dict(lead.utm)
    return contact.model_copy(update=update)


def _new_contact(rt: Runtime, lead: LeadIn, record: AddressRecord | None, now: datetime) -> Contact:
    """A new lead, first touch recorded. The address's own statuses (unsubscribed, do not contact, bounced,
    complained) show on the new contact too; the address record keeps them either way."""
    held = record.suppressions if record is not None else {}
    at = min(lead.at, now)
    marketing = (MarketingStatus.DO_NOT_CONTACT if AddressReason.DO_NOT_CONTACT in held else
                 MarketingStatus.UNSUBSCRIBED if AddressReason.UNSUBSCRIBED in held else MarketingStatus.SUBSCRIBED)
    email_status = (EmailStatus.BOUNCED if AddressReason.BOUNCED in held else
                    EmailStatus.COMPLAINED if AddressReason.COMPLAINT in held else EmailStatus.OK)
    return Contact(
        contact_id=f"c-{uuid.uuid4().hex[:20]}", first_name=lead.first_name, last_name=lead.last_name,
        email=lead.email, phone=lead.phone, company=lead.company, company_fields=dict(lead.company_fields),
        owner=lead.owner or rt.settings.default_lead_owner, tags=list(dict.fromkeys(lead.tags)),
        categories=list(dict.fromkeys(lead.categories)), custom_fields=dict(lead.custom_fields),
        lifecycle=Lifecycle.LEAD, marketing_status=marketing, email_status=email_status,
        lead_source=lead.source, utm=dict(lead.utm), last_capture=_capture(lead),
        last_activity_at=at, created_at=at, updated_at=now)


_SUBJECTS = {"cs": {"form": "Odeslaný formulář ({source})", "chatbot": "Chatbot: kontaktní údaje"},
             "en": {"form": "Form submitted ({source})", "chatbot": "Chatbot: contact details given"}}


def _activity(rt: Runtime, lead: LeadIn, contact_id: str, given: Activity | None, now: datetime, *,
              summary: str | None = None) -> Activity | None:
    """The capture's activity: `given` (for this contact), else the default FORM / CHAT one with `summary`."""
    if given is not None:
        return given.model_copy(update={"contact_id": contact_id})
    if lead.channel == "import":
        return None
    subjects = _SUBJECTS.get(rt.settings.locale, _SUBJECTS["cs"])
    return Activity(activity_id=activity_id_of(lead.capture_id), contact_id=contact_id,
                    kind=ActivityKind.FORM if lead.channel == "form" else ActivityKind.CHAT, direction="in",
                    occurred_at=min(lead.at, now), subject=subjects[lead.channel].format(source=lead.source),
                    summary=summary, workflow="lead_capture", created_at=now)


# -- the public form endpoint (POST /forms/{form_id}) ----------------------------------------------------------------

def _checkbox(value: Any) -> Any:
    if isinstance(value, str):
        lowered = value.strip().lower()
        if lowered in ("on", "1", "true", "yes", "ano", "y"):
            return True
        if lowered in ("0", "false", "off", "no", "ne", "n"):
            return False
    return value


def _web_url(value: str) -> str:
    try:
        parts = urlsplit(value)
    except ValueError as error:
        raise ValueError("not a URL") from error
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError("an absolute http(s) URL is expected")
    return value


Checkbox = Annotated[bool, BeforeValidator(_checkbox)]
Message = Annotated[str, StringConstraints(strip_whitespace=True, max_length=5000,
                                           pattern=r"^[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f]*$")]
Utm = Annotated[str, StringConstraints(strip_whitespace=True, max_length=200, pattern=r"^[^\x00-\x1f\x7f]*$")]
WebUrl = Annotated[str, StringConstraints(strip_whitespace=True, max_length=2000, pattern=r"^[^\x00-\x20\x7f]+$"),
                   AfterValidator(_web_url)]


class FormSubmission(BaseModel):
    """The fields a lead form may send (urlencoded or JSON). Unknown fields are refused, naming them."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)
    email: Email
    first_name: Name | None = None
    last_name: Name | None = None
    company: Name | None = None
    phone: Phone | None = None
    message: Message | None = None
    consent_marketing: Checkbox = Field(False, description="The marketing consent checkbox (double opt-in follows)")
    utm_source: Utm | None = None
    utm_medium: Utm | None = None
    utm_campaign: Utm | None = None
    utm_term: Utm | None = None
    utm_content: Utm | None = None
    page_url: WebUrl | None = Field(None, description="The page the form was on (UTM parameters are read from it)")
    submission_id: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9._:-]{1,100}$")] | None = Field(
        None, description="The client's id of this submission: the same id twice records one submission")
    redirect: WebUrl | None = Field(None, description="Thank-you page; only the form's allowed hosts")


@dataclass(frozen=True)
class FormRequest:
    form_id: str
    content_type: str | None
    accept: str
    body: bytes
    source_ip: str
    user_agent: str
    origin: str | None = None
    referer: str | None = None


@dataclass(frozen=True)
class FormResult:
    status: int  # 202 accepted (also a honeypot hit), 303 see other, 4xx
    html: bool  # answer with a page / a redirect rather than JSON
    location: str | None = None
    errors: tuple[dict[str, str], ...] = ()
    message: str = ""
    retry_after: int | None = None
    cors_origin: str | None = None


def form_config(rt: Runtime, form_id: str) -> FormConfig | None:
    return rt.settings.lead_forms.get(form_id)


def allowed_origin(form: FormConfig, origin: str | None) -> tuple[bool, str | None]:
    """(allowed, the value of Access-Control-Allow-Origin). No Origin header (a server, curl): allowed."""
    if not form.allowed_origins or not origin:
        return True, None
    if "*" in form.allowed_origins or origin in form.allowed_origins:
        return True, origin
    return False, None


def _html_client(accept: str, urlencoded: bool, form: FormConfig) -> bool:
    return "text/html" in accept.lower() or (urlencoded and form.redirect_url is not None)


def _errors(error: ValidationError) -> tuple[dict[str, str], ...]:
    return tuple({"field": ".".join(str(p) for p in e["loc"]) or "body", "message": e["msg"]}
                 for e in error.errors())


def _with_query(url: str, **params: str) -> str:
    parts = urlsplit(url)
    query = "&".join(filter(None, [parts.query, urlencode(params)]))
    return urlunsplit((parts.scheme, parts.netloc, parts.path, query, parts.fragment))


def _rate_limited(rt: Runtime, form_id: str, form: FormConfig, source_ip: str, now: datetime) -> int | None:
    """Seconds until the client may submit again, or None. Fixed one-minute windows per client (`rate_client`: an
    IPv6 address by its /64, as a keyed hash, never the address itself) and per form. The per-client limit is
    checked first: a client over its own limit counts nothing against the form, so one client cannot use up the
    form's budget for everyone (the price: a post refused by the form's limit still counts against its client)."""
    epoch = int(now.timestamp())
    window = epoch // 60
    retry = 60 - epoch % 60
    expires = (window + 1) * 60 + 3600
    repo = LeadsRepo(rt.store)
    ip_ref = address_key(rate_client(source_ip), rt.keys.address)[:32]
    if not repo.hit(f"form-ip:{form_id}:{ip_ref}", window, form.rate_per_ip_per_minute, expires):
        return retry
    if not repo.hit(f"form:{form_id}", window, form.rate_per_minute, expires):
        return retry
    return None


def submit_form(rt: Runtime, request: FormRequest, now: datetime) -> FormResult:
    """A lead form submission: drop bots, validate, rate-limit, upsert the lead with its FORM activity and (when the
    consent box is ticked) a pending double opt-in consent; decide the answer (202, a 303 to the thank-you page, or
    a 4xx naming the fields). Nothing is written before the input is valid (not even a rate counter)."""
    form = form_config(rt, request.form_id)
    if form is None:
        return FormResult(404, "text/html" in request.accept, message="unknown form")
    allowed, cors = allowed_origin(form, request.origin)
    if not allowed:
        return FormResult(403, "text/html" in request.accept, message="origin not allowed")
    try:
        fields, urlencoded = parse_body(request.content_type, request.body)
    except UnsupportedMediaType:
        return FormResult(415, "text/html" in request.accept, cors_origin=cors,
                          message="send application/x-www-form-urlencoded or application/json")
    except MalformedBody as error:
        status = 413 if str(error) == "too large" else 400
        return FormResult(status, "text/html" in request.accept, cors_origin=cors, message=f"body: {error}")
    html = _html_client(request.accept, urlencoded, form)
    success = _success(form, fields, html, cors)
    if fields.pop(form.honeypot_field, None) not in (None, ""):
        metrics.add_metric(name="LeadFormHoneypot", unit=MetricUnit.Count, value=1)
        logger.info("Lead form honeypot filled: ignored", extra={"form_id": request.form_id})
        # the success answer, its redirect only if allowed; a refused one gets the form's own (never the bot's)
        return success if not success.errors else _success(form, {}, html, cors)
    try:
        submission = FormSubmission.model_validate(fields)
    except ValidationError as error:
        return _invalid(form, html, cors, _errors(error))
    if success.errors:
        return success
    if (retry := _rate_limited(rt, request.form_id, form, request.source_ip, now)) is not None:
        metrics.add_metric(name="LeadFormRateLimited", unit=MetricUnit.Count, value=1)
        return FormResult(429, html, retry_after=retry, cors_origin=cors, message="too many submissions, retry later")
    lead = _form_lead(rt, request, form, submission, fields, now)
    activity = _activity(rt, lead, "", None, now, summary=submission.message)
    result = upsert(rt, lead, now, activity=activity)
    metrics.add_metric(name="LeadCaptured", unit=MetricUnit.Count, value=1 if result.changed else 0)
    logger.info("Lead form submission", extra={
        "form_id": request.form_id, "contact_id": result.contact.contact_id if result.contact else None,
        "new_contact": result.created, "new_capture": result.changed,
        "suppressed": result.suppressed.value if result.suppressed else None,
        "consent": submission.consent_marketing})
    return success


def _success(form: FormConfig, fields: dict[str, Any], html: bool, cors: str | None) -> FormResult:
    """The success answer (also what a bot filling the honeypot gets). A `redirect` field that
    `FormConfig.redirect_allowed` refuses is a 422 (no open redirect); the 303 goes only to an allowed `redirect`
    or to the form's own `redirect_url`."""
    wanted = fields.get("redirect")
    if wanted is not None and not (isinstance(wanted, str) and form.redirect_allowed(wanted.strip())):
        return _invalid(form, html, cors, ({"field": "redirect", "message": "host not allowed for this form"},))
    target = wanted.strip() if isinstance(wanted, str) else form.redirect_url
    if html and target:
        return FormResult(303, True, location=target, cors_origin=cors)
    return FormResult(202, html, cors_origin=cors)


def _invalid(form: FormConfig, html: bool, cors: str | None, errors: tuple[dict[str, str], ...]) -> FormResult:
    metrics.add_metric(name="LeadFormInvalid", unit=MetricUnit.Count, value=1)
    fields = ",".join(dict.fromkeys(e["field"] for e in errors))
    if html and form.error_url:
        return FormResult(303, True, location=_with_query(form.error_url, error="invalid", fields=fields),
                          errors=errors, cors_origin=cors)
    summary = "; ".join(f"{e['field']}: {e['message']}" for e in errors)
    return FormResult(422, html, errors=errors, cors_origin=cors, message=f"invalid request: {summary}")


def _form_lead(rt: Runtime, request: FormRequest, form: FormConfig, submission: FormSubmission,
               fields: dict[str, Any], now: datetime) -> LeadIn:
    source = form.source or f"form:{request.form_id}"
    page_url = submission.page_url or _safe_url(request.referer)
    utm = utm_of(submission.model_dump(include=set(UTM_KEYS)), page_url)
    hashed = {k: v for k, v in fields.items() if k not in ("submission_id", "redirect")}
    capture_id = form_capture_id(request.form_id, submission.email, hashed, now, submission.submission_id)
    consent = None
    if submission.consent_marketing:
        metadata = {"ip": request.source_ip, "user_agent": request.user_agent[:500], "form_id": request.form_id}
        if page_url:
            metadata["page_url"] = page_url[:2000]
        consent = ConsentGiven(granted=True, text_version=form.consent_text_version, source=source, channel="form",
                               at=now, metadata=metadata, double_opt_in=True)
    return LeadIn(email=submission.email, first_name=submission.first_name, last_name=submission.last_name,
                  phone=submission.phone, company=submission.company, owner=form.owner, tags=list(form.tags),
                  source=source, channel="form", capture_id=capture_id, utm=utm, consent=consent, at=now)


def _safe_url(value: str | None) -> str | None:
    if not value or len(value) > 2000:
        return None
    try:
        return _web_url(value)
    except ValueError:
        return None


# -- the chatbot webhook (POST /chatbot/events) ----------------------------------------------------------------------

EventRef = Annotated[str, StringConstraints(min_length=1, max_length=200, pattern=r"^[A-Za-z0-9._:@-]+$")]
MAX_PENDING_INTENTS = 20
MAX_CHATBOT_BODY = 64 * 1024


class ChatbotEvent(BaseModel):
    model_config = ConfigDict(extra="forbid")
    event_id: EventRef = Field(description="Unique per event: the same id twice is one event")
    type: Literal["conversation.started", "contact.provided", "intent.expressed"]
    conversation_id: EventRef
    occurred_at: UtcDatetime
    data: dict[str, Any] = Field(default_factory=dict)


class ConversationStarted(BaseModel):
    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True)  # chatbots add their own details
    page_url: WebUrl | None = None
    utm_source: Utm | None = None
    utm_medium: Utm | None = None
    utm_campaign: Utm | None = None
    utm_term: Utm | None = None
    utm_content: Utm | None = None


class ContactProvided(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)
    email: Email
    first_name: Name | None = None
    last_name: Name | None = None
    phone: Phone | None = None
    company: Name | None = None
    consent_marketing: bool = False
    consent_text_version: Annotated[str, StringConstraints(max_length=100)] | None = None


class IntentExpressed(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)
    intent: Text
    text: Message | None = None


@dataclass(frozen=True)
class ChatbotResult:
    status: int  # 202 accepted, 200 a replay (nothing new), 4xx
    message: str
    errors: tuple[dict[str, str], ...] = ()


def chatbot_secret(rt: Runtime) -> str:
    if rt.settings.chatbot_secret:
        return rt.settings.chatbot_secret
    if not rt.settings.chatbot_secret_arn:
        raise RuntimeError("no chatbot webhook secret configured (CHATBOT_SECRET_ARN)")
    return secret_value(rt.settings.chatbot_secret_arn)


def chatbot_event(rt: Runtime, signature: str | None, body: bytes, now: datetime) -> ChatbotResult:
    """One signed chatbot event. Unsigned, forged or stale: 401 and nothing written. Each event_id takes effect
    once: a replay answers 200 and writes nothing."""
    if len(body) > MAX_CHATBOT_BODY:
        return ChatbotResult(413, "body too large")
    try:
        verify_signature(signature, body, chatbot_secret(rt), now, rt.settings.chatbot_tolerance_seconds)
    except InvalidSignature as error:
        metrics.add_metric(name="ChatbotSignatureRefused", unit=MetricUnit.Count, value=1)
        logger.warning("Chatbot event refused", extra={"reason": str(error)})
        return ChatbotResult(401, "invalid signature")
    try:
        event = ChatbotEvent.model_validate_json(body)
        data: BaseModel = {"conversation.started": ConversationStarted, "contact.provided": ContactProvided,
                           "intent.expressed": IntentExpressed}[event.type].model_validate(event.data)
    except ValidationError as error:
        errors = _errors(error)
        return ChatbotResult(422, "invalid event: " + "; ".join(f"{e['field']}: {e['message']}" for e in errors),
                             errors)
    at = min(event.occurred_at, now)
    if isinstance(data, ConversationStarted):
        new = _conversation_started(rt, event, data, at, now)
    elif isinstance(data, ContactProvided):
        new = _contact_provided(rt, event, data, at, now)
    else:
        new = _intent_expressed(rt, event, data, at, now)  # type: ignore[arg-type]
    logger.info("Chatbot event", extra={"type": event.type, "event_id": event.event_id, "new": new})
    return ChatbotResult(202, "accepted") if new else ChatbotResult(200, "already processed")


def _conversation_started(rt: Runtime, event: ChatbotEvent, data: ConversationStarted, at: datetime,
                          now: datetime) -> bool:
    repo = LeadsRepo(rt.store)
    for _ in range(ATTEMPTS):
        conversation = repo.conversation(event.conversation_id) or Conversation(conversation_id=event.conversation_id)
        if conversation.start_event is not None:
            return False  # this start (or an earlier one) is recorded
        utm = utm_of(data.model_dump(include=set(UTM_KEYS)), data.page_url)
        started = conversation.model_copy(update={"started_at": at, "start_event": event.event_id,
                                                  "utm": conversation.utm or utm})
        try:
            rt.store.transact([repo.conversation_op(started, now)])
            return True
        except ConcurrentWriteError:
            continue
    raise TransientError("the conversation kept changing; retry")


def _contact_provided(rt: Runtime, event: ChatbotEvent, data: ContactProvided, at: datetime, now: datetime) -> bool:
    repo = LeadsRepo(rt.store)
    first = repo.conversation(event.conversation_id)
    consent = None
    if data.consent_marketing:
        consent = ConsentGiven(granted=True, text_version=data.consent_text_version, source="chatbot",
                               channel="chatbot", at=at, double_opt_in=True,
                               metadata={"conversation_id": event.conversation_id, "event_id": event.event_id})
    lead = LeadIn(email=data.email, first_name=data.first_name, last_name=data.last_name, phone=data.phone,
                  company=data.company, source="chatbot", channel="chatbot",
                  capture_id=chatbot_capture_id(event.event_id, event.type), utm=first.utm if first else {},
                  consent=consent, at=at)

    def link(contact: Contact) -> list[dict[str, Any]]:
        conversation = repo.conversation(event.conversation_id) or Conversation(conversation_id=event.conversation_id)
        # one Put per activity id (two of one item in a transaction is a ValidationException): ids derive from
        # the event type and event_id, so they differ; this only guards against a duplicate slipping in
        seen = {activity_id_of(lead.capture_id)}
        operations: list[dict[str, Any]] = []
        for pending in conversation.pending:
            activity = _intent_activity(rt, pending, contact.contact_id, now)
            if activity.activity_id not in seen:
                seen.add(activity.activity_id)
                operations.append(rt.store.activities.create_op(activity))
        linked = conversation.model_copy(update={"contact_id": contact.contact_id, "linked_at": now, "pending": []})
        return [*operations, repo.conversation_op(linked, now)]

    return upsert(rt, lead, now, extra=link).changed


def _intent_activity(rt: Runtime, intent: PendingIntent, contact_id: str, now: datetime) -> Activity:
    subject = ("Chatbot – záměr: {intent}" if rt.settings.locale == "cs" else "Chatbot – intent: {intent}").format(
        intent=intent.intent)
    return Activity(activity_id=activity_id_of(chatbot_capture_id(intent.event_id, "intent.expressed")),
                    contact_id=contact_id,
                    kind=ActivityKind.CHAT, direction="in", occurred_at=intent.at, subject=subject[:500],
                    summary=intent.text, workflow="lead_capture", created_at=now)


def _intent_expressed(rt: Runtime, event: ChatbotEvent, data: IntentExpressed, at: datetime, now: datetime) -> bool:
    repo = LeadsRepo(rt.store)
    intent = PendingIntent(event_id=event.event_id, intent=data.intent, text=data.text, at=at)
    for _ in range(ATTEMPTS):
        conversation = repo.conversation(event.conversation_id) or Conversation(conversation_id=event.conversation_id)
        if conversation.contact_id:
            if rt.store.contacts.get(conversation.contact_id) is None:
                return False  # the contact was erased: nothing more is recorded about them
            try:
                rt.store.activities.create(_intent_activity(rt, intent, conversation.contact_id, now))
                return True
            except ConcurrentWriteError:
                return False  # recorded before (a replay)
        if any(p.event_id == event.event_id for p in conversation.pending):
            return False
        pending = [*conversation.pending, intent][-MAX_PENDING_INTENTS:]
        try:
            rt.store.transact([repo.conversation_op(conversation.model_copy(update={"pending": pending}), now)])
            return True
        except ConcurrentWriteError:
            continue
    raise TransientError("the conversation kept changing; retry")
