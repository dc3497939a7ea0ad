"""Report aggregator (deals stream: inserts and changes; activities stream: an activity once it is applied, when it
is a purchase, an automated e-mail or a reaction): keeps the running totals of the reports in ReportsTable, exactly
once per record (a marker in the same transaction as the totals)."""

from __future__ import annotations

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.parser.models import DynamoDBStreamRecordModel
from aws_lambda_powertools.utilities.typing import LambdaContext

from crm_automation.observability import logger, metrics, tracer
from crm_automation.services import report_aggregator
from crm_automation.services.runtime import Runtime
from crm_automation.services.streams import UnexpectedRecord, process_or_park

rt = Runtime()
processor = BatchProcessor(event_type=EventType.DynamoDBStreams, model=DynamoDBStreamRecordModel)


def _process(record: DynamoDBStreamRecordModel) -> str:
    if record.eventName == "REMOVE":
        raise UnexpectedRecord("REMOVE record")
    return report_aggregator.on_record(rt, record.dynamodb.Keys, record.dynamodb.OldImage, record.dynamodb.NewImage,
                                       rt.clock.now())


@tracer.capture_method(capture_response=False)
def record_handler(record: DynamoDBStreamRecordModel) -> str:
    return process_or_park(rt, record, lambda: _process(record))


@logger.inject_lambda_context
@metrics.log_metrics
@tracer.capture_lambda_handler(capture_response=False)
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    return process_partial_response(event=event, record_handler=record_handler, processor=processor, context=context)
