"""The emulation's fast TransactWriteItems snapshot rolls back exactly like moto's deep copy (and DynamoDB)."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import ClientError


def _table(cloud, name: str, range_key: bool) -> Any:
    client = cloud.client("dynamodb")
    schema = [{"AttributeName": "pk", "KeyType": "HASH"}]
    attributes = [{"AttributeName": "pk", "AttributeType": "S"}]
    if range_key:
        schema.append({"AttributeName": "sk", "KeyType": "RANGE"})
        attributes.append({"AttributeName": "sk", "AttributeType": "S"})
    client.create_table(TableName=name, KeySchema=schema, AttributeDefinitions=attributes,
                        BillingMode="PAY_PER_REQUEST",
                        StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"})
    return client


def _stream_length(cloud, name: str) -> int:
    streams = cloud.client("dynamodbstreams")
    arn = cloud.client("dynamodb").describe_table(TableName=name)["Table"]["LatestStreamArn"]
    shard = streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"][0]["ShardId"]
    iterator = streams.get_shard_iterator(StreamArn=arn, ShardId=shard, ShardIteratorType="TRIM_HORIZON")
    return len(streams.get_records(ShardIterator=iterator["ShardIterator"])["Records"])


@pytest.mark.parametrize("range_key", [False, True])
def test_a_cancelled_transaction_leaves_items_and_stream_untouched(cloud, range_key: bool, monkeypatch) -> None:
    from crm_local import moto_patches

    snapshots: list[str] = []
    real_snapshot = moto_patches._snapshot
    monkeypatch.setattr(moto_patches, "_snapshot", lambda table, keys: snapshots.append(table.name)
                        or real_snapshot(table, keys))
    name = f"tx-{int(range_key)}"
    client = _table(cloud, name, range_key)
    key = {"pk": {"S": "a"}, **({"sk": {"S": "1"}} if range_key else {})}
    other = {"pk": {"S": "b"}, **({"sk": {"S": "1"}} if range_key else {})}
    client.put_item(TableName=name, Item={**key, "n": {"N": "1"}, "tags": {"L": [{"S": "x"}]}})
    client.put_item(TableName=name, Item={**other, "n": {"N": "5"}})
    before = _stream_length(cloud, name)

    with pytest.raises(ClientError, match="TransactionCanceled"):
        client.transact_write_items(TransactItems=[
            {"Update": {"TableName": name, "Key": key, "UpdateExpression": "SET n = :two, tags = :t",
                        "ExpressionAttributeValues": {":two": {"N": "2"}, ":t": {"L": []}}}},
            {"Put": {"TableName": name, "Item": {"pk": {"S": "new"}, **({"sk": {"S": "1"}} if range_key else {})}}},
            *([{"Put": {"TableName": name, "Item": {"pk": {"S": "b"}, "sk": {"S": "2"}}}}] if range_key else []),
            {"ConditionCheck": {"TableName": name, "Key": other, "ConditionExpression": "n = :one",
                                "ExpressionAttributeValues": {":one": {"N": "1"}}}},
        ])

    item = client.get_item(TableName=name, Key=key)["Item"]
    assert item["n"] == {"N": "1"} and item["tags"] == {"L": [{"S": "x"}]}  # the in-place update was undone
    assert "Item" not in client.get_item(TableName=name, Key={"pk": {"S": "new"},
                                                             **({"sk": {"S": "1"}} if range_key else {})})
    assert _stream_length(cloud, name) == before
    if range_key:  # a new sort key under an existing partition key was rolled back too
        assert "Item" not in client.get_item(TableName=name, Key={"pk": {"S": "b"}, "sk": {"S": "2"}})
    assert set(snapshots) == {name}  # the fast snapshot, not moto's deep copy, did the rollback

    with pytest.raises(ClientError, match="TransactionCanceled"):
        client.transact_write_items(TransactItems=[
            {"Delete": {"TableName": name, "Key": key}},
            {"ConditionCheck": {"TableName": name, "Key": other, "ConditionExpression": "n = :one",
                                "ExpressionAttributeValues": {":one": {"N": "1"}}}},
        ])
    assert client.get_item(TableName=name, Key=key)["Item"]["n"] == {"N": "1"}  # the delete was undone
    assert _stream_length(cloud, name) == before

    client.transact_write_items(TransactItems=[
        {"Update": {"TableName": name, "Key": key, "UpdateExpression": "SET n = :two",
                    "ExpressionAttributeValues": {":two": {"N": "2"}}}}])
    assert client.get_item(TableName=name, Key=key)["Item"]["n"] == {"N": "2"}
    assert _stream_length(cloud, name) == before + 1


def test_a_shard_iterator_taken_before_a_cancelled_transaction_still_sees_later_records(cloud) -> None:
    # Stream consumers hold one shard iterator for the whole run: a rollback must not leave them reading a copy
    name = "tx-iterator"
    client = _table(cloud, name, range_key=False)
    client.put_item(TableName=name, Item={"pk": {"S": "a"}, "n": {"N": "1"}})
    streams = cloud.client("dynamodbstreams")
    arn = client.describe_table(TableName=name)["Table"]["LatestStreamArn"]
    shard = streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"][0]["ShardId"]
    iterator = streams.get_shard_iterator(StreamArn=arn, ShardId=shard, ShardIteratorType="LATEST")["ShardIterator"]

    with pytest.raises(ClientError, match="TransactionCanceled"):
        client.transact_write_items(TransactItems=[
            {"Put": {"TableName": name, "Item": {"pk": {"S": "new"}}}},
            {"ConditionCheck": {"TableName": name, "Key": {"pk": {"S": "a"}}, "ConditionExpression": "n = :two",
                                "ExpressionAttributeValues": {":two": {"N": "2"}}}}])
    client.put_item(TableName=name, Item={"pk": {"S": "b"}})

    records = streams.get_records(ShardIterator=iterator)["Records"]
    assert [r["dynamodb"]["Keys"]["pk"]["S"] for r in records] == ["b"]  # the cancelled put left no record
