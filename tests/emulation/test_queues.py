"""SQS triggers: event shape, partial batch failure redelivery, dead-letter queue."""

from __future__ import annotations

import json

from .support import module, queue_messages

from crm_local import LocalCloud


def send(cloud: LocalCloud, **body: object) -> None:
    cloud.client("sqs").send_message(
        QueueUrl=cloud.ref("WorkQueue"),
        MessageBody=json.dumps(body),
        MessageAttributes={"kind": {"DataType": "String", "StringValue": "test"}},
    )


def test_sqs_event_is_shaped_like_lambda_delivers_it(cloud: LocalCloud) -> None:
    # Given a message on the queue
    send(cloud, id="m1")
    # When the queue is pumped
    cloud.settle()
    # Then the record has Lambda's SQS shape and the message is gone
    (record,) = module(cloud, "WorkerFunction").BATCHES[0]
    assert json.loads(record["body"]) == {"id": "m1"}
    assert record["eventSource"] == "aws:sqs"
    assert record["eventSourceARN"] == cloud.get_att("WorkQueue", "Arn")
    assert record["awsRegion"] == "eu-central-1"
    assert record["attributes"]["ApproximateReceiveCount"] == "1"
    assert record["attributes"]["SentTimestamp"] == str(int(cloud.clock.now().timestamp() * 1000))
    assert record["messageAttributes"]["kind"]["stringValue"] == "test"
    assert record["messageAttributes"]["kind"]["dataType"] == "String"
    assert len(record["md5OfBody"]) == 32 and record["receiptHandle"]
    assert queue_messages(cloud, "WorkQueue") == []


def test_failed_message_is_redelivered_and_others_are_not(cloud: LocalCloud) -> None:
    # Given a batch where one message fails once
    send(cloud, id="ok")
    send(cloud, id="flaky", fail_times=1)
    # When the queue is pumped
    cloud.settle()
    # Then only the failed message came back, with its receive count raised
    fn = module(cloud, "WorkerFunction")
    assert sorted(fn.DONE) == ["flaky", "ok"]
    assert fn.SEEN == {"ok": 1, "flaky": 2}
    redelivered = fn.BATCHES[-1]
    assert [json.loads(r["body"])["id"] for r in redelivered] == ["flaky"]
    assert redelivered[0]["attributes"]["ApproximateReceiveCount"] == "2"


def test_poison_message_moves_to_the_dead_letter_queue(cloud: LocalCloud) -> None:
    # Given a message that always fails (maxReceiveCount 3) next to a good one
    send(cloud, id="poison", fail=True)
    send(cloud, id="good")
    # When the queue is pumped
    cloud.settle()
    # Then the poison message was delivered three times and then redriven to the DLQ
    fn = module(cloud, "WorkerFunction")
    assert fn.SEEN["poison"] == 3 and fn.DONE == ["good"]
    (dead,) = queue_messages(cloud, "WorkDeadLetterQueue")
    assert json.loads(dead["Body"])["id"] == "poison"
    assert queue_messages(cloud, "WorkQueue") == []
