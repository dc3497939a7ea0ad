"""EventBridge Scheduler expressions on a controllable clock.

* ``cron(minutes hours day-of-month month day-of-week year)`` as AWS defines it: day-of-week 1-7 is
  SUN-SAT, one of day-of-month / day-of-week must be ``?``; ``*``, ``?``, lists, ranges, ``/`` steps and
  ``JAN``..``DEC`` / ``SUN``..``SAT`` names are supported. ``L``, ``W`` and ``#`` raise
  :class:`ScheduleExpressionError`.
* ``rate(N minute|minutes|hour|hours|day|days)``: fixed durations in UTC (a "day" is 24 hours, also
  across a DST change, as EventBridge Scheduler documents).

Cron expressions are evaluated in ``ScheduleExpressionTimezone`` like EventBridge Scheduler does:
a wall-clock time that does not exist (spring forward) is skipped, one that happens twice (fall back)
fires once, on its first occurrence.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

__all__ = [
    "ScheduleExpressionError",
    "CronExpression",
    "RateExpression",
    "parse_schedule_expression",
    "parse_duration",
    "parse_instant",
]


class ScheduleExpressionError(ValueError):
    """The schedule expression is invalid or uses a feature the local engine does not support."""


_MONTHS = {m: i for i, m in enumerate("JAN FEB MAR APR MAY JUN JUL AUG SEP OCT NOV DEC".split(), start=1)}
_DAYS = {d: i for i, d in enumerate("SUN MON TUE WED THU FRI SAT".split(), start=1)}


def _parse_field(text: str, lo: int, hi: int, names: dict[str, int] | None, what: str) -> frozenset[int]:
    if any(ch in text.upper() for ch in "LW#") and not (names and _only_names(text, names)):
        raise ScheduleExpressionError(
            f"cron {what} field {text!r}: L, W and # are not supported by the local engine"
        )
    values: set[int] = set()
    for part in text.split(","):
        step, stepped = 1, "/" in part
        if stepped:
            part, step_text = part.split("/", 1)
            if not step_text.isdigit() or int(step_text) == 0:
                raise ScheduleExpressionError(f"cron {what} field {text!r}: bad step")
            step = int(step_text)
        if part in ("*", "?"):
            start, end = lo, hi
        elif "-" in part:
            a, b = part.split("-", 1)
            start, end = _value(a, names, what, text), _value(b, names, what, text)
        else:
            start = _value(part, names, what, text)
            end = hi if stepped else start
        if not (lo <= start <= hi and lo <= end <= hi):
            raise ScheduleExpressionError(f"cron {what} field {text!r}: out of range {lo}-{hi}")
        if start <= end:
            values.update(range(start, end + 1, step))
        else:  # wrap-around range, e.g. FRI-MON or NOV-FEB
            span = list(range(start, hi + 1)) + list(range(lo, end + 1))
            values.update(span[::step])
    return frozenset(values)


def _only_names(text: str, names: dict[str, int]) -> bool:
    tokens = re.split(r"[,\-/]", text.upper())
    return all(t in names or t.isdigit() or t in ("*", "?") for t in tokens)


def _value(token: str, names: dict[str, int] | None, what: str, text: str) -> int:
    token = token.strip().upper()
    if names and token in names:
        return names[token]
    if token.isdigit():
        return int(token)
    raise ScheduleExpressionError(f"cron {what} field {text!r}: cannot read {token!r}")


@dataclass(frozen=True)
class CronExpression:
    expression: str
    timezone: str
    minutes: frozenset[int]
    hours: frozenset[int]
    days_of_month: frozenset[int] | None  # None: "?" (any)
    months: frozenset[int]
    days_of_week: frozenset[int] | None  # None: "?" (any); 1 = Sunday
    years: frozenset[int]

    @classmethod
    def parse(cls, expression: str, timezone: str = "UTC") -> CronExpression:
        match = re.fullmatch(r"\s*cron\((.*)\)\s*", expression)
        if not match:
            raise ScheduleExpressionError(f"not a cron expression: {expression!r}")
        fields = match.group(1).split()
        if len(fields) != 6:
            raise ScheduleExpressionError(f"cron needs 6 fields (min hour dom month dow year): {expression!r}")
        minute, hour, dom, month, dow, year = fields
        if (dom == "?") == (dow == "?"):
            raise ScheduleExpressionError(
                f"{expression!r}: exactly one of day-of-month and day-of-week must be '?'"
            )
        try:
            ZoneInfo(timezone)
        except Exception as exc:  # noqa: BLE001 - ZoneInfoNotFoundError, ValueError
            raise ScheduleExpressionError(f"unknown time zone {timezone!r}") from exc
        return cls(
            expression=expression,
            timezone=timezone,
            minutes=_parse_field(minute, 0, 59, None, "minutes"),
            hours=_parse_field(hour, 0, 23, None, "hours"),
            days_of_month=None if dom == "?" else _parse_field(dom, 1, 31, None, "day-of-month"),
            months=_parse_field(month, 1, 12, _MONTHS, "month"),
            days_of_week=None if dow == "?" else _parse_field(dow, 1, 7, _DAYS, "day-of-week"),
            years=_parse_field(year, 1970, 2199, None, "year"),
        )

    def _day_matches(self, day: date) -> bool:
        if day.year not in self.years or day.month not in self.months:
            return False
        if self.days_of_month is not None and day.day not in self.days_of_month:
            return False
        if self.days_of_week is not None:
            aws_dow = (day.weekday() + 1) % 7 + 1  # Monday (0) -> 2 ... Sunday (6) -> 1
            if aws_dow not in self.days_of_week:
                return False
        return True

    def occurrences(self, after: datetime, until: datetime) -> Iterator[datetime]:
        """UTC instants ``t`` with ``after < t <= until``, in order."""
        tz = ZoneInfo(self.timezone)
        day = after.astimezone(tz).date() - timedelta(days=1)
        last_day = until.astimezone(tz).date() + timedelta(days=1)
        hours, minutes = sorted(self.hours), sorted(self.minutes)
        while day <= last_day:
            if self._day_matches(day):
                for h in hours:
                    for m in minutes:
                        local = datetime.combine(day, time(h, m), tzinfo=tz)  # fold=0: first of two
                        utc = local.astimezone(UTC)
                        if utc.astimezone(tz).replace(tzinfo=None) != local.replace(tzinfo=None):
                            continue  # does not exist (spring forward): EventBridge Scheduler skips it
                        if after < utc <= until:
                            yield utc
            day += timedelta(days=1)

    def next_after(self, after: datetime, horizon: timedelta = timedelta(days=366 * 5)) -> datetime | None:
        return next(self.occurrences(after, after + horizon), None)


_RATE_UNITS = {"minute": 60, "minutes": 60, "hour": 3600, "hours": 3600, "day": 86400, "days": 86400}


@dataclass(frozen=True)
class RateExpression:
    expression: str
    period: timedelta
    anchor: datetime  # first occurrence is anchor + period (anchor itself is "creation")

    @classmethod
    def parse(cls, expression: str, anchor: datetime) -> RateExpression:
        match = re.fullmatch(r"\s*rate\(\s*(\d+)\s+([a-z]+)\s*\)\s*", expression)
        if not match or match.group(2) not in _RATE_UNITS or int(match.group(1)) <= 0:
            raise ScheduleExpressionError(f"not a rate expression: {expression!r}")
        value, unit = int(match.group(1)), match.group(2)
        if (value == 1) != unit.endswith(("minute", "hour", "day")):
            raise ScheduleExpressionError(f"{expression!r}: use the singular unit for 1 and plural otherwise")
        return cls(expression, timedelta(seconds=value * _RATE_UNITS[unit]), anchor.astimezone(UTC))

    def occurrences(self, after: datetime, until: datetime) -> Iterator[datetime]:
        k = max(1, int((after - self.anchor) // self.period))
        while True:
            t = self.anchor + k * self.period
            if t > until:
                return
            if t > after:
                yield t
            k += 1

    def next_after(self, after: datetime) -> datetime:
        k = max(1, int((after - self.anchor) // self.period) + 1)
        t = self.anchor + k * self.period
        while t <= after:
            k += 1
            t = self.anchor + k * self.period
        return t

    def last_at_or_before(self, limit: datetime) -> datetime | None:
        if limit < self.anchor + self.period:
            return None
        k = int((limit - self.anchor) // self.period)
        return self.anchor + k * self.period


def parse_schedule_expression(
    expression: str, timezone: str | None, anchor: datetime
) -> CronExpression | RateExpression:
    expression = expression.strip()
    if expression.startswith("cron("):
        return CronExpression.parse(expression, timezone or "UTC")
    if expression.startswith("rate("):
        return RateExpression.parse(expression, anchor)
    if expression.startswith("at("):
        raise ScheduleExpressionError("one-time at() schedules are not supported by the local engine")
    raise ScheduleExpressionError(f"unknown schedule expression {expression!r}")


# --------------------------------------------------------------------------------------------- durations

_SIMPLE_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(w|d|h|m|min|s)\s*$", re.IGNORECASE)
_ISO_DURATION = re.compile(
    r"^P(?:(?P<w>\d+)W)?(?:(?P<d>\d+)D)?(?:T(?:(?P<h>\d+(?:\.\d+)?)H)?(?:(?P<m>\d+(?:\.\d+)?)M)?"
    r"(?:(?P<s>\d+(?:\.\d+)?)S)?)?$",
    re.IGNORECASE,
)


def parse_duration(text: str) -> timedelta:
    """``"7d"``, ``"6h"``, ``"90m"``, ``"2w"``, ``"30s"``, ``"1d6h"`` or ISO-8601 ``"P7D"`` / ``"PT6H"``."""
    text = text.strip()
    if text.upper().startswith("P"):
        m = _ISO_DURATION.match(text.upper())
        if not m or text.upper() in ("P", "PT"):
            raise ValueError(f"cannot read duration {text!r}")
        parts = {k: float(v) for k, v in m.groupdict().items() if v}
        return timedelta(
            weeks=parts.get("w", 0), days=parts.get("d", 0), hours=parts.get("h", 0),
            minutes=parts.get("m", 0), seconds=parts.get("s", 0),
        )
    total = timedelta()
    pieces = re.findall(r"(\d+(?:\.\d+)?)\s*(w|d|h|min|m|s)", text, re.IGNORECASE)
    if not pieces or re.sub(r"(\d+(?:\.\d+)?)\s*(w|d|h|min|m|s)", "", text, flags=re.IGNORECASE).strip():
        raise ValueError(f"cannot read duration {text!r} (try 7d, 6h, 90m, PT6H)")
    for number, unit in pieces:
        unit = unit.lower()
        seconds = {"w": 604800, "d": 86400, "h": 3600, "m": 60, "min": 60, "s": 1}[unit]
        total += timedelta(seconds=float(number) * seconds)
    return total


def parse_instant(text: str) -> datetime:
    """ISO-8601 instant; ``Z`` allowed; a naive value is taken as UTC."""
    value = datetime.fromisoformat(text.strip().replace("Z", "+00:00").replace("z", "+00:00"))
    return value if value.tzinfo else value.replace(tzinfo=UTC)
