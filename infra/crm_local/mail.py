"""Sent e-mail as ``.eml`` files a person can open, and the MIME message SES builds for ``Simple`` content.

moto keeps every message sent through SES (v1 ``SendEmail``/``SendRawEmail`` and v2 ``SendEmail`` with
``Simple`` or ``Raw`` content, which moto's sesv2 hands to the v1 backend) in
``moto.ses.models.ses_backends[account][region].sent_messages``: ``RawMessage`` objects (``raw_data``,
the MIME text) and ``Message`` objects (v1 ``SendEmail``: ``subject``, ``body``, ``destinations``, no MIME).
The collector reads the new ones after each invocation and writes
``<out_dir>/mail/<NNNN>-<yyyy-mm-dd>-<recipient>.eml``.

A SESv2 ``SendEmail`` with ``Simple`` content is kept as the MIME message SES builds and delivers
(:func:`simple_message`, used by :mod:`crm_local.moto_patches`), not as moto's ``Message``, which drops the
custom ``Headers`` and one of the two bodies.
"""

from __future__ import annotations

import base64
import codecs
import email
import email.policy
import re
import secrets
from collections.abc import Callable, Mapping
from datetime import datetime
from email import charset as _charset
from email import quoprimime
from email.header import Header
from email.message import EmailMessage
from email.utils import format_datetime, formataddr, getaddresses, parseaddr
from pathlib import Path
from typing import Any

__all__ = ["MailCollector", "SES_SET_HEADERS", "SimpleContentError", "sanitise", "simple_message"]


def sanitise(address: str) -> str:
    _, addr = getaddresses([address])[0] if address else ("", "")
    text = (addr or address or "unknown").lower()
    return re.sub(r"[^a-z0-9@._-]+", "_", text).strip("._") or "unknown"


class MailCollector:
    def __init__(self, out_dir: Path | None, account_id: str, region: str, now: Callable[[], datetime]) -> None:
        self.out_dir = out_dir / "mail" if out_dir is not None else None
        self.account_id = account_id
        self.region = region
        self.now = now
        self.paths: list[Path] = []
        self.messages: list[EmailMessage] = []
        self._seen = 0
        if self.out_dir is not None:  # a new run starts with an empty mail folder: no e-mails of an earlier run
            for old in self.out_dir.glob("*.eml"):
                old.unlink()

    def _backend(self) -> Any:
        from moto.ses.models import ses_backends

        return ses_backends[self.account_id][self.region]

    def collect(self) -> list[Path]:
        """Write the messages sent since the last call. Returns the new paths (empty without out_dir)."""
        sent = self._backend().sent_messages
        if len(sent) <= self._seen:
            return []
        new = sent[self._seen :]
        self._seen = len(sent)
        written = []
        for message in new:
            converted = self._to_mime(message)
            if converted is None:
                continue
            mime, data = converted
            self.messages.append(mime)
            if self.out_dir is None:
                continue
            self.out_dir.mkdir(parents=True, exist_ok=True)
            recipients = getaddresses(mime.get_all("To", []) + mime.get_all("Cc", []))
            first = recipients[0][1] if recipients else (_destinations(message) or ["unknown"])[0]
            name = f"{len(self.paths) + 1:04d}-{self.now():%Y-%m-%d}-{sanitise(first)}.eml"
            path = self.out_dir / name
            path.write_bytes(data)
            self.paths.append(path)
            written.append(path)
        return written

    def _to_mime(self, message: Any) -> tuple[EmailMessage, bytes] | None:
        raw = getattr(message, "raw_data", None)
        if raw is not None:
            # Keep the MIME exactly as sent (8-bit UTF-8 parts cannot always be re-flattened by
            # ``email``); only prepend the headers a mail reader needs when the sender left them out.
            data = raw.encode("utf-8", "surrogateescape")
            parsed = email.message_from_bytes(data, policy=email.policy.default)
            extra = []
            if "Date" not in parsed:
                extra.append(f"Date: {format_datetime(self.now())}")
            if "To" not in parsed and getattr(message, "destinations", None):
                extra.append(f"To: {', '.join(message.destinations)}")
            if "From" not in parsed and getattr(message, "source", None):
                extra.append(f"From: {message.source}")
            if extra:
                data = ("\r\n".join(extra) + "\r\n").encode() + data
                parsed = email.message_from_bytes(data, policy=email.policy.default)
            assert isinstance(parsed, EmailMessage)
            return parsed, data
        if hasattr(message, "subject") and hasattr(message, "body"):
            mime = EmailMessage()
            mime["From"] = message.source
            destinations = message.destinations or {}
            for header, key in (("To", "ToAddresses"), ("Cc", "CcAddresses")):
                if destinations.get(key):
                    mime[header] = ", ".join(destinations[key])
            mime["Subject"] = message.subject
            mime["Date"] = format_datetime(self.now())
            mime["Message-ID"] = f"<{message.id}@email.amazonses.com>"
            body = message.body or ""
            if body.lstrip().startswith("<"):
                mime.set_content(body, subtype="html", cte="quoted-printable")
            else:
                mime.set_content(body, cte="quoted-printable")
            return mime, mime.as_bytes(policy=email.policy.default)
        return None  # templated sends (not produced by sesv2 in moto)


def _destinations(message: Any) -> list[str]:
    dest = getattr(message, "destinations", None)
    if isinstance(dest, dict):
        return [a for key in ("ToAddresses", "CcAddresses", "BccAddresses") for a in dest.get(key, [])]
    return list(dest or [])


# ------------------------------------------------------------------------------------------------ SES Simple content

# Headers SES sets itself for SESv2 SendEmail with Simple (or Templated) content: not allowed as custom Headers
# (Amazon SES Developer Guide, "Amazon SES header fields").
SES_SET_HEADERS = frozenset(name.lower() for name in (
    "BCC", "CC", "Content-Disposition", "Content-Type", "Date", "From", "Message-ID", "MIME-Version", "Reply-To",
    "Return-Path", "Subject", "To",
))
# Fields that can't appear more than once in a message's header section (same guide): a custom header repeating one.
_ONCE_ONLY = frozenset(name.lower() for name in (
    "Accept-Language", "acceptLanguage", "Archived-At", "Auto-Submitted", "Bounces-to", "Comments",
    "Content-Alternative", "Content-Base", "Content-Class", "Content-Description", "Content-Duration", "Content-ID",
    "Content-Language", "Content-Length", "Content-Location", "Content-MD5", "Content-Transfer-Encoding",
    "Delivered-To", "Disposition-Notification-Options", "Disposition-Notification-To", "DKIM-Signature",
    "DomainKey-Signature", "Errors-To", "Importance", "In-Reply-To", "Keywords", "List-Archive", "List-Help",
    "List-Id", "List-Owner", "List-Post", "List-Subscribe", "List-Unsubscribe", "List-Unsubscribe-Post",
    "Message-Context", "Organization", "Original-From", "Original-Message-ID", "Original-Recipient",
    "Original-Subject", "Precedence", "Priority", "References", "Return-Receipt-To", "Sender", "Solicitation",
    "Sensitivity", "Thread-Index", "Thread-Topic", "User-Agent", "VBR-Info",
))
MAX_HEADERS = 15  # MessageHeaderList
_HEADER_NAME = re.compile(r"[!-9;-~]{1,126}")  # MessageHeaderName: printable ASCII but ':', at most 126
_HEADER_VALUE = re.compile(r"[ -~]{1,995}")  # MessageHeaderValue: printable ASCII, at most 995
_BREAK = re.compile(r"[\r\n]")
_CRLF = "\r\n"


class SimpleContentError(ValueError):
    """A SESv2 ``SendEmail`` with ``Simple`` content that SES refuses (``BadRequestException``)."""


def simple_message(request: Mapping[str, Any], message_id: str, date: datetime) -> str:
    """The MIME message SES builds for a SESv2 ``SendEmail`` request with ``Simple`` content.

    ``From``, ``To``, ``Cc``, ``Reply-To`` (addresses as given; a non-ASCII display name RFC 2047 encoded),
    ``Subject`` (RFC 2047 encoded unless plain ASCII), ``Date`` (``date``), ``Message-ID``
    (``<message_id@email.amazonses.com>``), ``MIME-Version``, the custom ``Headers`` in order and written as given
    (never folded or encoded), then ``multipart/alternative`` with the text part before the HTML part, or the one
    part given. Parts are in their ``Charset`` (default UTF-8): 7bit when ASCII, else quoted-printable (base64 when
    mostly non-ASCII). Lines end in CRLF. Raises :class:`SimpleContentError` for what SES refuses: a custom header
    with CR or LF, outside printable ASCII or too long, one SES sets itself (:data:`SES_SET_HEADERS`), a repeated
    single-use header, more than 15 headers; an address with CR or LF; no body.
    """
    simple = (request.get("Content") or {}).get("Simple") or {}
    subject = simple.get("Subject") or {}
    body = simple.get("Body") or {}
    custom = _custom_headers(simple.get("Headers") or [])
    destination = request.get("Destination") or {}
    source = request.get("FromEmailAddress")
    if not source:
        raise SimpleContentError("Missing required header 'From'.")
    parts = [(subtype, body[key]) for key, subtype in (("Text", "plain"), ("Html", "html")) if body.get(key)]
    if not parts:
        raise SimpleContentError("The message body must contain text or HTML content.")

    lines = [f"From: {_address(str(source))}"]
    for header, key in (("To", "ToAddresses"), ("Cc", "CcAddresses")):
        if destination.get(key):
            lines.append(_address_list(header, destination[key]))
    if request.get("ReplyToAddresses"):
        lines.append(_address_list("Reply-To", request["ReplyToAddresses"]))
    lines += [
        f"Subject: {_subject(str(subject.get('Data') or ''), subject.get('Charset'))}",
        f"Date: {format_datetime(date)}",
        f"Message-ID: <{message_id}@email.amazonses.com>",
        "MIME-Version: 1.0",
        *(f"{name}: {value}" for name, value in custom),
    ]
    if len(parts) == 1:
        (subtype, content), = parts
        headers, payload = _part(subtype, content)
        return _CRLF.join(lines + headers) + _CRLF + _CRLF + payload
    boundary = f"----=_Part_{secrets.randbelow(10**7)}_{secrets.randbelow(10**10)}.{int(date.timestamp() * 1000)}"
    out = _CRLF.join([*lines, f'Content-Type: multipart/alternative; boundary="{boundary}"']) + _CRLF + _CRLF
    for subtype, content in parts:
        headers, payload = _part(subtype, content)
        # the CRLF before a boundary belongs to the boundary: a body's own final line break stays in the body
        out += f"--{boundary}{_CRLF}" + _CRLF.join(headers) + _CRLF + _CRLF + payload + _CRLF
    return out + f"--{boundary}--{_CRLF}"


def _custom_headers(headers: list[Any]) -> list[tuple[str, str]]:
    if len(headers) > MAX_HEADERS:
        raise SimpleContentError(f"A message can have at most {MAX_HEADERS} headers, not {len(headers)}.")
    out: list[tuple[str, str]] = []
    seen: set[str] = set()
    for header in headers:
        name, value = str(header.get("Name") or ""), str(header.get("Value") or "")
        if _BREAK.search(name) or _BREAK.search(value):
            raise SimpleContentError(f"Header {name.strip()!r}: a header name or value must not contain CR or LF.")
        if not _HEADER_NAME.fullmatch(name):
            raise SimpleContentError(f"Invalid header name {name!r}.")
        if not _HEADER_VALUE.fullmatch(value) or len(name) + len(value) > 996:
            raise SimpleContentError(f"Invalid value of header {name!r}.")
        key = name.lower()
        if key in SES_SET_HEADERS:
            raise SimpleContentError(f"Header {name!r} is set by SES and can't be a custom header.")
        if key in seen and key in _ONCE_ONLY:
            raise SimpleContentError(f"Duplicate header {name!r}.")
        seen.add(key)
        out.append((name, value))
    return out


def _address(value: str) -> str:
    if _BREAK.search(value):
        raise SimpleContentError(f"Illegal address {value!r}.")
    value = value.strip()
    if value.isascii():
        return value  # as given: a display name already RFC 2047 encoded stays so
    name, addr = parseaddr(value)
    if not addr or not addr.isascii():
        raise SimpleContentError(f"Illegal address {value!r}.")
    return formataddr((name, addr), charset="utf-8")


def _address_list(header: str, values: list[str]) -> str:
    """``Header: a, b, ...`` folded between addresses, not inside one."""
    line, lines = f"{header}: ", []
    for i, value in enumerate(values):
        item = _address(str(value)) + ("," if i < len(values) - 1 else "")
        if i and len(line) + 1 + len(item) > 78:
            lines.append(line)
            line = " " + item
        else:
            line += (" " if i else "") + item
    return _CRLF.join([*lines, line])


def _codec(label: str | None) -> tuple[str, str]:
    """(the charset label to declare, the Python codec) for a Content's Charset; UTF-8 by default."""
    if label:
        try:
            return label, codecs.lookup(label).name
        except LookupError:
            pass
    return "UTF-8", "utf-8"


def _subject(text: str, charset: str | None) -> str:
    if text.isascii() and not _BREAK.search(text) and len(text) <= 989:
        return text
    label, codec = _codec(charset)
    try:
        text.encode(codec)
    except UnicodeEncodeError:
        label, codec = "UTF-8", "utf-8"
    cs = _charset.Charset(codec)
    non_ascii = sum(1 for c in text if not c.isascii() or c in "\r\n")
    cs.header_encoding = _charset.BASE64 if non_ascii * 3 > len(text) else _charset.QP
    return Header(text, charset=cs, header_name="Subject").encode(linesep=_CRLF, maxlinelen=76)


def _part(subtype: str, content: Mapping[str, Any]) -> tuple[list[str], str]:
    """The part's Content-Type and Content-Transfer-Encoding headers and its encoded payload."""
    text = str(content.get("Data") or "")
    label, codec = _codec(content.get("Charset"))
    try:
        data = text.encode(codec)
    except UnicodeEncodeError:
        label, data = "UTF-8", text.encode("utf-8")
    lines = data.splitlines()
    if data.isascii() and all(len(line) <= 998 for line in lines):  # line breaks as CRLF, the last one kept
        end = _CRLF if data.endswith((b"\n", b"\r")) else ""
        cte, payload = "7bit", _CRLF.join(line.decode("ascii") for line in lines) + end
    elif sum(1 for b in data if b > 127) * 3 > len(data):
        encoded = base64.b64encode(data).decode("ascii")
        cte, payload = "base64", _CRLF.join(encoded[i:i + 76] for i in range(0, len(encoded), 76))
    else:
        cte, payload = "quoted-printable", quoprimime.body_encode(data.decode("latin-1"), maxlinelen=76, eol=_CRLF)
    return [f"Content-Type: text/{subtype}; charset={label}", f"Content-Transfer-Encoding: {cte}"], payload
