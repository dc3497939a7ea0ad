"""Dissatisfaction escalation (contacts and tasks streams). The FilterCriteria in template.yaml let through only a
contact record where an escalation or a resolution became due, and an escalation task completed as resolved; every
other change never invokes this function. Each record is decided on the current state, so a re-delivered record
does nothing twice; an unexpected or malformed one is parked on the on-failure queue."""

from __future__ import annotations

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.parser.models import DynamoDBStreamRecordModel
from aws_lambda_powertools.utilities.typing import LambdaContext

from crm_automation.domain.models import Task
from crm_automation.observability import logger, metrics, tracer
from crm_automation.services import escalation
from crm_automation.services.runtime import Runtime
from crm_automation.services.streams import UnexpectedRecord, process_or_park, table_of

rt = Runtime()
processor = BatchProcessor(event_type=EventType.DynamoDBStreams, model=DynamoDBStreamRecordModel)


def _process(record: DynamoDBStreamRecordModel) -> str:
    table, image = table_of(record), record.dynamodb.NewImage
    if record.eventName == "REMOVE" or not image:
        raise UnexpectedRecord(f"{record.eventName} record without a new image")
    if table == rt.settings.contacts_table:
        contact_id = record.dynamodb.Keys.get("contact_id") if record.dynamodb.Keys else None
        if not isinstance(contact_id, str):
            raise UnexpectedRecord("contact record without a contact_id key")
        return escalation.on_contact(rt, contact_id, rt.clock.now())
    if table == rt.settings.tasks_table:
        return escalation.on_task_done(rt, Task.model_validate(image), rt.clock.now())
    raise UnexpectedRecord(f"record from table {table}, not contacts or tasks")


@tracer.capture_method(capture_response=False)
def record_handler(record: DynamoDBStreamRecordModel) -> str:
    return process_or_park(rt, record, lambda: _process(record))


@logger.inject_lambda_context
@metrics.log_metrics
@tracer.capture_lambda_handler(capture_response=False)
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    return process_partial_response(event=event, record_handler=record_handler, processor=processor, context=context)
