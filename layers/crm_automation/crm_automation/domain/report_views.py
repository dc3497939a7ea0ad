"""The reports' figures from the running aggregates (issue #7): pure, no AWS.

The report aggregator keeps running totals in the reports table (`domain/reports.py` writes them; the layout is in
docs/data-model.md); the API reads a few items per month and these functions turn them into the JSON of
`GET /reports/...`: loss reasons, retention, workflow results and campaign results. They also parse and check the
request parameters (months and periods are Prague-local, `Settings.timezone`).

Conventions of the JSON: money as strings with two decimals (one entry per currency), shares and rates as floats
rounded to four places (0.25 = 25 %), counts as ints, and `None` (null) for a figure that does not apply or whose
denominator is zero.
"""

from __future__ import annotations

import json
import re
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, Literal
from zoneinfo import ZoneInfo

from crm_automation.domain.campaigns import Campaign

MAX_MONTHS = 36  # one request reads at most this many months of aggregates
DEFAULT_MONTHS = 12
MIN_YEAR, MAX_YEAR = 1970, 9999
GROUPS = 10  # retention: order-count groups 1..10, the last meaning "10 or more"
SEGMENTS = ("industry", "owner", "product", "month", "none")
WORKFLOWS = ("inactivity", "escalation", "deal_reactivation", "lead_scoring")
# the task workflows (Task.workflow) whose tasks each report workflow counts
TASK_WORKFLOWS: dict[str, tuple[str, ...]] = {
    "inactivity": ("inactivity", "inactivity_vip"),
    "escalation": ("escalation",),
    "deal_reactivation": ("deal_reactivation",),
    "lead_scoring": ("lead_scoring",),
}

By = Literal["industry", "owner", "product", "month", "none"]


class ReportParameterError(ValueError):
    """A report parameter that cannot be used; the message says which and why (the API answers 400)."""


# ------------------------------------------------------------------------------------------------ parameters

_MONTH = re.compile(r"([0-9]{4})-([0-9]{2})")
_QUARTER = re.compile(r"([0-9]{4})-[qQ]([1-4])")
_YEAR = re.compile(r"([0-9]{4})")


@dataclass(frozen=True, order=True)
class Month:
    year: int
    month: int

    def __str__(self) -> str:
        return f"{self.year:04d}-{self.month:02d}"

    @property
    def index(self) -> int:
        return self.year * 12 + self.month - 1

    @classmethod
    def from_index(cls, index: int) -> Month:
        return cls(index // 12, index % 12 + 1)

    def plus(self, months: int) -> Month:
        return Month.from_index(self.index + months)

    def first_day(self) -> date:
        return date(self.year, self.month, 1)

    def last_day(self) -> date:
        following = self.plus(1)
        if following.year > MAX_YEAR:
            return date(MAX_YEAR, 12, 31)
        return following.first_day() - timedelta(days=1)


def _year(text: str, name: str) -> int:
    year = int(text)
    if not MIN_YEAR <= year <= MAX_YEAR:
        raise ReportParameterError(f"{name}: the year must be between {MIN_YEAR} and {MAX_YEAR}")
    return year


def parse_month(value: str, name: str) -> Month:
    """`YYYY-MM` (the parameter's `name` is for the message)."""
    match = _MONTH.fullmatch(value.strip())
    if not match:
        raise ReportParameterError(f"{name}: a month as YYYY-MM (e.g. 2026-03), not {_shown(value)}")
    month = int(match.group(2))
    if not 1 <= month <= 12:
        raise ReportParameterError(f"{name}: the month must be 01 to 12, not {_shown(value)}")
    return Month(_year(match.group(1), name), month)


def local_month(moment: datetime, tz: str) -> Month:
    local = moment.astimezone(ZoneInfo(tz))
    return Month(local.year, local.month)


def month_range(month_from: str | None, month_to: str | None, now: datetime, tz: str) -> tuple[Month, Month]:
    """The `from`/`to` parameters: to = the current local month, from = to − 11 months by default; from <= to,
    at most MAX_MONTHS months."""
    end = parse_month(month_to, "to") if month_to is not None else local_month(now, tz)
    start = parse_month(month_from, "from") if month_from is not None else end.plus(1 - DEFAULT_MONTHS)
    if start.year < MIN_YEAR:
        start = Month(MIN_YEAR, 1)
    if start > end:
        raise ReportParameterError(f"from ({start}) is after to ({end})")
    if end.index - start.index + 1 > MAX_MONTHS:
        raise ReportParameterError(f"from {start} to {end} is {end.index - start.index + 1} months; "
                                   f"a report covers at most {MAX_MONTHS}")
    return start, end


def months(start: Month, end: Month) -> list[Month]:
    return [Month.from_index(i) for i in range(start.index, end.index + 1)]


def utc_bounds(start: Month, end: Month, tz: str) -> tuple[datetime, datetime]:
    """The UTC instants of the local months `start`..`end`: [first instant, last instant] (both inclusive, to the
    microsecond, as the stored fixed-width timestamps are)."""
    zone = ZoneInfo(tz)
    first = datetime(start.year, start.month, 1, tzinfo=zone).astimezone(UTC)
    after = end.plus(1)
    if after.year > MAX_YEAR:
        return first, datetime(MAX_YEAR, 12, 31, 23, 59, 59, 999999, tzinfo=UTC)
    last = datetime(after.year, after.month, 1, tzinfo=zone).astimezone(UTC) - timedelta(microseconds=1)
    return first, last


def parse_by(value: str | None) -> By:
    by = (value if value is not None else "none").strip().lower()
    if by not in SEGMENTS:
        raise ReportParameterError(f"by: one of {', '.join(SEGMENTS)}, not {_shown(value or '')}")
    return by  # type: ignore[return-value]


def dimension_of(by: By) -> str:
    """The rollup a loss report by `by` reads: the segment's own dimension, `all` for month and none."""
    return "all" if by in ("month", "none") else by


@dataclass(frozen=True)
class Period:
    """A retention period: `label` as the API shows it, `key` as the aggregates are stored (`M2026-06`, `Q2026-2`,
    `Y2026`, `ALL`), and its local dates (None for all)."""

    label: str
    key: str
    first: date | None
    last: date | None


def parse_period(value: str | None, now: datetime, tz: str) -> Period:
    """`YYYY`, `YYYY-Qn`, `YYYY-MM` or `all` (any letter case); the current local year by default."""
    text = (value if value is not None else str(local_month(now, tz).year)).strip()
    if text.lower() == "all":
        return Period("all", "ALL", None, None)
    if match := _YEAR.fullmatch(text):
        year = _year(match.group(1), "period")
        return Period(f"{year:04d}", f"Y{year:04d}", date(year, 1, 1), date(year, 12, 31))
    if match := _QUARTER.fullmatch(text):
        year, quarter = _year(match.group(1), "period"), int(match.group(2))
        first = Month(year, 3 * quarter - 2)
        return Period(f"{year:04d}-Q{quarter}", f"Q{year:04d}-{quarter}", first.first_day(),
                      first.plus(2).last_day())
    if _MONTH.fullmatch(text):
        month = parse_month(text, "period")
        return Period(str(month), f"M{month}", month.first_day(), month.last_day())
    raise ReportParameterError(f"period: a year (2026), a quarter (2026-Q2), a month (2026-06) or 'all', "
                               f"not {_shown(text)}")


def _shown(value: str) -> str:
    """The offending value for a message: quoted, cut short, control characters escaped."""
    cut = value if len(value) <= 40 else value[:40] + "…"
    return json.dumps(cut, ensure_ascii=False)


# ------------------------------------------------------------------------------------------------ formatting

_CENT = Decimal("0.01")


def money(value: Decimal | int) -> str:
    return str(Decimal(value).quantize(_CENT, rounding=ROUND_HALF_UP))


def ratio(part: int | Decimal, whole: int | Decimal) -> float | None:
    """part / whole rounded to 4 places; None when whole is 0."""
    if not whole:
        return None
    return round(float(Decimal(part) / Decimal(whole)), 4)


def _money_map(values: Mapping[str, Decimal]) -> dict[str, str]:
    return {currency: money(values[currency]) for currency in sorted(values)}


def _int(value: Any) -> int:
    return int(value or 0)


def _dec(value: Any) -> Decimal:
    return Decimal(str(value)) if value is not None else Decimal(0)


# ------------------------------------------------------------------------------------------------ loss reasons


@dataclass
class _Tally:
    lost: int = 0
    won: int = 0

    def __post_init__(self) -> None:
        self.lost_value: dict[str, Decimal] = defaultdict(Decimal)
        self.won_value: dict[str, Decimal] = defaultdict(Decimal)
        self.reasons: dict[str | None, list[Any]] = {}  # reason -> [lost, {currency: value}]

    def add(self, status: str, reason: str | None, currency: str, n: int, value: Decimal) -> None:
        if status == "won":
            self.won += n
            self.won_value[currency] += value
            return
        self.lost += n
        self.lost_value[currency] += value
        entry = self.reasons.setdefault(reason, [0, defaultdict(Decimal)])
        entry[0] += n
        entry[1][currency] += value

    def reason_rows(self) -> list[dict[str, Any]]:
        rows = [{"reason": reason, "lost": lost, "share": ratio(lost, self.lost), "value": _money_map(values)}
                for reason, (lost, values) in self.reasons.items() if lost]
        return sorted(rows, key=lambda r: (-r["lost"], r["reason"] is None, r["reason"] or ""))


def loss_reasons(items_by_month: Mapping[str, Iterable[Mapping[str, Any]]], start: Month, end: Month, by: By,
                 default_currency: str) -> dict[str, Any]:
    """The loss-reasons report from the won/lost rollup items of the segment's dimension (`DEALS#<month>`
    partitions, keyed by month; items of other dimensions are ignored). Every closed deal is in exactly one cell of
    each dimension, so the totals are the sum over the segments."""
    dimension = dimension_of(by)
    totals = _Tally()
    segments: dict[str | None, _Tally] = {}
    for month, items in items_by_month.items():
        for item in items:
            status = item.get("status")
            if item.get("dimension") != dimension or status not in ("won", "lost"):
                continue
            n, value = _int(item.get("n")), _dec(item.get("value"))
            currency = item.get("currency") or default_currency
            reason = (item.get("reason") or None) if status == "lost" else None
            totals.add(status, reason, currency, n, value)
            if by != "none":
                segment = month if by == "month" else (item.get("segment") or None)
                segments.setdefault(segment, _Tally()).add(status, reason, currency, n, value)
    segment_rows = [{"segment": name, "lost": tally.lost, "won": tally.won,
                     "win_rate": ratio(tally.won, tally.won + tally.lost), "lost_value": _money_map(tally.lost_value),
                     "won_value": _money_map(tally.won_value), "reasons": tally.reason_rows()}
                    for name, tally in segments.items() if tally.lost or tally.won]
    segment_rows.sort(key=lambda r: (-r["lost"], -r["won"], r["segment"] is None, r["segment"] or ""))
    return {
        "from": str(start), "to": str(end), "by": by,
        "totals": {"lost": totals.lost, "won": totals.won, "win_rate": ratio(totals.won, totals.won + totals.lost),
                   "lost_value": _money_map(totals.lost_value), "won_value": _money_map(totals.won_value)},
        "reasons": totals.reason_rows(),
        "segments": segment_rows,
    }


# ------------------------------------------------------------------------------------------------ retention


def retention(period: Period, histogram: Mapping[str, Any] | None, currency: str) -> dict[str, Any]:
    """The retention report from the period's histogram item (`RH#<key>` / `H`; None: no purchase yet)."""
    h = histogram or {}
    customers = {k: _int(h.get(f"c_{k}")) for k in range(1, GROUPS + 1)}
    orders = {k: _int(h.get(f"o_{k}")) for k in range(1, GROUPS + 1)}
    revenue = {k: _dec(h.get(f"r_{k}")) for k in range(1, GROUPS + 1)}
    n_customers, n_orders, total = sum(customers.values()), sum(orders.values()), sum(revenue.values(), Decimal(0))
    returning = sum(customers[k] for k in range(2, GROUPS + 1))
    retained = sum(customers[k] for k in range(3, GROUPS + 1))
    returning_orders = sum(orders[k] for k in range(2, GROUPS + 1))
    returning_revenue = sum((revenue[k] for k in range(2, GROUPS + 1)), Decimal(0))
    intervals, span = _int(h.get("gap_intervals")), _dec(h.get("gap_span_s"))
    return {
        "period": period.label,
        "from": period.first.isoformat() if period.first else None,
        "to": period.last.isoformat() if period.last else None,
        "currency": currency,
        "customers": n_customers, "orders": n_orders, "revenue": money(total),
        "returning_customers": returning, "repeat_rate": ratio(returning, n_customers),
        "retained_customers": retained, "retention_rate": ratio(retained, n_customers),
        "aov": _average(total, n_orders), "aov_one_time": _average(revenue[1], orders[1]),
        "aov_returning": _average(returning_revenue, returning_orders),
        "avg_gap_days": round(float(span / intervals / 86400), 1) if intervals else None,
        "groups": [{"orders": k, "label": f"{k}+" if k == GROUPS else str(k), "customers": customers[k],
                    "orders_total": orders[k], "revenue": money(revenue[k]),
                    "share_customers": ratio(customers[k], n_customers), "share_revenue": ratio(revenue[k], total)}
                   for k in range(1, GROUPS + 1) if customers[k] > 0],
    }


def _average(amount: Decimal, count: int) -> str | None:
    return money(amount / count) if count else None


# ------------------------------------------------------------------------------------------------ workflows

_FIGURES = ("emails_sent", "emails_skipped", "reactions", "reactions_wait", "reactions_after", "new_deals",
            "new_deal_value", "won_deals", "won_value")
# the figures of the aggregates that apply to each workflow (the rest are null)
_APPLIES: dict[str, frozenset[str]] = {
    "inactivity": frozenset({"emails_sent", "reactions", "reactions_wait", "reactions_after", "new_deals",
                             "new_deal_value"}),
    "escalation": frozenset(),
    "deal_reactivation": frozenset({"enrolled", "emails_sent", "emails_skipped", "reactions", "new_deals",
                                    "new_deal_value", "won_deals", "won_value"}),
    "lead_scoring": frozenset(),
}
# the task workflow whose tasks count as enrolments where the aggregates do not count them
_ENROLLED_BY_TASKS = {"inactivity": "inactivity", "escalation": "escalation", "lead_scoring": "lead_scoring"}


def task_counts(tasks: Iterable[Mapping[str, Any]]) -> dict[str, int]:
    """created / completed / cancelled / open of task index entries (their status now)."""
    counts = {"created": 0, "completed": 0, "cancelled": 0, "open": 0}
    for task in tasks:
        counts["created"] += 1
        status = task.get("status")
        if status == "done":
            counts["completed"] += 1
        elif status == "cancelled":
            counts["cancelled"] += 1
        else:
            counts["open"] += 1
    return counts


def workflows(items: Iterable[Mapping[str, Any]], tasks: Mapping[str, Mapping[str, int]], start: Month,
              end: Month) -> dict[str, Any]:
    """The workflow report: `items` are the `WF#<month>` aggregates of the months (sk = workflow), `tasks` the
    task counts per task workflow (`task_counts` of the ByWorkflow entries created in the period)."""
    sums: dict[str, dict[str, int]] = {w: defaultdict(int) for w in WORKFLOWS}
    values: dict[str, dict[str, dict[str, Decimal]]] = {w: {"new": defaultdict(Decimal), "won": defaultdict(Decimal)}
                                                         for w in WORKFLOWS}
    for item in items:
        workflow = item.get("sk")
        if workflow not in sums:
            continue
        for name, value in item.items():
            if name.startswith("new_value_"):
                values[workflow]["new"][name[len("new_value_"):]] += _dec(value)
            elif name.startswith("won_value_"):
                values[workflow]["won"][name[len("won_value_"):]] += _dec(value)
            elif name not in ("pk", "sk") and isinstance(value, int | Decimal) and not isinstance(value, bool):
                sums[workflow][name] += int(value)
    rows = []
    for workflow in WORKFLOWS:
        applies = _APPLIES[workflow]
        counted = [tasks.get(t) or {} for t in TASK_WORKFLOWS[workflow]]
        enrolled_by = _ENROLLED_BY_TASKS.get(workflow)
        enrolled = sums[workflow]["enrolled"] if "enrolled" in applies else \
            (tasks.get(enrolled_by) or {}).get("created", 0) if enrolled_by else None
        row: dict[str, Any] = {"workflow": workflow, "enrolled": enrolled}
        for name in ("created", "completed", "cancelled", "open"):
            row[f"tasks_{name}"] = sum(c.get(name, 0) for c in counted)
        for name in _FIGURES:
            if name not in applies:
                row[name] = None
            elif name == "new_deal_value":
                row[name] = _money_map(values[workflow]["new"])
            elif name == "won_value":
                row[name] = _money_map(values[workflow]["won"])
            else:
                row[name] = sums[workflow][name]
        rows.append(row)
    return {"from": str(start), "to": str(end), "workflows": rows}


# ------------------------------------------------------------------------------------------------ campaigns

_CAMPAIGN_COUNTS = ("audience", "sent", "delivered", "opened", "clicked", "opens", "clicks", "bounced", "complained",
                    "unsubscribed", "failed")


def _rates(c: Mapping[str, int]) -> dict[str, float | None]:
    return {"delivery": ratio(c["delivered"], c["sent"]), "open": ratio(c["opened"], c["delivered"]),
            "click": ratio(c["clicked"], c["delivered"]), "bounce": ratio(c["bounced"], c["sent"]),
            "complaint": ratio(c["complained"], c["delivered"]),
            "unsubscribe": ratio(c["unsubscribed"], c["delivered"])}


def campaign_row(campaign: Campaign) -> dict[str, Any]:
    p = campaign.progress
    counts = {"audience": p.audience, "sent": p.sent, "delivered": p.delivered, "opened": p.opened,
              "clicked": p.clicked, "opens": p.opens, "clicks": p.clicks, "bounced": p.bounced,
              "complained": p.complaints, "unsubscribed": p.unsubscribed, "failed": p.failed}
    data = campaign.model_dump(mode="json", include={"campaign_id", "name", "status", "created_at", "launched_at"})
    suppressed = {reason: n for reason, n in sorted(p.suppressed_by_reason.items()) if n}
    return {"campaign_id": data["campaign_id"], "name": data["name"], "status": data["status"],
            "created_at": data["created_at"], "launched_at": data["launched_at"], **counts,
            "suppressed": suppressed, "suppressed_total": sum(suppressed.values()), "rates": _rates(counts)}


def campaigns(items: Iterable[Campaign], start: Month, end: Month) -> dict[str, Any]:
    """The campaign report: `items` are the campaigns created in the period, newest first."""
    rows = [campaign_row(c) for c in items]
    totals: dict[str, Any] = {name: sum(r[name] for r in rows) for name in _CAMPAIGN_COUNTS}
    suppressed: dict[str, int] = defaultdict(int)
    for row in rows:
        for reason, n in row["suppressed"].items():
            suppressed[reason] += n
    totals |= {"suppressed": dict(sorted(suppressed.items())), "suppressed_total": sum(suppressed.values()),
               "rates": _rates(totals)}
    return {"from": str(start), "to": str(end), "campaigns": rows, "totals": totals}
