"""Sent e-mail as ``.eml`` files a person can open.

moto keeps every message sent through SES (v1 ``SendEmail``/``SendRawEmail`` and v2 ``SendEmail`` with
``Simple`` or ``Raw`` content, which moto's sesv2 hands to the v1 backend) in
``moto.ses.models.ses_backends[account][region].sent_messages``: ``RawMessage`` objects (``raw_data``,
the MIME text) and ``Message`` objects (``subject``, ``body``, ``destinations``, no MIME). The collector
reads the new ones after each invocation and writes ``<out_dir>/mail/<NNNN>-<yyyy-mm-dd>-<recipient>.eml``.
"""

from __future__ import annotations

import email
import email.policy
import re
from collections.abc import Callable
from datetime import datetime
from email.message import EmailMessage
from email.utils import format_datetime, getaddresses
from pathlib import Path
from typing import Any

__all__ = ["MailCollector", "sanitise"]


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
