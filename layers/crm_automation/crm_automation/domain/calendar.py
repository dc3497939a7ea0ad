"""Working days: weekends and public holidays (Czech by default, via the `holidays` package) are not due dates.
Also how dates and amounts read in task texts."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from decimal import Decimal
from functools import lru_cache
from zoneinfo import ZoneInfo

import holidays


@lru_cache(maxsize=8)
def _holidays(country: str) -> holidays.HolidayBase:
    return holidays.country_holidays(country)


def is_working_day(day: date, country: str = "CZ") -> bool:
    return day.weekday() < 5 and day not in _holidays(country)


def next_working_day_on_or_after(day: date, country: str = "CZ") -> date:
    while not is_working_day(day, country):
        day += timedelta(days=1)
    return day


def due_date_in(start: datetime, days: int, tz: str = "Europe/Prague", country: str = "CZ") -> date:
    """The local calendar day `days` after `start`, moved forward to a working day."""
    local = start.astimezone(ZoneInfo(tz)).date()
    return next_working_day_on_or_after(local + timedelta(days=days), country)


def local_date(moment: datetime, tz: str = "Europe/Prague") -> date:
    return moment.astimezone(ZoneInfo(tz)).date()


def format_date(day: date, locale: str) -> str:
    """How a person reads a date: '1. 6. 2025' in Czech, '1 June 2025' in English."""
    if locale == "cs":
        return f"{day.day}. {day.month}. {day.year}"
    return f"{day.day} {day.strftime('%B')} {day.year}"


def format_money(amount: Decimal, currency: str) -> str:
    """'1 250 000 CZK', with non-breaking spaces between thousands."""
    return f"{amount:,.0f} {currency}".replace(",", "\u00a0")
