"""Lead scoring (seed 004) and qualification. Pure: no AWS, no I/O.

A contact's lead score has two parts (``Contact.score``, a ``LeadScore``):

- **profile points**, recomputed from the record on every save: what the lead told us about themselves (e-mail,
  phone, name, company, company fields such as industry or size);
- **behaviour points**, earned by activities (forms, chats, e-mail opens and clicks, page and ad views, meetings
  ...) and decaying exponentially: a point earned on a day is worth ``0.5 ** (age / half_life_days)`` of a point,
  the age counted from the start of that day (local time). ``LeadScore.behaviour`` is their value at
  ``LeadScore.at``; ``score_at`` decays it to any later moment without writing anything.

``lead_score`` = profile + behaviour rounded to a whole number, at ``score.at``. Since the value of every earned
point depends only on the day it was earned, applying a contact's activities in any order gives the same score.

Rules (docs/leads.md#lead-scoring has the table of defaults):

- Automated outbound activities (a workflow's e-mail) earn nothing; neither do kinds without points (notes,
  tickets, bounces ...). Negative points (unsubscribe, spam complaint) lower the score and decay the same way.
- Each kind has a **daily cap**: the points one kind can earn on one local day (in absolute value), so a hundred
  opens of the same e-mail count as the cap, not a hundred times. The counters are kept in ``LeadScore.days`` for
  ``max_age_days``; an activity that happened longer ago than that earns nothing (it would be worth less than
  1/8 of its points with the default half-life, and its day's counter is gone).
- A contact that was never scored but carries a ``lead_score`` (a value carried over from an older CRM, or set
  through the API) starts with that score: the part above its profile points becomes behaviour points that decay
  from then on. The score never starts below the profile points.
- **Qualification**: when the score reaches ``threshold`` and ``qualified_at`` is empty, the contact is qualified
  once and for all: ``qualified_at`` is set and the owner gets a task (deterministic id ``qualified-<contact_id>``).
  A lead that decays below the threshold and crosses it again keeps its first ``qualified_at`` and gets no second
  task. Only leads are qualified: customers, former customers and archived contacts are scored (segments may use
  the score) but not qualified; such a contact becoming a lead again (or unarchived) qualifies at its next save or
  scored activity if its score is still high enough.
"""

from __future__ import annotations

import math
from datetime import date, datetime, time, timedelta
from typing import TYPE_CHECKING, Annotated, Any
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from crm_automation.domain.calendar import due_date_in, local_date
from crm_automation.domain.models import Activity, ActivityKind, Contact, LeadScore, Lifecycle, Task

if TYPE_CHECKING:
    from crm_automation.settings import Settings

WORKFLOW = "lead_scoring"

# Profile completeness (max 30 with the defaults: the profile alone never qualifies a lead).
DEFAULT_PROFILE: dict[str, int] = {
    "email": 5, "phone": 5, "first_name": 3, "last_name": 2, "company": 5,
    "company.industry": 5, "company.employees": 5,
}
# Points per activity kind, and the most one kind can earn on one day.
DEFAULT_POINTS: dict[ActivityKind, int] = {
    ActivityKind.FORM: 15, ActivityKind.CHAT: 10, ActivityKind.EMAIL_IN: 10, ActivityKind.MEETING: 20,
    ActivityKind.CALL: 5, ActivityKind.PURCHASE: 20, ActivityKind.CLICK: 5, ActivityKind.OPEN: 1,
    ActivityKind.PAGE_VIEW: 2, ActivityKind.AD_VIEW: 1,
    ActivityKind.UNSUBSCRIBE: -10, ActivityKind.SPAM_COMPLAINT: -20,
}
DEFAULT_DAILY_CAPS: dict[ActivityKind, int] = {
    ActivityKind.FORM: 30, ActivityKind.CHAT: 20, ActivityKind.EMAIL_IN: 20, ActivityKind.MEETING: 20,
    ActivityKind.CALL: 10, ActivityKind.PURCHASE: 20, ActivityKind.CLICK: 15, ActivityKind.OPEN: 2,
    ActivityKind.PAGE_VIEW: 10, ActivityKind.AD_VIEW: 3,
    ActivityKind.UNSUBSCRIBE: 10, ActivityKind.SPAM_COMPLAINT: 20,
}
_PROFILE_FIELDS = ("email", "phone", "first_name", "last_name", "company")
_EPSILON = 1e-6  # behaviour below this is 0 (and stored values stay tidy)

Points = Annotated[int, Field(ge=-1000, le=1000)]


class ScoringConfig(BaseModel):
    """How leads are scored (settings ``lead_scoring``, JSON in LEAD_SCORING). The maps given are merged into the
    defaults: ``{"activities": {"open": 0}}`` switches opens off and keeps everything else."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    profile: dict[str, Points] = Field(
        default_factory=lambda: dict(DEFAULT_PROFILE),
        description="Points for a filled-in field: email, phone, first_name, last_name, company, "
                    "company.<field>, custom.<field>")
    activities: dict[ActivityKind, Points] = Field(default_factory=lambda: dict(DEFAULT_POINTS),
                                                   description="Points per activity kind (absent: 0)")
    daily_caps: dict[ActivityKind, Annotated[int, Field(ge=0)]] = Field(
        default_factory=lambda: dict(DEFAULT_DAILY_CAPS),
        description="Most points (absolute) one kind earns per local day (absent: no cap)")
    half_life_days: float = Field(30, gt=0, le=3650, description="Behaviour points halve in this many days")
    threshold: int = Field(50, ge=1, description="A lead with at least this score is qualified")
    max_age_days: int = Field(90, ge=1, le=3650, description="Older activities earn nothing")
    task_due_days: int = Field(2, ge=0, le=365, description="The owner's task is due this many days later "
                                                            "(moved to a working day)")

    @model_validator(mode="before")
    @classmethod
    def _merge_defaults(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        merged = dict(data)
        for name, defaults in (("profile", DEFAULT_PROFILE), ("activities", DEFAULT_POINTS),
                               ("daily_caps", DEFAULT_DAILY_CAPS)):
            given = data.get(name)
            if isinstance(given, dict):
                merged[name] = {str(k): v for k, v in defaults.items()} | given
        return merged

    @field_validator("profile")
    @classmethod
    def _profile_keys(cls, value: dict[str, int]) -> dict[str, int]:
        for key in value:
            prefix, dot, name = key.partition(".")
            if not (key in _PROFILE_FIELDS or (dot and prefix in ("company", "custom") and name.strip())):
                raise ValueError(f"profile: unknown field {key!r} (use {', '.join(_PROFILE_FIELDS)}, "
                                 "company.<field> or custom.<field>)")
        return value


# ------------------------------------------------------------------ arithmetic


def decay_factor(days: float, half_life_days: float) -> float:
    """What a point is worth after `days` (1 for a moment not yet past)."""
    return 1.0 if days <= 0 else 0.5 ** (days / half_life_days)


def _days_between(start: datetime, end: datetime) -> float:
    return (end - start).total_seconds() / 86400


def _tidy(behaviour: float) -> float:
    return 0.0 if abs(behaviour) < _EPSILON else round(behaviour, 6)


def _whole(value: float) -> int:
    return math.floor(value + 0.5)


def _filled(value: Any) -> bool:
    return value is not None and not (isinstance(value, str) and not value.strip())


def profile_points(contact: Contact, config: ScoringConfig) -> int:
    total = 0
    for key, points in config.profile.items():
        prefix, dot, name = key.partition(".")
        if dot:
            fields = contact.company_fields if prefix == "company" else contact.custom_fields
            value = fields.get(name)
            if value is None:  # field names are matched ignoring case, as segments do
                value = next((v for k, v in fields.items() if k.strip().casefold() == name.strip().casefold()), None)
        else:
            value = getattr(contact, key)
        if _filled(value):
            total += points
    return total


def points_for(activity: Activity, config: ScoringConfig) -> int:
    """The activity's points before the daily cap: none for a workflow's own outbound activity."""
    if activity.automated and activity.direction == "out":
        return 0
    return config.activities.get(activity.kind, 0)


def behaviour_at(score: LeadScore, when: datetime, config: ScoringConfig) -> float:
    return score.behaviour * decay_factor(_days_between(score.at, when), config.half_life_days)


def score_at(contact: Contact, when: datetime, config: ScoringConfig) -> int:
    """The lead score as it stands at `when` (behaviour decayed, nothing written): what segments match and the
    contact view shows. A contact never scored by this module has its stored ``lead_score``."""
    if contact.score is None:
        return contact.lead_score
    return contact.score.profile + _whole(behaviour_at(contact.score, when, config))


def _oldest_day(moment: datetime, config: ScoringConfig, tz: str) -> date:
    return local_date(moment, tz) - timedelta(days=config.max_age_days)


def rescore(contact: Contact, now: datetime, config: ScoringConfig, tz: str = "Europe/Prague") -> Contact:
    """Profile points recomputed from the record, behaviour decayed to `now`; `lead_score` and `score` set."""
    profile = profile_points(contact, config)
    if contact.score is None:  # a carried-over score (older CRM, API): the part above the profile decays from now
        at, behaviour, days = now, float(max(0, contact.lead_score - profile)), {}
    else:
        at = max(contact.score.at, now)
        behaviour = behaviour_at(contact.score, at, config)
        oldest = _oldest_day(at, config, tz).isoformat()
        days = {d: kinds for d, kinds in contact.score.days.items() if d >= oldest}
    behaviour = _tidy(behaviour)
    score = LeadScore(profile=profile, behaviour=behaviour, at=at, days=days)
    return contact.model_copy(update={"score": score, "lead_score": profile + _whole(behaviour)})


def set_score(contact: Contact, value: int, now: datetime, config: ScoringConfig,
              tz: str = "Europe/Prague") -> Contact:
    """A score set by hand (API): behaviour becomes what lies above the profile points; the day counters stay."""
    base = rescore(contact, now, config, tz)
    assert base.score is not None
    behaviour = float(max(0, value - base.score.profile))
    score = base.score.model_copy(update={"behaviour": behaviour})
    return base.model_copy(update={"score": score, "lead_score": score.profile + _whole(behaviour)})


def add_activity(contact: Contact, activity: Activity, now: datetime, config: ScoringConfig,
                 tz: str = "Europe/Prague") -> Contact:
    """The contact with the activity's points added (decayed from the start of the activity's day, within the
    kind's daily cap). Returns `contact` itself (the same object) when the activity earns nothing."""
    points = points_for(activity, config)
    if points == 0:
        return contact
    at = max(contact.score.at, now) if contact.score else now
    day = local_date(activity.occurred_at, tz)
    if day < _oldest_day(at, config, tz):
        return contact  # too old: see the module docstring
    kind, key = activity.kind.value, day.isoformat()
    counted = contact.score.days.get(key, {}).get(kind, 0) if contact.score else 0
    cap = config.daily_caps.get(activity.kind)
    earned = abs(points) if cap is None else max(0, min(abs(points), cap - counted))
    if earned == 0:
        return contact  # the kind's cap for that day is reached
    base = rescore(contact, now, config, tz)
    assert base.score is not None
    day_start = datetime.combine(day, time(), tzinfo=ZoneInfo(tz))
    value = math.copysign(earned, points) * decay_factor(_days_between(day_start, base.score.at),
                                                         config.half_life_days)
    behaviour = _tidy(base.score.behaviour + value)
    days = dict(base.score.days)
    days[key] = days.get(key, {}) | {kind: counted + earned}
    score = base.score.model_copy(update={"behaviour": behaviour, "days": days})
    return base.model_copy(update={"score": score, "lead_score": score.profile + _whole(behaviour)})


# ------------------------------------------------------------------ qualification


def can_qualify(contact: Contact) -> bool:
    """Only active leads are qualified (customers and archived contacts are scored, not qualified)."""
    return contact.lifecycle == Lifecycle.LEAD and not contact.archived and contact.archived_at is None


def qualify(contact: Contact, now: datetime, config: ScoringConfig) -> Contact:
    """The contact with `qualified_at` set if it qualifies now for the first time; else unchanged."""
    if contact.qualified_at is not None or not can_qualify(contact):
        return contact
    if score_at(contact, now, config) < config.threshold:
        return contact
    return contact.model_copy(update={"qualified_at": now})


def newly_qualified(before: Contact | None, after: Contact) -> bool:
    return after.qualified_at is not None and (before is None or before.qualified_at is None)


def task_id_for(contact_id: str) -> str:
    return f"qualified-{contact_id}"


def qualification_task(contact: Contact, now: datetime, settings: Settings) -> Task:
    """The owner's task for a newly qualified lead."""
    config = settings.lead_scoring
    name = contact.name or contact.company or contact.email or contact.contact_id
    return Task(
        task_id=task_id_for(contact.contact_id),
        owner=contact.owner,
        title=settings.label("qualified_task_title", name=name),
        description=settings.label("qualified_task_description", name=name, score=contact.lead_score,
                                  threshold=config.threshold,
                                  source=contact.lead_source or settings.label("qualified_source_unknown")),
        due_date=due_date_in(now, config.task_due_days, settings.timezone, settings.holidays_country),
        contact_id=contact.contact_id,
        workflow=WORKFLOW,
        created_at=now,
    )
