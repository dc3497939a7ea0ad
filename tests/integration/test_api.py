"""The CRM HTTP API through API Gateway HTTP API v2 events: auth, validation naming the field, nothing
half-written, imports with past timestamps, idempotent activities, tasks."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest

from .conftest import FIRST_SCAN, START, add_contact, table_items


def test_openapi_document_is_public_and_lists_the_routes(cloud) -> None:
    response = cloud.http("GET", "/openapi.json", token=None)
    assert response.status == 200
    paths = response.json()["paths"]
    assert {"/contacts", "/contacts/{contact_id}", "/deals", "/activities", "/tasks",
            "/tasks/{task_id}/complete"} <= set(paths)


@pytest.mark.parametrize(("token", "status"), [(None, 401), ("forged", 403)])
def test_admin_routes_refuse_unauthenticated_calls(cloud, token, status) -> None:
    response = cloud.http("POST", "/contacts", json={"last_name": "X", "owner": "o"}, token=token)
    assert response.status == status
    assert table_items(cloud, "ContactsTable") == []


def test_the_handler_itself_refuses_a_call_without_authorizer_context(cloud) -> None:
    # Given an event as API Gateway would send it if a route lost its authorizer (no requestContext.authorizer)
    event = {"version": "2.0", "routeKey": "GET /tasks", "rawPath": "/tasks", "rawQueryString": "owner=x",
             "queryStringParameters": {"owner": "x"}, "headers": {"host": "localhost"},
             "requestContext": {"http": {"method": "GET", "path": "/tasks", "sourceIp": "127.0.0.1",
                                         "protocol": "HTTP/1.1", "userAgent": "t"},
                                "requestId": "r", "routeKey": "GET /tasks", "stage": "$default",
                                "accountId": "123456789012", "apiId": "api", "domainName": "localhost",
                                "domainPrefix": "localhost", "time": "02/Mar/2026:05:00:00 +0000",
                                "timeEpoch": 1772427600000},
             "isBase64Encoded": False}
    # Then it answers 401 on its own
    assert cloud.invoke("ApiFunction", event)["statusCode"] == 401


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"last_name": "Nováková", "owner": "petr", "email": "not-an-address"}, "email"),
        ({"owner": "petr"}, "last_name"),
        ({"last_name": "Nováková", "owner": "petr", "colour": "blue"}, "colour"),
        ({"last_name": "Nováková", "owner": "petr", "last_activity_at": "2026-01-01T10:00:00"}, "last_activity_at"),
        ({"last_name": "Nováková", "owner": "petr", "lifetime_revenue": -5}, "lifetime_revenue"),
    ],
    ids=["bad e-mail", "missing name", "unknown field", "naive timestamp", "negative revenue"],
)
def test_invalid_contacts_get_a_4xx_naming_the_field_and_nothing_is_written(cloud, payload, field) -> None:
    response = cloud.http("POST", "/contacts", json=payload)
    assert response.status == 422
    assert field in response.json()["message"]
    assert table_items(cloud, "ContactsTable") == []


def test_malformed_json_is_a_4xx_not_a_500(cloud) -> None:
    response = cloud.http("POST", "/contacts", body="{not json", headers={"content-type": "application/json"})
    assert 400 <= response.status < 500


def test_contact_with_history_and_duplicate_email(cloud) -> None:
    # Given a contact imported with a past last activity
    created = add_contact(cloud, "c1", quiet_days=100, company="Pekárna s.r.o.")
    assert created["last_activity_at"].startswith((START - timedelta(days=100)).date().isoformat())
    # When the same address (other letter case) is imported again
    duplicate = cloud.http("POST", "/contacts", json={"last_name": "X", "owner": "o", "email": "C1@Example.cz"})
    # Then it is refused, and the history of the first one is readable
    assert duplicate.status == 409
    view = cloud.http("GET", "/contacts/c1").json()
    assert view["contact"]["company"] == "Pekárna s.r.o." and view["deals"] == [] and view["tasks"] == []
    assert cloud.http("GET", "/contacts/nobody").status == 404


def test_activities_move_last_activity_and_replays_are_idempotent(cloud) -> None:
    add_contact(cloud, "c1", quiet_days=100)
    deal = cloud.http("POST", "/deals", json={"deal_id": "d1", "contact_id": "c1", "title": "Licence",
                                              "value": 50000,
                                              "created_at": (START - timedelta(days=100)).isoformat()})
    assert deal.status == 201
    call = {"activity_id": "call-1", "contact_id": "c1", "deal_id": "d1", "kind": "call",
            "occurred_at": (START - timedelta(days=2)).isoformat(), "summary": "Domluvena schůzka"}
    assert cloud.http("POST", "/activities", json=call).status == 201
    assert cloud.http("POST", "/activities", json=call).status == 200  # replay
    view = cloud.http("GET", "/contacts/c1").json()
    assert len(view["activities"]) == 1
    assert view["contact"]["last_activity_at"].startswith((START - timedelta(days=2)).date().isoformat())
    assert cloud.http("GET", "/deals/d1").json()["last_activity_at"].startswith(
        (START - timedelta(days=2)).date().isoformat())


@pytest.mark.parametrize(
    ("payload", "status", "field"),
    [
        ({"contact_id": "ghost", "kind": "call"}, 400, "contact_id"),
        ({"contact_id": "c1", "kind": "teleport"}, 422, "kind"),
        ({"contact_id": "c1", "kind": "call", "occurred_at": "2030-01-01T00:00:00Z"}, 400, "occurred_at"),
        ({"contact_id": "c1", "kind": "call", "deal_id": "ghost"}, 400, "deal_id"),
    ],
    ids=["unknown contact", "unknown kind", "future", "unknown deal"],
)
def test_bad_activities_are_refused_with_the_field(cloud, payload, status, field) -> None:
    add_contact(cloud, "c1", quiet_days=100)
    response = cloud.http("POST", "/activities", json=payload)
    assert response.status == status and field in response.json()["message"]
    assert table_items(cloud, "ActivitiesTable") == []


def test_an_open_deal_keeps_a_quiet_contact_out_of_the_scan_until_it_is_lost(cloud) -> None:
    add_contact(cloud, "c1", quiet_days=300)
    assert cloud.http("POST", "/deals", json={"deal_id": "d1", "contact_id": "c1", "title": "Licence"}).status == 201
    assert cloud.http("GET", "/contacts/c1").json()["contact"]["open_deal_ids"] == ["d1"]
    # The deal was created now, but the contact itself stays quiet: the open deal alone keeps it out
    cloud.fire("InactivityScanFunction", "Daily", at=FIRST_SCAN)
    assert table_items(cloud, "TasksTable") == []
    lost = cloud.http("PATCH", "/deals/d1", json={"status": "lost", "loss_reason": "Vysoká cena"})
    assert lost.status == 200 and lost.json()["loss_reason"] == "Vysoká cena"
    assert cloud.http("GET", "/contacts/c1").json()["contact"]["open_deal_ids"] == []
    cloud.fire("InactivityScanFunction", "Daily", at=FIRST_SCAN + timedelta(days=1))
    assert len(table_items(cloud, "TasksTable")) == 1


def test_tasks_listing_and_completion(cloud) -> None:
    add_contact(cloud, "c1", quiet_days=200)
    cloud.fire("InactivityScanFunction", "Daily", at=FIRST_SCAN)
    assert cloud.http("GET", "/tasks").status == 400  # owner or contact_id needed
    tasks = cloud.http("GET", "/tasks", query={"owner": "petr.svoboda", "status": "open"}).json()
    assert [t["title"] for t in tasks] == ["Prověřit neaktivní kontakt Jana Nováková c1"]
    assert tasks[0]["due_date"] == "2026-03-16"
    done = cloud.http("POST", f"/tasks/{tasks[0]['task_id']}/complete", json={"resolution": "Zavoláno"})
    assert done.status == 200 and done.json()["status"] == "done"
    assert done.json()["completed_by"].endswith("local-admin")
    again = cloud.http("POST", f"/tasks/{tasks[0]['task_id']}/complete", json={})
    assert again.status == 200 and again.json()["completed_at"] == done.json()["completed_at"]
    assert cloud.http("POST", "/tasks/nope/complete", json={}).status == 404


def test_purchase_with_amount_updates_revenue(cloud) -> None:
    add_contact(cloud, "c1", quiet_days=5, lifetime_revenue=100)
    cloud.http("POST", "/activities", json={"contact_id": "c1", "kind": "purchase", "amount": "250.50"})
    contact = cloud.http("GET", "/contacts/c1").json()["contact"]
    assert Decimal(str(contact["lifetime_revenue"])) == Decimal("350.50")
