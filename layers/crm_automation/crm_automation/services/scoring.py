"""Lead scoring on writes: the contact rescored (and qualified) plus the owner's task, for the caller to save in the
same transaction as the rest of its business event (crm._save, activities.apply)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from crm_automation.domain import scoring
from crm_automation.domain.models import Activity, Contact
from crm_automation.observability import logger
from crm_automation.services.runtime import Runtime
from crm_automation.settings import Settings


def scored(rt: Runtime, contact: Contact, now: datetime,
           activity: Activity | None = None) -> tuple[Contact, list[dict[str, Any]]]:
    """The contact rescored at `now` (with the activity's points if given), qualified if it crosses the threshold
    for the first time, and the operations that must go with it (the owner's task, created once: its id is
    derived from the contact and the contact's version condition makes the whole write happen once)."""
    settings = rt.settings
    config, tz = settings.lead_scoring, settings.timezone
    if activity is not None:  # an activity earning nothing leaves the score as it is (no write just to decay)
        after = scoring.add_activity(contact, activity, now, config, tz)
    else:
        after = scoring.rescore(contact, now, config, tz)
    after = scoring.qualify(after, now, config)
    if not scoring.newly_qualified(contact, after):
        return after, []
    logger.info("Lead qualified", extra={"contact_id": contact.contact_id, "lead_score": after.lead_score})
    return after, [rt.store.tasks.create_op(scoring.qualification_task(after, now, settings))]


def score_getter(settings: Settings) -> Callable[[Contact, datetime], int]:
    """The decayed score at a moment, for segment matching (``segments.compile_segment(..., lead_score=...)``)."""
    config = settings.lead_scoring
    return lambda contact, when: scoring.score_at(contact, when, config)


def current(rt: Runtime, contact: Contact, now: datetime) -> Contact:
    """The contact as shown at `now`: `lead_score` and `score.behaviour` decayed to then; nothing is written."""
    if contact.score is None:
        return contact
    config = rt.settings.lead_scoring
    at = max(now, contact.score.at)
    score = contact.score.model_copy(update={"behaviour": round(scoring.behaviour_at(contact.score, at, config), 6),
                                             "at": at})
    return contact.model_copy(update={"score": score, "lead_score": scoring.score_at(contact, at, config)})
