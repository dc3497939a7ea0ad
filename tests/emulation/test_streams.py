"""DynamoDB stream triggers: record shape, FilterCriteria, batching, partial failures, bisect, on-failure."""

from __future__ import annotations

import json

from .support import module, put, queue_messages

from crm_local import LocalCloud


def test_record_is_shaped_like_lambda_delivers_it(cloud: LocalCloud) -> None:
    # Given an inserted activity
    put(cloud, "a1", kind="activity")
    # When the stream is pumped
    cloud.settle()
    # Then the function got one Lambda-shaped record
    record = module(cloud, "StreamFunction").RAW_EVENTS[0]["Records"][0]
    assert record["eventName"] == "INSERT"
    assert record["eventVersion"] == "1.1"
    assert record["eventSource"] == "aws:dynamodb"
    assert record["awsRegion"] == "eu-central-1"
    assert record["eventSourceARN"] == cloud.get_att("ItemsTable", "StreamArn")
    ddb = record["dynamodb"]
    assert ddb["Keys"] == {"pk": {"S": "a1"}}
    assert ddb["NewImage"] == {"pk": {"S": "a1"}, "kind": {"S": "activity"}}
    assert ddb["StreamViewType"] == "NEW_AND_OLD_IMAGES"
    assert ddb["ApproximateCreationDateTime"] == cloud.clock.now().timestamp()
    assert isinstance(ddb["SequenceNumber"], str) and ddb["SizeBytes"] > 0


def test_unrelated_updates_never_invoke_the_function(cloud: LocalCloud) -> None:
    # Given an activity that was processed
    put(cloud, "a1", kind="activity")
    cloud.settle()
    assert cloud.invocations["StreamFunction"] == 1
    # When the item is updated ten times and other kinds are inserted
    for i in range(10):
        put(cloud, "a1", kind="activity", note=str(i))
    put(cloud, "n1", kind="note")
    cloud.settle()
    # Then the function was not invoked again and the records were counted as filtered
    assert cloud.invocations["StreamFunction"] == 1
    assert cloud.filtered["StreamFunction"] == 11


def test_batch_size_is_honoured(cloud: LocalCloud) -> None:
    # Given seven matching records waiting in the stream (BatchSize 3)
    for i in range(7):
        put(cloud, f"a{i}", kind="activity")
    # When the stream is pumped
    cloud.settle()
    # Then they arrive in order, in batches of at most three
    batches = module(cloud, "StreamFunction").BATCHES
    assert [len(b) for b in batches] == [3, 3, 1]
    assert [pk for b in batches for pk in b] == [f"a{i}" for i in range(7)]


def test_partial_failure_retries_from_the_first_failed_record(cloud: LocalCloud) -> None:
    # Given a batch whose middle record fails once
    put(cloud, "a0", kind="activity")
    put(cloud, "a1", kind="activity", mode="flaky", fail_times="#1")
    put(cloud, "a2", kind="activity")
    # When the stream is pumped
    cloud.settle()
    # Then the retry starts at the failed record; the one before it is not delivered again
    fn = module(cloud, "StreamFunction")
    assert fn.BATCHES == [["a0", "a1", "a2"], ["a1", "a2"]]
    assert fn.DONE.count("a0") == 1 and "a1" in fn.DONE
    assert queue_messages(cloud, "StreamFailureQueue") == []


def test_poison_record_goes_to_on_failure_queue_after_retries(cloud: LocalCloud) -> None:
    # Given a record that always fails between good ones (MaximumRetryAttempts 2)
    put(cloud, "a0", kind="activity")
    put(cloud, "bad", kind="activity", mode="fail")
    put(cloud, "a2", kind="activity")
    put(cloud, "a3", kind="activity")
    # When the stream is pumped
    cloud.settle()
    # Then the poison record was tried 1 + 2 times and the rest of the stream was processed
    fn = module(cloud, "StreamFunction")
    assert fn.BATCHES == [["a0", "bad", "a2"], ["bad", "a2"], ["bad", "a2"], ["a3"]]
    assert {"a0", "a2", "a3"} <= set(fn.DONE) and "bad" not in fn.DONE
    # and Lambda's on-failure record names the discarded range
    (msg,) = queue_messages(cloud, "StreamFailureQueue")
    failure = json.loads(msg["Body"])
    assert failure["requestContext"]["condition"] == "RetryAttemptsExhausted"
    assert failure["requestContext"]["approximateInvokeCount"] == 3
    assert failure["requestContext"]["functionArn"] == cloud.get_att("StreamFunction", "Arn")
    info = failure["DDBStreamBatchInfo"]
    assert info["batchSize"] == 2
    assert info["startSequenceNumber"] == fn.RAW_EVENTS[1]["Records"][0]["dynamodb"]["SequenceNumber"]
    assert info["streamArn"] == cloud.get_att("ItemsTable", "StreamArn")
    assert failure["version"] == "1.0" and failure["timestamp"].endswith("Z")


def test_exception_bisects_the_batch_and_isolates_the_poison_record(cloud: LocalCloud) -> None:
    # Given a record that makes the whole invocation raise
    put(cloud, "a0", kind="activity")
    put(cloud, "boom", kind="activity", mode="raise")
    put(cloud, "a2", kind="activity")
    # When the stream is pumped
    cloud.settle()
    # Then the batch is split in halves until the poison record is alone, then discarded
    fn = module(cloud, "StreamFunction")
    assert fn.BATCHES == [["a0", "boom", "a2"], ["a0", "boom"], ["a0"], ["boom"], ["a2"]]
    assert fn.DONE == ["a0", "a2"]
    (msg,) = queue_messages(cloud, "StreamFailureQueue")
    failure = json.loads(msg["Body"])
    assert failure["DDBStreamBatchInfo"]["batchSize"] == 1
    assert failure["responseContext"]["functionError"] == "Unhandled"
    assert len(cloud.errors) == 3


def test_skip_stream_backlog_moves_consumers_past_waiting_records(cloud) -> None:
    from .support import put

    put(cloud, "skipped-1", kind="activity")
    put(cloud, "skipped-2", kind="activity")
    before = cloud.invocations["StreamFunction"]
    assert cloud.skip_stream_backlog() >= 2
    cloud.settle()
    assert cloud.invocations["StreamFunction"] == before
    put(cloud, "after", kind="activity")
    cloud.settle()
    assert cloud.invocations["StreamFunction"] == before + 1
