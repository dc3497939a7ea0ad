"""Report aggregates as pure arithmetic: what one deal image, one applied activity or one purchase adds to the
running totals of the reports (ReportsTable, see docs/data-model.md). No AWS, no I/O.

Cells are keyed (pk, sk) and carry dimension attributes (strings, written once) and numbers (added).

- Deals are **state-based**: `deal_contributions(deal)` is what the deal as it stands contributes; a stream record
  adds `diff(contributions(new), contributions(old))`, so any change (a new loss reason, a reopened deal, a value
  edited) moves the totals by exactly the difference, and the totals always equal the sum over the current deals.
- Activities are **event-based**: an applied activity adds its contribution once (`activity_contributions`).
- Retention keeps one item per customer and period (`CustomerState`) and a histogram per period; a purchase turns
  the customer's state into `after_purchase(state)` and adds `histogram(new) - histogram(old)` to the histogram.

Periods are Prague-local (settings.timezone): months `YYYY-MM` for deals and workflows; `M2026-11`, `Q2026-4`,
`Y2026` and `ALL` for retention.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any, Literal
from zoneinfo import ZoneInfo

from pydantic import BaseModel

from crm_automation.domain.models import (
    Activity,
    ActivityKind,
    Attribution,
    Contact,
    Deal,
    DealReactivation,
    DealStatus,
    UtcDatetime,
)

INACTIVITY = "inactivity"  # = domain.inactivity.WORKFLOW
DEAL_REACTIVATION = "deal_reactivation"  # = domain.deal_reactivation.WORKFLOW
HISTOGRAM_TOP = 10  # the last group of the retention histogram is "10 or more orders"

Number = int | Decimal
CellKey = tuple[str, str]


@dataclass
class Cell:
    """One report item's change: dimension attributes (set once) and numbers (added)."""

    dims: dict[str, str] = field(default_factory=dict)
    numbers: dict[str, Number] = field(default_factory=dict)


Contributions = dict[CellKey, Cell]


# -- periods
def local(instant: datetime, timezone: str) -> datetime:
    return instant.astimezone(ZoneInfo(timezone))


def month_of(instant: datetime, timezone: str) -> str:
    """`YYYY-MM` of the instant in local time (2026-03-31T22:30Z is 2026-04 in Prague)."""
    return local(instant, timezone).strftime("%Y-%m")


def period_keys(instant: datetime, timezone: str) -> list[str]:
    """The four retention periods the instant falls in: month, quarter, year (local) and ALL."""
    at = local(instant, timezone)
    return [f"M{at:%Y-%m}", f"Q{at.year}-{(at.month - 1) // 3 + 1}", f"Y{at.year}", "ALL"]


# -- combining
def _accumulate(into: Contributions, key: CellKey, numbers: Mapping[str, Number], dims: Mapping[str, str] | None = None,
                sign: int = 1) -> None:
    cell = into.setdefault(key, Cell())
    if dims:
        for name, value in dims.items():
            cell.dims.setdefault(name, value)
    for name, value in numbers.items():
        cell.numbers[name] = cell.numbers.get(name, 0) + sign * value


def _without_zeros(cells: Contributions) -> Contributions:
    out: Contributions = {}
    for key, cell in cells.items():
        numbers = {k: v for k, v in cell.numbers.items() if v != 0}
        if numbers:
            out[key] = Cell(dict(cell.dims), numbers)
    return out


def merge(*parts: Contributions) -> Contributions:
    """Sum of contributions, merged by (pk, sk); zeros dropped."""
    out: Contributions = {}
    for part in parts:
        for key, cell in part.items():
            _accumulate(out, key, cell.numbers, cell.dims)
    return _without_zeros(out)


def diff(new: Contributions, old: Contributions) -> Contributions:
    """new - old, merged by (pk, sk); zeros (and cells left without numbers) dropped."""
    out: Contributions = {}
    for key, cell in new.items():
        _accumulate(out, key, cell.numbers, cell.dims)
    for key, cell in old.items():
        _accumulate(out, key, cell.numbers, cell.dims, sign=-1)
    return _without_zeros(out)


# -- deals (state-based)
# The won/lost totals are kept once per segment dimension ("all": no segment), each a rollup over one dimension: a
# closed deal is counted in one cell of each. A month then holds at most (reasons + 1) x (1 + owners + industries +
# products) x currencies cells, however many deals were closed: a cube over all dimensions at once would hold about
# as many cells as deals (each deal its own combination), and reading it would be reading the deals.
LOSS_DIMENSIONS = ("all", "industry", "owner", "product")


def rollup_key(dimension: str, status: str, reason: str, segment: str, currency: str) -> str:
    """The sk of a DEALS# cell: its dimensions as a compact JSON list ("" = not given)."""
    return json.dumps([dimension, status, reason, segment, currency], ensure_ascii=False, separators=(",", ":"))


def rollup_prefix(dimension: str) -> str:
    """The sk prefix of one dimension's cells (what a report for that segment reads)."""
    return rollup_key(dimension, "", "", "", "").split(",", 1)[0] + ","


def _within(started_at: datetime, at: datetime, days: int) -> bool:
    """Did `started_at` fall within `days` before `at` (and not after it)? (A difference of two datetimes cannot
    overflow, as `at - days` can for an imported time near datetime.min.)"""
    return timedelta(0) <= at - started_at <= timedelta(days=days)


def _enrolments(deal: Deal) -> list[DealReactivation]:
    return [*deal.reactivation_history, *([deal.reactivation] if deal.reactivation else [])]


def deal_contributions(deal: Deal | None, timezone: str, attribution_days: int) -> Contributions:
    """What the deal as it stands contributes to the totals (nothing for None: a deal that does not exist)."""
    cells: Contributions = {}
    if deal is None:
        return cells
    # (1) the won/lost rollups (one cell per dimension), in the month the deal was closed
    if deal.status in (DealStatus.WON, DealStatus.LOST):
        closed = deal.closed_at or deal.updated_at
        reason = (deal.loss_reason or "") if deal.status == DealStatus.LOST else ""
        segments = {"all": "", "industry": deal.industry or "", "owner": deal.owner, "product": deal.product or ""}
        for dimension in LOSS_DIMENSIONS:
            dims = {"dimension": dimension, "status": deal.status.value, "reason": reason,
                    "segment": segments[dimension], "currency": deal.currency}
            _accumulate(cells, (f"DEALS#{month_of(closed, timezone)}", rollup_key(**dims)),
                        {"n": 1, "value": deal.value}, dims)
    # (2) every pass through the dead-deal reactivation, in the month it started
    for enrolment in _enrolments(deal):
        numbers: dict[str, Number] = {"enrolled": 1}
        if enrolment.email == "skipped":
            numbers["emails_skipped"] = 1
        _accumulate(cells, (f"WF#{month_of(enrolment.started_at, timezone)}", DEAL_REACTIVATION), numbers)
    # (3) the workflow that brought the deal, in the month the deal was created
    if deal.attribution is not None:
        _accumulate(cells, (f"WF#{month_of(deal.created_at, timezone)}", deal.attribution.workflow),
                    {"new_deals": 1, f"new_value_{deal.currency}": deal.value})
    # (4) won after a reactivation (current or earlier) that started within the attribution window
    if deal.status == DealStatus.WON:
        closed = deal.closed_at or deal.updated_at
        if any(_within(e.started_at, closed, attribution_days) for e in _enrolments(deal)):
            _accumulate(cells, (f"WF#{month_of(closed, timezone)}", DEAL_REACTIVATION),
                        {"won_deals": 1, f"won_value_{deal.currency}": deal.value})
    return cells


def deal_change(old: Deal | None, new: Deal | None, timezone: str, attribution_days: int) -> Contributions:
    """What one deals-stream record adds: contributions(new) - contributions(old)."""
    return diff(deal_contributions(new, timezone, attribution_days),
                deal_contributions(old, timezone, attribution_days))


# -- attribution of a new deal (pure: the service passes the contact and its other deals)
def attribution_for(contact: Contact, other_deals: Iterable[Deal], created_at: datetime,
                    attribution_days: int) -> Attribution | None:
    """The most recent enrolment of the deal's contact that started within `attribution_days` before the deal was
    created (not after it): the contact's inactivity enrolment, or a reactivation (current or earlier) of another
    of the contact's deals. None if there is none."""
    candidates: list[Attribution] = []
    if contact.inactivity is not None:
        candidates.append(Attribution(workflow=INACTIVITY, enrolment_id=contact.inactivity.enrolment_id,
                                      started_at=contact.inactivity.started_at))
    for deal in other_deals:
        for enrolment in _enrolments(deal):
            candidates.append(Attribution(workflow=DEAL_REACTIVATION, enrolment_id=enrolment.enrolment_id,
                                          started_at=enrolment.started_at))
    eligible = [c for c in candidates if _within(c.started_at, created_at, attribution_days)]
    return max(eligible, key=lambda c: (c.started_at, c.enrolment_id), default=None)


def industry_of(contact: Contact, field_name: str) -> str | None:
    """The contact's industry as a string (company field first, then custom field); None when not given."""
    for fields in (contact.company_fields, contact.custom_fields):
        value = fields.get(field_name)
        if value is not None and str(value).strip():
            return str(value).strip()
    return None


# -- reactions (the stamp the activity processor writes on an activity that ended a wait)
class Reaction(BaseModel):
    workflow: str
    enrolment_id: str
    phase: Literal["wait", "after"] | None = None  # inactivity: left while waiting / after the follow-up
    deal_id: str | None = None  # deal reactivation: the deal whose wait ended

    def item(self) -> dict[str, str]:
        return {k: v for k, v in self.model_dump().items() if v is not None}


def inactivity_reaction(before: Contact, left_flow: bool) -> Reaction | None:
    """The contact left the inactivity flow because of the activity: a reaction within the wait (`wait`) or after
    the follow-up (`after`). `before` is the contact as it was before the activity."""
    flow = before.inactivity
    if not left_flow or flow is None or flow.state == "exited":
        return None
    return Reaction(workflow=INACTIVITY, enrolment_id=flow.enrolment_id,
                    phase="wait" if flow.state == "waiting" else "after")


def deal_reaction(ended: Deal) -> Reaction | None:
    """A deal whose reactivation wait the activity ended (outcome "reaction")."""
    flow = ended.reactivation
    if flow is None or flow.outcome != "reaction":
        return None
    return Reaction(workflow=DEAL_REACTIVATION, enrolment_id=flow.enrolment_id, deal_id=ended.deal_id)


def reaction_flows(reactions: Iterable[Reaction]) -> str:
    """The workflows of the stamp, sorted and space-joined (what the aggregator's stream filter looks for)."""
    return " ".join(sorted({r.workflow for r in reactions}))


def reactions_of(image: Mapping[str, Any]) -> list[Reaction]:
    return [Reaction.model_validate(r) for r in image.get("reactions") or []]


# -- activities (event-based)
def activity_contributions(activity: Activity, reactions: Iterable[Reaction], timezone: str) -> Contributions:
    """What one applied activity adds to the workflow totals (purchases: see the retention functions)."""
    cells: Contributions = {}
    month = f"WF#{month_of(activity.occurred_at, timezone)}"
    if activity.kind == ActivityKind.EMAIL_OUT and activity.automated and activity.workflow:
        _accumulate(cells, (month, activity.workflow), {"emails_sent": 1})
    for reaction in reactions:
        numbers: dict[str, Number] = {"reactions": 1}
        if reaction.workflow == INACTIVITY and reaction.phase:
            numbers[f"reactions_{reaction.phase}"] = 1
        _accumulate(cells, (month, reaction.workflow), numbers)
    return _without_zeros(cells)


# -- retention
class CustomerState(BaseModel):
    """One customer's purchases in one period (an `RC#<period>` item)."""

    n: int
    revenue: Decimal
    first_at: UtcDatetime
    last_at: UtcDatetime
    version: int = 0

    @classmethod
    def from_item(cls, item: Mapping[str, Any]) -> CustomerState:
        return cls.model_validate({k: item[k] for k in ("n", "revenue", "first_at", "last_at", "version")})

    def to_item(self) -> dict[str, Any]:
        return self.model_dump()


def after_purchase(state: CustomerState | None, at: datetime, amount: Decimal) -> CustomerState:
    """The customer's state in a period after one more purchase (purchases may arrive out of order: imports)."""
    if state is None:
        return CustomerState(n=1, revenue=amount, first_at=at, last_at=at, version=1)
    return CustomerState(n=state.n + 1, revenue=state.revenue + amount, first_at=min(state.first_at, at),
                         last_at=max(state.last_at, at), version=state.version + 1)


def histogram(state: CustomerState | None) -> dict[str, Number]:
    """What one customer contributes to its period's histogram: in group k = min(n, 10) one customer, n orders and
    the revenue; with 2+ orders also the span from first to last purchase (whole seconds) and its n - 1 gaps (so the
    mean gap over all returning customers is gap_span_s / gap_intervals)."""
    if state is None or state.n <= 0:
        return {}
    k = min(state.n, HISTOGRAM_TOP)
    numbers: dict[str, Number] = {f"c_{k}": 1, f"o_{k}": state.n, f"r_{k}": state.revenue}
    if state.n >= 2:
        numbers["gap_span_s"] = (state.last_at - state.first_at) // timedelta(seconds=1)
        numbers["gap_intervals"] = state.n - 1
    return numbers


def histogram_change(old: CustomerState | None, new: CustomerState | None) -> dict[str, Number]:
    """histogram(new) - histogram(old), zeros dropped."""
    out: dict[str, Number] = dict(histogram(new))
    for name, value in histogram(old).items():
        out[name] = out.get(name, 0) - value
    return {k: v for k, v in out.items() if v != 0}


def purchase_amount(activity: Activity) -> Decimal:
    return Decimal(activity.amount) if activity.amount is not None else Decimal("0")
