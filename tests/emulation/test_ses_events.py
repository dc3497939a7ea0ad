"""SES event publishing: sends with a configuration set reach the subscribed function as SES's events over
SNS->SQS (mailbox simulator, MatchingEventTypes, tags), and ses_event() adds opens, clicks, late bounces."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from aws_lambda_powertools.utilities.parser.models import SnsNotificationModel, SqsModel
from crm_local import LocalCloud

from .support import FIXTURES, START, module, queue_messages

NOTIFICATIONS_TEMPLATE = FIXTURES / "notifications.yaml"
SENDER = "crm@mail.example.test"
CONFIG_SET = "crm-local-EmailConfigurationSet"
NOW = "2026-01-05T07:00:00.000Z"
MAIL_KEYS = [
    "timestamp", "source", "sourceArn", "sendingAccountId", "messageId", "destination",
    "headersTruncated", "headers", "commonHeaders", "tags",
]


@pytest.fixture
def ses_cloud(tmp_path: Path) -> Iterator[LocalCloud]:
    with LocalCloud(template=NOTIFICATIONS_TEMPLATE, start=START, out_dir=tmp_path / "out", quiet=True) as running:
        yield running


def send(cloud: LocalCloud, to: str | list[str], **options: Any) -> str:
    """The fixture mailer sends one message (Raw MIME with the default configuration set); returns its MessageId."""
    return cloud.invoke("MailerFunction", {"to": to, "subject": "Nabídka na leden", **options})["message_id"]


def received(cloud: LocalCloud) -> list[dict]:
    """The SES events the subscribed function got, in order."""
    if not cloud.invocations["FeedbackFunction"]:
        return []  # never invoked: importing its module now would run outside its environment
    return list(module(cloud, "FeedbackFunction").SES_EVENTS)


def types(cloud: LocalCloud) -> list[str]:
    return [event["eventType"] for event in received(cloud)]


def test_a_send_reaches_the_subscribed_function_as_send_and_delivery(ses_cloud: LocalCloud) -> None:
    # When a function sends an e-mail with the configuration set and tags
    message_id = send(ses_cloud, "jana.novakova@example.cz", tags={"campaign": "leden-2026", "contact": "c-42"})
    # Then the feedback function got Lambda SQS events whose bodies are SNS envelopes of the SES events
    events = module(ses_cloud, "FeedbackFunction").EVENTS
    records = [record for event in events for record in SqsModel.model_validate(event).Records]
    assert [r.eventSourceARN for r in records] == [ses_cloud.get_att("SesEventsQueue", "Arn")] * 2
    envelopes = [SnsNotificationModel.model_validate_json(r.body) for r in records]
    assert {e.TopicArn for e in envelopes} == {ses_cloud.ref("SesEventsTopic")}
    assert [json.loads(e.Message)["eventType"] for e in envelopes] == ["Send", "Delivery"]
    # and the SES events are those the engine recorded, about this message, with the caller's and SES's tags
    assert received(ses_cloud) == ses_cloud.ses_events
    send_event, delivery = received(ses_cloud)
    for event in (send_event, delivery):
        assert event["mail"]["messageId"] == message_id
        assert event["mail"]["destination"] == ["jana.novakova@example.cz"]
        assert event["mail"]["tags"] == {
            "campaign": ["leden-2026"],
            "contact": ["c-42"],
            "ses:operation": ["SendEmail"],
            "ses:configuration-set": [CONFIG_SET],
            "ses:source-ip": ["127.0.0.1"],
            "ses:from-domain": ["mail.example.test"],
            "ses:caller-identity": ["crm-local"],
        }
    assert send_event["send"] == {}
    assert delivery["delivery"]["recipients"] == ["jana.novakova@example.cz"]
    assert delivery["delivery"]["timestamp"] == NOW
    assert ses_cloud.message_ids_for("Jana.Novakova@example.cz") == [message_id]
    assert queue_messages(ses_cloud, "SesEventsQueue") == []


def test_event_has_the_shape_ses_publishes(ses_cloud: LocalCloud) -> None:
    message_id = send(ses_cloud, "petr@example.cz", cc=["eva@example.cz"])
    send_event = received(ses_cloud)[0]
    assert list(send_event) == ["eventType", "mail", "send"]
    mail = send_event["mail"]
    assert list(mail) == MAIL_KEYS
    assert mail["timestamp"] == NOW  # on the emulation's clock
    assert mail["source"] == SENDER
    assert mail["sourceArn"] == f"arn:aws:ses:eu-central-1:123456789012:identity/{SENDER}"
    assert mail["sendingAccountId"] == "123456789012"
    assert mail["destination"] == ["petr@example.cz", "eva@example.cz"]
    assert mail["headersTruncated"] is False
    headers = {h["name"]: h["value"] for h in mail["headers"]}
    assert headers["From"] == SENDER and headers["To"] == "petr@example.cz" and headers["Cc"] == "eva@example.cz"
    assert headers["Content-Type"].startswith("multipart/alternative; boundary=")
    assert mail["commonHeaders"] == {
        "from": [SENDER], "to": ["petr@example.cz"], "cc": ["eva@example.cz"],
        "subject": "Nabídka na leden", "messageId": message_id,
    }
    # one Send per message, one Delivery per recipient
    assert types(ses_cloud) == ["Send", "Delivery", "Delivery"]
    assert [e["delivery"]["recipients"] for e in received(ses_cloud)[1:]] == [["petr@example.cz"], ["eva@example.cz"]]


def test_simple_content_gets_the_headers_ses_builds(ses_cloud: LocalCloud) -> None:
    send(ses_cloud, "petr@example.cz", simple=True)
    mail = received(ses_cloud)[0]["mail"]
    assert [h["name"] for h in mail["headers"]] == [
        "From", "To", "Subject", "MIME-Version", "Content-Type", "Content-Transfer-Encoding",
    ]
    assert mail["commonHeaders"]["subject"] == "Nabídka na leden"
    assert types(ses_cloud) == ["Send", "Delivery"]


def test_simulator_bounce_is_a_permanent_bounce_without_delivery(ses_cloud: LocalCloud) -> None:
    # When mail goes to the mailbox simulator's bounce address
    send(ses_cloud, "bounce@simulator.amazonses.com", tags={"campaign": "leden-2026"})
    # Then the function gets Send and a hard Bounce with SES's recipient details
    assert types(ses_cloud) == ["Send", "Bounce"]
    bounce = received(ses_cloud)[1]
    assert bounce["mail"]["tags"]["campaign"] == ["leden-2026"]
    assert bounce["bounce"]["bounceType"] == "Permanent"
    assert bounce["bounce"]["bounceSubType"] == "General"
    assert bounce["bounce"]["bouncedRecipients"] == [{
        "emailAddress": "bounce@simulator.amazonses.com", "action": "failed", "status": "5.1.1",
        "diagnosticCode": "smtp; 550 5.1.1 user unknown",
    }]
    assert bounce["bounce"]["timestamp"] == NOW and bounce["bounce"]["feedbackId"]
    assert bounce["bounce"]["reportingMTA"].startswith("dns; ")


def test_simulator_complaint_is_delivered_then_complained_about(ses_cloud: LocalCloud) -> None:
    send(ses_cloud, "complaint@simulator.amazonses.com")
    assert types(ses_cloud) == ["Send", "Delivery", "Complaint"]
    complaint = received(ses_cloud)[2]["complaint"]
    assert complaint["complaintFeedbackType"] == "abuse"
    assert complaint["complainedRecipients"] == [{"emailAddress": "complaint@simulator.amazonses.com"}]
    assert complaint["userAgent"] == "Amazon SES Mailbox Simulator"
    assert complaint["timestamp"] == complaint["arrivalDate"] == NOW


@pytest.mark.parametrize(
    ("address", "expected", "sub_type"),
    [
        ("bounce+leden-42@simulator.amazonses.com", ["Send", "Bounce"], "General"),
        ("suppressionlist@simulator.amazonses.com", ["Send", "Bounce"], "OnAccountSuppressionList"),
        ("Complaint+x@Simulator.AmazonSES.com", ["Send", "Delivery", "Complaint"], None),
        ("ooto@simulator.amazonses.com", ["Send", "Delivery"], None),
        ("success+1@simulator.amazonses.com", ["Send", "Delivery"], None),
    ],
)
def test_simulator_addresses_with_labels(
    ses_cloud: LocalCloud, address: str, expected: list[str], sub_type: str | None
) -> None:
    send(ses_cloud, address)
    assert types(ses_cloud) == expected
    if sub_type:
        assert received(ses_cloud)[1]["bounce"]["bounceSubType"] == sub_type


def test_each_recipient_gets_its_own_outcome(ses_cloud: LocalCloud) -> None:
    send(ses_cloud, ["jana@example.cz", "bounce@simulator.amazonses.com"], cc=["complaint@simulator.amazonses.com"])
    outcomes = [(e["eventType"], json.dumps(e.get("delivery") or e.get("bounce") or e.get("complaint") or {}))
                for e in received(ses_cloud)]
    assert [t for t, _ in outcomes] == ["Send", "Delivery", "Bounce", "Delivery", "Complaint"]
    assert "jana@example.cz" in outcomes[1][1] and "bounce@" in outcomes[2][1] and "complaint@" in outcomes[4][1]


def test_only_matching_event_types_of_enabled_destinations_are_published(ses_cloud: LocalCloud) -> None:
    # Given a configuration set whose enabled destination takes bounces and complaints only (its other
    # destination, for send/delivery/open/click, is disabled)
    # When a delivered message and a bounced one are sent with it
    delivered = send(ses_cloud, "jana@example.cz", config_set="bounces-only")
    send(ses_cloud, "bounce@simulator.amazonses.com", config_set="bounces-only")
    # Then only the Bounce was published
    assert types(ses_cloud) == ["Bounce"]
    assert received(ses_cloud)[0]["mail"]["tags"]["ses:configuration-set"] == ["bounces-only"]
    # and an open of the delivered message is not published either
    ses_cloud.ses_event(delivered, "Open")
    assert types(ses_cloud) == ["Bounce"] and len(ses_cloud.ses_events) == 1


def test_without_a_configuration_set_nothing_is_published(ses_cloud: LocalCloud) -> None:
    message_id = send(ses_cloud, "bounce@simulator.amazonses.com", config_set=None)
    assert ses_cloud.ses_events == [] and received(ses_cloud) == []
    assert ses_cloud.message_ids_for("bounce@simulator.amazonses.com") == [message_id]
    event = ses_cloud.ses_event(message_id, "Open")  # returned, published nowhere
    assert event["eventType"] == "Open" and "ses:configuration-set" not in event["mail"]["tags"]
    assert ses_cloud.ses_events == []


def test_the_identitys_default_configuration_set_applies(ses_cloud: LocalCloud) -> None:
    # Given news.example.test has EmailConfigurationSet as its default configuration set
    send(ses_cloud, "jana@example.cz", config_set=None, **{"from": "Novinky <novinky@news.example.test>"})
    assert types(ses_cloud) == ["Send", "Delivery"]
    mail = received(ses_cloud)[0]["mail"]
    assert mail["tags"]["ses:configuration-set"] == [CONFIG_SET]
    assert mail["source"] == "Novinky <novinky@news.example.test>"
    assert mail["sourceArn"].endswith(":identity/news.example.test")
    assert mail["tags"]["ses:from-domain"] == ["news.example.test"]


def test_ses_event_publishes_opens_and_clicks_with_the_messages_tags(ses_cloud: LocalCloud) -> None:
    message_id = send(ses_cloud, "jana@example.cz", tags={"campaign": "leden-2026"})
    # When, a day later, the recipient opens the message and clicks its links
    ses_cloud.advance(timedelta(days=1))
    opened = ses_cloud.ses_event(message_id, "Open", user_agent="Mozilla/5.0 (iPhone)")
    clicked = ses_cloud.ses_event(message_id, "Click")
    unsubscribed = ses_cloud.ses_event(message_id, "Click", link="https://example.cz/odhlasit")
    # Then the function got them after Send and Delivery, on the clock's time, with the mail as it was sent
    assert types(ses_cloud) == ["Send", "Delivery", "Open", "Click", "Click"]
    assert received(ses_cloud)[2:] == [opened, clicked, unsubscribed]
    assert opened["open"] == {
        "ipAddress": "192.0.2.1", "timestamp": "2026-01-06T07:00:00.000Z", "userAgent": "Mozilla/5.0 (iPhone)",
    }
    assert clicked["click"]["link"] == "https://example.cz/nabidka?c=42"  # the first link of the HTML
    assert unsubscribed["click"]["link"] == "https://example.cz/odhlasit"
    assert clicked["click"]["timestamp"] == "2026-01-06T07:00:00.000Z" and clicked["click"]["userAgent"]
    assert clicked["mail"]["timestamp"] == NOW and clicked["mail"]["tags"]["campaign"] == ["leden-2026"]


def test_ses_event_publishes_late_bounces_and_complaints(ses_cloud: LocalCloud) -> None:
    message_id = send(ses_cloud, ["jana@example.cz", "petr@example.cz"])
    soft = ses_cloud.ses_event(message_id, "Bounce", bounce_type="Transient", recipient="petr@example.cz")
    complaint = ses_cloud.ses_event(message_id, "Complaint")
    assert soft["bounce"]["bounceType"] == "Transient" and soft["bounce"]["bounceSubType"] == "MailboxFull"
    assert soft["bounce"]["bouncedRecipients"][0]["emailAddress"] == "petr@example.cz"
    assert complaint["complaint"]["complainedRecipients"] == [{"emailAddress": "jana@example.cz"}]
    assert types(ses_cloud)[-2:] == ["Bounce", "Complaint"]


def test_ses_event_can_wait_in_the_queue(ses_cloud: LocalCloud) -> None:
    message_id = send(ses_cloud, "jana@example.cz")
    ses_cloud.ses_event(message_id, "Open", settle=False)
    (waiting,) = queue_messages(ses_cloud, "SesEventsQueue")
    assert json.loads(json.loads(waiting["Body"])["Message"])["eventType"] == "Open"


def test_ses_event_rejects_unknown_messages_and_types(ses_cloud: LocalCloud) -> None:
    message_id = send(ses_cloud, "jana@example.cz", simple=True)
    with pytest.raises(KeyError):
        ses_cloud.ses_event("no-such-message", "Open")
    with pytest.raises(ValueError, match="event_type"):
        ses_cloud.ses_event(message_id, "Delivery")
    with pytest.raises(ValueError, match="no link"):
        ses_cloud.ses_event(message_id, "Click")  # plain text: pass link=
    with pytest.raises(ValueError, match="not a recipient"):
        ses_cloud.ses_event(message_id, "Bounce", recipient="eva@example.cz")


def test_sends_made_outside_a_function_are_published_on_settle(ses_cloud: LocalCloud) -> None:
    # When a test's own client sends (no invocation collects it), settle still publishes and delivers the events
    ses_cloud.client("sesv2").send_email(
        FromEmailAddress=SENDER, Destination={"ToAddresses": ["jana@example.cz"]},
        Content={"Simple": {"Subject": {"Data": "Ahoj"}, "Body": {"Text": {"Data": "Dobrý den"}}}},
        ConfigurationSetName=CONFIG_SET, EmailTags=[{"Name": "campaign", "Value": "direct"}],
    )
    ses_cloud.settle()
    assert types(ses_cloud) == ["Send", "Delivery"]
    assert received(ses_cloud)[0]["mail"]["tags"]["campaign"] == ["direct"]
