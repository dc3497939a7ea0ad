"""Applying a new activity to its contact and deal, exactly once per activity."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

from crm_automation.domain import deal_reactivation, reports
from crm_automation.domain.inactivity import apply_activity
from crm_automation.domain.models import Activity, Contact, Deal
from crm_automation.errors import ConcurrentWriteError, NotFoundError
from crm_automation.observability import logger
from crm_automation.services import scoring as lead_scoring
from crm_automation.services.runtime import Runtime
from crm_automation.services.suppressions import write_through_ops


def _same(a: object, b: object) -> bool:
    return a.model_dump(exclude={"updated_at"}) == b.model_dump(exclude={"updated_at"})  # type: ignore[attr-defined]


def _deals_touched(rt: Runtime, activity: Activity, contact: Contact) -> list[Deal]:
    """The activity's own deal; or, for a client reaction that names no deal (a reply rarely says which deal it is
    about), the contact's deals waiting in the reactivation flow."""
    if activity.deal_id:
        ids = [activity.deal_id]  # an activity about one deal is not a reaction to another deal's e-mail
    elif activity.kind in deal_reactivation.REACTION_KINDS:
        ids = list(contact.open_deal_ids)
    else:
        return []
    deals = [rt.store.deals.get(i) for i in ids]
    return [d for d in deals if d is not None and (d.deal_id == activity.deal_id or d.in_reactivation)]


def apply(rt: Runtime, activity: Activity, now: datetime) -> str:
    """Move the contact's (and deal's) last activity, take a reactivated contact out of the inactivity flow and
    cancel its pending follow-up, add the activity's lead-score points (qualifying the lead if it crosses the
    threshold). One transaction, conditioned on the activity not being applied yet."""
    store, settings = rt.store, rt.settings
    contact = store.contacts.get(activity.contact_id)
    if contact is None:
        raise NotFoundError(f"activity {activity.activity_id} refers to unknown contact {activity.contact_id}")
    effect = apply_activity(contact, activity, now, settings)
    # the activity's lead-score points, and a qualification's task for the owner, in this same transaction
    changed, scoring_ops = lead_scoring.scored(rt, effect.contact, now, activity)
    effect = replace(effect, contact=changed)
    operations = [*scoring_ops]
    # the waits this activity ended, stamped on it in this transaction (the report aggregator counts reactions)
    reactions = [r for r in [reports.inactivity_reaction(contact, effect.left_flow)] if r is not None]
    if not _same(effect.contact, contact):
        operations.append(store.contacts.save_op(effect.contact))
        # a bounce logged in the CRM marks the address too, for every contact with it and any re-import
        operations += write_through_ops(rt, contact, effect.contact, now)
    if effect.cancel_timer_id:
        operations.append(store.flows.timer_end_op(effect.cancel_timer_id, "cancelled", now,
                                                   note="contact active again"))
    for deal in _deals_touched(rt, activity, effect.contact):
        changed = deal
        if activity.deal_id == deal.deal_id and activity.counts_as_activity and activity.occurred_at > deal.last_activity_at:
            changed = changed.model_copy(update={"last_activity_at": activity.occurred_at, "updated_at": now})
        ending = deal_reactivation.reaction(changed, activity, now)  # the client reacted: the wait is over
        if ending is not None:
            changed = ending.deal
            if (reacted := reports.deal_reaction(changed)) is not None:
                reactions.append(reacted)
            if activity.occurred_at > changed.last_activity_at:  # the reaction is about this deal: it is alive
                changed = changed.model_copy(update={"last_activity_at": activity.occurred_at})
            if ending.cancel_timer_id:
                operations.append(store.flows.timer_end_op(ending.cancel_timer_id, "cancelled", now,
                                                           note="client reacted"))
        if changed is not deal:
            operations.append(store.deals.save_op(changed))
    operations.insert(0, store.activities.mark_applied_op(
        activity.activity_id, now, [r.item() for r in reactions] or None, reports.reaction_flows(reactions) or None))
    try:
        store.transact(operations)
    except ConcurrentWriteError:
        item = store.activities.get(activity.activity_id)
        if item is not None and "applied_at" in item:
            return "duplicate"  # a re-delivered record: already applied
        raise  # lost a race with another writer: the record is retried and decided again
    if effect.left_flow:
        logger.info("Contact active again, left the inactivity flow", extra={"contact_id": contact.contact_id})
        return "reactivated"
    return "applied"
