"""Hand-made answers of the four report endpoints, shaped exactly like the contract (docs/reports.md, issue #7).

The figures are consistent with each other (shares = counts / totals, segment sums = totals) so that a table or a
chart showing one of them can be checked by hand. ``EMPTY`` is a period with nothing in it.
"""

from __future__ import annotations

import copy
from typing import Any

PERIOD = {"from": "2026-01", "to": "2026-06"}

TOTALS = {"lost": 8, "won": 4, "win_rate": 0.3333, "lost_value": {"CZK": "480000.00"},
          "won_value": {"CZK": "90000.00"}}
REASONS = [
    {"reason": "Cena", "lost": 3, "share": 0.375, "value": {"CZK": "150000.00"}},
    {"reason": "Konkurence", "lost": 2, "share": 0.25, "value": {"CZK": "200000.00"}},
    {"reason": None, "lost": 2, "share": 0.25, "value": {"CZK": "90000.00"}},
    {"reason": "Načasování", "lost": 1, "share": 0.125, "value": {"CZK": "40000.00"}},
]


def _reason(reason: str | None, lost: int, share: float, value: str) -> dict[str, Any]:
    return {"reason": reason, "lost": lost, "share": share, "value": {"CZK": value}}


def _segment(segment: str | None, lost: int, won: int, win_rate: float, lost_value: str,
             reasons: list[dict[str, Any]]) -> dict[str, Any]:
    return {"segment": segment, "lost": lost, "won": won, "win_rate": win_rate, "lost_value": {"CZK": lost_value},
            "reasons": reasons}


SEGMENTS = {
    "industry": [
        _segment("Strojírenství", 5, 1, 0.1667, "330000.00", [
            _reason("Cena", 2, 0.4, "100000.00"), _reason("Konkurence", 2, 0.4, "200000.00"),
            _reason(None, 1, 0.2, "30000.00")]),
        _segment("Stavebnictví", 2, 2, 0.5, "90000.00", [
            _reason("Cena", 1, 0.5, "50000.00"), _reason("Načasování", 1, 0.5, "40000.00")]),
        _segment(None, 1, 1, 0.5, "60000.00", [_reason(None, 1, 1.0, "60000.00")]),
    ],
    "owner": [
        _segment("jnovak", 5, 1, 0.1667, "230000.00", [
            _reason("Cena", 2, 0.4, "100000.00"), _reason(None, 2, 0.4, "90000.00"),
            _reason("Načasování", 1, 0.2, "40000.00")]),
        _segment("pdvorak", 3, 3, 0.5, "250000.00", [
            _reason("Konkurence", 2, 0.6667, "200000.00"), _reason("Cena", 1, 0.3333, "50000.00")]),
    ],
    "product": [
        _segment("CNC servis", 4, 2, 0.3333, "230000.00", [
            _reason("Cena", 2, 0.5, "100000.00"), _reason("Konkurence", 1, 0.25, "100000.00"),
            _reason(None, 1, 0.25, "30000.00")]),
        _segment("Licence ERP", 3, 1, 0.25, "200000.00", [
            _reason("Konkurence", 1, 0.3333, "100000.00"), _reason("Načasování", 1, 0.3333, "40000.00"),
            _reason(None, 1, 0.3333, "60000.00")]),
        _segment(None, 1, 1, 0.5, "50000.00", [_reason("Cena", 1, 1.0, "50000.00")]),
    ],
    "none": [],
}


def loss_reasons(by: str = "industry") -> dict[str, Any]:
    return {**PERIOD, "by": by, "totals": copy.deepcopy(TOTALS),
            "reasons": copy.deepcopy(REASONS), "segments": copy.deepcopy(SEGMENTS[by])}


def _group(orders: int, label: str, customers: int, orders_total: int, revenue: str, share_customers: float,
           share_revenue: float) -> dict[str, Any]:
    return {"orders": orders, "label": label, "customers": customers, "orders_total": orders_total,
            "revenue": revenue, "share_customers": share_customers, "share_revenue": share_revenue}


# 6 one-time customers (6 orders, 3 000), 2 with two orders (4, 2 400), 1 with three (3, 2 100), 1 with twelve
# (12, 6 845): 10 customers, 25 orders, 14 345 CZK; aov 14 345 / 25, aov_returning 11 345 / 19.
RETENTION = {
    "period": "2026", "from": "2026-01-01", "to": "2026-12-31", "currency": "CZK",
    "customers": 10, "orders": 25, "revenue": "14345.00",
    "returning_customers": 4, "repeat_rate": 0.4, "retained_customers": 2, "retention_rate": 0.2,
    "aov": "573.80", "aov_one_time": "500.00", "aov_returning": "597.11",
    "avg_gap_days": 23.5,
    "groups": [
        _group(1, "1", 6, 6, "3000.00", 0.6, 0.2091),
        _group(2, "2", 2, 4, "2400.00", 0.2, 0.1673),
        _group(3, "3", 1, 3, "2100.00", 0.1, 0.1464),
        _group(10, "10+", 1, 12, "6845.00", 0.1, 0.4772),
    ],
}

_NO_EMAIL = {"emails_sent": None, "emails_skipped": None, "reactions": None, "reactions_wait": None,
             "reactions_after": None, "new_deals": None, "new_deal_value": None, "won_deals": None, "won_value": None}

WORKFLOWS = {**PERIOD, "workflows": [
    {"workflow": "inactivity", "enrolled": 5, "tasks_created": 6, "tasks_completed": 2, "tasks_cancelled": 0,
     "tasks_open": 4, "emails_sent": 3, "emails_skipped": None, "reactions": 2, "reactions_wait": 1,
     "reactions_after": 1, "new_deals": 1, "new_deal_value": {"CZK": "10000.00"}, "won_deals": None,
     "won_value": None},
    {"workflow": "escalation", "enrolled": 2, "tasks_created": 2, "tasks_completed": 1, "tasks_cancelled": 1,
     "tasks_open": 0, **_NO_EMAIL},
    {"workflow": "deal_reactivation", "enrolled": 4, "tasks_created": 3, "tasks_completed": 1, "tasks_cancelled": 0,
     "tasks_open": 2, "emails_sent": 3, "emails_skipped": 1, "reactions": 1, "reactions_wait": None,
     "reactions_after": None, "new_deals": 2, "new_deal_value": {"CZK": "45000.00"}, "won_deals": 1,
     "won_value": {"CZK": "25000.00"}},
    {"workflow": "lead_scoring", "enrolled": 7, "tasks_created": 7, "tasks_completed": 5, "tasks_cancelled": 0,
     "tasks_open": 2, **_NO_EMAIL},
]}

_NULL_RATES = {"delivery": None, "open": None, "click": None, "bounce": None, "complaint": None, "unsubscribe": None}

CAMPAIGNS = {**PERIOD, "campaigns": [
    {"campaign_id": "cmp-c", "name": "Letní akce", "status": "draft", "created_at": "2026-06-01T08:00:00Z",
     "launched_at": None, "audience": 0, "sent": 0, "delivered": 0, "opened": 0, "clicked": 0, "opens": 0,
     "clicks": 0, "bounced": 0, "complained": 0, "unsubscribed": 0, "failed": 0, "suppressed": {},
     "suppressed_total": 0, "rates": dict(_NULL_RATES)},
    {"campaign_id": "cmp-b", "name": "Jarní novinky", "status": "completed", "created_at": "2026-05-04T07:00:00Z",
     "launched_at": "2026-05-05T07:00:00Z", "audience": 120, "sent": 100, "delivered": 98, "opened": 40,
     "clicked": 12, "opens": 55, "clicks": 14, "bounced": 2, "complained": 1, "unsubscribed": 3, "failed": 0,
     "suppressed": {"unsubscribed": 5, "no_consent": 10}, "suppressed_total": 15,
     "rates": {"delivery": 0.98, "open": 0.4082, "click": 0.1224, "bounce": 0.02, "complaint": 0.0102,
               "unsubscribe": 0.0306}},
    {"campaign_id": "cmp-a", "name": "Návrat bývalých zákazníků", "status": "completed",
     "created_at": "2026-02-10T09:00:00Z", "launched_at": "2026-02-11T09:00:00Z", "audience": 60, "sent": 50,
     "delivered": 48, "opened": 30, "clicked": 9, "opens": 41, "clicks": 11, "bounced": 2, "complained": 0,
     "unsubscribed": 1, "failed": 0, "suppressed": {"bounced": 4, "unsubscribed": 6}, "suppressed_total": 10,
     "rates": {"delivery": 0.96, "open": 0.625, "click": 0.1875, "bounce": 0.04, "complaint": 0.0,
               "unsubscribe": 0.0208}},
], "totals": {
    "audience": 180, "sent": 150, "delivered": 146, "opened": 70, "clicked": 21, "opens": 96, "clicks": 25,
    "bounced": 4, "complained": 1, "unsubscribed": 4, "failed": 0,
    "suppressed": {"unsubscribed": 11, "no_consent": 10, "bounced": 4}, "suppressed_total": 25,
    "rates": {"delivery": 0.9733, "open": 0.4795, "click": 0.1438, "bounce": 0.0267, "complaint": 0.0068,
              "unsubscribe": 0.0274}}}


def report_data() -> dict[str, Any]:
    """What :func:`crm_cli.report_html.fetch_report_data` returns for the fixture period."""
    return {"loss_reasons": {by: loss_reasons(by) for by in ("industry", "owner", "product")},
            "retention": copy.deepcopy(RETENTION), "workflows": copy.deepcopy(WORKFLOWS),
            "campaigns": copy.deepcopy(CAMPAIGNS)}


def _zero_workflow(name: str) -> dict[str, Any]:
    row = {"workflow": name, "enrolled": 0, "tasks_created": 0, "tasks_completed": 0, "tasks_cancelled": 0,
           "tasks_open": 0, **_NO_EMAIL}
    if name in ("inactivity", "deal_reactivation"):
        row |= {"emails_sent": 0, "reactions": 0, "new_deals": 0, "new_deal_value": {}}
    return row


def empty_data() -> dict[str, Any]:
    """A period with no lost or won deal, no purchase, no workflow activity and no campaign."""
    loss = {by: {**PERIOD, "by": by,
                 "totals": {"lost": 0, "won": 0, "win_rate": None, "lost_value": {}, "won_value": {}},
                 "reasons": [], "segments": []} for by in ("industry", "owner", "product")}
    retention = {"period": "2026", "from": "2026-01-01", "to": "2026-12-31", "currency": "CZK", "customers": 0,
                 "orders": 0, "revenue": "0.00", "returning_customers": 0, "repeat_rate": None,
                 "retained_customers": 0, "retention_rate": None, "aov": None, "aov_one_time": None,
                 "aov_returning": None, "avg_gap_days": None, "groups": []}
    zero = {"audience": 0, "sent": 0, "delivered": 0, "opened": 0, "clicked": 0, "opens": 0, "clicks": 0,
            "bounced": 0, "complained": 0, "unsubscribed": 0, "failed": 0, "suppressed": {}, "suppressed_total": 0,
            "rates": dict(_NULL_RATES)}
    return {"loss_reasons": loss, "retention": retention,
            "workflows": {**PERIOD, "workflows": [_zero_workflow(w) for w in
                                                  ("inactivity", "escalation", "deal_reactivation", "lead_scoring")]},
            "campaigns": {**PERIOD, "campaigns": [], "totals": zero}}
