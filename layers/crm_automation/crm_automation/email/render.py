"""Jinja2 e-mail templates -> MIME messages a person can open (plain text + HTML, UTF-8, autoescaped HTML).

Layout of a template: ``templates/<name>/<locale>/subject.txt``, ``body.txt`` and ``body.html``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from email import policy as email_policy
from email.headerregistry import Address, BaseHeader, HeaderRegistry, UnstructuredHeader
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from functools import lru_cache
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from crm_automation.domain.addresses import ascii_address


class _FoldedOnce(BaseHeader):
    """A header that remembers how it folds under each policy it was folded with (a policy is immutable, so its
    type and settings say everything the folding depends on): a header shared by many messages is folded once."""

    def fold(self, *, policy: Any) -> str:
        try:
            key: Any = (type(policy), frozenset(vars(policy).items()))
        except TypeError:  # a setting that cannot be a key: fold as usual
            return super().fold(policy=policy)
        folds = self.__dict__.setdefault("_folds", {})
        folded = folds.get(key)
        if folded is None:
            folded = folds[key] = super().fold(policy=policy)
        return folded


class _AsIsHeader(UnstructuredHeader):
    """Written on one line exactly as given (RFC 5322 allows lines up to 998 characters). For List-Unsubscribe: a
    signed URL is longer than the 78-character folding width and has no space to fold at, so the email package would
    encode it as an RFC 2047 word, which mail clients do not decode in this header (RFC 2369 wants the <URL>)."""

    max_count = 1

    def fold(self, *, policy: Any) -> str:
        value = str(self)
        if not value.isascii() or len(self.name) + 2 + len(value) > 998:
            return super().fold(policy=policy)
        return f"{self.name}: {value}{policy.linesep}"


class _HeaderFactory(HeaderRegistry):
    """The email package's own header registry (the same parsing, folding and CR/LF refusal), except that it builds
    each header class once instead of for every header, and keeps the headers it made lately: a value that every
    message of a campaign repeats (From, Subject, List-Unsubscribe-Post, the parts' Content-Type ...) is parsed and
    folded once per container, not once per recipient. Header objects are immutable, so sharing them is safe."""

    _KEEP = 512

    def __init__(self) -> None:
        super().__init__(base_class=_FoldedOnce)
        self.map_to_type("list-unsubscribe", _AsIsHeader)
        self._classes: dict[str, type] = {}
        self._made: dict[tuple[Any, ...], BaseHeader] = {}

    def __getitem__(self, name: str) -> type:
        cls = self._classes.get(name.lower())
        if cls is None:
            cls = self._classes[name.lower()] = super().__getitem__(name)
        return cls

    def __call__(self, name: str, value: Any) -> BaseHeader:
        if type(value) is str:
            key: tuple[Any, ...] = (name, value)
        elif type(value) is Address:
            key = (name, Address, value.display_name, value.username, value.domain)
        else:
            return self[name](name, value)
        header = self._made.get(key)
        if header is None:
            header = self[name](name, value)
            if len(self._made) >= self._KEEP:
                self._made.clear()
            self._made[key] = header
        return header


# The default policy (what EmailMessage() uses) with the remembering header factory: byte-for-byte the same output.
POLICY = email_policy.default.clone(header_factory=_HeaderFactory())


@dataclass(frozen=True)
class RenderedEmail:
    subject: str
    text: str
    html: str


@lru_cache(maxsize=4)
def _environment(templates_dir: str) -> Environment:
    return Environment(
        loader=FileSystemLoader(templates_dir),
        autoescape=select_autoescape(enabled_extensions=("html",), default_for_string=False),
        undefined=StrictUndefined,
        keep_trailing_newline=True,
    )


def render(templates_dir: Path, name: str, locale: str, context: dict[str, Any]) -> RenderedEmail:
    env = _environment(str(templates_dir))
    subject = env.get_template(f"{name}/{locale}/subject.txt").render(context)
    subject = " ".join(subject.split())  # one line, whatever a name or label contained
    context = context | {"subject": subject}
    return RenderedEmail(
        subject=subject,
        text=env.get_template(f"{name}/{locale}/body.txt").render(context),
        html=env.get_template(f"{name}/{locale}/body.html").render(context),
    )


def build_message(
    rendered: RenderedEmail,
    *,
    sender_email: str,
    sender_name: str,
    to_email: str,
    to_name: str | None,
    sent_at: datetime,
    reply_to: str | None = None,
    headers: dict[str, str] | None = None,
) -> EmailMessage:
    """A multipart/alternative message. Header values go through the email package's header registry, which
    refuses CR/LF, so a name or subject cannot inject headers."""
    message = EmailMessage(policy=POLICY)
    message["From"] = Address(display_name=sender_name, addr_spec=sender_email)
    message["To"] = Address(display_name=to_name or "", addr_spec=ascii_address(to_email))
    message["Subject"] = rendered.subject
    message["Date"] = format_datetime(sent_at)
    message["Message-ID"] = make_msgid(domain=sender_email.rsplit("@", 1)[-1])
    if reply_to:
        message["Reply-To"] = reply_to
    for key, value in (headers or {}).items():
        message[key] = value
    message.set_content(rendered.text, charset="utf-8")
    message.add_alternative(rendered.html, subtype="html", charset="utf-8")
    return message


def time_ago(days: int, locale: str) -> str:
    """'před 7 měsíci' / '7 months ago' with Czech plural forms."""
    if days <= 0:
        return "dnes" if locale == "cs" else "today"
    if locale == "cs":
        if days < 45:
            return f"před {days} dny" if days != 1 else "včera"
        months = round(days / 30.4)
        if months < 12:
            return "před měsícem" if months == 1 else f"před {months} měsíci"
        years = round(days / 365)
        return "před rokem" if years == 1 else f"před {years} lety"
    if days < 45:
        return f"{days} days ago" if days != 1 else "yesterday"
    months = round(days / 30.4)
    if months < 12:
        return "a month ago" if months == 1 else f"{months} months ago"
    years = round(days / 365)
    return "a year ago" if years == 1 else f"{years} years ago"
