"""Campaign sender (SQS, concurrency capped in the template): sends one chunk of a campaign per message."""

from __future__ import annotations

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.typing import LambdaContext

from crm_automation.events import ChunkQueueRecord
from crm_automation.observability import logger, metrics, tracer
from crm_automation.services import campaign_sender
from crm_automation.services.runtime import Runtime

rt = Runtime()
processor = BatchProcessor(event_type=EventType.SQS, model=ChunkQueueRecord)


@tracer.capture_method(capture_response=False)
def record_handler(record: ChunkQueueRecord, lambda_context: LambdaContext) -> str:
    message = record.body
    report = campaign_sender.send_chunk(rt, message.campaign_id, message.chunk_id, rt.clock.now(),
                                        time_left=lambda: lambda_context.get_remaining_time_in_millis() / 1000)
    logger.info("Chunk handled", extra={"campaign_id": message.campaign_id, "chunk_id": message.chunk_id,
                                        "outcome": report.outcome, "sent": report.sent, "failed": report.failed,
                                        "skipped": dict(report.skipped), "reconciled": report.reconciled})
    return report.outcome


@logger.inject_lambda_context
@metrics.log_metrics
@tracer.capture_lambda_handler(capture_response=False)
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    return process_partial_response(event=event, record_handler=record_handler, processor=processor, context=context)
