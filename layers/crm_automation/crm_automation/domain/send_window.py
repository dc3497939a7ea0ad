"""When marketing e-mail may go out: configured weekdays and hours in the local time zone, never on a public
holiday (Czech by default). What falls outside waits for the next opening.

Written as ``"mon-fri 08:00-18:00"`` (days: a range or a comma list of mon..sun; hours: HH:MM-HH:MM, end
exclusive) or ``"always"``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

from crm_automation.domain.calendar import _holidays

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_SPEC = re.compile(r"^\s*(?P<days>[a-z,\-]+)\s+(?P<start>\d{1,2}:\d{2})\s*-\s*(?P<end>\d{1,2}:\d{2})\s*$")


@dataclass(frozen=True)
class SendWindow:
    days: frozenset[int]  # 0 = Monday
    start: time
    end: time
    tz: str = "Europe/Prague"
    holidays_country: str | None = "CZ"  # None: holidays are ordinary days
    always: bool = False

    def is_open(self, now: datetime) -> bool:
        if self.always:
            return True
        local = now.astimezone(ZoneInfo(self.tz))
        return self._day_open(local) and self.start <= local.time() < self.end

    def _day_open(self, local: datetime) -> bool:
        if local.weekday() not in self.days:
            return False
        return self.holidays_country is None or local.date() not in _holidays(self.holidays_country)

    def next_open(self, now: datetime) -> datetime:
        """`now` if the window is open, else the next moment it opens (UTC)."""
        if self.is_open(now):
            return now
        zone = ZoneInfo(self.tz)
        local = now.astimezone(zone)
        day = local.date()
        for _ in range(400):
            opening = datetime.combine(day, self.start, tzinfo=zone)
            candidate = opening.astimezone(UTC)
            if candidate > now and self._day_open(opening):
                return candidate
            day += timedelta(days=1)
        raise ValueError("the send window never opens")  # pragma: no cover - parse() refuses empty windows


def parse_window(spec: str, tz: str = "Europe/Prague", holidays_country: str | None = "CZ") -> SendWindow:
    text = spec.strip().lower()
    if text in ("always", "24/7", ""):
        return SendWindow(frozenset(range(7)), time(0), time(23, 59, 59), tz, None, always=True)
    match = _SPEC.match(text)
    if not match:
        raise ValueError(f"send window {spec!r}: expected e.g. 'mon-fri 08:00-18:00' or 'always'")
    days: set[int] = set()
    for part in match["days"].split(","):
        ends = part.split("-")
        if len(ends) > 2 or any(e not in DAYS for e in ends):
            raise ValueError(f"send window {spec!r}: days are mon, tue, wed, thu, fri, sat, sun (e.g. mon-fri)")
        first, last = DAYS.index(ends[0]), DAYS.index(ends[-1])
        days.update(range(first, last + 1) if first <= last else [*range(first, 7), *range(0, last + 1)])
    start, end = (time.fromisoformat(f"{int(v.split(':')[0]):02d}:{v.split(':')[1]}") for v in
                  (match["start"], match["end"]))
    if start >= end:
        raise ValueError(f"send window {spec!r}: the start must be before the end")
    return SendWindow(frozenset(days), start, end, tz, holidays_country)
