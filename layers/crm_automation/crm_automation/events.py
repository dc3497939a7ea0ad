"""Payloads of the events our functions receive (besides the AWS envelopes Powertools already models)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Json

from aws_lambda_powertools.utilities.parser.models import SqsRecordModel

from crm_automation.domain.models import UtcDatetime


class ScheduledRun(BaseModel):
    """The `Input` of our EventBridge Scheduler schedules: {"scheduled_time": "<aws.scheduler.scheduled-time>"}."""

    model_config = ConfigDict(extra="ignore")
    scheduled_time: UtcDatetime | None = None


class TimerMessage(BaseModel):
    model_config = ConfigDict(extra="forbid")
    timer_id: str
    kind: str
    due_at: UtcDatetime


class TimerQueueRecord(SqsRecordModel):
    body: Json[TimerMessage]  # type: ignore[assignment]


class PlanMessage(BaseModel):
    model_config = ConfigDict(extra="forbid")
    campaign_id: str
    segment: int
    segments: int


class PlanQueueRecord(SqsRecordModel):
    body: Json[PlanMessage]  # type: ignore[assignment]


class ChunkMessage(BaseModel):
    model_config = ConfigDict(extra="forbid")
    campaign_id: str
    chunk_id: str


class ChunkQueueRecord(SqsRecordModel):
    body: Json[ChunkMessage]  # type: ignore[assignment]
