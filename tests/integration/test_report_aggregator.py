"""The report aggregates on the emulated template: ReportAggregatorFunction reads the deals and activities streams
and keeps the running totals in ReportsTable exactly once per record (re-delivered records, a failed transaction,
racing purchases), and the activity processor stamps the reactions it counts.

Every expected figure is computed by hand in the comment next to it."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from crm_automation.adapters.dynamodb import Store
from crm_automation.adapters.reports import ReportsRepo
from crm_automation.domain.reports import rollup_key
from crm_automation.errors import ConcurrentWriteError
from crm_automation.services import report_aggregator
from crm_local import LocalCloud

from .conftest import FIRST_SCAN, ROOT, START, add_contact, runtime_for, stream_record, table_items

OWNERS = {"petr.svoboda": {"name": "Petr Svoboda", "email": "petr.svoboda@example.cz"}}
SWEEP = timedelta(minutes=16)


@pytest.fixture
def cloud(tmp_path: Path) -> Iterator[LocalCloud]:
    with LocalCloud(template=str(ROOT / "template.yaml"), start=START, out_dir=tmp_path / "out", quiet=True,
                    parameters={"Owners": json.dumps(OWNERS)}) as running:
        yield running


def _reports(cloud: LocalCloud) -> dict[tuple[str, str], dict[str, Any]]:
    return {(i["pk"], i["sk"]): i for i in table_items(cloud, "ReportsTable")}


def _cells(cloud: LocalCloud, prefix: str) -> dict[tuple[str, str], dict[str, Any]]:
    """The report items whose pk starts with `prefix`, numbers only, zeros left out (a cell that went back to 0
    stays as an item)."""
    out = {}
    for key, item in _reports(cloud).items():
        if key[0].startswith(prefix):
            numbers = {k: v for k, v in item.items() if isinstance(v, Decimal) and v != 0 and k != "version"}
            if numbers:
                out[key] = numbers
    return out


def _markers(cloud: LocalCloud) -> list[str]:
    return sorted(k[0] for k in _reports(cloud) if k[0].startswith("SEEN#"))


def _rollups(month: str, status: str, reason: str, numbers: dict[str, Any], industry: str = "Strojírenství",
             product: str = "Servis") -> dict[tuple[str, str], dict[str, Any]]:
    """The deal's four rollup cells (all, industry, owner, product), each with `numbers`."""
    segments = {"all": "", "industry": industry, "owner": "petr.svoboda", "product": product}
    return {(f"DEALS#{month}", rollup_key(dimension, status, reason, segment, "CZK")): numbers
            for dimension, segment in segments.items()}


def _lost_deal(cloud: LocalCloud) -> None:
    add_contact(cloud, "k1", quiet_days=10, company_fields={"industry": "Strojírenství"})
    response = cloud.http("POST", "/deals", json={"deal_id": "d-1", "contact_id": "k1", "title": "Servis 2026",
                                                  "value": 120000, "product": "Servis", "status": "lost",
                                                  "loss_reason": "Cena"})
    assert response.status == 201, response.body


def _item(cloud: LocalCloud, logical_id: str, key: str, value: str) -> dict[str, Any]:
    return next(i for i in table_items(cloud, logical_id) if i[key] == value)


# ------------------------------------------------------------------------------------------------ deals


def test_a_lost_deal_lands_in_the_rollups_a_new_reason_moves_it_and_reopening_removes_it(cloud) -> None:
    _lost_deal(cloud)
    deal = cloud.http("GET", "/deals/d-1").json()
    assert (deal["closed_at"], deal["industry"], deal["product"]) == ("2026-03-02T04:00:00Z", "Strojírenství",
                                                                      "Servis")
    cell = _reports(cloud)[("DEALS#2026-03", rollup_key("industry", "lost", "Cena", "Strojírenství", "CZK"))]
    assert (cell["dimension"], cell["status"], cell["reason"], cell["segment"], cell["currency"]) == \
        ("industry", "lost", "Cena", "Strojírenství", "CZK")
    assert _cells(cloud, "DEALS#") == _rollups("2026-03", "lost", "Cena", {"n": 1, "value": 120000})

    # a new reason moves the count and the value
    cloud.advance(timedelta(days=1))
    assert cloud.http("PATCH", "/deals/d-1", json={"loss_reason": "Konkurence"}).status == 200
    assert _cells(cloud, "DEALS#") == _rollups("2026-03", "lost", "Konkurence", {"n": 1, "value": 120000})

    # a change that moves no total writes nothing (no marker either)
    markers = _markers(cloud)
    assert cloud.http("PATCH", "/deals/d-1", json={"title": "Servis 2026/27"}).status == 200
    assert _markers(cloud) == markers

    # reopening removes it; winning it later counts it as won in the month it was won
    assert cloud.http("PATCH", "/deals/d-1", json={"status": "open"}).status == 200
    assert cloud.http("GET", "/deals/d-1").json()["closed_at"] is None
    assert _cells(cloud, "DEALS#") == {}
    cloud.advance(datetime(2026, 3, 31, 22, 30, tzinfo=UTC),  # 00:30 on 1 April in Prague
                  rate_resolution=timedelta(hours=6))
    assert cloud.http("PATCH", "/deals/d-1", json={"status": "won"}).status == 200
    assert _cells(cloud, "DEALS#") == _rollups("2026-04", "won", "", {"n": 1, "value": 120000})
    assert _markers(cloud) == ["SEEN#deal#d-1#1", "SEEN#deal#d-1#2", "SEEN#deal#d-1#4", "SEEN#deal#d-1#5"]


def test_closed_at_is_refused_for_a_deal_that_is_not_won_or_lost(cloud) -> None:
    add_contact(cloud, "k1", quiet_days=10)
    response = cloud.http("POST", "/deals", json={"contact_id": "k1", "title": "X", "closed_at": "2026-01-05T10:00:00Z"})
    assert response.status == 400
    assert "closed_at" in response.json()["message"]
    imported = cloud.http("POST", "/deals", json={"deal_id": "d-old", "contact_id": "k1", "title": "X", "value": 10,
                                                  "status": "won", "closed_at": "2026-01-05T10:00:00Z"})
    assert imported.status == 201
    assert _cells(cloud, "DEALS#") == _rollups("2026-01", "won", "", {"n": 1, "value": 10}, industry="", product="")
    assert table_items(cloud, "DealsTable")[0]["closed_at"] == "2026-01-05T10:00:00.000000Z"


def test_every_stream_record_delivered_twice_counts_once(cloud) -> None:
    # Given a lost deal and a purchase, both counted
    _lost_deal(cloud)
    assert cloud.http("POST", "/activities", json={"activity_id": "p-1", "contact_id": "k1", "kind": "purchase",
                                                   "amount": 2500, "occurred_at": "2026-02-10T10:00:00Z"}).status == 201
    before = _reports(cloud)
    deal = _item(cloud, "DealsTable", "deal_id", "d-1")
    purchase = _item(cloud, "ActivitiesTable", "activity_id", "p-1")
    assert "applied_at" in purchase
    unapplied = {k: v for k, v in purchase.items() if k != "applied_at"}
    # When the streams deliver both records again
    records = [stream_record(cloud, "DealsTable", "deal_id", deal, "901"),
               stream_record(cloud, "ActivitiesTable", "activity_id", purchase, "902", old=unapplied)]
    result = cloud.invoke("ReportAggregatorFunction", {"Records": records})
    # Then nothing fails and nothing changes: both were recognised by their markers
    assert result == {"batchItemFailures": []}
    assert _reports(cloud) == before
    assert _cells(cloud, "RH#ALL") == {("RH#ALL", "H"): {"c_1": 1, "o_1": 1, "r_1": 2500}}
    assert _markers(cloud) == ["SEEN#activity#p-1", "SEEN#deal#d-1#1"]
    # And a record where applied_at does not appear is ignored
    assert report_aggregator.on_activity(runtime_for(cloud), purchase, purchase, cloud.clock.now()) == "ignored"


def test_a_failed_transaction_writes_nothing_and_the_retry_counts_once(cloud, monkeypatch) -> None:
    # Given the aggregator's first transaction for the deal fails (one of its items is refused: the whole
    # transaction is cancelled)
    original = Store.transact
    seen_at_failure: list[dict[tuple[str, str], dict[str, Any]]] = []

    def poisoned(self, operations):  # noqa: ANN001, ANN202
        marker = any(op.get("Put", {}).get("Item", {}).get("pk", "").startswith("SEEN#deal#") for op in operations)
        if marker and not seen_at_failure:
            table = operations[0]["Put"]["TableName"]
            refused = {"ConditionCheck": {"TableName": table, "Key": {"pk": "NOPE", "sk": "NOPE"},
                                          "ConditionExpression": "attribute_exists(pk)"}}
            try:
                original(self, [*operations, refused])
            except ConcurrentWriteError:
                seen_at_failure.append(_reports(cloud))
                raise
        return original(self, operations)

    monkeypatch.setattr(Store, "transact", poisoned)
    # When a lost deal is created (the stream record fails once, Lambda retries it)
    _lost_deal(cloud)
    # Then the failed attempt wrote nothing at all, and the retry counted the deal once
    assert len(seen_at_failure) == 1
    assert seen_at_failure[0] == {}
    assert _cells(cloud, "DEALS#") == _rollups("2026-03", "lost", "Cena", {"n": 1, "value": 120000})
    assert _markers(cloud) == ["SEEN#deal#d-1#1"]


# ------------------------------------------------------------------------------------------------ retention


def _purchase(cloud: LocalCloud, pid: str, contact: str, amount: str, when: str) -> None:
    response = cloud.http("POST", "/activities", json={"activity_id": pid, "contact_id": contact, "kind": "purchase",
                                                       "amount": amount, "occurred_at": when})
    assert response.status == 201, response.body


def test_purchases_build_each_customers_state_and_the_period_histograms(cloud) -> None:
    add_contact(cloud, "ka", quiet_days=10)
    add_contact(cloud, "kb", quiet_days=10)
    _purchase(cloud, "a-1", "ka", "100", "2026-01-10T10:00:00Z")
    _purchase(cloud, "a-2", "ka", "200", "2026-02-10T10:00:00Z")
    _purchase(cloud, "b-1", "kb", "50", "2026-02-05T10:00:00Z")
    _purchase(cloud, "a-3", "ka", "300.50", "2026-02-20T10:00:00Z")
    items = _reports(cloud)
    # ka in 2026: 3 orders, 100 + 200 + 300.50 = 600.50, from 10 Jan to 20 Feb
    year = items[("RC#Y2026", "ka")]
    assert (year["n"], year["revenue"], year["first_at"], year["last_at"], year["version"]) == \
        (3, Decimal("600.50"), "2026-01-10T10:00:00.000000Z", "2026-02-20T10:00:00.000000Z", 3)
    february = items[("RC#M2026-02", "ka")]
    assert (february["n"], february["revenue"], february["version"]) == (2, Decimal("500.50"), 2)
    assert (items[("RC#M2026-01", "ka")]["n"], items[("RC#M2026-01", "ka")]["revenue"]) == (1, 100)
    assert items[("RC#ALL", "kb")]["n"] == 1
    # the year (and the quarter, and all time): ka in group 3 with a span of 41 days = 3,542,400 s over 2 gaps;
    # kb in group 1 (ka passed through groups 1 and 2, which are back to 0)
    year_histogram = {"c_1": 1, "o_1": 1, "r_1": 50, "c_3": 1, "o_3": 3, "r_3": Decimal("600.50"),
                      "gap_span_s": 3542400, "gap_intervals": 2}
    assert _cells(cloud, "RH#") == {
        ("RH#Y2026", "H"): year_histogram, ("RH#Q2026-1", "H"): year_histogram, ("RH#ALL", "H"): year_histogram,
        # January: ka once
        ("RH#M2026-01", "H"): {"c_1": 1, "o_1": 1, "r_1": 100},
        # February: ka twice (10 days = 864,000 s, one gap), kb once
        ("RH#M2026-02", "H"): {"c_1": 1, "o_1": 1, "r_1": 50, "c_2": 1, "o_2": 2, "r_2": Decimal("500.50"),
                               "gap_span_s": 864000, "gap_intervals": 1},
    }


def test_a_purchase_that_loses_a_race_with_another_purchase_reads_again_and_both_count(cloud, monkeypatch) -> None:
    add_contact(cloud, "ka", quiet_days=10)
    _purchase(cloud, "a-1", "ka", "100", "2026-02-01T10:00:00Z")
    rt = runtime_for(cloud)
    # Given: while the aggregator handles a-2 (after it read the customer's states), a-3 is counted by another
    # invocation (another shard)
    other = {"activity_id": "a-3", "contact_id": "ka", "kind": "purchase", "direction": "in",
             "amount": Decimal("300"), "occurred_at": "2026-02-03T10:00:00.000000Z",
             "created_at": "2026-03-02T04:00:00.000000Z", "applied_at": "2026-03-02T04:00:00.000000Z",
             "automated": False}
    original = ReportsRepo.apply
    raced: list[str] = []

    def racing_apply(self, key, cells, now, **kwargs):  # noqa: ANN001, ANN202
        if key == "activity#a-2" and not raced:
            raced.append(report_aggregator.on_activity(rt, None, other, now))
        return original(self, key, cells, now, **kwargs)

    monkeypatch.setattr(ReportsRepo, "apply", racing_apply)
    # When a-2 is recorded and applied
    _purchase(cloud, "a-2", "ka", "200", "2026-02-02T10:00:00Z")
    # Then a-2's first transaction lost on the customer's version, it read again, and all three count
    assert raced == ["applied"]
    state = _reports(cloud)[("RC#ALL", "ka")]
    assert (state["n"], state["revenue"], state["version"]) == (3, 600, 3)
    # 1 Feb 10:00 to 3 Feb 10:00 = 172,800 s over 2 gaps
    assert _cells(cloud, "RH#ALL") == {("RH#ALL", "H"): {"c_3": 1, "o_3": 3, "r_3": 600, "gap_span_s": 172800,
                                                         "gap_intervals": 2}}


def test_purchases_of_one_customer_counted_in_parallel_all_count(cloud) -> None:
    add_contact(cloud, "ka", quiet_days=10)
    now = cloud.clock.now()
    errors: list[BaseException] = []

    def count(thread: int) -> None:
        rt = runtime_for(cloud)  # one runtime (boto3 resource) per thread
        try:
            for n in range(4):
                image = {"activity_id": f"t{thread}-{n}", "contact_id": "ka", "kind": "purchase", "direction": "in",
                         "amount": Decimal(10 * (thread + 1)), "automated": False,
                         "occurred_at": f"2026-02-0{n + 1}T1{thread}:00:00.000000Z",
                         "created_at": "2026-03-02T04:00:00.000000Z", "applied_at": "2026-03-02T04:00:00.000000Z"}
                report_aggregator.on_activity(rt, None, image, now)
        except BaseException as error:  # noqa: BLE001
            errors.append(error)

    threads = [threading.Thread(target=count, args=(t,)) for t in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    # 12 purchases: 4 x 10 + 4 x 20 + 4 x 30 = 240; from 1 Feb 10:00 to 4 Feb 12:00 = 266,400 s over 11 gaps
    state = _reports(cloud)[("RC#M2026-02", "ka")]
    assert (state["n"], state["revenue"], state["version"]) == (12, 240, 12)
    assert _cells(cloud, "RH#M2026-02") == {("RH#M2026-02", "H"): {"c_10": 1, "o_10": 12, "r_10": 240,
                                                                   "gap_span_s": 266400, "gap_intervals": 11}}


# ------------------------------------------------------------------------------------------------ workflows


def test_inactivity_reactions_are_stamped_by_phase_and_a_new_deal_is_attributed(cloud) -> None:
    # Given two contacts enrolled by the first scan (2 March)
    add_contact(cloud, "early", quiet_days=200)
    add_contact(cloud, "late", quiet_days=200)
    cloud.fire("InactivityScanFunction", "Daily", at=FIRST_SCAN)
    enrolment = {c["contact_id"]: c["inactivity"]["enrolment_id"] for c in table_items(cloud, "ContactsTable")}
    # When "early" replies within the wait
    assert cloud.http("POST", "/activities", json={"activity_id": "r-early", "contact_id": "early",
                                                   "kind": "email_in"}).status == 201
    reply = _item(cloud, "ActivitiesTable", "activity_id", "r-early")
    assert reply["reactions"] == [{"workflow": "inactivity", "enrolment_id": enrolment["early"], "phase": "wait"}]
    assert reply["reaction_flows"] == "inactivity"
    # And "late" gets the follow-up e-mail after 30 days (1 April) and replies after it
    cloud.advance(timedelta(days=30, hours=1), rate_resolution=timedelta(hours=6))
    assert cloud.http("POST", "/activities", json={"activity_id": "r-late", "contact_id": "late",
                                                   "kind": "call"}).status == 201
    assert _item(cloud, "ActivitiesTable", "activity_id", "r-late")["reactions"] == [
        {"workflow": "inactivity", "enrolment_id": enrolment["late"], "phase": "after"}]
    # And a note by someone afterwards ends no wait: no stamp
    assert cloud.http("POST", "/activities", json={"activity_id": "n-late", "contact_id": "late",
                                                   "kind": "note"}).status == 201
    assert "reactions" not in _item(cloud, "ActivitiesTable", "activity_id", "n-late")
    # And "early" opens a deal (1 April, within 90 days of its enrolment)
    assert cloud.http("POST", "/deals", json={"deal_id": "d-new", "contact_id": "early", "title": "Nová zakázka",
                                              "value": 10000}).status == 201
    attribution = cloud.http("GET", "/deals/d-new").json()["attribution"]
    assert (attribution["workflow"], attribution["enrolment_id"]) == ("inactivity", enrolment["early"])
    # Then the workflow totals
    assert _cells(cloud, "WF#") == {
        ("WF#2026-03", "inactivity"): {"reactions": 1, "reactions_wait": 1},
        ("WF#2026-04", "inactivity"): {"emails_sent": 1, "reactions": 1, "reactions_after": 1, "new_deals": 1,
                                       "new_value_CZK": 10000},
    }


def test_a_deal_reactivation_reaction_a_new_deal_and_a_win_count_for_the_workflow(cloud) -> None:
    # Given a postponed deal whose reactivation e-mail went
    add_contact(cloud, "k1", quiet_days=30)
    assert cloud.http("POST", "/deals", json={"deal_id": "d-1", "contact_id": "k1", "title": "Servis",
                                              "value": 120000}).status == 201
    assert cloud.http("PATCH", "/deals/d-1", json={"status": "postponed"}).status == 200
    cloud.advance(SWEEP)
    enrolment_id = cloud.http("GET", "/deals/d-1").json()["reactivation"]["enrolment_id"]
    # When the client replies
    assert cloud.http("POST", "/activities", json={"activity_id": "re-1", "contact_id": "k1",
                                                   "kind": "email_in"}).status == 201
    reply = _item(cloud, "ActivitiesTable", "activity_id", "re-1")
    assert reply["reactions"] == [{"workflow": "deal_reactivation", "enrolment_id": enrolment_id, "deal_id": "d-1"}]
    assert reply["reaction_flows"] == "deal_reactivation"
    # And a new deal follows, and the reactivated deal is won
    assert cloud.http("POST", "/deals", json={"deal_id": "d-2", "contact_id": "k1", "title": "Rozšíření",
                                              "value": 30000}).status == 201
    assert cloud.http("GET", "/deals/d-2").json()["attribution"]["enrolment_id"] == enrolment_id
    assert cloud.http("PATCH", "/deals/d-1", json={"status": "won"}).status == 200
    # Then March: one enrolment, its e-mail, the reaction, the new deal and the win
    assert _cells(cloud, "WF#") == {("WF#2026-03", "deal_reactivation"): {
        "enrolled": 1, "emails_sent": 1, "reactions": 1, "new_deals": 1, "new_value_CZK": 30000,
        "won_deals": 1, "won_value_CZK": 120000}}
    # And redelivering the reply's record changes nothing
    before = _reports(cloud)
    unapplied = {k: v for k, v in reply.items() if k not in ("applied_at", "reactions", "reaction_flows")}
    record = stream_record(cloud, "ActivitiesTable", "activity_id", reply, "990", old=unapplied)
    assert cloud.invoke("ReportAggregatorFunction", {"Records": [record]}) == {"batchItemFailures": []}
    assert _reports(cloud) == before
