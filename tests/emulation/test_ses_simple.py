"""SESv2 SendEmail with Simple content is kept as the MIME message SES builds and delivers: custom headers as
given, UTF-8 subject and names, text and HTML parts, Date and Message-ID; what SES refuses is refused."""

from __future__ import annotations

import email
import email.policy
from collections.abc import Iterator
from email.utils import format_datetime
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError
from crm_local import LocalCloud

from .support import FIXTURES, START, module

NOTIFICATIONS_TEMPLATE = FIXTURES / "notifications.yaml"
CONFIG_SET = "crm-local-EmailConfigurationSet"
SENDER = "=?utf-8?q?Obchodn=C3=AD_t=C3=BDm?= <obchod@mail.example.test>"
TO = "=?utf-8?q?Jana_Nov=C3=A1kov=C3=A1?= <jana@example.cz>"
REPLY_TO = "=?utf-8?q?Podpora_z=C3=A1kazn=C3=ADk=C5=AF?= <podpora@mail.example.test>"
SUBJECT = "Lednová nabídka: žluťoučký kůň úpěl ďábelské ódy – jen pro vás, Jano!"
TEXT = (
    "Dobrý den, Jano,\n\nmáme pro vás lednovou nabídku: https://example.cz/nabidka?c=42\n\n"
    "S pozdravem\nObchodní tým\n"
)
HTML = (
    '<html><body><p>Dobrý den, Jano,</p><p>máme pro vás <a href="https://example.cz/nabidka?c=42">lednovou '
    'nabídku</a>.</p><p><a href="https://example.cz/odhlasit">Odhlásit</a></p></body></html>'
)
UNSUBSCRIBE = (
    "<https://crm.example.cz/unsubscribe?contact=c-000042&campaign=cmp-2026-01-leden"
    "&token=eyJhbGciOiJIUzI1NiJ9.eyJjIjoiYy0wMDAwNDIiLCJrIjoiY21wLTIwMjYtMDEtbGVkZW4ifQ.c2lnbmF0dXJlLXZhbHVl>"
)
HEADERS = [
    {"Name": "List-Unsubscribe", "Value": UNSUBSCRIBE},
    {"Name": "List-Unsubscribe-Post", "Value": "List-Unsubscribe=One-Click"},
    {"Name": "X-CRM-Campaign", "Value": "cmp-2026-01-leden"},
]


@pytest.fixture
def ses_cloud(tmp_path: Path) -> Iterator[LocalCloud]:
    with LocalCloud(template=NOTIFICATIONS_TEMPLATE, start=START, out_dir=tmp_path / "out", quiet=True) as running:
        yield running


def send_simple(cloud: LocalCloud, body: dict[str, Any] | None = None, headers: list[dict[str, str]] | None = None,
                **request: Any) -> str:
    """A campaign e-mail as the product sends it: Simple content, UTF-8, custom headers; returns the MessageId."""
    content = {
        "Subject": {"Data": SUBJECT, "Charset": "UTF-8"},
        "Body": body if body is not None else {
            "Text": {"Data": TEXT, "Charset": "UTF-8"}, "Html": {"Data": HTML, "Charset": "UTF-8"},
        },
        "Headers": HEADERS if headers is None else headers,
    }
    arguments = {
        "FromEmailAddress": SENDER, "Destination": {"ToAddresses": [TO]}, "ReplyToAddresses": [REPLY_TO],
        "ConfigurationSetName": CONFIG_SET, "EmailTags": [{"Name": "campaign", "Value": "cmp-2026-01-leden"}],
        **request,
    }
    message_id = cloud.client("sesv2").send_email(Content={"Simple": content}, **arguments)["MessageId"]
    cloud.settle()
    return str(message_id)


def header_names(data: bytes) -> list[str]:
    head = data.split(b"\r\n\r\n", 1)[0].decode("ascii")
    return [line.split(":", 1)[0] for line in head.split("\r\n") if line and not line[0].isspace()]


def sent_messages(cloud: LocalCloud) -> list[Any]:
    from moto.ses.models import ses_backends

    return list(ses_backends[cloud.account_id][cloud.region].sent_messages)


def received(cloud: LocalCloud) -> list[dict]:
    if not cloud.invocations["FeedbackFunction"]:
        return []
    return list(module(cloud, "FeedbackFunction").SES_EVENTS)


def test_simple_send_is_kept_as_the_mime_message_ses_builds(ses_cloud: LocalCloud) -> None:
    # When a campaign e-mail is sent with Simple content (Czech subject and names, both bodies, custom headers)
    message_id = send_simple(ses_cloud)
    # Then the .eml is the message SES delivers
    (message,) = ses_cloud.mail_messages
    (path,) = ses_cloud.mail_files
    assert path.name == "0001-2026-01-05-jana@example.cz.eml"
    data = path.read_bytes()
    assert data.isascii() and all(len(line) <= 998 for line in data.split(b"\r\n"))
    assert header_names(data) == [
        "From", "To", "Reply-To", "Subject", "Date", "Message-ID", "MIME-Version",
        "List-Unsubscribe", "List-Unsubscribe-Post", "X-CRM-Campaign", "Content-Type",
    ]
    # the custom headers exactly as given: the long List-Unsubscribe a plain <URL> on one line, not an encoded word
    assert f"\r\nList-Unsubscribe: {UNSUBSCRIBE}\r\n".encode() in data
    assert b"\r\nList-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n" in data
    assert b"\r\nX-CRM-Campaign: cmp-2026-01-leden\r\n" in data
    assert data.startswith(f"From: {SENDER}\r\n".encode()) and f"\r\nReply-To: {REPLY_TO}\r\n".encode() in data
    parsed = email.message_from_bytes(data, policy=email.policy.default)
    assert str(parsed["Subject"]) == SUBJECT  # RFC 2047 encoded UTF-8, decoded again
    assert parsed["From"].addresses[0].display_name == "Obchodní tým"
    assert parsed["From"].addresses[0].addr_spec == "obchod@mail.example.test"
    assert parsed["To"].addresses[0].display_name == "Jana Nováková"
    assert parsed["To"].addresses[0].addr_spec == "jana@example.cz"
    assert parsed["Reply-To"].addresses[0].addr_spec == "podpora@mail.example.test"
    assert parsed["Date"] == format_datetime(START)  # the emulation's clock
    assert parsed["Message-ID"] == f"<{message_id}@email.amazonses.com>"
    assert parsed["MIME-Version"] == "1.0"
    assert parsed["List-Unsubscribe"] == UNSUBSCRIBE
    # multipart/alternative: text/plain, then text/html, both UTF-8
    assert parsed.get_content_type() == "multipart/alternative"
    parts = list(parsed.iter_parts())
    assert [p.get_content_type() for p in parts] == ["text/plain", "text/html"]
    assert {p.get_content_charset() for p in parts} == {"utf-8"}
    assert {p["Content-Transfer-Encoding"] for p in parts} <= {"quoted-printable", "base64"}
    assert parsed.get_body(("plain",)).get_content().replace("\r\n", "\n") == TEXT
    assert parsed.get_body(("html",)).get_content().strip() == HTML
    # the message the emulation keeps is the same
    assert message["Message-ID"] == parsed["Message-ID"] and message["X-CRM-Campaign"] == "cmp-2026-01-leden"
    # moto keeps it as a raw message with the request's envelope
    (stored,) = sent_messages(ses_cloud)
    assert stored.id == message_id and stored.raw_data.encode() == data and stored.destinations == [TO]


def test_bcc_recipients_are_in_the_envelope_not_the_headers(ses_cloud: LocalCloud) -> None:
    quota = ses_cloud.client("ses").get_send_quota()["SentLast24Hours"]
    message_id = send_simple(ses_cloud, Destination={
        "ToAddresses": [TO], "CcAddresses": ["petr@example.cz"], "BccAddresses": ["eva@example.cz"],
    })
    (message,) = ses_cloud.mail_messages
    assert message["Cc"] == "petr@example.cz" and "Bcc" not in message
    (stored,) = sent_messages(ses_cloud)
    assert stored.destinations == [TO, "petr@example.cz", "eva@example.cz"]
    assert ses_cloud.client("ses").get_send_quota()["SentLast24Hours"] == quota + 3  # each recipient once
    assert received(ses_cloud)[0]["mail"]["destination"] == stored.destinations
    assert ses_cloud.message_ids_for("eva@example.cz") == [message_id]


@pytest.mark.parametrize(("key", "subtype", "data"), [("Text", "plain", TEXT), ("Html", "html", HTML)])
def test_a_single_body_is_a_single_part(ses_cloud: LocalCloud, key: str, subtype: str, data: str) -> None:
    send_simple(ses_cloud, body={key: {"Data": data, "Charset": "UTF-8"}}, headers=[])
    (path,) = ses_cloud.mail_files
    raw = path.read_bytes()
    assert header_names(raw) == [
        "From", "To", "Reply-To", "Subject", "Date", "Message-ID", "MIME-Version",
        "Content-Type", "Content-Transfer-Encoding",
    ]
    message = email.message_from_bytes(raw, policy=email.policy.default)
    assert not message.is_multipart()
    assert message.get_content_type() == f"text/{subtype}" and message.get_content_charset() == "utf-8"
    assert message.get_content().replace("\r\n", "\n").strip() == data.strip()
    assert str(message["Subject"]) == SUBJECT


def test_ascii_content_without_charset_stays_readable(ses_cloud: LocalCloud) -> None:
    send_simple(ses_cloud, body={"Text": {"Data": "Hello,\nsee you.\n"}}, headers=[],
                FromEmailAddress="obchod@mail.example.test", Destination={"ToAddresses": ["jana@example.cz"]},
                ReplyToAddresses=[])
    data = ses_cloud.mail_files[0].read_bytes()
    assert data.startswith(b"From: obchod@mail.example.test\r\nTo: jana@example.cz\r\nSubject: =?utf-8?")
    assert b"Content-Type: text/plain; charset=UTF-8\r\nContent-Transfer-Encoding: 7bit\r\n\r\nHello,\r\nsee you.\r\n" \
        in data


@pytest.mark.parametrize(
    "header",
    [
        {"Name": "List-Unsubscribe", "Value": "<https://example.cz/u>\r\nBcc: everyone@example.com"},
        {"Name": "X-CRM-Campaign", "Value": "cmp-1\nX-Injected: yes"},
        {"Name": "X-CRM-Campaign", "Value": "cmp-1\r"},
        {"Name": "X-Bad\r\nBcc", "Value": "everyone@example.com"},
        {"Name": "From", "Value": "attacker@example.com"},
        {"Name": "subject", "Value": "Another subject"},
        {"Name": "To", "Value": "everyone@example.com"},
        {"Name": "Content-Type", "Value": "text/plain"},
        {"Name": "MIME-Version", "Value": "1.0"},
        {"Name": "Date", "Value": "Mon, 5 Jan 2026 08:00:00 +0100"},
        {"Name": "Message-ID", "Value": "<mine@example.cz>"},
        {"Name": "Reply-To", "Value": "other@example.cz"},
        {"Name": "Return-Path", "Value": "bounces@example.cz"},
    ],
    ids=lambda h: repr(h["Name"] + ": " + h["Value"]),
)
def test_refused_headers_are_a_bad_request_and_nothing_is_kept(ses_cloud: LocalCloud, header: dict[str, str]) -> None:
    with pytest.raises(ClientError) as raised:
        send_simple(ses_cloud, headers=[*HEADERS[:1], header])
    error = raised.value.response
    assert error["Error"]["Code"] == "BadRequestException"
    assert error["ResponseMetadata"]["HTTPStatusCode"] == 400
    ses_cloud.settle()
    assert sent_messages(ses_cloud) == [] and ses_cloud.mail_messages == [] and ses_cloud.mail_files == []
    assert ses_cloud.ses_events == [] and received(ses_cloud) == []


def test_more_than_one_list_unsubscribe_is_refused(ses_cloud: LocalCloud) -> None:
    with pytest.raises(ClientError, match="BadRequestException"):
        send_simple(ses_cloud, headers=[*HEADERS, HEADERS[0]])
    assert sent_messages(ses_cloud) == []


def test_ses_events_of_a_simple_send_carry_the_custom_headers_and_tags(ses_cloud: LocalCloud) -> None:
    message_id = send_simple(ses_cloud)
    assert [e["eventType"] for e in received(ses_cloud)] == ["Send", "Delivery"]
    mail = received(ses_cloud)[0]["mail"]
    assert mail["messageId"] == message_id and mail["source"] == SENDER and mail["destination"] == [TO]
    # the headers of the message SES built, before it added Date and Message-ID for delivery
    assert [h["name"] for h in mail["headers"]] == [
        "From", "To", "Reply-To", "Subject", "MIME-Version",
        "List-Unsubscribe", "List-Unsubscribe-Post", "X-CRM-Campaign", "Content-Type",
    ]
    headers = {h["name"]: h["value"] for h in mail["headers"]}
    assert headers["List-Unsubscribe"] == UNSUBSCRIBE
    assert headers["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert headers["X-CRM-Campaign"] == "cmp-2026-01-leden"
    assert headers["From"] == SENDER and headers["To"] == TO
    assert headers["Content-Type"].startswith("multipart/alternative; boundary=")
    common = mail["commonHeaders"]
    assert common["subject"] == SUBJECT and common["messageId"] == message_id
    assert [c.rpartition("<")[2] for c in common["from"] + common["to"] + common["replyTo"]] == [
        "obchod@mail.example.test>", "jana@example.cz>", "podpora@mail.example.test>",
    ]
    assert "date" not in common
    assert mail["tags"]["campaign"] == ["cmp-2026-01-leden"]
    assert mail["tags"]["ses:operation"] == ["SendEmail"]
    assert mail["tags"]["ses:configuration-set"] == [CONFIG_SET]
    assert mail["tags"]["ses:from-domain"] == ["mail.example.test"]
    # a click on the HTML's first link
    assert ses_cloud.ses_event(message_id, "Click")["click"]["link"] == "https://example.cz/nabidka?c=42"


def test_the_product_mailer_sends_simple_content_faithfully(ses_cloud: LocalCloud) -> None:
    from crm_automation.adapters.ses import Mailer, SimpleMail

    mailer = Mailer(configuration_set=CONFIG_SET, client=ses_cloud.client("sesv2"))
    mail = SimpleMail(sender=SENDER, to=TO, subject=SUBJECT, text=TEXT, html=HTML,
                      headers={h["Name"]: h["Value"] for h in HEADERS}, reply_to=REPLY_TO)
    message_id = mailer.send_simple(mail, tags={"campaign": "cmp-2026-01-leden"})
    (message,) = ses_cloud.mail_messages
    assert message["Message-ID"] == f"<{message_id}@email.amazonses.com>"
    assert message["List-Unsubscribe"] == UNSUBSCRIBE and str(message["Subject"]) == SUBJECT
    assert [p.get_content_type() for p in message.iter_parts()] == ["text/plain", "text/html"]


def test_an_unverified_sender_is_rejected_as_before(ses_cloud: LocalCloud) -> None:
    with pytest.raises(ClientError, match="MessageRejected"):
        send_simple(ses_cloud, FromEmailAddress="Někdo <nekdo@unverified.example>")
    assert sent_messages(ses_cloud) == [] and ses_cloud.mail_messages == []
    # and the next send gets a fresh message id of its own
    first, second = send_simple(ses_cloud), send_simple(ses_cloud)
    assert first != second and [m["Message-ID"] for m in ses_cloud.mail_messages] == [
        f"<{first}@email.amazonses.com>", f"<{second}@email.amazonses.com>",
    ]
