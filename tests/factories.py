"""Builders of domain records for tests (sensible defaults, override what the test is about)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from crm_automation.domain.models import Activity, ActivityKind, Consent, Contact, Task, Timer

NOW = datetime(2026, 6, 1, 4, 0, tzinfo=UTC)  # Monday 06:00 in Prague


def contact(**overrides: Any) -> Contact:
    values: dict[str, Any] = {
        "contact_id": "c-1",
        "first_name": "Jana",
        "last_name": "Nováková",
        "email": "jana.novakova@example.cz",
        "company": "Pekárna Novák s.r.o.",
        "owner": "petr.svoboda",
        "last_activity_at": NOW - timedelta(days=200),
        "marketing_consent": Consent(granted=True, at=NOW - timedelta(days=900), source="web-form",
                                     text_version="v1"),
        "lifetime_revenue": Decimal("12000"),
        "created_at": NOW - timedelta(days=1000),
        "updated_at": NOW - timedelta(days=200),
        "version": 3,
    }
    values.update(overrides)
    return Contact(**values)


def activity(**overrides: Any) -> Activity:
    values: dict[str, Any] = {
        "activity_id": "a-1",
        "contact_id": "c-1",
        "kind": ActivityKind.CALL,
        "direction": "out",
        "occurred_at": NOW,
        "created_at": NOW,
    }
    values.update(overrides)
    return Activity(**values)


def timer_for(c: Contact, **overrides: Any) -> Timer:
    assert c.inactivity is not None
    values: dict[str, Any] = {
        "timer_id": c.inactivity.timer_id,
        "kind": "inactivity_followup",
        "subject_id": c.contact_id,
        "reference": c.inactivity.enrolment_id,
        "due_at": c.inactivity.started_at + timedelta(days=30),
        "created_at": c.inactivity.started_at,
    }
    values.update(overrides)
    return Timer(**values)


def task_for(c: Contact, **overrides: Any) -> Task:
    assert c.inactivity is not None
    values: dict[str, Any] = {
        "task_id": c.inactivity.task_id,
        "owner": c.owner,
        "title": "t",
        "due_date": (c.inactivity.started_at + timedelta(days=14)).date(),
        "contact_id": c.contact_id,
        "created_at": c.inactivity.started_at,
    }
    values.update(overrides)
    return Task(**values)
