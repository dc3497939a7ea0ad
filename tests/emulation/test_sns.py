"""SNS: topics and subscriptions from the template, and what a Publish delivers to a subscribed queue."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from aws_lambda_powertools.utilities.parser import envelopes, parse
from aws_lambda_powertools.utilities.parser.models import SnsNotificationModel, SqsModel
from crm_local import LocalCloud
from pydantic import BaseModel

from .support import FIXTURES, START, module, queue_messages

NOTIFICATIONS_TEMPLATE = FIXTURES / "notifications.yaml"
TOPIC_ARN = "arn:aws:sns:eu-central-1:123456789012:"


@pytest.fixture
def sns_cloud(tmp_path: Path) -> Iterator[LocalCloud]:
    with LocalCloud(template=NOTIFICATIONS_TEMPLATE, start=START, out_dir=tmp_path / "out", quiet=True) as running:
        yield running


def subscriptions(cloud: LocalCloud, logical_id: str) -> list[dict]:
    return cloud.client("sns").list_subscriptions_by_topic(TopicArn=cloud.ref(logical_id))["Subscriptions"]


def test_topics_and_sqs_subscriptions_are_created_as_declared(sns_cloud: LocalCloud) -> None:
    # Given topics named by the engine and by !Sub, with SQS subscriptions as resources and as a Subscription list
    # Then !Ref and .TopicArn are the topic ARN, .TopicName its name, and the topics exist under them
    assert sns_cloud.ref("SesEventsTopic") == TOPIC_ARN + "crm-local-SesEventsTopic"
    assert sns_cloud.get_att("SesEventsTopic", "TopicArn") == sns_cloud.ref("SesEventsTopic")
    assert sns_cloud.get_att("AuditTopic", "TopicName") == "crm-local-audit"
    listed = {t["TopicArn"] for t in sns_cloud.client("sns").list_topics()["Topics"]}
    assert {sns_cloud.ref(t) for t in ("SesEventsTopic", "AuditTopic", "AlarmTopic")} <= listed
    # and every sqs subscription exists, !Ref of a subscription being its ARN
    (ses,) = subscriptions(sns_cloud, "SesEventsTopic")
    assert ses["Protocol"] == "sqs" and ses["Endpoint"] == sns_cloud.get_att("SesEventsQueue", "Arn")
    assert sns_cloud.ref("SesEventsSubscription") == ses["SubscriptionArn"]
    audit = sorted(s["Endpoint"] for s in subscriptions(sns_cloud, "AuditTopic"))
    assert audit == sorted([sns_cloud.get_att("AuditQueue", "Arn"), sns_cloud.get_att("RawQueue", "Arn")])
    # but the e-mail subscription of the alarm topic is not emulated (its Ref still resolves)
    assert subscriptions(sns_cloud, "AlarmTopic") == []
    assert sns_cloud.ref("AlarmSubscription").startswith(sns_cloud.ref("AlarmTopic") + ":")


def test_publish_lands_in_the_queue_in_the_sns_envelope(sns_cloud: LocalCloud) -> None:
    # When code publishes to a topic with a subject and a message attribute
    published = sns_cloud.client("sns").publish(
        TopicArn=sns_cloud.ref("AuditTopic"), Message=json.dumps({"ahoj": "světe"}), Subject="Audit",
        MessageAttributes={"kind": {"DataType": "String", "StringValue": "audit"}},
    )
    # Then the subscribed queue holds SNS's envelope, stamped with the emulation's clock
    (message,) = queue_messages(sns_cloud, "AuditQueue")
    envelope = json.loads(message["Body"])
    assert envelope["Type"] == "Notification"
    assert envelope["MessageId"] == published["MessageId"]
    assert envelope["TopicArn"] == sns_cloud.ref("AuditTopic")
    assert json.loads(envelope["Message"]) == {"ahoj": "světe"}
    assert envelope["Subject"] == "Audit"
    assert envelope["Timestamp"] == "2026-01-05T07:00:00.000Z"
    assert envelope["MessageAttributes"] == {"kind": {"Type": "String", "Value": "audit"}}
    assert envelope["SignatureVersion"] and envelope["Signature"]
    assert envelope["SigningCertURL"].startswith("https://sns.eu-central-1.amazonaws.com/")
    subscription = next(s for s in subscriptions(sns_cloud, "AuditTopic") if s["Endpoint"].endswith("AuditQueue"))
    assert envelope["UnsubscribeURL"] == (
        "https://sns.eu-central-1.amazonaws.com/?Action=Unsubscribe&SubscriptionArn=" + subscription["SubscriptionArn"]
    )
    assert SnsNotificationModel.model_validate(envelope).Message == envelope["Message"]
    # and the RawMessageDelivery subscription's queue holds the bare message, attributes as SQS attributes
    (raw,) = queue_messages(sns_cloud, "RawQueue")
    assert json.loads(raw["Body"]) == {"ahoj": "světe"}
    assert raw["MessageAttributes"]["kind"]["StringValue"] == "audit"


def test_envelope_timestamp_follows_the_clock(sns_cloud: LocalCloud) -> None:
    sns_cloud.advance(timedelta(days=3, hours=2))
    sns_cloud.client("sns").publish(TopicArn=sns_cloud.ref("AuditTopic"), Message="later")
    (message,) = queue_messages(sns_cloud, "AuditQueue")
    assert json.loads(message["Body"])["Timestamp"] == "2026-01-08T09:00:00.000Z"


class Ping(BaseModel):
    ping: int


def test_a_function_subscribed_through_sqs_gets_lambdas_sqs_event_with_the_envelope(sns_cloud: LocalCloud) -> None:
    # Given a function with an SQS event on the queue subscribed to the topic
    # When code publishes to the topic and the queues settle
    sns_cloud.client("sns").publish(TopicArn=sns_cloud.ref("SesEventsTopic"), Message='{"ping": 1}')
    sns_cloud.settle()
    # Then the function got one Lambda SQS event that Powertools' SqsModel and SnsSqsEnvelope parse
    (event,) = module(sns_cloud, "FeedbackFunction").EVENTS
    (record,) = SqsModel.model_validate(event).Records
    assert record.eventSourceARN == sns_cloud.get_att("SesEventsQueue", "Arn")
    assert parse(event=event, model=Ping, envelope=envelopes.SnsSqsEnvelope) == [Ping(ping=1)]
    assert queue_messages(sns_cloud, "SesEventsQueue") == []


def test_publishing_to_a_topic_without_sqs_subscribers_works(sns_cloud: LocalCloud) -> None:
    # The alarm topic has only an e-mail subscription (not emulated): publishing to it still succeeds
    response = sns_cloud.client("sns").publish(TopicArn=sns_cloud.ref("AlarmTopic"), Message="ALARM", Subject="Alarm")
    assert response["MessageId"]
