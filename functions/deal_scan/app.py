"""Daily dead-deal scan (EventBridge Scheduler): enrols open deals silent for 90 days. One run per scheduled time,
however often it is delivered."""

from __future__ import annotations

from aws_lambda_powertools.utilities.idempotency import (
    DynamoDBPersistenceLayer,
    IdempotencyConfig,
    idempotent,
)
from aws_lambda_powertools.utilities.parser import parse
from aws_lambda_powertools.utilities.typing import LambdaContext

from crm_automation.events import ScheduledRun
from crm_automation.observability import logger, metrics, tracer
from crm_automation.services import deal_reactivation
from crm_automation.services.runtime import Runtime

rt = Runtime()
persistence = DynamoDBPersistenceLayer(table_name=rt.settings.idempotency_table)
once_per_run = IdempotencyConfig(event_key_jmespath="scheduled_time", expires_after_seconds=3 * 24 * 3600)


@logger.inject_lambda_context
@metrics.log_metrics
@tracer.capture_lambda_handler(capture_response=False)
@idempotent(config=once_per_run, persistence_store=persistence)
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    run = parse(event=event, model=ScheduledRun)
    return deal_reactivation.run_scan(rt, run.scheduled_time or rt.clock.now())
