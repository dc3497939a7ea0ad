"""The reports' figures from the aggregates, without AWS (domain/report_views.py): every expected number below is
computed by hand from the small data sets of each test."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest

from crm_automation.domain import report_views as views
from crm_automation.domain.campaigns import Campaign, CampaignStatus, Progress
from crm_automation.domain.report_views import Month, ReportParameterError

TZ = "Europe/Prague"
NOW = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)


# ---------------------------------------------------------------- loss reasons

def _deal_cell(status: str, reason: str, owner: str, industry: str, product: str, currency: str, n: int,
               value: str) -> list[dict]:
    """The four rollup items (all, industry, owner, product) of `n` deals closed alike, as the aggregator keeps them
    (each deal is counted once per dimension)."""
    segments = {"all": "", "industry": industry, "owner": owner, "product": product}
    return [{"pk": "DEALS#x", "sk": "[...]", "dimension": dimension, "status": status, "reason": reason,
             "segment": segment, "currency": currency, "n": Decimal(n), "value": Decimal(value)}
            for dimension, segment in segments.items()]


def _month(*deals: list[dict]) -> list[dict]:
    return [item for cells in deals for item in cells]


CUBE = {
    "2026-01": _month(
        _deal_cell("lost", "Cena", "petr", "Strojírenství", "A", "CZK", 2, "100000"),
        _deal_cell("lost", "Konkurence", "petr", "Gastro", "A", "CZK", 1, "50000"),
        _deal_cell("won", "", "jana", "Strojírenství", "B", "CZK", 1, "30000"),
        _deal_cell("lost", "", "jana", "", "", "EUR", 1, "1000.5"),
    ),
    "2026-02": _month(
        _deal_cell("lost", "Cena", "jana", "Gastro", "B", "CZK", 1, "20000"),
        _deal_cell("won", "", "petr", "Gastro", "A", "EUR", 2, "4000"),
        _deal_cell("lost", "Cena", "petr", "Gastro", "A", "", 1, "10"),  # no currency: the default one
        _deal_cell("lost", "Cena", "petr", "Gastro", "A", "CZK", 0, "0"),  # a cell that went back to zero
    ),
}


def test_loss_reasons_totals_shares_win_rate_and_values_per_currency():
    report = views.loss_reasons(CUBE, Month(2026, 1), Month(2026, 2), "none", "CZK")
    # lost 2+1+1+1+1 = 6, won 1+2 = 3: win rate 3/9 (each deal once, though it stands in four rollups)
    assert report["totals"] == {"lost": 6, "won": 3, "win_rate": 0.3333,
                                "lost_value": {"CZK": "170010.00", "EUR": "1000.50"},
                                "won_value": {"CZK": "30000.00", "EUR": "4000.00"}}
    # Cena 2+1+1 = 4 of 6, Konkurence 1, not given 1 (named reasons first on a tie)
    assert report["reasons"] == [
        {"reason": "Cena", "lost": 4, "share": 0.6667, "value": {"CZK": "120010.00"}},
        {"reason": "Konkurence", "lost": 1, "share": 0.1667, "value": {"CZK": "50000.00"}},
        {"reason": None, "lost": 1, "share": 0.1667, "value": {"EUR": "1000.50"}},
    ]
    assert report["segments"] == [] and report["by"] == "none"
    assert (report["from"], report["to"]) == ("2026-01", "2026-02")


def test_loss_reasons_by_industry_share_within_the_segment():
    report = views.loss_reasons(CUBE, Month(2026, 1), Month(2026, 2), "industry", "CZK")
    assert report["segments"] == [
        # Gastro: lost Konkurence 1 + Cena 1 + Cena 1 = 3, won 2: win rate 2/5
        {"segment": "Gastro", "lost": 3, "won": 2, "win_rate": 0.4, "lost_value": {"CZK": "70010.00"},
         "won_value": {"EUR": "4000.00"},
         "reasons": [{"reason": "Cena", "lost": 2, "share": 0.6667, "value": {"CZK": "20010.00"}},
                     {"reason": "Konkurence", "lost": 1, "share": 0.3333, "value": {"CZK": "50000.00"}}]},
        # Strojírenství: lost 2 (Cena), won 1: 1/3
        {"segment": "Strojírenství", "lost": 2, "won": 1, "win_rate": 0.3333, "lost_value": {"CZK": "100000.00"},
         "won_value": {"CZK": "30000.00"},
         "reasons": [{"reason": "Cena", "lost": 2, "share": 1.0, "value": {"CZK": "100000.00"}}]},
        # no industry given: one lost deal, nothing won
        {"segment": None, "lost": 1, "won": 0, "win_rate": 0.0, "lost_value": {"EUR": "1000.50"}, "won_value": {},
         "reasons": [{"reason": None, "lost": 1, "share": 1.0, "value": {"EUR": "1000.50"}}]},
    ]
    # the totals are the same whichever rollup they are summed from
    assert report["totals"] == views.loss_reasons(CUBE, Month(2026, 1), Month(2026, 2), "none", "CZK")["totals"]


def test_loss_reasons_by_month_and_by_owner():
    report = views.loss_reasons(CUBE, Month(2026, 1), Month(2026, 2), "month", "CZK")
    # January lost 2 + 1 + 1 = 4, won 1; February lost 1 + 1 = 2, won 2
    assert [(s["segment"], s["lost"], s["won"]) for s in report["segments"]] == [("2026-01", 4, 1), ("2026-02", 2, 2)]
    by_owner = views.loss_reasons(CUBE, Month(2026, 1), Month(2026, 2), "owner", "CZK")
    # petr: lost 2 + 1 + 1 = 4, won 2 (4/6 lost, 2/6 won); jana: lost 1 + 1, won 1
    assert [(s["segment"], s["lost"], s["won"], s["win_rate"]) for s in by_owner["segments"]] == [
        ("petr", 4, 2, 0.3333), ("jana", 2, 1, 0.3333)]


def test_loss_reasons_of_months_without_deals_are_zeros_and_nulls():
    report = views.loss_reasons({"2026-01": [], "2026-02": []}, Month(2026, 1), Month(2026, 2), "owner", "CZK")
    assert report["totals"] == {"lost": 0, "won": 0, "win_rate": None, "lost_value": {}, "won_value": {}}
    assert report["reasons"] == [] and report["segments"] == []


def test_by_product():
    report = views.loss_reasons(CUBE, Month(2026, 1), Month(2026, 2), "product", "CZK")
    # A: lost 2 + 1 + 1 = 4, won 2; B: lost 1, won 1; no product: lost 1
    assert [(s["segment"], s["lost"], s["won"]) for s in report["segments"]] == [("A", 4, 2), ("B", 1, 1),
                                                                                  (None, 1, 0)]


def test_the_rollup_a_segment_reads():
    assert [views.dimension_of(by) for by in ("industry", "owner", "product", "month", "none")] == [
        "industry", "owner", "product", "all", "all"]


# ---------------------------------------------------------------- retention

HISTOGRAM = {
    "pk": "RH#Y2026", "sk": "H",
    "c_1": Decimal(6), "o_1": Decimal(6), "r_1": Decimal("3000"),
    "c_2": Decimal(2), "o_2": Decimal(4), "r_2": Decimal("2400"),
    "c_3": Decimal(1), "o_3": Decimal(3), "r_3": Decimal("900"),
    "c_4": Decimal(0), "o_4": Decimal(0), "r_4": Decimal(0),  # a customer who moved on to more orders
    "c_10": Decimal(1), "o_10": Decimal(12), "r_10": Decimal("6045"),
    # gaps: 2 customers x 1 + 1 x 2 + 1 x 11 = 15 intervals over 30,000,000 s
    "gap_span_s": Decimal(30_000_000), "gap_intervals": Decimal(15),
}


def test_retention_groups_rates_and_average_order_values():
    period = views.parse_period("2026", NOW, TZ)
    report = views.retention(period, HISTOGRAM, "CZK")
    assert report | {"groups": None} == {
        "period": "2026", "from": "2026-01-01", "to": "2026-12-31", "currency": "CZK",
        "customers": 10, "orders": 25, "revenue": "12345.00",
        "returning_customers": 4, "repeat_rate": 0.4, "retained_customers": 2, "retention_rate": 0.2,
        "aov": "493.80",  # 12345 / 25
        "aov_one_time": "500.00",  # 3000 / 6
        "aov_returning": "491.84",  # (2400 + 900 + 6045) / (4 + 3 + 12) = 9345 / 19 = 491.842...
        "avg_gap_days": 23.1,  # 30,000,000 / 15 / 86,400 = 23.148...
        "groups": None,
    }
    assert report["groups"] == [
        {"orders": 1, "label": "1", "customers": 6, "orders_total": 6, "revenue": "3000.00",
         "share_customers": 0.6, "share_revenue": 0.243},  # 3000 / 12345 = 0.24301
        {"orders": 2, "label": "2", "customers": 2, "orders_total": 4, "revenue": "2400.00",
         "share_customers": 0.2, "share_revenue": 0.1944},
        {"orders": 3, "label": "3", "customers": 1, "orders_total": 3, "revenue": "900.00",
         "share_customers": 0.1, "share_revenue": 0.0729},
        {"orders": 10, "label": "10+", "customers": 1, "orders_total": 12, "revenue": "6045.00",
         "share_customers": 0.1, "share_revenue": 0.4897},
    ]


def test_retention_of_a_period_without_purchases_is_zeros_and_nulls():
    report = views.retention(views.parse_period("all", NOW, TZ), None, "CZK")
    assert report == {"period": "all", "from": None, "to": None, "currency": "CZK", "customers": 0, "orders": 0,
                      "revenue": "0.00", "returning_customers": 0, "repeat_rate": None, "retained_customers": 0,
                      "retention_rate": None, "aov": None, "aov_one_time": None, "aov_returning": None,
                      "avg_gap_days": None, "groups": []}


def test_retention_of_one_time_buyers_only_has_no_returning_figures():
    report = views.retention(views.parse_period("2026-03", NOW, TZ),
                             {"c_1": Decimal(2), "o_1": Decimal(2), "r_1": Decimal("0.5")}, "EUR")
    assert (report["aov"], report["aov_one_time"], report["aov_returning"], report["avg_gap_days"]) == \
        ("0.25", "0.25", None, None)
    assert report["repeat_rate"] == 0.0 and report["groups"][0]["share_revenue"] == 1.0


# ---------------------------------------------------------------- workflows

WF_ITEMS = [
    {"pk": "WF#2026-01", "sk": "inactivity", "emails_sent": Decimal(3), "reactions": Decimal(2),
     "reactions_wait": Decimal(1), "reactions_after": Decimal(1), "new_deals": Decimal(1),
     "new_value_CZK": Decimal("10000")},
    {"pk": "WF#2026-01", "sk": "deal_reactivation", "enrolled": Decimal(4), "emails_sent": Decimal(3),
     "emails_skipped": Decimal(1), "reactions": Decimal(1), "won_deals": Decimal(1),
     "won_value_CZK": Decimal("5000"), "won_value_EUR": Decimal("100")},
    {"pk": "WF#2026-02", "sk": "deal_reactivation", "enrolled": Decimal(1), "new_deals": Decimal(2),
     "new_value_CZK": Decimal("7000.5")},
    {"pk": "WF#2026-02", "sk": "campaign", "emails_sent": Decimal(99)},  # not a reported workflow
]


def _tasks(*statuses: str) -> list[dict]:
    return [{"task_id": f"t{i}", "status": s, "kind": "task"} for i, s in enumerate(statuses)]


def test_workflows_sum_the_months_and_count_tasks_from_the_index():
    tasks = {"inactivity": views.task_counts(_tasks("done", "done", "cancelled", "open", "open")),
             "inactivity_vip": views.task_counts(_tasks("open")),
             "escalation": views.task_counts(_tasks("done", "open")),
             "deal_reactivation": views.task_counts(_tasks("done", "done", "done")),
             "lead_scoring": views.task_counts([])}
    report = views.workflows(WF_ITEMS, tasks, Month(2026, 1), Month(2026, 2))
    assert (report["from"], report["to"]) == ("2026-01", "2026-02")
    rows = {r["workflow"]: r for r in report["workflows"]}
    assert [r["workflow"] for r in report["workflows"]] == ["inactivity", "escalation", "deal_reactivation",
                                                            "lead_scoring"]
    assert rows["inactivity"] == {
        "workflow": "inactivity", "enrolled": 5, "tasks_created": 6, "tasks_completed": 2, "tasks_cancelled": 1,
        "tasks_open": 3, "emails_sent": 3, "emails_skipped": None, "reactions": 2, "reactions_wait": 1,
        "reactions_after": 1, "new_deals": 1, "new_deal_value": {"CZK": "10000.00"}, "won_deals": None,
        "won_value": None}
    assert rows["escalation"] == {
        "workflow": "escalation", "enrolled": 2, "tasks_created": 2, "tasks_completed": 1, "tasks_cancelled": 0,
        "tasks_open": 1, "emails_sent": None, "emails_skipped": None, "reactions": None, "reactions_wait": None,
        "reactions_after": None, "new_deals": None, "new_deal_value": None, "won_deals": None, "won_value": None}
    assert rows["deal_reactivation"] == {
        "workflow": "deal_reactivation", "enrolled": 5, "tasks_created": 3, "tasks_completed": 3,
        "tasks_cancelled": 0, "tasks_open": 0, "emails_sent": 3, "emails_skipped": 1, "reactions": 1,
        "reactions_wait": None, "reactions_after": None, "new_deals": 2, "new_deal_value": {"CZK": "7000.50"},
        "won_deals": 1, "won_value": {"CZK": "5000.00", "EUR": "100.00"}}
    assert rows["lead_scoring"] | {"workflow": None} == {
        "workflow": None, "enrolled": 0, "tasks_created": 0, "tasks_completed": 0, "tasks_cancelled": 0,
        "tasks_open": 0, "emails_sent": None, "emails_skipped": None, "reactions": None, "reactions_wait": None,
        "reactions_after": None, "new_deals": None, "new_deal_value": None, "won_deals": None, "won_value": None}


def test_workflows_without_aggregates_show_zeros_where_figures_apply():
    report = views.workflows([], {}, Month(2026, 1), Month(2026, 1))
    inactivity, _, reactivation, _ = report["workflows"]
    assert inactivity["enrolled"] == 0 and inactivity["emails_sent"] == 0 and inactivity["new_deal_value"] == {}
    assert reactivation["won_deals"] == 0 and reactivation["won_value"] == {} and reactivation["tasks_open"] == 0


# ---------------------------------------------------------------- campaigns

def _campaign(campaign_id: str, status: CampaignStatus, progress: Progress, created: datetime) -> Campaign:
    return Campaign(campaign_id=campaign_id, name=f"Kampaň {campaign_id}", template="newsletter",
                    segment={"field": "tag", "op": "has", "value": "x"}, segment_query='tag "x"', status=status,
                    created_at=created, launched_at=created if status != CampaignStatus.DRAFT else None,
                    progress=progress)


def test_campaign_rows_rates_and_totals():
    sent = _campaign("cmp-1", CampaignStatus.COMPLETED, Progress(
        audience=120, sent=100, delivered=98, opened=40, clicked=12, opens=55, clicks=14, bounced=2, complaints=1,
        unsubscribed=3, failed=0, suppressed_by_reason={"unsubscribed": 5, "no_consent": 10, "duplicate": 0}), NOW)
    draft = _campaign("cmp-2", CampaignStatus.DRAFT, Progress(), NOW)
    report = views.campaigns([draft, sent], Month(2026, 3), Month(2026, 3))
    assert [c["campaign_id"] for c in report["campaigns"]] == ["cmp-2", "cmp-1"]  # as given: newest first
    row = report["campaigns"][1]
    assert row == {
        "campaign_id": "cmp-1", "name": "Kampaň cmp-1", "status": "completed", "created_at": "2026-03-02T08:00:00Z",
        "launched_at": "2026-03-02T08:00:00Z", "audience": 120, "sent": 100, "delivered": 98, "opened": 40,
        "clicked": 12, "opens": 55, "clicks": 14, "bounced": 2, "complained": 1, "unsubscribed": 3, "failed": 0,
        "suppressed": {"no_consent": 10, "unsubscribed": 5}, "suppressed_total": 15,
        # delivered/sent, opened/delivered (40/98), clicked/delivered (12/98), bounced/sent, 1/98, 3/98
        "rates": {"delivery": 0.98, "open": 0.4082, "click": 0.1224, "bounce": 0.02, "complaint": 0.0102,
                  "unsubscribe": 0.0306}}
    # a campaign that sent nothing has no rates (zero denominators)
    assert report["campaigns"][0]["rates"] == dict.fromkeys(
        ("delivery", "open", "click", "bounce", "complaint", "unsubscribe"))
    assert report["campaigns"][0]["launched_at"] is None
    assert report["totals"] == {k: v for k, v in row.items() if k not in (
        "campaign_id", "name", "status", "created_at", "launched_at")}


def test_sent_but_nothing_delivered_yet_has_a_delivery_rate_but_no_open_rate():
    report = views.campaigns([_campaign("cmp-3", CampaignStatus.RUNNING, Progress(audience=5, sent=4, bounced=1),
                                        NOW)], Month(2026, 3), Month(2026, 3))
    assert report["totals"]["rates"] == {"delivery": 0.0, "open": None, "click": None, "bounce": 0.25,
                                         "complaint": None, "unsubscribe": None}


# ---------------------------------------------------------------- parameters

def test_months_default_to_the_last_twelve_prague_months():
    assert views.month_range(None, None, NOW, TZ) == (Month(2025, 4), Month(2026, 3))
    # 28 February 23:30 UTC is already 1 March in Prague
    late = datetime(2026, 2, 28, 23, 30, tzinfo=UTC)
    assert views.month_range(None, None, late, TZ) == (Month(2025, 4), Month(2026, 3))
    assert views.month_range(None, "2026-01", NOW, TZ) == (Month(2025, 2), Month(2026, 1))
    assert views.month_range("2026-01", None, NOW, TZ) == (Month(2026, 1), Month(2026, 3))
    assert views.month_range("2023-04", "2026-03", NOW, TZ) == (Month(2023, 4), Month(2026, 3))  # 36 months


@pytest.mark.parametrize(("month_from", "month_to", "message"), [
    ("2026-03", "2026-02", "after"),
    ("2023-03", "2026-03", "at most 36"),
    ("2026-1", None, "from"),
    ("2026-13", None, "01 to 12"),
    ("2026-00", None, "01 to 12"),
    (None, "march", "to"),
    ("1969-12", "1970-01", "year"),
    ("", None, "from"),
    ("2026-01", "2026-02x", "to"),
    ("2026-01", "2026-02\n2026-03", "to"),
], ids=["reversed", "37 months", "one-digit month", "month 13", "month 0", "words", "before 1970", "empty",
        "trailing text", "two lines"])
def test_bad_months_are_refused_with_the_parameter_named(month_from, month_to, message):
    with pytest.raises(ReportParameterError, match=message):
        views.month_range(month_from, month_to, NOW, TZ)


def test_utc_bounds_of_prague_months_follow_daylight_saving_time():
    # March 2026 starts at 00:00 CET (23:00 UTC the day before); April starts at 00:00 CEST (22:00 UTC)
    assert views.utc_bounds(Month(2026, 3), Month(2026, 3), TZ) == (
        datetime(2026, 2, 28, 23, 0, tzinfo=UTC), datetime(2026, 3, 31, 21, 59, 59, 999999, tzinfo=UTC))
    assert views.months(Month(2025, 11), Month(2026, 2)) == [Month(2025, 11), Month(2025, 12), Month(2026, 1),
                                                             Month(2026, 2)]


@pytest.mark.parametrize(("text", "label", "key", "first", "last"), [
    ("2026", "2026", "Y2026", date(2026, 1, 1), date(2026, 12, 31)),
    ("2026-q2", "2026-Q2", "Q2026-2", date(2026, 4, 1), date(2026, 6, 30)),
    ("2026-Q4", "2026-Q4", "Q2026-4", date(2026, 10, 1), date(2026, 12, 31)),
    ("2024-02", "2024-02", "M2024-02", date(2024, 2, 1), date(2024, 2, 29)),
    ("ALL", "all", "ALL", None, None),
    (" all ", "all", "ALL", None, None),
])
def test_periods(text, label, key, first, last):
    assert views.parse_period(text, NOW, TZ) == views.Period(label, key, first, last)


def test_the_default_period_is_the_current_prague_year():
    new_year_in_prague = datetime(2026, 12, 31, 23, 30, tzinfo=UTC)
    assert views.parse_period(None, new_year_in_prague, TZ).key == "Y2027"


@pytest.mark.parametrize("text", ["2026-Q5", "2026-Q0", "2026-13", "26", "last year", "", "2026-06-01", "1900"])
def test_bad_periods_are_refused(text):
    with pytest.raises(ReportParameterError, match="period"):
        views.parse_period(text, NOW, TZ)


def test_segment_parameter():
    assert views.parse_by(None) == "none" and views.parse_by("Industry") == "industry"
    with pytest.raises(ReportParameterError, match="by: one of industry, owner, product, month, none"):
        views.parse_by("region")


def test_money_and_ratio_rounding():
    assert views.money(Decimal("0.005")) == "0.01" and views.money(7) == "7.00"
    assert views.ratio(1, 3) == 0.3333 and views.ratio(2, 3) == 0.6667 and views.ratio(5, 0) is None
