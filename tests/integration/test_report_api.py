"""The report routes of the HTTP API on the emulated template: the JSON of each report, 400 for parameters that
cannot be used (nothing written), 401 without authentication, the workflow report's task counts from the ByWorkflow
index, and the campaign report after a real campaign whose SES events are delivered twice.

The loss-reason and retention shapes are checked on aggregates written directly in the contract's layout (what the
report aggregator writes); one test goes through the aggregator from deals created on the API."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import boto3
import pytest

from crm_automation.domain.models import Task
from crm_automation.domain.reports import rollup_key
from crm_local import LocalCloud
from tests.integration import test_campaigns as campaigns_test
from tests.integration.conftest import FIRST_SCAN, START, add_contact, runtime_for, table_items

ROUTES = ("/reports/loss-reasons", "/reports/retention", "/reports/workflows", "/reports/campaigns")


def reports_table(cloud: LocalCloud) -> Any:
    return boto3.resource("dynamodb", endpoint_url=cloud.endpoint_url,
                          region_name="eu-central-1").Table(cloud.physical_name("ReportsTable"))


def deal_cell(month: str, status: str, reason: str, owner: str, industry: str, product: str, currency: str, n: int,
              value: str) -> list[dict[str, Any]]:
    """The four won/lost rollup cells (all, industry, owner, product) of `n` deals closed alike, in the layout the
    aggregator writes."""
    segments = {"all": "", "industry": industry, "owner": owner, "product": product}
    return [{"pk": f"DEALS#{month}", "sk": rollup_key(dimension, status, reason, segment, currency),
             "dimension": dimension, "status": status, "reason": reason, "segment": segment, "currency": currency,
             "n": n, "value": Decimal(value)} for dimension, segment in segments.items()]


def get(cloud: LocalCloud, path: str, **query: str) -> Any:
    response = cloud.http("GET", path, query=query or None)
    assert response.status == 200, response.body
    return response.json()


# ---------------------------------------------------------------- the routes


def test_the_report_routes_are_in_the_openapi_document(cloud) -> None:
    paths = cloud.http("GET", "/openapi.json", token=None).json()["paths"]
    assert set(ROUTES) <= set(paths)
    params = {p["name"] for p in paths["/reports/loss-reasons"]["get"]["parameters"]}
    assert params == {"from", "to", "by"}
    assert {p["name"] for p in paths["/reports/retention"]["get"]["parameters"]} == {"period"}


@pytest.mark.parametrize("path", ROUTES)
def test_reports_refuse_unauthenticated_calls(cloud, path) -> None:
    assert cloud.http("GET", path, token=None).status == 401


@pytest.mark.parametrize(("path", "query", "message"), [
    ("/reports/loss-reasons", {"from": "2026-13"}, "from: the month must be 01 to 12"),
    ("/reports/loss-reasons", {"from": "2026-04", "to": "2026-03"}, "is after to"),
    ("/reports/loss-reasons", {"by": "region"}, "by: one of"),
    ("/reports/loss-reasons", {"owner": "petr"}, "unknown parameter owner; this report takes from, to, by"),
    ("/reports/retention", {"perod": "2026"}, "unknown parameter perod"),
    ("/reports/retention", {"period": "2026-Q5"}, "period:"),
    ("/reports/retention", {"period": "loni"}, "period:"),
    ("/reports/workflows", {"from": "2020-01", "to": "2026-03"}, "at most 36"),
    ("/reports/workflows", {"to": "březen"}, "to: a month as YYYY-MM"),
    ("/reports/campaigns", {"from": "26-01"}, "from: a month as YYYY-MM"),
    ("/reports/campaigns", {"to": "0000-01"}, "to: the year must be between"),
], ids=["month 13", "reversed", "unknown segment", "a filter", "misspelt", "quarter 5", "words", "too long", "czech month",
        "short year", "year 0"])
def test_bad_parameters_are_a_400_naming_them_and_nothing_is_written(cloud, path, query, message) -> None:
    response = cloud.http("GET", path, query=query)
    assert response.status == 400, response.body
    assert message in response.json()["message"]
    for table in ("ReportsTable", "TasksTable", "CampaignsTable"):
        assert table_items(cloud, table) == []


# ---------------------------------------------------------------- loss reasons and retention (seeded aggregates)


def test_loss_reasons_from_the_aggregates_of_the_months(cloud) -> None:
    table = reports_table(cloud)
    for cell in (deal_cell("2026-02", "lost", "Cena", "petr", "Strojírenství", "CRM", "CZK", 3, "150000"),
                 deal_cell("2026-02", "lost", "Konkurence", "jana", "Gastro", "CRM", "CZK", 1, "20000"),
                 deal_cell("2026-03", "won", "", "petr", "Strojírenství", "ERP", "CZK", 2, "90000"),
                 deal_cell("2026-03", "lost", "", "petr", "", "", "EUR", 1, "999.999"),
                 deal_cell("2025-12", "lost", "Cena", "petr", "Gastro", "CRM", "CZK", 7, "1"),  # before `from`
                 deal_cell("2026-04", "lost", "Cena", "petr", "Gastro", "CRM", "CZK", 9, "1")):  # after `to`
        for item in cell:
            table.put_item(Item=item)

    report = get(cloud, "/reports/loss-reasons", **{"from": "2026-01", "to": "2026-03", "by": "industry"})

    # lost 3 + 1 + 1 = 5, won 2: win rate 2/7
    assert report["totals"] == {"lost": 5, "won": 2, "win_rate": 0.2857,
                                "lost_value": {"CZK": "170000.00", "EUR": "1000.00"},
                                "won_value": {"CZK": "90000.00"}}
    assert report["reasons"] == [
        {"reason": "Cena", "lost": 3, "share": 0.6, "value": {"CZK": "150000.00"}},
        {"reason": "Konkurence", "lost": 1, "share": 0.2, "value": {"CZK": "20000.00"}},
        {"reason": None, "lost": 1, "share": 0.2, "value": {"EUR": "1000.00"}}]
    assert [(s["segment"], s["lost"], s["won"], s["win_rate"]) for s in report["segments"]] == [
        ("Strojírenství", 3, 2, 0.4), ("Gastro", 1, 0, 0.0), (None, 1, 0, 0.0)]
    assert (report["from"], report["to"], report["by"]) == ("2026-01", "2026-03", "industry")

    # segmented by owner; the default range (12 months to March 2026) holds December: petr 3 + 1 + 7, jana 1
    by_owner = get(cloud, "/reports/loss-reasons", by="owner")
    assert (by_owner["from"], by_owner["to"]) == ("2025-04", "2026-03")
    assert (by_owner["totals"]["lost"], by_owner["totals"]["won"]) == (12, 2)
    assert [(s["segment"], s["lost"], s["won"]) for s in by_owner["segments"]] == [("petr", 11, 2), ("jana", 1, 0)]


def test_retention_of_a_period_from_its_histogram(cloud) -> None:
    reports_table(cloud).put_item(Item={
        "pk": "RH#Q2026-1", "sk": "H", "c_1": 3, "o_1": 3, "r_1": Decimal("1500"), "c_3": 1, "o_3": 3,
        "r_3": Decimal("3000"), "gap_span_s": 86400 * 30, "gap_intervals": 2})

    report = get(cloud, "/reports/retention", period="2026-q1")

    assert report == {
        "period": "2026-Q1", "from": "2026-01-01", "to": "2026-03-31", "currency": "CZK",
        "customers": 4, "orders": 6, "revenue": "4500.00", "returning_customers": 1, "repeat_rate": 0.25,
        "retained_customers": 1, "retention_rate": 0.25, "aov": "750.00", "aov_one_time": "500.00",
        "aov_returning": "1000.00", "avg_gap_days": 15.0,
        "groups": [{"orders": 1, "label": "1", "customers": 3, "orders_total": 3, "revenue": "1500.00",
                    "share_customers": 0.75, "share_revenue": 0.3333},
                   {"orders": 3, "label": "3", "customers": 1, "orders_total": 3, "revenue": "3000.00",
                    "share_customers": 0.25, "share_revenue": 0.6667}]}
    # the default period is the current year, which has no purchases yet
    this_year = get(cloud, "/reports/retention")
    assert (this_year["period"], this_year["customers"], this_year["retention_rate"], this_year["groups"]) == \
        ("2026", 0, None, [])


def test_loss_reasons_of_deals_lost_on_the_api_through_the_aggregator(cloud) -> None:
    # Given a contact of an industry and deals lost and won on the API (an import with past closing times)
    add_contact(cloud, "c1", quiet_days=10, company_fields={"industry": "Gastro"})
    for deal_id, status, reason, value, closed in (
            ("d1", "lost", "Cena", 1000, "2026-01-15T10:00:00Z"),
            ("d2", "lost", "Cena", 500, "2026-02-01T10:00:00Z"),
            ("d3", "won", None, 2000, "2026-02-10T10:00:00Z")):
        payload = {"deal_id": deal_id, "contact_id": "c1", "title": "Licence", "value": value, "status": status,
                   "loss_reason": reason, "product": "CRM", "closed_at": closed,
                   "created_at": "2025-12-01T10:00:00Z"}
        response = cloud.http("POST", "/deals", json={k: v for k, v in payload.items() if v is not None})
        assert response.status == 201, response.body
    # and one lost now (March) on a PATCH
    assert cloud.http("POST", "/deals", json={"deal_id": "d4", "contact_id": "c1", "title": "Servis",
                                              "value": 300}).status == 201
    assert cloud.http("PATCH", "/deals/d4", json={"status": "lost", "loss_reason": "Konkurence"}).status == 200

    report = get(cloud, "/reports/loss-reasons", **{"from": "2026-01", "to": "2026-03", "by": "month"})

    assert report["totals"] == {"lost": 3, "won": 1, "win_rate": 0.25, "lost_value": {"CZK": "1800.00"},
                                "won_value": {"CZK": "2000.00"}}
    assert [(r["reason"], r["lost"], r["share"]) for r in report["reasons"]] == [("Cena", 2, 0.6667),
                                                                                 ("Konkurence", 1, 0.3333)]
    assert sorted((s["segment"], s["lost"], s["won"]) for s in report["segments"]) == [
        ("2026-01", 1, 0), ("2026-02", 1, 1), ("2026-03", 1, 0)]
    by_industry = get(cloud, "/reports/loss-reasons", **{"from": "2026-01", "by": "industry"})
    assert [(s["segment"], s["lost"], s["won"]) for s in by_industry["segments"]] == [("Gastro", 3, 1)]


# ---------------------------------------------------------------- workflows


def _task(task_id: str, workflow: str | None, created: datetime, status: str = "open") -> Task:
    return Task(task_id=task_id, owner="petr.svoboda", title="Úkol", due_date=created.date(), workflow=workflow,
                status=status, created_at=created)


def test_workflow_report_counts_the_tasks_of_the_period_from_the_index(cloud) -> None:
    # Given three sleeping contacts the daily scan enrols (one inactivity task each), one of which is then done
    for key in ("c1", "c2", "c3"):
        add_contact(cloud, key, quiet_days=200)
    cloud.fire("InactivityScanFunction", "Daily", at=FIRST_SCAN)
    tasks = [t for t in table_items(cloud, "TasksTable") if t["workflow"] == "inactivity"]
    assert len(tasks) == 3
    done = cloud.http("POST", f"/tasks/{tasks[0]['task_id']}/complete", json={"resolution": "Zavoláno"})
    assert done.status == 200, done.body
    # and tasks of other workflows around the edges of March in Prague (1 March 00:00 CET = 28 Feb 23:00 UTC)
    rt = runtime_for(cloud)
    rt.store.transact([rt.store.tasks.create_op(t) for t in (
        _task("vip-1", "inactivity_vip", datetime(2026, 2, 28, 23, 0, tzinfo=UTC), "cancelled"),  # March
        _task("esc-feb", "escalation", datetime(2026, 2, 28, 22, 59, 59, tzinfo=UTC)),  # still February
        _task("esc-1", "escalation", START, "done"),
        _task("lead-1", "lead_scoring", START),
        _task("manual", None, START))])  # no workflow: not in the index

    report = get(cloud, "/reports/workflows", **{"from": "2026-03", "to": "2026-03"})

    rows = {r["workflow"]: r for r in report["workflows"]}
    assert list(rows) == ["inactivity", "escalation", "deal_reactivation", "lead_scoring"]
    assert {k: rows["inactivity"][k] for k in ("enrolled", "tasks_created", "tasks_completed", "tasks_cancelled",
                                               "tasks_open")} == \
        {"enrolled": 3, "tasks_created": 4, "tasks_completed": 1, "tasks_cancelled": 1, "tasks_open": 2}
    assert (rows["escalation"]["enrolled"], rows["escalation"]["tasks_created"],
            rows["escalation"]["tasks_completed"], rows["escalation"]["emails_sent"]) == (1, 1, 1, None)
    assert (rows["lead_scoring"]["enrolled"], rows["lead_scoring"]["tasks_open"]) == (1, 1)
    assert rows["deal_reactivation"]["tasks_created"] == 0 and rows["deal_reactivation"]["won_value"] == {}
    # February holds the escalation task created 59 minutes before midnight in Prague
    february = {r["workflow"]: r for r in get(cloud, "/reports/workflows", **{"from": "2026-02",
                                                                               "to": "2026-02"})["workflows"]}
    assert february["escalation"]["tasks_created"] == 1 and february["inactivity"]["tasks_created"] == 0


def test_workflow_report_reads_the_monthly_aggregates(cloud) -> None:
    table = reports_table(cloud)
    table.put_item(Item={"pk": "WF#2026-02", "sk": "deal_reactivation", "enrolled": 2, "emails_sent": 1,
                         "emails_skipped": 1, "reactions": 1, "won_deals": 1, "won_value_CZK": Decimal("12000")})
    table.put_item(Item={"pk": "WF#2026-03", "sk": "deal_reactivation", "enrolled": 1, "new_deals": 1,
                         "new_value_EUR": Decimal("99.5")})
    table.put_item(Item={"pk": "WF#2026-03", "sk": "inactivity", "emails_sent": 4, "reactions": 2,
                         "reactions_wait": 2})
    rows = {r["workflow"]: r for r in get(cloud, "/reports/workflows")["workflows"]}
    assert {k: rows["deal_reactivation"][k] for k in ("enrolled", "emails_sent", "emails_skipped", "reactions",
                                                      "new_deals", "new_deal_value", "won_deals", "won_value")} == \
        {"enrolled": 3, "emails_sent": 1, "emails_skipped": 1, "reactions": 1, "new_deals": 1,
         "new_deal_value": {"EUR": "99.50"}, "won_deals": 1, "won_value": {"CZK": "12000.00"}}
    assert (rows["inactivity"]["emails_sent"], rows["inactivity"]["reactions_wait"],
            rows["inactivity"]["reactions_after"]) == (4, 2, 0)


# ---------------------------------------------------------------- campaigns


@pytest.fixture
def mcloud(tmp_path):
    with campaigns_test._cloud(tmp_path) as running:
        yield running


def _redeliver(cloud: LocalCloud, events: list[dict[str, Any]]) -> None:
    """SNS/SQS deliver SES events again (at-least-once)."""
    rt = runtime_for(cloud)
    rt.send_queue.__class__(cloud.ref("SesEventsQueue"), client=cloud.client("sqs")).send_all(
        [{"Type": "Notification", "MessageId": f"dup-{i}", "Message": json.dumps(e)} for i, e in enumerate(events)])
    cloud.settle()


def test_campaign_report_counts_delivered_opened_and_clicked_once_per_message(mcloud) -> None:
    # Given a campaign to two readers, a bounce and a complaint (SES delivers to all but the bounce)
    for key in ("reader", "skimmer"):
        campaigns_test.former_customer(mcloud, key)
    campaigns_test.former_customer(mcloud, "bouncer", "bounce@simulator.amazonses.com")
    campaigns_test.former_customer(mcloud, "complainer", "complaint@simulator.amazonses.com")
    campaigns_test.former_customer(mcloud, "noconsent", marketing_consent=None)
    campaign_id = campaigns_test.new_campaign(mcloud)
    assert mcloud.http("POST", f"/campaigns/{campaign_id}/launch").status == 202

    # When the reader opens it twice and clicks, the skimmer opens it once
    reader = mcloud.message_ids_for("reader@example.cz")[0]
    first_open = mcloud.ses_event(reader, "Open")
    mcloud.clock.advance(timedelta(minutes=5))
    mcloud.ses_event(reader, "Open")
    click = mcloud.ses_event(reader, "Click", link="https://example.cz/funkce-a")
    mcloud.ses_event(mcloud.message_ids_for("skimmer@example.cz")[0], "Open")
    # and SNS/SQS deliver the reader's first open, the click and every Delivery event once more
    deliveries = [e for e in mcloud.ses_events if e["eventType"] == "Delivery"]
    assert len(deliveries) == 3
    _redeliver(mcloud, [first_open, click, *deliveries])

    # Then each is counted once: unique recipients and events apart
    progress = campaigns_test.campaign(mcloud, campaign_id)["progress"]
    assert (progress["delivered"], progress["opened"], progress["clicked"]) == (3, 2, 1)
    assert (progress["opens"], progress["clicks"]) == (3, 1)
    # and the second open is still in the reader's history, as every open is
    kinds = [a["kind"] for a in mcloud.http("GET", "/contacts/reader").json()["activities"]]
    assert (kinds.count("open"), kinds.count("click")) == (2, 1)
    report = get(mcloud, "/reports/campaigns")
    assert (report["from"], report["to"]) == ("2025-04", "2026-03")
    [row] = report["campaigns"]
    assert row | {"created_at": None, "launched_at": None} == {
        "campaign_id": campaign_id, "name": "Win-back funkce A", "status": "completed", "created_at": None,
        "launched_at": None, "audience": 5, "sent": 4, "delivered": 3, "opened": 2, "clicked": 1, "opens": 3,
        "clicks": 1, "bounced": 1, "complained": 1, "unsubscribed": 0, "failed": 0,
        "suppressed": {"no_consent": 1}, "suppressed_total": 1,
        "rates": {"delivery": 0.75, "open": 0.6667, "click": 0.3333, "bounce": 0.25, "complaint": 0.3333,
                  "unsubscribe": 0.0}}
    assert row["created_at"].startswith("2026-03-02T08:00")
    assert report["totals"] == {k: v for k, v in row.items()
                                if k not in ("campaign_id", "name", "status", "created_at", "launched_at")}
    # A period without campaigns: none, totals of zero, no rates
    empty = get(mcloud, "/reports/campaigns", **{"from": "2026-01", "to": "2026-02"})
    assert empty["campaigns"] == [] and empty["totals"]["sent"] == 0 and empty["totals"]["rates"]["delivery"] is None
