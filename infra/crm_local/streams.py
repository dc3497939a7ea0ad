"""DynamoDB stream event source mappings (``Type: DynamoDB`` events), polled from the moto server.

Lambda semantics reproduced:

* ``StartingPosition`` (``TRIM_HORIZON`` / ``LATEST``), ``BatchSize`` (default 100).
* ``FilterCriteria``: each ``Pattern`` is evaluated against the Lambda-shaped record; a record that
  matches no filter is dropped without invoking the function (and counted in ``LocalCloud.filtered``).
* ``FunctionResponseTypes: [ReportBatchItemFailures]``: the lowest reported sequence number is the
  checkpoint; records before it are done, the batch is retried from it. An empty/invalid
  ``itemIdentifier`` fails the whole batch.
* A raised exception fails the whole batch; with ``BisectBatchOnFunctionError`` the batch is split in
  halves that are retried separately (a split counts as a retry attempt, so a poison record is
  isolated and discarded after ``MaximumRetryAttempts``).
* After ``MaximumRetryAttempts`` retries the records are discarded and Lambda's on-failure record
  (``DDBStreamBatchInfo``) is sent to ``DestinationConfig.OnFailure.Destination`` (SQS).
* Retries happen immediately (no back-off sleeping). ``MaximumRetryAttempts`` of -1 / absent means
  "until the record expires": locally the batch is then retried a few times per settle and stays
  pending (the shard is blocked) until it succeeds.

Not reproduced: ``MaximumRecordAgeInSeconds`` (records never wait, the clock only moves between
settles), ``ParallelizationFactor``, ``TumblingWindowInSeconds``, batching windows.
"""

from __future__ import annotations

import base64
import json
import logging
import uuid
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from crm_local.template import EventSpec, FunctionSpec

if TYPE_CHECKING:
    from crm_local.cloud import LocalCloud

log = logging.getLogger("crm_local.streams")

__all__ = ["StreamConsumer", "compile_filters", "UNBOUNDED_RETRY_ROUNDS"]

UNBOUNDED_RETRY_ROUNDS = 3  # attempts per settle when MaximumRetryAttempts is unbounded


def compile_filters(event: EventSpec) -> list[Any]:
    """``FilterCriteria.Filters[].Pattern`` (JSON strings) as moto event patterns."""
    from moto.events.models import EventPattern

    criteria = event.properties.get("FilterCriteria") or {}
    patterns = []
    for flt in criteria.get("Filters") or []:
        pattern = flt.get("Pattern")
        if isinstance(pattern, dict):
            pattern = json.dumps(pattern)
        patterns.append(EventPattern.load(pattern))
    return patterns


def matches_filters(patterns: list[Any], record: dict[str, Any]) -> bool:
    return not patterns or any(p.matches_event(record) for p in patterns)


class _Batch:
    def __init__(self, records: list[dict[str, Any]], attempts: int = 0) -> None:
        self.records = records
        self.records_at_start = records
        self.attempts = attempts  # retries used so far


class _Blocked(Exception):
    def __init__(self, sequence_number: str, attempts: int) -> None:
        super().__init__(sequence_number)
        self.sequence_number = sequence_number
        self.attempts = attempts


class StreamConsumer:
    """One ``Type: DynamoDB`` event of one function."""

    def __init__(self, cloud: LocalCloud, function: FunctionSpec, event: EventSpec) -> None:
        props = event.properties
        self.cloud = cloud
        self.function = function
        self.event = event
        self.stream_arn: str = props["Stream"]
        self.batch_size = int(props.get("BatchSize", 100))
        self.starting_position = str(props.get("StartingPosition", "LATEST"))
        self.bisect = bool(props.get("BisectBatchOnFunctionError", False))
        retries = props.get("MaximumRetryAttempts")
        self.max_retries: int | None = None if retries in (None, -1, "-1") else int(retries)
        self.report_item_failures = "ReportBatchItemFailures" in (props.get("FunctionResponseTypes") or [])
        self.on_failure: str | None = (
            ((props.get("DestinationConfig") or {}).get("OnFailure") or {}).get("Destination")
        )
        self.enabled = props.get("Enabled", True) not in (False, "false", "False")
        self.filters = compile_filters(event)
        self.pending: list[dict[str, Any]] = []
        self.pending_attempts = 0
        self.blocked = False  # set when unbounded retries left the shard blocked in this settle
        self.shard_id: str | None = None
        self._iterator: str | None = None
        self._table_name = self.stream_arn.split(":table/", 1)[1].split("/stream/", 1)[0]
        self._records_seen = 0  # records of moto's shard already fetched (or skipped by LATEST)
        self.discarded: list[dict[str, Any]] = []  # records dropped after retries (for tests)

    @property
    def name(self) -> str:
        return f"{self.function.logical_id}.{self.event.name}"

    # ------------------------------------------------------------------ polling

    def start(self) -> None:
        """Take the shard iterator (StartingPosition) now, as Lambda does when the mapping is created."""
        client = self.cloud.client("dynamodbstreams")
        description = client.describe_stream(StreamArn=self.stream_arn)["StreamDescription"]
        shards = description.get("Shards") or []
        if not shards:
            raise RuntimeError(f"{self.name}: stream {self.stream_arn} has no shard")
        self.shard_id = shards[0]["ShardId"]
        position = "TRIM_HORIZON" if self.starting_position == "TRIM_HORIZON" else "LATEST"
        self._iterator = client.get_shard_iterator(
            StreamArn=self.stream_arn, ShardId=self.shard_id, ShardIteratorType=position
        )["ShardIterator"]
        self._records_seen = 0 if position == "TRIM_HORIZON" else self._shard_length()

    def skip_to_latest(self) -> int:
        """Drop the backlog: continue from the stream's end, as a mapping created now with LATEST would."""
        assert self.shard_id is not None
        client = self.cloud.client("dynamodbstreams")
        before = self._records_seen
        self._iterator = client.get_shard_iterator(
            StreamArn=self.stream_arn, ShardId=self.shard_id, ShardIteratorType="LATEST"
        )["ShardIterator"]
        self._records_seen = self._shard_length() or 0
        skipped = self._records_seen - before + len(self.pending)
        self.pending.clear()
        self.pending_attempts = 0
        return skipped

    def _shard_length(self) -> int | None:
        """How many records moto's shard holds, read in-process (None when it cannot be read)."""
        try:
            from moto.dynamodb.models import dynamodb_backends

            table = dynamodb_backends[self.cloud.account_id][self.cloud.region].tables[self._table_name]
            return len(table.stream_shard.items)
        except Exception:  # noqa: BLE001 - fall back to polling over HTTP
            return None

    def has_new_records(self) -> bool:
        """Cheap check before an HTTP poll: idle consumers cost nothing while a clock is fast-forwarded."""
        length = self._shard_length()
        return length is None or length > self._records_seen

    def poll(self) -> int:
        """Fetch new records into ``pending`` (after filtering). Returns how many arrived."""
        if self._iterator is None or not self.has_new_records():
            return 0
        client = self.cloud.client("dynamodbstreams")
        arrived = 0
        while True:
            response = client.get_records(ShardIterator=self._iterator, Limit=1000)
            self.cloud._forget_shard_iterator(self._iterator)
            self._iterator = response.get("NextShardIterator")
            records = response.get("Records") or []
            for raw in records:
                record = self._shape(raw)
                arrived += 1
                self._records_seen += 1
                if matches_filters(self.filters, record):
                    self.pending.append(record)
                else:
                    self.cloud.filtered[self.function.logical_id] += 1
            if not records or self._iterator is None:
                return arrived

    def _shape(self, raw: dict[str, Any]) -> dict[str, Any]:
        """moto's stream record as Lambda delivers it."""
        ddb = dict(raw.get("dynamodb") or {})
        # moto stamps wall-clock time; the change happened "now" on the engine's clock (records are
        # polled right after the invocation or call that wrote them, before the clock moves again).
        ddb["ApproximateCreationDateTime"] = float(int(self.cloud.clock.now().timestamp()))
        for key in ("Keys", "NewImage", "OldImage"):
            if key in ddb:
                ddb[key] = _wire_attributes(ddb[key])
        shaped_ddb = {
            k: ddb[k]
            for k in (
                "ApproximateCreationDateTime", "Keys", "NewImage", "OldImage",
                "SequenceNumber", "SizeBytes", "StreamViewType",
            )
            if k in ddb
        }
        return {
            "eventID": raw.get("eventID") or uuid.uuid4().hex,
            "eventName": raw["eventName"],
            "eventVersion": "1.1",
            "eventSource": "aws:dynamodb",
            "awsRegion": self.cloud.region,
            "dynamodb": shaped_ddb,
            "eventSourceARN": self.stream_arn,
        }

    # ------------------------------------------------------------------ processing

    def pump(self) -> int:
        """Poll and process everything available. Returns the number of invocations made."""
        if not self.enabled:
            return 0
        self.poll()
        made = [0]
        while self.pending:
            batch = _Batch(self.pending[: self.batch_size], self.pending_attempts)
            try:
                self._run(batch, made)
            except _Blocked as blocked:
                # unbounded retries: drop what is done, keep the failing records at the head
                seqs = [r["dynamodb"]["SequenceNumber"] for r in self.pending]
                del self.pending[: seqs.index(blocked.sequence_number)]
                self.pending_attempts = blocked.attempts
                self.blocked = True
                break
            del self.pending[: len(batch.records_at_start)]
            self.pending_attempts = 0
        return made[0]

    def _run(self, batch: _Batch, made: list[int]) -> None:
        """Process ``batch`` until it succeeds or is discarded (raises _Blocked if retries are unbounded)."""
        rounds = 0
        while batch.records:
            invocation = self.cloud._invoke(
                self.function.logical_id, {"Records": batch.records}, source="dynamodb"
            )
            made[0] += 1
            rounds += 1
            failed_from, function_error = self._failure_index(batch.records, invocation)
            if failed_from is None:
                return
            if function_error and self.bisect and len(batch.records) > 1:
                mid = (len(batch.records) + 1) // 2
                for part in (batch.records[:mid], batch.records[mid:]):
                    half = _Batch(part, batch.attempts + 1)
                    if self.max_retries is not None and half.attempts > self.max_retries:
                        self._discard(half.records, invocation, function_error, half.attempts)
                    else:
                        self._run(half, made)
                return
            batch.records = batch.records[failed_from:]
            batch.attempts += 1
            if self.max_retries is None:
                if rounds >= UNBOUNDED_RETRY_ROUNDS:
                    raise _Blocked(batch.records[0]["dynamodb"]["SequenceNumber"], batch.attempts)
            elif batch.attempts > self.max_retries:
                self._discard(batch.records, invocation, function_error, batch.attempts)
                return

    def _failure_index(self, records: list[dict[str, Any]], invocation: Any) -> tuple[int | None, bool]:
        """(index of the first record to retry or None on success, was it a function error)."""
        if not invocation.ok:
            return 0, True
        if not self.report_item_failures:
            return None, False
        result = invocation.result
        if not isinstance(result, dict):
            return None, False
        failures = result.get("batchItemFailures")
        if not failures:
            return None, False
        seqs = [r["dynamodb"]["SequenceNumber"] for r in records]
        indexes = []
        for failure in failures:
            ident = failure.get("itemIdentifier") if isinstance(failure, dict) else None
            if not ident or ident not in seqs:
                log.warning("%s: invalid itemIdentifier %r: the whole batch failed", self.name, ident)
                return 0, False
            indexes.append(seqs.index(ident))
        return min(indexes), False

    def _discard(
        self, records: list[dict[str, Any]], invocation: Any, function_error: bool, attempts: int
    ) -> None:
        self.discarded.extend(records)
        log.warning(
            "%s: %d record(s) discarded after %d retries (seq %s..%s)",
            self.name, len(records), attempts - 1,
            records[0]["dynamodb"]["SequenceNumber"], records[-1]["dynamodb"]["SequenceNumber"],
        )
        if not self.on_failure:
            return
        first, last = records[0], records[-1]
        response_context: dict[str, Any] = {"statusCode": 200, "executedVersion": "$LATEST"}
        if function_error:
            response_context["functionError"] = "Unhandled"
        message = {
            "requestContext": {
                "requestId": invocation.request_id,
                "functionArn": self.function.arn,
                "condition": "RetryAttemptsExhausted",
                "approximateInvokeCount": attempts,
            },
            "responseContext": response_context,
            "version": "1.0",
            "timestamp": _iso_millis(self.cloud.clock.now()),
            "DDBStreamBatchInfo": {
                "shardId": self.shard_id,
                "startSequenceNumber": first["dynamodb"]["SequenceNumber"],
                "endSequenceNumber": last["dynamodb"]["SequenceNumber"],
                "approximateArrivalOfFirstRecord": _iso_seconds(first["dynamodb"]["ApproximateCreationDateTime"]),
                "approximateArrivalOfLastRecord": _iso_seconds(last["dynamodb"]["ApproximateCreationDateTime"]),
                "batchSize": len(records),
                "streamArn": self.stream_arn,
            },
        }
        self.cloud._send_to_destination(self.on_failure, json.dumps(message))


def _iso_seconds(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _iso_millis(when: datetime) -> str:
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{when.microsecond // 1000:03d}Z"


def _wire_attributes(value: Any) -> Any:
    """boto3 decodes B/BS to bytes; Lambda events carry them base64-encoded, as on the wire."""
    if isinstance(value, (bytes, bytearray)):
        return base64.b64encode(bytes(value)).decode()
    if isinstance(value, dict):
        return {k: _wire_attributes(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_wire_attributes(v) for v in value]
    return value
