"""The one clock. Every piece of code asks ``get_clock().now()``; tests and the local emulation swap it."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Protocol


class Clock(Protocol):
    def now(self) -> datetime:  # timezone-aware, UTC
        ...

    def sleep(self, seconds: float) -> None:  # wait (a FixedClock just moves on)
        ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)


class FixedClock:
    """A clock that only moves when told to (tests, local emulation)."""

    def __init__(self, start: datetime) -> None:
        if start.tzinfo is None:
            raise ValueError("FixedClock needs a timezone-aware datetime")
        self._now = start.astimezone(UTC)

    def now(self) -> datetime:
        return self._now

    def set(self, when: datetime) -> None:
        if when.tzinfo is None:
            raise ValueError("FixedClock needs a timezone-aware datetime")
        self._now = when.astimezone(UTC)

    def sleep(self, seconds: float) -> None:
        """Waiting on a controlled clock: time passes, nobody waits."""
        self.advance(timedelta(seconds=seconds))

    def advance(self, delta: timedelta) -> datetime:
        self._now = self._now + delta
        return self._now


_clock: Clock = SystemClock()


def get_clock() -> Clock:
    return _clock


def set_clock(clock: Clock) -> None:
    global _clock
    _clock = clock
