"""Activity processor (activities table stream, INSERT only by FilterCriteria): applies each new activity to its
contact and deal. Transient failures are retried record by record; a record that can never succeed (malformed,
unknown contact) goes to the on-failure queue at once with its reason instead of blocking the shard."""

from __future__ import annotations

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.parser.models import DynamoDBStreamRecordModel
from aws_lambda_powertools.utilities.typing import LambdaContext

from crm_automation.domain.models import Activity
from crm_automation.observability import logger, metrics, tracer
from crm_automation.services import activities
from crm_automation.services.runtime import Runtime
from crm_automation.services.streams import process_or_park

rt = Runtime()
processor = BatchProcessor(event_type=EventType.DynamoDBStreams, model=DynamoDBStreamRecordModel)


@tracer.capture_method(capture_response=False)
def record_handler(record: DynamoDBStreamRecordModel) -> str:
    return process_or_park(rt, record, lambda: activities.apply(
        rt, Activity.model_validate(record.dynamodb.NewImage), rt.clock.now()))


@logger.inject_lambda_context
@metrics.log_metrics
@tracer.capture_lambda_handler(capture_response=False)
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    return process_partial_response(event=event, record_handler=record_handler, processor=processor, context=context)
