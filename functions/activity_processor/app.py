"""Activity processor (activities table stream, INSERT only by FilterCriteria): applies each new activity to its
contact and deal. Transient failures are retried record by record; a record that can never succeed (malformed,
unknown contact) goes to the on-failure queue at once with its reason instead of blocking the shard."""

from __future__ import annotations

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.parser.models import DynamoDBStreamRecordModel
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import ValidationError

from crm_automation.domain.models import Activity
from crm_automation.errors import NotFoundError
from crm_automation.observability import logger, metrics, tracer
from crm_automation.services import activities
from crm_automation.services.runtime import Runtime

from aws_lambda_powertools.metrics import MetricUnit

rt = Runtime()
processor = BatchProcessor(event_type=EventType.DynamoDBStreams, model=DynamoDBStreamRecordModel)


@tracer.capture_method(capture_response=False)
def record_handler(record: DynamoDBStreamRecordModel) -> str:
    try:
        activity = Activity.model_validate(record.dynamodb.NewImage)
        return activities.apply(rt, activity, rt.clock.now())
    except (ValidationError, NotFoundError) as error:
        reason = f"{type(error).__name__}: {error.errors()[0]['loc'] if isinstance(error, ValidationError) else error}"
        logger.error("Unprocessable activity record sent to the on-failure queue",
                     extra={"event_id": record.eventID, "reason": reason})
        metrics.add_metric(name="UnprocessableRecords", unit=MetricUnit.Count, value=1)
        rt.stream_failures.send_all([{"reason": reason, "eventID": record.eventID, "eventSourceARN": record.eventSourceARN,
                            "keys": record.dynamodb.Keys, "sequenceNumber": record.dynamodb.SequenceNumber}])
        return "dead-lettered"


@logger.inject_lambda_context
@metrics.log_metrics
@tracer.capture_lambda_handler(capture_response=False)
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    return process_partial_response(event=event, record_handler=record_handler, processor=processor, context=context)
