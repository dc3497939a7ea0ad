"""The dissatisfaction escalation (product brief workflow 2, seed 000 §2 and §5) as pure decisions.

A satisfaction rating ("Spokojenost") comes from a user (API) or the helpdesk (a ticket activity carrying a
rating). When the current rating is on the *critical* level ("Vysoká nespokojenost") and no escalation exists for
that rating, the contact *needs escalation*: a task for the owner's team lead, the category "Nutno řešit" and a
marketing pause. The escalation stays open until the rating goes back to neutral or positive (*needs resolution*)
or the lead completes the task marked resolved. Flow of one contact::

    rating critical --escalate--> open --rating neutral/positive, or the lead's task done "resolved"--> resolved
                                   |  another critical rating while open: nothing new (no second task)
    resolved + a new critical rating --escalate--> open again (a new escalation, a new task)

The DynamoDB adapter writes ``escalate_due`` / ``resolve_due`` on the contact item exactly while
``needs_escalation`` / ``needs_resolution`` hold; the stream filter lets through only the records where one of them
appears, so unrelated contact updates never invoke the escalation function.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from crm_automation.domain.calendar import due_date_in, format_date, format_money, local_date
from crm_automation.domain.models import (
    COMPLAINT_KINDS,
    Activity,
    Contact,
    Deal,
    Escalation,
    MarketingPause,
    SatisfactionLevel,
    Task,
)
from crm_automation.settings import Settings

WORKFLOW = "escalation"
RESOLVING_LEVELS = frozenset({SatisfactionLevel.NEUTRAL, SatisfactionLevel.POSITIVE})


class UnknownSatisfaction(ValueError):
    pass


def normalise_satisfaction(value: str, settings: Settings) -> tuple[str, SatisfactionLevel]:
    """The scale's own spelling of `value` (matched ignoring case and extra spaces) and its level."""
    wanted = " ".join(value.split()).casefold()
    for known, level in settings.scale().items():
        if known.casefold() == wanted:
            return known, level
    allowed = ", ".join(f'"{v}"' for v in settings.scale())
    raise UnknownSatisfaction(f"unknown satisfaction {value!r}; use one of {allowed}")


def rate(contact: Contact, value: str | None, at: datetime, by: str | None, settings: Settings) -> Contact:
    """The contact with a new satisfaction rating (None clears it). Callers pass only ratings newer than the
    current one (an old ticket imported late does not overwrite a newer rating)."""
    if value is None:
        update: dict[str, object] = {"satisfaction": None, "satisfaction_level": None, "satisfaction_at": at,
                                     "satisfaction_by": by}
    else:
        canonical, level = normalise_satisfaction(value, settings)
        update = {"satisfaction": canonical, "satisfaction_level": level, "satisfaction_at": at,
                  "satisfaction_by": by}
    return contact.model_copy(update=update)


def is_newer_rating(contact: Contact, at: datetime) -> bool:
    return contact.satisfaction_at is None or at >= contact.satisfaction_at


def needs_escalation(contact: Contact) -> bool:
    """A critical rating that no escalation has covered yet (one escalation per rating)."""
    if contact.satisfaction_level != SatisfactionLevel.CRITICAL or contact.archived:
        return False
    latest = contact.escalation
    if latest is None:
        return True
    # after a resolution only a rating given later escalates again (one given while it was open is covered)
    return (latest.state == "resolved" and latest.resolved_at is not None and contact.satisfaction_at is not None
            and contact.satisfaction_at > latest.resolved_at)


def needs_resolution(contact: Contact) -> bool:
    """An open escalation whose client has since been rated neutral or positive (the escalating rating was
    critical, so such a rating is necessarily a later one)."""
    return contact.escalation_open and contact.satisfaction_level in RESOLVING_LEVELS


@dataclass(frozen=True)
class EscalationPlan:
    contact: Contact  # escalation open, category added, marketing paused
    task: Task


def client_label(contact: Contact) -> str:
    return contact.company or contact.name


def _rated_by(contact: Contact, settings: Settings) -> str:
    by = contact.satisfaction_by or "?"
    if by.startswith("activity:"):
        return settings.label("rated_by_ticket")
    return settings.label("rated_by_user", user=by.rsplit("/", 1)[-1])


def task_description(contact: Contact, activities: Sequence[Activity], deals: Sequence[Deal], now: datetime,
                     settings: Settings) -> str:
    """What the lead needs at a glance: the rating, the recent complaints and tickets, the open deals."""
    assert contact.satisfaction_at is not None
    fmt = settings.locale
    days = settings.escalation_context_days
    since = now - timedelta(days=days)
    complaints = sorted((a for a in activities if a.kind in COMPLAINT_KINDS and a.occurred_at >= since),
                        key=lambda a: a.occurred_at, reverse=True)[: settings.escalation_context_items]
    lines = [settings.label(
        "escalation_task_intro", client=client_label(contact), name=contact.name, owner=contact.owner,
        satisfaction=contact.satisfaction,
        rated=format_date(local_date(contact.satisfaction_at, settings.timezone), fmt),
        rated_by=_rated_by(contact, settings),
    ), ""]
    if complaints:
        lines.append(settings.label("escalation_complaints_heading", days=days))
        for a in complaints:
            parts = [format_date(local_date(a.occurred_at, settings.timezone), fmt),
                     settings.label(f"kind_{a.kind.value}")]
            if a.subject:
                parts.append(a.subject)
            if a.satisfaction:
                parts.append(a.satisfaction)
            text = " · ".join(parts)
            if a.summary:
                summary = " ".join(a.summary.split())
                text += f": {summary[:200]}{'…' if len(summary) > 200 else ''}"
            lines.append(f"- {text}")
    else:
        lines.append(settings.label("escalation_no_complaints", days=days))
    lines.append("")
    open_deals = sorted((d for d in deals if d.is_open), key=lambda d: d.value, reverse=True)
    if open_deals:
        lines.append(settings.label("escalation_deals_heading"))
        for d in open_deals:
            last = settings.label("last_activity_on",
                                  date=format_date(local_date(d.last_activity_at, settings.timezone), fmt))
            lines.append(f"- {d.title} · {format_money(d.value, d.currency)} · "
                         f"{settings.label(f'deal_status_{d.status.value}')} · {last}")
    else:
        lines.append(settings.label("escalation_no_deals"))
    return "\n".join(lines)


def plan_escalation(contact: Contact, activities: Sequence[Activity], deals: Sequence[Deal], now: datetime,
                    settings: Settings) -> EscalationPlan:
    if not needs_escalation(contact):
        raise ValueError(f"contact {contact.contact_id} does not need an escalation")
    assert contact.satisfaction is not None and contact.satisfaction_at is not None
    history = [*contact.escalation_history, *([contact.escalation] if contact.escalation else [])]
    escalation_id = f"esc-{contact.contact_id}-{len(history) + 1}"
    lead = settings.team_lead_of(contact.owner)
    task = Task(
        task_id=f"task-{escalation_id}",
        owner=lead,
        title=settings.label("escalation_task_title", client=client_label(contact)),
        description=task_description(contact, activities, deals, now, settings),
        due_date=due_date_in(now, 1, settings.timezone, settings.holidays_country),
        contact_id=contact.contact_id,
        workflow=WORKFLOW,
        created_at=now,
    )
    escalation = Escalation(
        escalation_id=escalation_id,
        opened_at=now,
        satisfaction=contact.satisfaction,
        rated_at=contact.satisfaction_at,
        rated_by=contact.satisfaction_by,
        lead=lead,
        task_id=task.task_id,
    )
    updated = contact.model_copy(update={
        "escalation": escalation,
        "escalation_history": history,
        "categories": contact.with_category(settings.label("escalation_category")),
        "marketing_pause": MarketingPause(
            reason=settings.label("escalation_pause_reason", escalation_id=escalation_id,
                                  satisfaction=contact.satisfaction),
            reference=escalation_id,
            since=now,
        ),
        "updated_at": now,
    })
    return EscalationPlan(contact=updated, task=task)


def resolve(contact: Contact, how: str, by: str | None, note: str | None, now: datetime,
            settings: Settings) -> Contact:
    """The contact with its open escalation resolved: pause lifted (if it is this escalation's), category removed;
    the escalation itself stays on the contact with who, when and how."""
    assert contact.escalation is not None and contact.escalation.state == "open"
    escalation = contact.escalation.model_copy(update={
        "state": "resolved", "resolved_at": now, "resolved_by": by, "resolution": how, "resolution_note": note,
    })
    pause = contact.marketing_pause
    if pause is not None and pause.source == "escalation" and pause.reference == escalation.escalation_id:
        pause = None
    return contact.model_copy(update={
        "escalation": escalation,
        "marketing_pause": pause,
        "categories": contact.without_category(settings.label("escalation_category")),
        "updated_at": now,
    })


def resolution_by_rating(contact: Contact, now: datetime, settings: Settings) -> tuple[Contact, str]:
    """Resolve because the rating went back to neutral/positive. Returns the contact and the note for the task."""
    if not needs_resolution(contact):
        raise ValueError(f"contact {contact.contact_id} has nothing to resolve")
    by = contact.satisfaction_by
    note = settings.label("escalation_task_closed", satisfaction=contact.satisfaction,
                          by=_rated_by(contact, settings))
    return resolve(contact, "satisfaction", by, note, now, settings), note


def task_resolves(contact: Contact, task: Task) -> bool:
    """Does this completed task resolve the contact's open escalation?"""
    return (
        contact.escalation_open
        and contact.escalation is not None
        and contact.escalation.task_id == task.task_id
        and task.resolved is True
    )
