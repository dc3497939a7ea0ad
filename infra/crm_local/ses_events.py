"""SES event publishing: configuration-set event destinations that publish to SNS, with the mailbox simulator.

In AWS, a send with a configuration set (``ConfigurationSetName`` of SESv2 ``SendEmail``, the identity's default
configuration set, or the ``X-SES-CONFIGURATION-SET`` header of a raw message) makes SES publish one JSON record
per event to every enabled event destination of that set whose ``MatchingEventTypes`` names the event type. This
module does the same for the template's ``AWS::SES::ConfigurationSetEventDestination`` resources with an
``SnsDestination``: after every invocation (where :class:`crm_local.mail.MailCollector` picks up the mail), the
messages moto stored since are turned into their events and published to the topic, so SNS delivers them to the
subscribed queues and :meth:`LocalCloud.settle` hands them to the functions like any other SQS message.

Events per recipient, honouring the SES mailbox simulator (also its ``+label`` forms)::

    anyone, success@ / ooto@simulator.amazonses.com   Send, Delivery
    bounce@simulator.amazonses.com                    Send, Bounce (Permanent / General, 5.1.1)
    complaint@simulator.amazonses.com                 Send, Delivery, Complaint (abuse)
    suppressionlist@simulator.amazonses.com           Send, Bounce (Permanent / OnAccountSuppressionList)

(one ``Send`` per message, then one record per recipient). What a recipient does later (an open, a click, a late
bounce or complaint) is published by :meth:`SesEventPublisher.recipient_action` (``LocalCloud.ses_event``).

Each record has SES's shape: ``eventType``, the ``mail`` object (``timestamp``, ``source``, ``sourceArn``,
``sendingAccountId``, ``messageId``, ``destination``, ``headersTruncated``, ``headers``, ``commonHeaders``,
``tags``) and the event's own object (``send``, ``delivery``, ``bounce`` ...). For SESv2 ``Simple`` content,
``headers`` and ``commonHeaders`` are those of the MIME message SES built (custom headers included, see
:mod:`crm_local.moto_patches`) before it added ``Date`` and ``Message-ID`` for delivery, as SES publishes them.
``mail.tags`` holds the caller's ``EmailTags`` as ``{"name": ["value"]}`` plus SES's automatic ``ses:*`` tags.
moto does not keep a send's ``ConfigurationSetName`` and ``EmailTags``: :mod:`crm_local.moto_patches` attaches the
SESv2 request to the message it stores. Every timestamp is on the emulation's clock. Not emulated: Reject (virus
scanning), RenderingFailure (templates), DeliveryDelay, Subscription, account-level suppression, sending quotas;
CloudWatch, Firehose and EventBridge destinations (skipped, logged at debug).
"""

from __future__ import annotations

import email
import email.policy
import json
import logging
import re
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from email.utils import getaddresses, parseaddr
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from crm_local import moto_patches

if TYPE_CHECKING:
    from crm_local.cloud import LocalCloud
    from crm_local.template import Template

log = logging.getLogger("crm_local.ses_events")

__all__ = [
    "EventDestination",
    "SentEmail",
    "SesEventPublisher",
    "event_destinations",
    "simulator_mailbox",
    "RECIPIENT_ACTIONS",
]

RECIPIENT_ACTIONS = ("Open", "Click", "Bounce", "Complaint")
SOURCE_IP = "127.0.0.1"  # ses:source-ip: where the send came from
RECIPIENT_IP = "192.0.2.1"  # open/click ipAddress (TEST-NET-1, as in AWS's examples)
CALLER_IDENTITY = "crm-local"  # ses:caller-identity: the IAM identity that sent (locally: no IAM)
DEFAULT_USER_AGENT = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) crm-local"
SIMULATOR_USER_AGENT = "Amazon SES Mailbox Simulator"

_SIMULATOR = re.compile(r"^(success|bounce|ooto|complaint|suppressionlist)(\+[^@]*)?@simulator\.amazonses\.com$", re.I)
_LINK = re.compile(r"""href\s*=\s*["'](https?://[^"']+)["']""", re.I)
_SUPPRESSED = (
    "Amazon SES did not send the message to this address because it is on the suppression list for your "
    "account. For more information about removing addresses from the suppression list, see the Amazon SES "
    "Developer Guide at https://docs.aws.amazon.com/ses/latest/dg/sending-email-suppression-list.html"
)
_BOUNCES: dict[str, tuple[str, str | None, str | None]] = {  # bounceType -> (bounceSubType, status, diagnosticCode)
    "Permanent": ("General", "5.1.1", "smtp; 550 5.1.1 user unknown"),
    "Transient": ("MailboxFull", "5.2.2", "smtp; 552 5.2.2 Mailbox full"),
    "Undetermined": ("Undetermined", None, None),
}


def simulator_mailbox(address: str) -> str | None:
    """``"bounce"``, ``"complaint"``, ``"suppressionlist"``, ``"ooto"`` or ``"success"`` for a mailbox simulator
    address (``bounce+label@simulator.amazonses.com`` too), else ``None``."""
    _, addr = parseaddr(address)
    match = _SIMULATOR.match((addr or address).strip())
    return match.group(1).lower() if match else None


def _iso(when: datetime) -> str:
    return when.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def _address(value: str) -> str:
    return (parseaddr(value)[1] or value).strip().lower()


def _unique(addresses: list[str]) -> list[str]:
    seen: set[str] = set()
    out = []
    for value in addresses:
        key = _address(value)
        if key and key not in seen:
            seen.add(key)
            out.append(value)
    return out


# ------------------------------------------------------------------------------------------------ destinations


@dataclass(frozen=True)
class EventDestination:
    """One ``AWS::SES::ConfigurationSetEventDestination`` with an ``SnsDestination``."""

    name: str
    configuration_set: str
    topic_arn: str
    event_types: frozenset[str]  # MatchingEventTypes, lower-case ("send", "renderingfailure" ...)
    enabled: bool

    def matches(self, configuration_set: str | None, event_type: str) -> bool:
        return self.enabled and configuration_set == self.configuration_set and event_type.lower() in self.event_types


def event_destinations(template: Template) -> list[EventDestination]:
    """The template's SNS event destinations (needs the configuration sets' and topics' refs filled in)."""
    out = []
    for lid in template.resources_of_type("AWS::SES::ConfigurationSetEventDestination"):
        props = template.resolve(template.resources[lid].get("Properties") or {})
        destination = props.get("EventDestination") or {}
        sns = destination.get("SnsDestination")
        if not sns:
            log.debug("%s: only SnsDestination event destinations are emulated; skipped", lid)
            continue
        out.append(
            EventDestination(
                name=str(destination.get("Name") or lid),
                configuration_set=str(props["ConfigurationSetName"]),
                topic_arn=str(sns["TopicARN"]),
                event_types=frozenset(str(t).lower() for t in destination.get("MatchingEventTypes") or []),
                enabled=str(destination.get("Enabled", False)).lower() == "true",  # CloudFormation's default: false
            )
        )
    return out


# ------------------------------------------------------------------------------------------------ sent mail


@dataclass
class SentEmail:
    """One message moto stored, with what its events need."""

    message_id: str
    destination: list[str]
    configuration_set: str | None
    sent_at: datetime
    mail: dict[str, Any]  # the ``mail`` object of its events
    links: list[str] = field(default_factory=list)  # http(s) links of its HTML (for a Click)

    def has_recipient(self, address: str) -> bool:
        wanted = _address(address)
        return any(_address(a) == wanted for a in self.destination)


class SesEventPublisher:
    """Turns sent mail into SES events and publishes them to the event destinations' topics."""

    def __init__(self, cloud: LocalCloud, destinations: list[EventDestination]) -> None:
        self.cloud = cloud
        self.destinations = destinations
        self.events: list[dict[str, Any]] = []  # every event published, in order
        self.sent: dict[str, SentEmail] = {}  # by SES message id, in sending order
        self._seen = 0

    def _backend(self) -> Any:
        from moto.ses.models import ses_backends

        return ses_backends[self.cloud.account_id][self.cloud.region]

    def collect(self) -> int:
        """Publish the events of the messages sent since the last call. Returns how many events were published."""
        backend = self._backend()
        new = backend.sent_messages[self._seen :]
        self._seen += len(new)
        published = 0
        for message in new:
            sent = self._record(message, backend)
            if sent is None:
                continue
            self.sent[sent.message_id] = sent
            for event in self._sending_events(sent):
                published += self._publish(sent, event)
        return published

    def message_ids(self, recipient: str) -> list[str]:
        self.collect()
        return [m.message_id for m in self.sent.values() if m.has_recipient(recipient)]

    # ------------------------------------------------------------------ events

    def _sending_events(self, sent: SentEmail) -> list[dict[str, Any]]:
        now = self.cloud.clock.now()
        events = [self._event("Send", sent, {})]
        for recipient in sent.destination:
            mailbox = simulator_mailbox(recipient)
            if mailbox == "bounce":
                events.append(self._event("Bounce", sent, self._bounce(recipient, "Permanent", now)))
            elif mailbox == "suppressionlist":
                events.append(self._event("Bounce", sent, self._bounce(recipient, "Permanent", now, suppressed=True)))
            else:
                events.append(self._event("Delivery", sent, self._delivery(sent, recipient, now)))
                if mailbox == "complaint":
                    events.append(self._event("Complaint", sent, self._complaint(recipient, now, SIMULATOR_USER_AGENT)))
        return events

    def recipient_action(
        self,
        message_id: str,
        event_type: str,
        *,
        link: str | None = None,
        user_agent: str | None = None,
        bounce_type: str = "Permanent",
        recipient: str | None = None,
    ) -> dict[str, Any]:
        """Publish what a recipient did with a sent message (``Open``, ``Click`` on ``link``, a late ``Bounce`` or
        ``Complaint``); returns the event. It reaches the destinations of the message's configuration set that
        match its type (none may: then it is returned but not in :attr:`events`)."""
        self.collect()
        try:
            sent = self.sent[message_id]
        except KeyError:
            raise KeyError(f"no message {message_id!r} was sent through SES") from None
        if event_type not in RECIPIENT_ACTIONS:
            raise ValueError(f"event_type must be one of {', '.join(RECIPIENT_ACTIONS)}, not {event_type!r}")
        who = recipient or (sent.destination[0] if sent.destination else "")
        if recipient is not None and not sent.has_recipient(recipient):
            raise ValueError(f"{recipient} is not a recipient of {message_id}")
        now = self.cloud.clock.now()
        agent = user_agent or DEFAULT_USER_AGENT
        detail: dict[str, Any]
        if event_type == "Open":
            detail = {"ipAddress": RECIPIENT_IP, "timestamp": _iso(now), "userAgent": agent}
        elif event_type == "Click":
            if link is None:
                if not sent.links:
                    raise ValueError(f"message {message_id} has no link to click: pass link=")
                link = sent.links[0]
            detail = {"ipAddress": RECIPIENT_IP, "link": link, "timestamp": _iso(now), "userAgent": agent}
        elif event_type == "Bounce":
            if bounce_type not in _BOUNCES:
                raise ValueError(f"bounce_type must be one of {', '.join(_BOUNCES)}, not {bounce_type!r}")
            detail = self._bounce(who, bounce_type, now)
        else:
            detail = self._complaint(who, now, user_agent or SIMULATOR_USER_AGENT)
        event = self._event(event_type, sent, detail)
        self._publish(sent, event)
        return event

    def _event(self, event_type: str, sent: SentEmail, detail: dict[str, Any]) -> dict[str, Any]:
        key = event_type[0].lower() + event_type[1:]  # "Send" -> "send", "DeliveryDelay" -> "deliveryDelay"
        return {"eventType": event_type, "mail": json.loads(json.dumps(sent.mail)), key: detail}

    def _delivery(self, sent: SentEmail, recipient: str, now: datetime) -> dict[str, Any]:
        return {
            "timestamp": _iso(now),
            "processingTimeMillis": max(0, int((now - sent.sent_at).total_seconds() * 1000)),
            "recipients": [_address(recipient)],
            "smtpResponse": "250 2.6.0 Message received",
            "remoteMtaIp": "127.0.0.1",
            "reportingMTA": self._mta,
        }

    @property
    def _mta(self) -> str:
        return f"a1-1.smtp-out.{self.cloud.region}.amazonses.com"

    def _bounce(self, recipient: str, bounce_type: str, now: datetime, *, suppressed: bool = False) -> dict[str, Any]:
        sub_type, status, diagnostic = _BOUNCES[bounce_type]
        bounced: dict[str, Any] = {"emailAddress": _address(recipient)}
        if suppressed:
            sub_type, status, diagnostic = "OnAccountSuppressionList", "5.1.1", _SUPPRESSED
        if status is not None:
            bounced.update(action="failed", status=status, diagnosticCode=diagnostic)
        return {
            "feedbackId": _feedback_id(),
            "bounceType": bounce_type,
            "bounceSubType": sub_type,
            "bouncedRecipients": [bounced],
            "timestamp": _iso(now),
            "reportingMTA": "dns; amazonses.com" if suppressed else f"dns; {self._mta}",
        }

    @staticmethod
    def _complaint(recipient: str, now: datetime, user_agent: str) -> dict[str, Any]:
        return {
            "feedbackId": _feedback_id(),
            "complaintSubType": None,
            "complainedRecipients": [{"emailAddress": _address(recipient)}],
            "timestamp": _iso(now),
            "userAgent": user_agent,
            "complaintFeedbackType": "abuse",
            "arrivalDate": _iso(now),
        }

    def _publish(self, sent: SentEmail, event: dict[str, Any]) -> int:
        targets = [d for d in self.destinations if d.matches(sent.configuration_set, event["eventType"])]
        if not targets:
            return 0
        body = json.dumps(event, ensure_ascii=False, separators=(",", ":"))
        sns = self.cloud.client("sns")
        published = 0
        for destination in targets:
            try:
                sns.publish(TopicArn=destination.topic_arn, Message=body)
                published += 1
            except ClientError as exc:
                log.warning("SES event destination %s: cannot publish to %s: %s",
                            destination.name, destination.topic_arn, exc)
        if published:
            self.events.append(event)
        return published

    # ------------------------------------------------------------------ the mail object

    def _record(self, message: Any, backend: Any) -> SentEmail | None:
        context = moto_patches.send_context(message)
        request = (context.request if context else None) or {}
        sent_at = context.sent_at if context else self.cloud.clock.now()
        raw = getattr(message, "raw_data", None)
        if raw is not None:
            headers, common, links, ses_headers = _from_mime(raw)
            if "Simple" in (request.get("Content") or {}):
                headers, common = _as_built(headers, common, message.id)
        elif hasattr(message, "subject") and hasattr(message, "body"):
            headers, common, links, ses_headers = _from_simple(message, request)
        else:
            return None  # templated sends (v1 only in moto)
        source = str(request.get("FromEmailAddress") or message.source or "")
        address = _address(source)
        domain = address.rpartition("@")[2]
        identities = backend.email_identities
        identity = address if address in identities else domain
        configuration_set = (
            request.get("ConfigurationSetName")
            or ses_headers.get("x-ses-configuration-set")
            or _default_configuration_set(identities, address, domain)
        )
        tags: dict[str, list[str]] = {}
        if request.get("EmailTags"):
            for tag in request["EmailTags"]:
                tags[str(tag["Name"])] = [str(tag["Value"])]
        elif ses_headers.get("x-ses-message-tags"):  # API tags win; SES never joins the two
            for pair in ses_headers["x-ses-message-tags"].split(","):
                name, _, value = pair.strip().partition("=")
                if name:
                    tags[name.strip()] = [value.strip()]
        tags["ses:operation"] = ["SendRawEmail" if raw is not None and not request else "SendEmail"]  # v1 raw or v2
        if configuration_set:
            tags["ses:configuration-set"] = [str(configuration_set)]
        tags["ses:source-ip"] = [SOURCE_IP]
        tags["ses:from-domain"] = [domain]
        tags["ses:caller-identity"] = [CALLER_IDENTITY]
        destination = _recipients(request.get("Destination"), message)
        common.setdefault("messageId", message.id)
        mail = {
            "timestamp": _iso(sent_at),
            "source": source,
            "sourceArn": f"arn:aws:ses:{self.cloud.region}:{self.cloud.account_id}:identity/{identity}",
            "sendingAccountId": self.cloud.account_id,
            "messageId": message.id,
            "destination": destination,
            "headersTruncated": False,
            "headers": headers,
            "commonHeaders": common,
            "tags": tags,
        }
        return SentEmail(message.id, destination, configuration_set and str(configuration_set), sent_at, mail, links)


def _default_configuration_set(identities: dict[str, Any], address: str, domain: str) -> str | None:
    """The sending identity's default configuration set (the address's own identity first, then its domain's)."""
    for name in (address, domain):
        configuration_set = getattr(identities.get(name), "configuration_set_name", None)
        if configuration_set:
            return str(configuration_set)
    return None


def _feedback_id() -> str:
    return f"0107019{uuid.uuid4().hex[:9]}-{uuid.uuid4()}-000000"


def _recipients(requested: dict[str, list[str]] | None, message: Any) -> list[str]:
    """The envelope recipients: the request's Destination, else what moto took from the MIME headers."""
    keys = ("ToAddresses", "CcAddresses", "BccAddresses")
    if requested and any(requested.get(k) for k in keys):
        return _unique([a for k in keys for a in requested.get(k) or []])
    stored = getattr(message, "destinations", None) or []
    if isinstance(stored, dict):
        stored = [a for k in keys for a in stored.get(k) or []]
    return _unique(list(stored))


_Parts = tuple[list[dict[str, str]], dict[str, Any], list[str], dict[str, str]]  # headers, common, links, X-SES-*


def _display(values: list[str]) -> list[str]:
    return [f"{name} <{addr}>" if name else addr for name, addr in getaddresses(values) if addr]


def _from_mime(raw: str) -> _Parts:
    """``headers`` (as sent, unfolded), ``commonHeaders`` (decoded), the HTML's links, and the X-SES-* headers."""
    plain = email.message_from_string(raw, policy=email.policy.compat32)
    headers = [{"name": name, "value": re.sub(r"\r?\n", "", str(value))} for name, value in plain.items()]
    ses_headers = {h["name"].lower(): h["value"].strip() for h in headers if h["name"].lower().startswith("x-ses-")}
    parsed = email.message_from_string(raw, policy=email.policy.default)
    common: dict[str, Any] = {}
    for header, key in (("From", "from"), ("Reply-To", "replyTo"), ("To", "to"), ("Cc", "cc"), ("Bcc", "bcc")):
        values = [str(v) for v in parsed.get_all(header, [])]
        if values:
            common[key] = _display(values)
    if parsed.get("Date"):
        common["date"] = str(parsed["Date"])
    if parsed.get("Message-ID"):
        common["messageId"] = str(parsed["Message-ID"]).strip()
    common["subject"] = str(parsed.get("Subject", ""))
    links: list[str] = []
    for part in parsed.walk():
        if part.get_content_type() == "text/html":
            try:
                links.extend(_LINK.findall(part.get_content()))
            except (LookupError, ValueError):  # pragma: no cover - an undecodable part
                continue
    return headers, common, links, ses_headers


def _as_built(headers: list[dict[str, str]], common: dict[str, Any], message_id: str) -> tuple[
    list[dict[str, str]], dict[str, Any]
]:
    """The ``headers`` and ``commonHeaders`` SES publishes for a SESv2 ``Simple`` send: those of the message it built
    (see :func:`crm_local.mail.simple_message`: custom headers included) before it added ``Date`` and
    ``Message-ID`` for delivery; ``commonHeaders.messageId`` is the SES message id."""
    headers = [h for h in headers if h["name"].lower() not in ("date", "message-id")]
    common = {k: v for k, v in common.items() if k not in ("date", "messageId")}
    common["messageId"] = message_id
    return headers, common


def _from_simple(message: Any, request: dict[str, Any]) -> _Parts:
    """The headers SES builds for a v1 ``SendEmail`` (moto keeps subject, one body and the destinations)."""
    destinations = message.destinations if isinstance(message.destinations, dict) else {}
    body = ((request.get("Content") or {}).get("Simple") or {}).get("Body") or {}
    html = "Html" in body if body else str(message.body or "").lstrip().startswith("<")
    headers = [{"name": "From", "value": str(message.source)}]
    for header, key in (("To", "ToAddresses"), ("Cc", "CcAddresses")):
        if destinations.get(key):
            headers.append({"name": header, "value": ", ".join(destinations[key])})
    headers += [
        {"name": "Subject", "value": str(message.subject)},
        {"name": "MIME-Version", "value": "1.0"},
        {"name": "Content-Type", "value": f"text/{'html' if html else 'plain'}; charset=UTF-8"},
        {"name": "Content-Transfer-Encoding", "value": "7bit"},
    ]
    common: dict[str, Any] = {"from": _display([str(message.source)])}
    for key, name in (("ToAddresses", "to"), ("CcAddresses", "cc")):
        if destinations.get(key):
            common[name] = _display(destinations[key])
    common["subject"] = str(message.subject)
    links = _LINK.findall(str(message.body or "")) if html else []
    return headers, common, links, {}
