"""SQS event source mappings (``Type: SQS`` events), polled from the moto server.

* Receives up to ``BatchSize`` (default 10) messages (several ReceiveMessage calls when > 10).
* Shapes Lambda's SQS event (``messageId``, ``receiptHandle``, ``body``, ``attributes`` with
  ``ApproximateReceiveCount`` / ``SentTimestamp`` ..., ``messageAttributes`` in Lambda's lower-camel
  form, ``md5OfBody``, ``eventSource``, ``eventSourceARN``, ``awsRegion``).
* ``FilterCriteria`` on the record (``body`` parsed as JSON when it is JSON); a message that matches no
  filter is deleted without invoking the function, as Lambda does.
* Success deletes the messages. ``batchItemFailures`` (with ``ReportBatchItemFailures``) or an exception
  make the failed messages visible again at once (``ChangeMessageVisibility`` 0) so the next pump
  redelivers them; moto's redrive (checked on receive: ``ApproximateReceiveCount >= maxReceiveCount``)
  moves a poison message to the queue's dead-letter queue. A queue without a redrive policy gets
  ``MAX_REDELIVERIES_PER_SETTLE`` immediate redeliveries per settle; after that the message keeps the
  queue's visibility timeout (wall clock), like Lambda's back-off.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections import Counter
from typing import TYPE_CHECKING, Any

from crm_local.streams import compile_filters, matches_filters
from crm_local.template import EventSpec, FunctionSpec

if TYPE_CHECKING:
    from crm_local.cloud import LocalCloud

log = logging.getLogger("crm_local.queues")

__all__ = ["SqsConsumer", "MAX_REDELIVERIES_PER_SETTLE"]

MAX_REDELIVERIES_PER_SETTLE = 10


class SqsConsumer:
    """One ``Type: SQS`` event of one function."""

    def __init__(self, cloud: LocalCloud, function: FunctionSpec, event: EventSpec) -> None:
        props = event.properties
        self.cloud = cloud
        self.function = function
        self.event = event
        self.queue_arn: str = props["Queue"]
        self.queue_url: str = cloud.queue_url_for_arn(self.queue_arn)
        self.batch_size = int(props.get("BatchSize", 10))
        self.report_item_failures = "ReportBatchItemFailures" in (props.get("FunctionResponseTypes") or [])
        self.enabled = props.get("Enabled", True) not in (False, "false", "False")
        self.filters = compile_filters(event)
        self.has_redrive = False
        self._failures_this_settle: Counter[str] = Counter()
        self._first_seen: dict[str, str] = {}  # messageId -> engine-clock epoch millis

    @property
    def name(self) -> str:
        return f"{self.function.logical_id}.{self.event.name}"

    def start(self) -> None:
        attrs = self.cloud.client("sqs").get_queue_attributes(
            QueueUrl=self.queue_url, AttributeNames=["RedrivePolicy"]
        )["Attributes"]
        self.has_redrive = "RedrivePolicy" in attrs

    def new_settle(self) -> None:
        self._failures_this_settle.clear()

    def has_visible_messages(self) -> bool:
        """Cheap in-process check before an HTTP receive (None/unknown counts as "maybe")."""
        try:
            from moto.sqs.models import sqs_backends

            name = self.queue_arn.rsplit(":", 1)[1]
            queue = sqs_backends[self.cloud.account_id][self.cloud.region].queues[name]
            return any(m.visible and not m.delayed for m in queue._messages)
        except Exception:  # noqa: BLE001 - fall back to receiving over HTTP
            return True

    def _receive(self) -> list[dict[str, Any]]:
        sqs = self.cloud.client("sqs")
        messages: list[dict[str, Any]] = []
        while len(messages) < self.batch_size:
            response = sqs.receive_message(
                QueueUrl=self.queue_url,
                MaxNumberOfMessages=min(10, self.batch_size - len(messages)),
                MessageSystemAttributeNames=["All"],
                MessageAttributeNames=["All"],
                WaitTimeSeconds=0,
            )
            got = response.get("Messages") or []
            if not got:
                break
            messages.extend(got)
        return messages

    def pump(self) -> int:
        """Receive and process one batch. Returns the number of invocations made (0 or 1)."""
        if not self.enabled or not self.has_visible_messages():
            return 0
        messages = self._receive()
        if not messages:
            return 0
        sqs = self.cloud.client("sqs")
        records, handles = [], {}
        for message in messages:
            record = self._shape(message)
            if matches_filters(self.filters, _filterable(record)):
                records.append(record)
                handles[record["messageId"]] = message["ReceiptHandle"]
            else:
                self.cloud.filtered[self.function.logical_id] += 1
                sqs.delete_message(QueueUrl=self.queue_url, ReceiptHandle=message["ReceiptHandle"])
        if not records:
            return 0
        invocation = self.cloud._invoke(self.function.logical_id, {"Records": records}, source="sqs")
        failed = self._failed_ids(records, invocation)
        for message_id, handle in handles.items():
            if message_id in failed:
                self._failures_this_settle[message_id] += 1
                give_up = (
                    not self.has_redrive
                    and self._failures_this_settle[message_id] >= MAX_REDELIVERIES_PER_SETTLE
                )
                if not give_up:  # otherwise it stays invisible for the queue's visibility timeout
                    sqs.change_message_visibility(
                        QueueUrl=self.queue_url, ReceiptHandle=handle, VisibilityTimeout=0
                    )
            else:
                sqs.delete_message(QueueUrl=self.queue_url, ReceiptHandle=handle)
                self._first_seen.pop(message_id, None)
        return 1

    def _failed_ids(self, records: list[dict[str, Any]], invocation: Any) -> set[str]:
        all_ids = {r["messageId"] for r in records}
        if not invocation.ok:
            return all_ids
        result = invocation.result
        if not self.report_item_failures or not isinstance(result, dict):
            return set()
        failures = result.get("batchItemFailures") or []
        failed = set()
        for failure in failures:
            ident = failure.get("itemIdentifier") if isinstance(failure, dict) else None
            if not ident or ident not in all_ids:
                log.warning("%s: invalid itemIdentifier %r: the whole batch failed", self.name, ident)
                return all_ids
            failed.add(ident)
        return failed

    def _shape(self, message: dict[str, Any]) -> dict[str, Any]:
        body = message.get("Body", "")
        attributes = dict(message.get("Attributes") or {})
        # moto stamps wall-clock times; on the engine's clock the message was sent (and first received)
        # when the engine first saw it: consumers run right after whatever sent it.
        now_ms = str(int(self.cloud.clock.now().timestamp() * 1000))
        first = self._first_seen.setdefault(message["MessageId"], now_ms)
        if "SentTimestamp" in attributes:
            attributes["SentTimestamp"] = first
        if "ApproximateFirstReceiveTimestamp" in attributes:
            attributes["ApproximateFirstReceiveTimestamp"] = first
        record: dict[str, Any] = {
            "messageId": message["MessageId"],
            "receiptHandle": message["ReceiptHandle"],
            "body": body,
            "attributes": attributes,
            "messageAttributes": {
                name: _lambda_message_attribute(value)
                for name, value in (message.get("MessageAttributes") or {}).items()
            },
            "md5OfBody": message.get("MD5OfBody") or hashlib.md5(body.encode()).hexdigest(),  # noqa: S324
            "eventSource": "aws:sqs",
            "eventSourceARN": self.queue_arn,
            "awsRegion": self.cloud.region,
        }
        if message.get("MD5OfMessageAttributes"):
            record["md5OfMessageAttributes"] = message["MD5OfMessageAttributes"]
        return record


def _lambda_message_attribute(value: dict[str, Any]) -> dict[str, Any]:
    import base64

    out: dict[str, Any] = {"stringListValues": [], "binaryListValues": [], "dataType": value.get("DataType")}
    if "StringValue" in value:
        out["stringValue"] = value["StringValue"]
    if "BinaryValue" in value:
        raw = value["BinaryValue"]
        out["binaryValue"] = base64.b64encode(raw).decode() if isinstance(raw, (bytes, bytearray)) else raw
    return out


def _filterable(record: dict[str, Any]) -> dict[str, Any]:
    """Lambda filters SQS records with ``body`` parsed when it is JSON."""
    try:
        body = json.loads(record["body"])
    except (TypeError, ValueError):
        return record
    return {**record, "body": body} if isinstance(body, dict) else record
