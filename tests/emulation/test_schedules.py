"""ScheduleV2 triggers on the controllable clock: cron with time zones and DST, rate, coalescing, retries."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from .support import TEMPLATE, module, queue_messages

from crm_local import LocalCloud, ScheduleExpressionError
from crm_local.schedules import CronExpression, RateExpression, parse_duration


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


# ------------------------------------------------------------------ expressions (no cloud)


def test_cron_in_prague_follows_the_spring_dst_change() -> None:
    # Given 06:00 every day in Prague
    cron = CronExpression.parse("cron(0 6 * * ? *)", "Europe/Prague")
    # When the occurrences around the last Sunday of March are listed
    got = list(cron.occurrences(utc(2026, 3, 27), utc(2026, 3, 31)))
    # Then they stay at 06:00 local: 05:00 UTC before, 04:00 UTC after the change
    assert got == [utc(2026, 3, 27, 5), utc(2026, 3, 28, 5), utc(2026, 3, 29, 4), utc(2026, 3, 30, 4)]


def test_cron_skips_nonexistent_and_fires_ambiguous_times_once() -> None:
    cron = CronExpression.parse("cron(30 2 * * ? *)", "Europe/Prague")
    # 02:30 does not exist on 2026-03-29 (spring forward): skipped
    assert list(cron.occurrences(utc(2026, 3, 28, 12), utc(2026, 3, 29, 12))) == []
    # 02:30 happens twice on 2026-10-25 (fall back): fired once, on the first
    assert list(cron.occurrences(utc(2026, 10, 24, 12), utc(2026, 10, 25, 12))) == [utc(2026, 10, 25, 0, 30)]


def test_cron_lists_ranges_steps_and_names() -> None:
    cron = CronExpression.parse("cron(0/20 9-10 ? JAN MON-FRI 2026)", "UTC")
    got = list(cron.occurrences(utc(2026, 1, 2, 10, 30), utc(2026, 1, 5, 9, 30)))
    assert got == [utc(2026, 1, 2, 10, 40), utc(2026, 1, 5, 9), utc(2026, 1, 5, 9, 20)]  # Fri, then Mon
    every_sunday = CronExpression.parse("cron(0 8 ? * 1 *)", "UTC")  # AWS: 1 = SUN
    assert next(every_sunday.occurrences(utc(2026, 1, 5), utc(2026, 1, 31))) == utc(2026, 1, 11, 8)


@pytest.mark.parametrize(
    "expression",
    ["cron(0 6 L * ? *)", "cron(0 6 ? * 6#3 *)", "cron(0 6 15W * ? *)", "cron(0 6 * * * *)", "cron(0 6 * *)", "rate(1 minutes)", "rate(0 hours)"],
)
def test_unsupported_or_invalid_expressions_raise(expression: str) -> None:
    with pytest.raises(ScheduleExpressionError):
        if expression.startswith("cron"):
            CronExpression.parse(expression, "UTC")
        else:
            RateExpression.parse(expression, utc(2026, 1, 1))


def test_durations() -> None:
    assert parse_duration("7d") == timedelta(days=7)
    assert parse_duration("PT6H") == timedelta(hours=6)
    assert parse_duration("P1DT30M") == timedelta(days=1, minutes=30)
    assert parse_duration("1d6h") == timedelta(days=1, hours=6)


# ------------------------------------------------------------------ on the cloud


def test_schedules_exist_on_the_moto_server(cloud: LocalCloud) -> None:
    schedule = cloud.client("scheduler").get_schedule(Name="crm-local-CronFunction-Daily")
    assert schedule["ScheduleExpression"] == "cron(0 6 * * ? *)"
    assert schedule["ScheduleExpressionTimezone"] == "Europe/Prague"
    assert schedule["Target"]["Arn"] == cloud.get_att("CronFunction", "Arn")
    assert schedule["Target"]["DeadLetterConfig"]["Arn"] == cloud.get_att("SchedulerDeadLetterQueue", "Arn")


def test_advance_fires_cron_across_dst_with_the_clock_at_each_occurrence() -> None:
    # Given a cloud just before the spring DST change
    with LocalCloud(TEMPLATE, start=utc(2026, 3, 27, 7), quiet=True) as cloud:
        # When the clock moves four days
        fired = cloud.advance(timedelta(days=4))
        # Then the daily 06:00 Prague run fired four times, each with the clock at its occurrence
        calls = module(cloud, "CronFunction").CALLS
        assert [event["scheduled_time"] for event, _ in calls] == [
            "2026-03-28T05:00:00Z", "2026-03-29T04:00:00Z", "2026-03-30T04:00:00Z", "2026-03-31T04:00:00Z",
        ]
        assert [now for _, now in calls] == [
            "2026-03-28T05:00:00+00:00", "2026-03-29T04:00:00+00:00", "2026-03-30T04:00:00+00:00",
            "2026-03-31T04:00:00+00:00",
        ]
        assert calls[0][0]["attempt"] == "1"
        assert cloud.clock.now() == utc(2026, 3, 31, 7)
        # and the rate schedule interleaved in chronological order
        times = [f.scheduled_time for f in fired]
        assert times == sorted(times)


def test_rate_schedule_fires_every_period(cloud: LocalCloud) -> None:
    # When the clock moves one hour
    cloud.advance("1h")
    # Then rate(15 minutes) fired four times
    calls = module(cloud, "RateFunction").CALLS
    assert [e["scheduled_time"] for e, _ in calls] == [
        "2026-01-05T07:15:00Z", "2026-01-05T07:30:00Z", "2026-01-05T07:45:00Z", "2026-01-05T08:00:00Z",
    ]


def test_rate_resolution_coalesces_firings_but_cron_is_exact(cloud: LocalCloud) -> None:
    # When a week passes with an hourly resolution for rate schedules
    fired = cloud.advance(timedelta(days=7), rate_resolution=timedelta(hours=1))
    # Then the 15-minute sweep fired at most once per hour (the last slot of each hour) ...
    sweeps = [f.scheduled_time for f in fired if f.function == "RateFunction"]
    assert len(sweeps) == 7 * 24 + 1
    assert sweeps[0] == utc(2026, 1, 5, 7, 45) and sweeps[-1] == utc(2026, 1, 12, 7)
    assert len({(t.date(), t.hour) for t in sweeps}) == len(sweeps)
    # ... while the daily cron fired every day at its exact time
    daily = [f.scheduled_time for f in fired if f.function == "CronFunction"]
    assert daily == [utc(2026, 1, d, 5) for d in range(6, 13)]
    assert cloud.invocations["RateFunction"] == len(sweeps)


def test_fire_on_demand_twice_delivers_the_same_occurrence(cloud: LocalCloud) -> None:
    # When one occurrence is fired twice (at-least-once delivery)
    at = utc(2026, 1, 5, 5)
    cloud.fire("CronFunction", "Daily", at=at)
    cloud.fire("CronFunction", "Daily", at=at)
    # Then both events carry the same scheduled time and the clock did not move
    calls = module(cloud, "CronFunction").CALLS
    assert [e["scheduled_time"] for e, _ in calls] == ["2026-01-05T05:00:00Z"] * 2
    assert cloud.clock.now() == utc(2026, 1, 5, 7)


def test_failing_scheduled_run_is_retried_then_sent_to_the_dead_letter_queue(cloud: LocalCloud) -> None:
    # Given a scheduled function that fails (RetryPolicy.MaximumRetryAttempts 2)
    module(cloud, "CronFunction").FAIL = True
    # When its schedule fires
    firing = cloud.fire("CronFunction", "Daily")
    # Then it was tried three times with rising attempt numbers and then dead-lettered
    assert not firing.ok and firing.attempts == 3 and firing.sent_to_dead_letter_queue
    assert [e["attempt"] for e, _ in module(cloud, "CronFunction").CALLS] == ["1", "2", "3"]
    (dead,) = queue_messages(cloud, "SchedulerDeadLetterQueue")
    assert json.loads(dead["Body"]) == {"scheduled_time": "2026-01-05T07:00:00Z", "attempt": "3"}
    assert dead["MessageAttributes"]["SCHEDULE_ARN"]["StringValue"].endswith("crm-local-CronFunction-Daily")


def test_clock_cannot_move_back(cloud: LocalCloud) -> None:
    with pytest.raises(ValueError, match="back"):
        cloud.advance(utc(2025, 1, 1))
