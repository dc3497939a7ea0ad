"""The report aggregates' arithmetic (domain/reports.py) and the deal fields it relies on, without AWS.

Every expected number below is computed by hand in the comment next to it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from crm_automation.domain import reports
from crm_automation.domain.models import (
    ActivityKind,
    Attribution,
    Deal,
    DealReactivation,
    DealStatus,
    InactivityState,
    closed_at_after,
)
from crm_automation.domain.reports import Cell, CustomerState
from tests.factories import NOW, activity, contact

TZ = "Europe/Prague"
DAYS = 90


def at(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)


def deal(**overrides: Any) -> Deal:
    values: dict[str, Any] = {"deal_id": "d-1", "contact_id": "c-1", "owner": "petr.svoboda", "title": "Servis",
                              "value": Decimal("120000"), "last_activity_at": at("2026-01-05T09:00:00Z"),
                              "created_at": at("2026-01-05T09:00:00Z"), "updated_at": at("2026-05-20T09:00:00Z"),
                              "version": 3}
    values.update(overrides)
    return Deal(**values)


def enrolment(eid: str, started: str, email: str | None = "sent") -> DealReactivation:
    return DealReactivation(enrolment_id=eid, trigger="stale", started_at=at(started),
                            last_activity_at=at(started) - timedelta(days=100), send_timer_id=f"send-{eid}",
                            state="ended", email=email)


def contributions(d: Deal | None) -> dict[tuple[str, str], Cell]:
    return reports.deal_contributions(d, TZ, DAYS)


def numbers(cells: dict[tuple[str, str], Cell]) -> dict[tuple[str, str], dict[str, Any]]:
    return {k: c.numbers for k, c in cells.items()}


# ---------------------------------------------------------------------------------------------------- periods


@pytest.mark.parametrize(("instant", "expected"), [
    # CEST (UTC+2) since 2026-03-29: 22:30 UTC on 31 March is 00:30 on 1 April in Prague
    ("2026-03-31T22:30:00Z", ["M2026-04", "Q2026-2", "Y2026", "ALL"]),
    ("2026-03-31T21:59:59Z", ["M2026-03", "Q2026-1", "Y2026", "ALL"]),
    # CET (UTC+1) in winter: 23:30 UTC on New Year's Eve is already next year
    ("2026-12-31T23:30:00Z", ["M2027-01", "Q2027-1", "Y2027", "ALL"]),
    ("2026-11-15T12:00:00Z", ["M2026-11", "Q2026-4", "Y2026", "ALL"]),
    ("2026-07-01T00:00:00Z", ["M2026-07", "Q2026-3", "Y2026", "ALL"]),
])
def test_period_keys_are_prague_local(instant: str, expected: list[str]) -> None:
    assert reports.period_keys(at(instant), TZ) == expected


def test_month_of_an_instant_is_the_prague_month() -> None:
    assert reports.month_of(at("2026-03-31T22:30:00Z"), TZ) == "2026-04"
    assert reports.month_of(at("2026-03-31T21:30:00Z"), TZ) == "2026-03"
    assert reports.month_of(at("2026-10-31T23:30:00Z"), TZ) == "2026-11"  # CET again after 25 October


# ---------------------------------------------------------------------------------------------------- deals


def rollup(status: str, reason: str, owner: str = "petr.svoboda", industry: str = "", product: str = "",
           currency: str = "CZK") -> list[str]:
    """The four sks a closed deal is counted under: all, industry, owner, product."""
    return [reports.rollup_key(dimension, status, reason, segment, currency)
            for dimension, segment in (("all", ""), ("industry", industry), ("owner", owner), ("product", product))]


def test_a_lost_deal_counts_once_in_each_dimension_in_the_month_it_was_closed() -> None:
    lost = deal(status=DealStatus.LOST, loss_reason="Cena", industry="Strojírenství", product="Servis+",
                closed_at=at("2026-03-31T22:30:00Z"))  # April in Prague
    sks = ['["all","lost","Cena","","CZK"]', '["industry","lost","Cena","Strojírenství","CZK"]',
           '["owner","lost","Cena","petr.svoboda","CZK"]', '["product","lost","Cena","Servis+","CZK"]']
    assert rollup("lost", "Cena", industry="Strojírenství", product="Servis+") == sks
    cells = contributions(lost)
    assert list(cells) == [("DEALS#2026-04", sk) for sk in sks]
    assert all(cell.numbers == {"n": 1, "value": Decimal("120000")} for cell in cells.values())
    assert cells[("DEALS#2026-04", sks[1])].dims == {"dimension": "industry", "status": "lost", "reason": "Cena",
                                                    "segment": "Strojírenství", "currency": "CZK"}
    assert cells[("DEALS#2026-04", sks[0])].dims["segment"] == ""


def test_a_dimension_prefix_selects_only_that_dimension() -> None:
    assert reports.rollup_prefix("industry") == '["industry",'
    keys = rollup("lost", "Cena", industry="IT", product="x")
    assert [k for k in keys if k.startswith(reports.rollup_prefix("owner"))] == [keys[2]]
    assert [k for k in keys if k.startswith(reports.rollup_prefix("all"))] == [keys[0]]


def test_missing_dimensions_are_empty_strings_and_a_won_deal_has_no_reason() -> None:
    won = deal(status=DealStatus.WON, loss_reason="stale reason from before", closed_at=at("2026-02-10T10:00:00Z"))
    assert numbers(contributions(won)) == {("DEALS#2026-02", sk): {"n": 1, "value": Decimal("120000")}
                                           for sk in rollup("won", "")}


def test_a_closed_deal_without_closed_at_falls_back_to_updated_at() -> None:
    legacy = deal(status=DealStatus.LOST, closed_at=None, updated_at=at("2026-05-20T09:00:00Z"))
    assert {k[0] for k in contributions(legacy)} == {"DEALS#2026-05"}


def test_an_open_deal_contributes_nothing() -> None:
    assert contributions(deal()) == {}
    assert contributions(None) == {}


def test_changing_the_loss_reason_moves_the_count_and_the_value() -> None:
    before = deal(status=DealStatus.LOST, loss_reason="Cena", closed_at=at("2026-04-10T10:00:00Z"))
    after = before.model_copy(update={"loss_reason": "Konkurence", "version": 4})
    change = reports.deal_change(before, after, TZ, DAYS)
    # 4 cells out (Cena), 4 cells in (Konkurence): 8 items in the transaction
    assert numbers(change) == {
        **{("DEALS#2026-04", sk): {"n": -1, "value": Decimal("-120000")} for sk in rollup("lost", "Cena")},
        **{("DEALS#2026-04", sk): {"n": 1, "value": Decimal("120000")} for sk in rollup("lost", "Konkurence")},
    }
    # the removed cell keeps its dimensions, so the item can be written even if it were new
    assert change[("DEALS#2026-04", '["all","lost","Cena","","CZK"]')].dims["reason"] == "Cena"


def test_changing_the_product_moves_only_the_product_rollup() -> None:
    before = deal(status=DealStatus.LOST, loss_reason="Cena", product="A", closed_at=at("2026-04-10T10:00:00Z"))
    after = before.model_copy(update={"product": "B"})
    assert numbers(reports.deal_change(before, after, TZ, DAYS)) == {
        ("DEALS#2026-04", '["product","lost","Cena","A","CZK"]'): {"n": -1, "value": Decimal("-120000")},
        ("DEALS#2026-04", '["product","lost","Cena","B","CZK"]'): {"n": 1, "value": Decimal("120000")}}


def test_reopening_removes_the_deal_and_a_resave_changes_nothing() -> None:
    lost = deal(status=DealStatus.LOST, loss_reason="Cena", closed_at=at("2026-04-10T10:00:00Z"))
    reopened = lost.model_copy(update={"status": DealStatus.OPEN, "closed_at": None})
    assert numbers(reports.deal_change(lost, reopened, TZ, DAYS)) == {
        ("DEALS#2026-04", sk): {"n": -1, "value": Decimal("-120000")} for sk in rollup("lost", "Cena")}
    resaved = lost.model_copy(update={"title": "Servis 2027", "version": 4})
    assert reports.deal_change(lost, resaved, TZ, DAYS) == {}


def test_a_changed_value_moves_only_the_value() -> None:
    lost = deal(status=DealStatus.LOST, loss_reason="Cena", closed_at=at("2026-04-10T10:00:00Z"))
    cheaper = lost.model_copy(update={"value": Decimal("100000.50")})
    assert numbers(reports.deal_change(lost, cheaper, TZ, DAYS)) == {
        ("DEALS#2026-04", sk): {"value": Decimal("-19999.50")} for sk in rollup("lost", "Cena")}


def test_every_reactivation_enrolment_counts_in_the_month_it_started() -> None:
    d = deal(reactivation_history=[enrolment("e1", "2026-01-31T23:30:00Z", email="skipped")],  # 1 Feb in Prague
             reactivation=enrolment("e2", "2026-03-10T08:00:00Z"))
    assert numbers(contributions(d)) == {("WF#2026-02", "deal_reactivation"): {"enrolled": 1, "emails_skipped": 1},
                                         ("WF#2026-03", "deal_reactivation"): {"enrolled": 1}}


def test_a_skipped_email_counts_when_the_enrolment_records_it() -> None:
    sending = deal(reactivation=enrolment("e1", "2026-03-10T08:00:00Z", email=None))
    skipped = sending.model_copy(update={"reactivation": sending.reactivation.model_copy(  # type: ignore[union-attr]
        update={"email": "skipped", "state": "called"})})
    assert numbers(reports.deal_change(None, sending, TZ, DAYS)) == {
        ("WF#2026-03", "deal_reactivation"): {"enrolled": 1}}
    assert numbers(reports.deal_change(sending, skipped, TZ, DAYS)) == {
        ("WF#2026-03", "deal_reactivation"): {"emails_skipped": 1}}


def test_an_attributed_deal_is_a_new_deal_of_its_workflow_in_its_creation_month() -> None:
    d = deal(value=Decimal("50000"), currency="EUR", created_at=at("2026-02-28T23:10:00Z"),  # 1 March in Prague
             attribution=Attribution(workflow="inactivity", enrolment_id="inactivity-c-1-2026-02-01",
                                     started_at=at("2026-02-01T05:00:00Z")))
    assert numbers(contributions(d)) == {("WF#2026-03", "inactivity"): {"new_deals": 1,
                                                                        "new_value_EUR": Decimal("50000")}}


def test_a_deal_won_within_the_window_after_a_reactivation_is_a_reactivation_win() -> None:
    started = "2026-02-01T08:00:00Z"
    won = deal(status=DealStatus.WON, closed_at=at(started) + timedelta(days=90),  # 2 May 08:00 UTC: just in
               reactivation=enrolment("e1", started))
    cells = numbers(contributions(won))
    assert cells[("WF#2026-05", "deal_reactivation")] == {"won_deals": 1, "won_value_CZK": Decimal("120000")}
    assert cells[("WF#2026-02", "deal_reactivation")] == {"enrolled": 1}
    late = won.model_copy(update={"closed_at": at(started) + timedelta(days=90, seconds=1)})
    assert ("WF#2026-05", "deal_reactivation") not in contributions(late)
    lost = won.model_copy(update={"status": DealStatus.LOST})
    assert ("WF#2026-05", "deal_reactivation") not in contributions(lost)


def test_merge_sums_by_cell_and_drops_zeros() -> None:
    a = {("WF#2026-03", "x"): Cell(numbers={"n": 1, "v": Decimal("2.5")})}
    b = {("WF#2026-03", "x"): Cell(numbers={"n": -1, "v": Decimal("1")}), ("WF#2026-04", "x"): Cell(numbers={"n": 0})}
    assert numbers(reports.merge(a, b)) == {("WF#2026-03", "x"): {"v": Decimal("3.5")}}


# -------------------------------------------------------------------------------------- closed_at and attribution


def test_closed_at_is_set_when_the_deal_is_closed_and_cleared_when_it_is_reopened() -> None:
    now = at("2026-06-01T10:00:00Z")
    open_ = deal(updated_at=at("2026-05-01T10:00:00Z"))
    lost = open_.model_copy(update={"status": DealStatus.LOST})
    assert closed_at_after(open_, lost, now) == now
    kept = lost.model_copy(update={"closed_at": at("2026-05-02T10:00:00Z")})
    assert closed_at_after(kept, kept.model_copy(update={"title": "x"}), now) == at("2026-05-02T10:00:00Z")
    assert closed_at_after(kept, kept.model_copy(update={"status": DealStatus.WON}), now) == now  # lost -> won
    assert closed_at_after(kept, kept.model_copy(update={"status": DealStatus.OPEN}), now) is None
    # a deal closed before closed_at existed keeps the month of its last write, not of every later edit
    legacy = deal(status=DealStatus.WON, closed_at=None, updated_at=at("2026-01-03T10:00:00Z"))
    assert closed_at_after(legacy, legacy.model_copy(update={"title": "x"}), now) == at("2026-01-03T10:00:00Z")


def test_a_new_closed_deal_is_closed_when_given_else_when_created() -> None:
    now = at("2026-06-01T10:00:00Z")
    created = deal(status=DealStatus.WON, created_at=at("2026-02-01T10:00:00Z"))
    assert closed_at_after(None, created, now) == at("2026-02-01T10:00:00Z")
    given = created.model_copy(update={"closed_at": at("2026-03-01T10:00:00Z")})
    assert closed_at_after(None, given, now) == at("2026-03-01T10:00:00Z")
    assert closed_at_after(None, deal(), now) is None


def test_attribution_is_the_most_recent_enrolment_within_the_window_before_the_deal() -> None:
    created = NOW
    flow = InactivityState(enrolment_id="inactivity-c-1", started_at=NOW - timedelta(days=40),
                           last_activity_at=NOW - timedelta(days=250), task_id="t", timer_id="tm", state="followed_up")
    other = deal(deal_id="d-0", reactivation_history=[enrolment("old", "2025-01-01T00:00:00Z")],
                 reactivation=enrolment("recent", (NOW - timedelta(days=20)).isoformat()))
    later = deal(deal_id="d-9", reactivation=enrolment("after", (NOW + timedelta(days=1)).isoformat()))
    c = contact(inactivity=flow)
    got = reports.attribution_for(c, [other, later], created, DAYS)
    assert got == Attribution(workflow="deal_reactivation", enrolment_id="recent", started_at=NOW - timedelta(days=20))
    # without that deal, the inactivity enrolment (40 days ago) is the one
    assert reports.attribution_for(c, [], created, DAYS).workflow == "inactivity"  # type: ignore[union-attr]
    # 91 days ago is out of a 90-day window; exactly 90 days is in
    c91 = contact(inactivity=flow.model_copy(update={"started_at": NOW - timedelta(days=91)}))
    assert reports.attribution_for(c91, [], created, DAYS) is None
    c90 = contact(inactivity=flow.model_copy(update={"started_at": NOW - timedelta(days=90)}))
    assert reports.attribution_for(c90, [], created, DAYS) is not None
    assert reports.attribution_for(contact(), [later], created, DAYS) is None  # started after the deal


def test_industry_is_the_company_field_else_the_custom_field_as_text() -> None:
    assert reports.industry_of(contact(company_fields={"industry": "Gastro"}, custom_fields={"industry": "x"}),
                               "industry") == "Gastro"
    assert reports.industry_of(contact(custom_fields={"Obor": 42}), "Obor") == "42"
    assert reports.industry_of(contact(company_fields={"industry": " "}), "industry") is None
    assert reports.industry_of(contact(), "industry") is None


# ---------------------------------------------------------------------------------------------------- activities


def test_an_automated_workflow_email_counts_as_sent_in_its_month() -> None:
    email = activity(kind=ActivityKind.EMAIL_OUT, automated=True, workflow="inactivity",
                     occurred_at=at("2026-03-31T22:30:00Z"))
    assert numbers(reports.activity_contributions(email, [], TZ)) == {("WF#2026-04", "inactivity"): {"emails_sent": 1}}
    by_hand = activity(kind=ActivityKind.EMAIL_OUT, workflow="inactivity")
    assert reports.activity_contributions(by_hand, [], TZ) == {}
    no_workflow = activity(kind=ActivityKind.EMAIL_OUT, automated=True)
    assert reports.activity_contributions(no_workflow, [], TZ) == {}


def test_reactions_count_per_workflow_and_inactivity_by_phase() -> None:
    reply = activity(kind=ActivityKind.EMAIL_IN, direction="in", occurred_at=at("2026-03-10T10:00:00Z"))
    stamp = reports.reactions_of({"reactions": [
        {"workflow": "inactivity", "enrolment_id": "i-1", "phase": "after"},
        {"workflow": "deal_reactivation", "enrolment_id": "r-1", "deal_id": "d-1"},
        {"workflow": "deal_reactivation", "enrolment_id": "r-2", "deal_id": "d-2"}]})
    assert numbers(reports.activity_contributions(reply, stamp, TZ)) == {
        ("WF#2026-03", "inactivity"): {"reactions": 1, "reactions_after": 1},
        ("WF#2026-03", "deal_reactivation"): {"reactions": 2}}
    assert reports.reactions_of({}) == []


def test_the_reaction_stamp_says_which_wait_the_activity_ended() -> None:
    flow = InactivityState(enrolment_id="i-1", started_at=NOW, last_activity_at=NOW, task_id="t", timer_id="tm")
    waiting = contact(inactivity=flow)
    assert reports.inactivity_reaction(waiting, True) == reports.Reaction(workflow="inactivity", enrolment_id="i-1",
                                                                          phase="wait")
    after = contact(inactivity=flow.model_copy(update={"state": "followed_up"}))
    assert reports.inactivity_reaction(after, True).phase == "after"  # type: ignore[union-attr]
    assert reports.inactivity_reaction(waiting, False) is None
    ended = deal(reactivation=enrolment("r-1", "2026-03-10T08:00:00Z").model_copy(update={"outcome": "reaction"}))
    assert reports.deal_reaction(ended).item() == {"workflow": "deal_reactivation",  # type: ignore[union-attr]
                                                   "enrolment_id": "r-1", "deal_id": "d-1"}
    changed = deal(reactivation=enrolment("r-1", "2026-03-10T08:00:00Z").model_copy(
        update={"outcome": "status_changed"}))
    assert reports.deal_reaction(changed) is None
    assert reports.reaction_flows([reports.deal_reaction(ended), reports.inactivity_reaction(waiting, True),
                                   reports.deal_reaction(ended)]) == "deal_reactivation inactivity"  # type: ignore[list-item]


# ---------------------------------------------------------------------------------------------------- retention


def test_a_first_purchase_makes_a_one_order_customer() -> None:
    state = reports.after_purchase(None, at("2026-01-01T10:00:00Z"), Decimal("100"))
    assert state == CustomerState(n=1, revenue=Decimal("100"), first_at=at("2026-01-01T10:00:00Z"),
                                  last_at=at("2026-01-01T10:00:00Z"), version=1)
    assert reports.histogram(state) == {"c_1": 1, "o_1": 1, "r_1": Decimal("100")}  # no gap with one order


def test_a_second_purchase_moves_the_customer_to_group_two_with_its_gap() -> None:
    one = reports.after_purchase(None, at("2026-01-01T10:00:00Z"), Decimal("100"))
    two = reports.after_purchase(one, at("2026-01-03T22:00:00Z"), Decimal("250.50"))
    assert (two.n, two.revenue, two.version) == (2, Decimal("350.50"), 2)
    # 2 days 12 hours = 216,000 s; one interval
    assert reports.histogram_change(one, two) == {"c_1": -1, "o_1": -1, "r_1": Decimal("-100"),
                                                  "c_2": 1, "o_2": 2, "r_2": Decimal("350.50"),
                                                  "gap_span_s": 216000, "gap_intervals": 1}


def test_an_older_purchase_arriving_late_widens_the_span_from_the_front() -> None:
    two = CustomerState(n=2, revenue=Decimal("300"), first_at=at("2026-01-10T00:00:00Z"),
                        last_at=at("2026-01-20T00:00:00Z"), version=2)
    three = reports.after_purchase(two, at("2026-01-05T00:00:00Z"), Decimal("60"))
    assert (three.first_at, three.last_at) == (at("2026-01-05T00:00:00Z"), at("2026-01-20T00:00:00Z"))
    # span 15 days = 1,296,000 s over 2 intervals; before: 10 days = 864,000 s over 1
    assert reports.histogram(three) == {"c_3": 1, "o_3": 3, "r_3": Decimal("360"), "gap_span_s": 1296000,
                                        "gap_intervals": 2}
    change = reports.histogram_change(two, three)
    assert change["gap_span_s"] == 1296000 - 864000 and change["gap_intervals"] == 1


def test_ten_or_more_orders_share_the_last_group() -> None:
    ten = CustomerState(n=10, revenue=Decimal("1000"), first_at=at("2026-01-01T00:00:00Z"),
                        last_at=at("2026-01-10T00:00:00Z"), version=10)
    eleven = reports.after_purchase(ten, at("2026-01-11T00:00:00Z"), Decimal("5"))
    # still group 10: one more order and 5 more revenue; span +1 day = 86,400 s, one more interval
    assert reports.histogram_change(ten, eleven) == {"o_10": 1, "r_10": Decimal("5"), "gap_span_s": 86400,
                                                     "gap_intervals": 1}


def test_gap_seconds_are_whole_seconds() -> None:
    state = CustomerState(n=2, revenue=Decimal("1"), first_at=at("2026-01-01T00:00:00.900000Z"),
                          last_at=at("2026-01-01T00:00:10.100000Z"), version=2)
    assert reports.histogram(state)["gap_span_s"] == 9  # 9.2 s, whole seconds
    assert isinstance(reports.histogram(state)["gap_span_s"], int)
