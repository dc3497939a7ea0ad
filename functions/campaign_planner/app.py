"""Campaign planner (SQS): walks one parallel-scan segment of the contacts, writing and queueing chunks."""

from __future__ import annotations

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.typing import LambdaContext

from crm_automation.events import PlanQueueRecord
from crm_automation.observability import logger, metrics, tracer
from crm_automation.services import campaigns
from crm_automation.services.runtime import Runtime

rt = Runtime()
processor = BatchProcessor(event_type=EventType.SQS, model=PlanQueueRecord)


@tracer.capture_method(capture_response=False)
def record_handler(record: PlanQueueRecord, lambda_context: LambdaContext) -> str:
    plan = record.body
    outcome = campaigns.plan_segment(rt, plan.campaign_id, plan.segment, plan.segments, rt.clock.now(),
                                     time_left=lambda: lambda_context.get_remaining_time_in_millis() / 1000)
    logger.info("Segment planned", extra={"campaign_id": plan.campaign_id, "segment": plan.segment,
                                          "outcome": outcome})
    return outcome


@logger.inject_lambda_context
@metrics.log_metrics
@tracer.capture_lambda_handler(capture_response=False)
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    return process_partial_response(event=event, record_handler=record_handler, processor=processor, context=context)
