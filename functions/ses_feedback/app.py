"""SES feedback (SQS, fed by the SNS topic of the configuration set's event destination): sends, deliveries,
bounces, complaints, opens and clicks become suppressions, activities and campaign counts."""

from __future__ import annotations

import json

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.parser.models import SqsRecordModel
from aws_lambda_powertools.utilities.typing import LambdaContext

from crm_automation.observability import logger, metrics, tracer
from crm_automation.services import feedback
from crm_automation.services.runtime import Runtime

rt = Runtime()
processor = BatchProcessor(event_type=EventType.SQS, model=SqsRecordModel)


@tracer.capture_method(capture_response=False)
def record_handler(record: SqsRecordModel) -> str:
    body = json.loads(record.body)
    message = body["Message"] if body.get("Type") == "Notification" else record.body  # SNS envelope or raw
    event = feedback.SesEvent.model_validate_json(message)
    outcome = feedback.handle(rt, event, rt.clock.now())
    logger.info("SES event handled", extra={"event_type": event.eventType, "outcome": outcome})
    return outcome


@logger.inject_lambda_context
@metrics.log_metrics
@tracer.capture_lambda_handler(capture_response=False)
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    return process_partial_response(event=event, record_handler=record_handler, processor=processor, context=context)
