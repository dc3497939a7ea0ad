"""Domain-event publisher (contacts and tasks streams → EventBridge bus): the outbox of every workflow. The
FilterCriteria let through task inserts and status changes and contact escalation changes only. Powertools
idempotency on the stream record id keeps a re-delivered record from being published twice."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.idempotency import (
    DynamoDBPersistenceLayer,
    IdempotencyConfig,
    idempotent_function,
)
from aws_lambda_powertools.utilities.parser.models import DynamoDBStreamRecordModel
from aws_lambda_powertools.utilities.typing import LambdaContext

from crm_automation.observability import logger, metrics, tracer
from crm_automation.services import publisher
from crm_automation.services.runtime import Runtime
from crm_automation.services.streams import process_or_park, table_of

rt = Runtime()
processor = BatchProcessor(event_type=EventType.DynamoDBStreams, model=DynamoDBStreamRecordModel)
persistence = DynamoDBPersistenceLayer(table_name=rt.settings.idempotency_table)
# Stream records live 24 h, so a record re-delivered later than 25 h cannot exist.
once_per_record = IdempotencyConfig(event_key_jmespath="eventID", expires_after_seconds=25 * 3600)


@idempotent_function(data_keyword_argument="change", persistence_store=persistence, config=once_per_record)
def publish_once(change: dict[str, Any]) -> list[str]:
    return publisher.publish(rt, change["table"], change["eventID"], change["old"], change["new"], change["at"])


@tracer.capture_method(capture_response=False)
def record_handler(record: DynamoDBStreamRecordModel) -> str:
    at = record.dynamodb.ApproximateCreationDateTime or rt.clock.now()
    change = {"eventID": record.eventID, "table": table_of(record), "old": record.dynamodb.OldImage,
              "new": record.dynamodb.NewImage, "at": at.isoformat()}
    return process_or_park(rt, record, lambda: ",".join(publish_once(change=change)) or "no events")


@logger.inject_lambda_context
@metrics.log_metrics
@tracer.capture_lambda_handler(capture_response=False)
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    once_per_record.register_lambda_context(context)
    return process_partial_response(event=event, record_handler=record_handler, processor=processor, context=context)
