"""Durable, cancellable timers on a sparse DynamoDB index, swept on a schedule.

A pending timer is one item in the flows table carrying ``timer_shard`` + ``due_at``, the keys of the sparse
DueTimers index. The sweep (every 15 minutes) queries each shard for ``due_at <= now`` -- reading only what is
due -- and queues the timer ids; the worker fires each one through the service registered for its kind. Firing
and cancelling are conditional updates (``state = pending``) that also remove ``timer_shard``, so a timer leaves
the index exactly once and can be cancelled in the same transaction as the change that makes it moot.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from crm_automation.adapters.dynamodb import fmt_time
from crm_automation.domain import deal_reactivation as deal_flow
from crm_automation.domain.inactivity import TIMER_KIND as INACTIVITY_FOLLOWUP
from crm_automation.domain.models import Timer
from crm_automation.observability import logger
from crm_automation.domain.privacy import FINISH_TIMER as ERASURE_FINISH
from crm_automation.services import campaigns, deal_reactivation, inactivity, privacy
from crm_automation.services.runtime import Runtime

FIRERS: dict[str, Callable[[Runtime, Timer, datetime], str]] = {
    INACTIVITY_FOLLOWUP: inactivity.followup,
    deal_flow.SEND_TIMER: deal_reactivation.send,
    deal_flow.WAIT_TIMER: deal_reactivation.followup,
    campaigns.LAUNCH_TIMER: campaigns.fire_launch,
    campaigns.REQUEUE_TIMER: campaigns.fire_requeue,
    ERASURE_FINISH: privacy.fire_finish,
}


def sweep(rt: Runtime, now: datetime) -> int:
    """Queue every pending timer that is due. Returns how many were queued."""
    due = ({"timer_id": t.timer_id, "kind": t.kind, "due_at": fmt_time(t.due_at)}
           for t in rt.store.flows.due_timers(now))
    queued = rt.timer_queue.send_all(due)
    logger.info("Timer sweep", extra={"queued": queued})
    return queued


# firers that work in steps and stop before the invocation's time runs out: they also get `time_left`
BUDGETED: dict[str, Callable[[Runtime, Timer, datetime, Callable[[], float] | None], str]] = {
    ERASURE_FINISH: privacy.fire_finish,
}


def fire(rt: Runtime, timer_id: str, now: datetime, time_left: Callable[[], float] | None = None) -> str:
    """Fire one timer. Re-delivery is harmless: a timer that is no longer pending does nothing. `time_left`: the
    seconds the invocation has left (given to the firers that work in steps)."""
    timer = rt.store.flows.get_timer(timer_id)
    if timer is None:
        logger.warning("Timer not found", extra={"timer_id": timer_id})
        return "missing"
    if timer.state != "pending":
        return f"already {timer.state}"
    if timer.due_at > now:
        return "not yet due"  # stays pending and indexed; a later sweep picks it up
    if timer.kind in BUDGETED:
        return BUDGETED[timer.kind](rt, timer, now, time_left)
    firer = FIRERS.get(timer.kind)
    if firer is None:
        raise ValueError(f"no service fires timers of kind {timer.kind!r}")
    return firer(rt, timer, now)
