"""Deal postponed (deals stream; FilterCriteria pass only a status change to "Odloženo"): enrols the deal in the
dead-deal reactivation. Decided on the current record, so a re-delivered record enrols nothing twice."""

from __future__ import annotations

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.parser.models import DynamoDBStreamRecordModel
from aws_lambda_powertools.utilities.typing import LambdaContext

from crm_automation.observability import logger, metrics, tracer
from crm_automation.services import deal_reactivation
from crm_automation.services.runtime import Runtime
from crm_automation.services.streams import UnexpectedRecord, process_or_park

rt = Runtime()
processor = BatchProcessor(event_type=EventType.DynamoDBStreams, model=DynamoDBStreamRecordModel)


def _process(record: DynamoDBStreamRecordModel) -> str:
    deal_id = (record.dynamodb.Keys or {}).get("deal_id")
    if record.eventName == "REMOVE" or not isinstance(deal_id, str):
        raise UnexpectedRecord(f"{record.eventName} record without a deal_id key")
    return deal_reactivation.on_deal_change(rt, deal_id, rt.clock.now())


@tracer.capture_method(capture_response=False)
def record_handler(record: DynamoDBStreamRecordModel) -> str:
    return process_or_park(rt, record, lambda: _process(record))


@logger.inject_lambda_context
@metrics.log_metrics
@tracer.capture_lambda_handler(capture_response=False)
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    return process_partial_response(event=event, record_handler=record_handler, processor=processor, context=context)
