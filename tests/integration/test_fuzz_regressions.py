"""Regressions the endpoint fuzzing (tests/fuzz) found: each was a 500 or a stored record that no longer read."""

from __future__ import annotations

from crm_local import LocalCloud
from tests.integration.conftest import add_contact, table_items


def test_patch_with_null_for_a_field_a_contact_or_deal_cannot_be_without_is_a_400_and_writes_nothing(
        cloud: LocalCloud) -> None:
    # Given a contact with a deal
    add_contact(cloud, "c-null", quiet_days=10)
    assert cloud.http("POST", "/deals", json={"deal_id": "d-null", "contact_id": "c-null", "title": "Licence"}
                      ).status == 201
    contacts_before, deals_before = table_items(cloud, "ContactsTable"), table_items(cloud, "DealsTable")

    # When a PATCH sends null for fields the records cannot be without (fuzzing found: 500, and a deal stored
    # with status null that every later read failed on)
    contact = cloud.http("PATCH", "/contacts/c-null", json={"lifecycle": None, "marketing_status": None,
                                                           "archived": None, "company_fields": None})
    deal = cloud.http("PATCH", "/deals/d-null", json={"status": None, "owner": None, "title": None})

    # Then both are a 400 naming the fields, nothing changed, and both still read
    assert contact.status == 400, contact.text
    assert "lifecycle" in contact.json()["message"] and "marketing_status" in contact.json()["message"]
    assert deal.status == 400, deal.text
    assert "status" in deal.json()["message"] and "owner" in deal.json()["message"]
    assert table_items(cloud, "ContactsTable") == contacts_before
    assert table_items(cloud, "DealsTable") == deals_before
    assert cloud.http("GET", "/contacts/c-null").status == 200
    assert cloud.http("GET", "/deals/d-null").status == 200
    # and a null where null means "clear" still works
    assert cloud.http("PATCH", "/contacts/c-null", json={"phone": None}).status == 200


def test_a_body_that_is_not_utf8_or_nests_too_deeply_is_a_400_not_a_500(cloud: LocalCloud) -> None:
    # Given the API (fuzzing found: Powertools decodes and parses the body before validating it and raised)
    bodies = [
        b'{"reason": "\x90\xb0"}',                         # latin-1 bytes sent as application/json
        b"\x82\xfcn",                                      # binary
        b'{"a":' * 10_000 + b"1" + b"}" * 10_000,         # nested deeper than Python's json recursion
        b"[" * 100_000 + b"]" * 100_000,
    ]
    for path in ("/contacts", "/deals", "/suppressions", "/tasks/t-1/complete", "/contacts/c-1/archive"):
        for body in bodies:
            # When it is posted as JSON
            response = cloud.http("POST", path, body=body, headers={"content-type": "application/json"})

            # Then it is a 400 and nothing is written
            assert response.status == 400, (path, body[:20], response.status, response.text)
    assert table_items(cloud, "ContactsTable") == []
    assert table_items(cloud, "DealsTable") == []
    # and ordinary invalid JSON is still the validation's 422
    assert cloud.http("POST", "/contacts", body=b"{", headers={"content-type": "application/json"}).status == 422
