"""What every DynamoDB-stream consumer does with a record that can never succeed: park it on the on-failure queue
with a clear, personal-data-free reason, so it neither blocks the shard nor disappears silently."""

from __future__ import annotations

from collections.abc import Callable

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.parser.models import DynamoDBStreamRecordModel
from pydantic import ValidationError

from crm_automation.domain.escalation import UnknownSatisfaction
from crm_automation.errors import NotFoundError
from crm_automation.observability import logger, metrics
from crm_automation.services.runtime import Runtime


class UnexpectedRecord(Exception):
    """A record the consumer's filter should never have let through (wrong table, event or shape)."""


UNPROCESSABLE = (ValidationError, NotFoundError, UnknownSatisfaction, UnexpectedRecord)


def table_of(record: DynamoDBStreamRecordModel) -> str:
    """The table name in a stream ARN: arn:aws:dynamodb:<region>:<account>:table/<name>/stream/<label>."""
    return record.eventSourceARN.split(":table/", 1)[-1].split("/stream/", 1)[0]


def _reason(error: Exception) -> str:
    if isinstance(error, ValidationError):  # the location only: the input may hold personal data
        first = error.errors()[0]
        return f"ValidationError: {'.'.join(str(p) for p in first['loc'])}: {first['type']}"
    if isinstance(error, UnknownSatisfaction):  # not the value itself: it is free text someone typed
        return "UnknownSatisfaction: a satisfaction value that is not on the configured scale"
    return f"{type(error).__name__}: {error}"


def park(rt: Runtime, record: DynamoDBStreamRecordModel, error: Exception) -> str:
    reason = _reason(error)
    logger.error("Unprocessable stream record sent to the on-failure queue",
                 extra={"event_id": record.eventID, "table": table_of(record), "reason": reason})
    metrics.add_metric(name="UnprocessableRecords", unit=MetricUnit.Count, value=1)
    rt.stream_failures.send_all([{"reason": reason, "eventID": record.eventID, "eventSourceARN": record.eventSourceARN,
                                  "keys": record.dynamodb.Keys, "sequenceNumber": record.dynamodb.SequenceNumber}])
    return "dead-lettered"


def process_or_park(rt: Runtime, record: DynamoDBStreamRecordModel, process: Callable[[], str]) -> str:
    """Run `process`; an unprocessable record is parked (and counts as handled), anything else raises so the
    batch processor reports the record as failed and Lambda retries it."""
    try:
        return process()
    except UNPROCESSABLE as error:
        return park(rt, record, error)
