"""Timer sweep (EventBridge Scheduler, every 15 minutes): queues the durable timers that are due."""

from __future__ import annotations

from aws_lambda_powertools.utilities.parser import parse
from aws_lambda_powertools.utilities.typing import LambdaContext

from crm_automation.events import ScheduledRun
from crm_automation.observability import logger, metrics, tracer
from crm_automation.services import timers
from crm_automation.services.runtime import Runtime

rt = Runtime()


@logger.inject_lambda_context
@metrics.log_metrics
@tracer.capture_lambda_handler(capture_response=False)
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    parse(event=event, model=ScheduledRun)
    return {"queued": timers.sweep(rt, rt.clock.now())}
