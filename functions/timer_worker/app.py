"""Timer worker (SQS): fires each due timer; failed records are retried alone (partial batch response)."""

from __future__ import annotations

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.typing import LambdaContext

from crm_automation.events import TimerQueueRecord
from crm_automation.observability import logger, metrics, tracer
from crm_automation.services import timers
from crm_automation.services.runtime import Runtime

rt = Runtime()
processor = BatchProcessor(event_type=EventType.SQS, model=TimerQueueRecord)
_context: LambdaContext | None = None  # the current invocation's, for the time it has left


def _time_left() -> float:
    return _context.get_remaining_time_in_millis() / 1000 if _context is not None else 60.0


@tracer.capture_method(capture_response=False)
def record_handler(record: TimerQueueRecord) -> str:
    outcome = timers.fire(rt, record.body.timer_id, rt.clock.now(), _time_left)
    logger.info("Timer handled", extra={"timer_id": record.body.timer_id, "outcome": outcome})
    return outcome


@logger.inject_lambda_context
@metrics.log_metrics
@tracer.capture_lambda_handler(capture_response=False)
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    global _context
    _context = context
    return process_partial_response(event=event, record_handler=record_handler, processor=processor, context=context)
