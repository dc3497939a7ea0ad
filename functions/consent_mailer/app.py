"""Double opt-in confirmation e-mails (consent ledger stream). The FilterCriteria in template.yaml let through only
INSERTs of `pending` entries; every other ledger entry never invokes this function. The e-mail goes at most once per
request (the send ledger, key `doi-<request id>`), so a re-delivered record sends nothing more; a malformed record is
parked on the on-failure queue."""

from __future__ import annotations

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.parser.models import DynamoDBStreamRecordModel
from aws_lambda_powertools.utilities.typing import LambdaContext

from crm_automation.domain.consent import ConsentEntry
from crm_automation.observability import logger, metrics, tracer
from crm_automation.services import consent
from crm_automation.services.runtime import Runtime
from crm_automation.services.streams import UnexpectedRecord, process_or_park, table_of

rt = Runtime()
processor = BatchProcessor(event_type=EventType.DynamoDBStreams, model=DynamoDBStreamRecordModel)


def _process(record: DynamoDBStreamRecordModel) -> str:
    if table_of(record) != rt.settings.consents_table:
        raise UnexpectedRecord(f"record from table {table_of(record)}, not the consent ledger")
    image = record.dynamodb.NewImage
    if record.eventName != "INSERT" or not image:
        raise UnexpectedRecord(f"{record.eventName} record: the ledger is append-only")
    return consent.send_confirmation(rt, ConsentEntry.model_validate(image), rt.clock.now())


@tracer.capture_method(capture_response=False)
def record_handler(record: DynamoDBStreamRecordModel) -> str:
    return process_or_park(rt, record, lambda: _process(record))


@logger.inject_lambda_context
@metrics.log_metrics
@tracer.capture_lambda_handler(capture_response=False)
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    return process_partial_response(event=event, record_handler=record_handler, processor=processor, context=context)
