"""Lead capture on the real template (local emulation): the public form endpoint, the signed chatbot webhook and the
one dedupe path behind both (and behind imports)."""

from __future__ import annotations

import json
import threading
from datetime import timedelta
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

import pytest

from crm_automation.domain.addresses import AddressReason, address_key
from crm_automation.domain.leads import sign
from crm_automation.domain.models import Contact
from crm_automation.domain.suppression import SuppressionReason, marketing_suppression
from crm_automation.services import leads
from crm_local import LocalCloud
from tests.integration.conftest import ROOT, START, runtime_for, table_items

CHATBOT_SECRET = "chatbot-test-secret-0123456789abcdef0123456789abcdef"
FORMS = {
    "kontakt": {"source": "form:kontakt", "owner": "petr.svoboda", "consent_text_version": "kontakt-2026-01",
                "redirect_url": "https://www.example.cz/dekujeme", "error_url": "https://www.example.cz/chyba",
                "redirect_hosts": ["shop.example.cz"], "allowed_origins": ["https://www.example.cz"],
                "rate_per_minute": 50, "rate_per_ip_per_minute": 20, "tags": ["Web"]},
    "newsletter": {"rate_per_minute": 5, "rate_per_ip_per_minute": 3, "honeypot_field": "nickname"},
}
IP = "203.0.113.7"


@pytest.fixture
def cloud(tmp_path: Path):
    with LocalCloud(template=str(ROOT / "template.yaml"), start=START, out_dir=tmp_path / "out", quiet=True,
                    parameters={"LeadForms": json.dumps(FORMS)},
                    secrets={"ChatbotWebhookSecret": CHATBOT_SECRET}) as running:
        yield running


def _rt(cloud: LocalCloud):
    return runtime_for(cloud, consents_table=cloud.physical_name("ConsentsTable"), lead_forms=FORMS,
                       chatbot_secret=CHATBOT_SECRET)


def post_form(cloud: LocalCloud, form_id: str, fields: dict[str, Any], *, as_json: bool = False,
              accept: str | None = None, ip: str = IP, headers: dict[str, str] | None = None):
    all_headers = {"content-type": "application/json" if as_json else "application/x-www-form-urlencoded",
                   "user-agent": "Mozilla/5.0 (test)", "host": "127.0.0.1"}
    if accept:
        all_headers["accept"] = accept
    all_headers.update(headers or {})
    body = json.dumps(fields) if as_json else urlencode(fields)
    return cloud.http_request("POST", f"/forms/{form_id}", headers=all_headers, body=body.encode(), source_ip=ip)


def contacts(cloud: LocalCloud) -> list[Contact]:
    return [Contact.model_validate(i) for i in table_items(cloud, "ContactsTable") if "owner" in i]


def activities(cloud: LocalCloud) -> list[dict[str, Any]]:
    return table_items(cloud, "ActivitiesTable")


def flows(cloud: LocalCloud, prefix: str) -> list[dict[str, Any]]:
    return [i for i in table_items(cloud, "FlowsTable") if i["pk"].startswith(prefix)]


# ---------------------------------------------------------------- forms

def test_an_html_form_post_is_captured_and_redirected_to_the_thank_you_page(cloud) -> None:
    # Given the visitor fills the contact form on a page reached from a campaign link
    fields = {"email": "Jana.Novakova@Example.cz", "first_name": "Jana", "last_name": "Nováková",
              "phone": "+420 777 123 456", "message": "Zajímá mě nabídka.",
              "page_url": "https://www.example.cz/kontakt?utm_source=newsletter&utm_medium=email&utm_campaign=jaro"}
    # When the browser posts it (urlencoded)
    response = post_form(cloud, "kontakt", fields, accept="text/html,application/xhtml+xml",
                         headers={"origin": "https://www.example.cz"})
    # Then it is sent on to the thank-you page
    assert response.status == 303
    assert response.headers["location"] == "https://www.example.cz/dekujeme"
    assert response.headers["access-control-allow-origin"] == "https://www.example.cz"
    # And one contact is a new lead with its source, first-touch UTM and the form's owner and tag
    [contact] = contacts(cloud)
    assert contact.email == "Jana.Novakova@example.cz"
    assert (contact.first_name, contact.last_name, contact.owner) == ("Jana", "Nováková", "petr.svoboda")
    assert contact.lead_source == "form:kontakt" and contact.tags == ["Web"]
    assert contact.utm == {"utm_source": "newsletter", "utm_medium": "email", "utm_campaign": "jaro"}
    assert contact.last_capture is not None and contact.last_capture.channel == "form"
    # And the submission is a FORM activity carrying the message
    [activity] = activities(cloud)
    assert activity["kind"] == "form" and activity["summary"] == "Zajímá mě nabídka."
    assert activity["contact_id"] == contact.contact_id
    # And the address is claimed by the contact
    [record] = table_items(cloud, "AddressesTable")
    assert record["contact_id"] == contact.contact_id


def test_a_json_client_gets_202_and_explicit_utm_fields_win_over_the_page_url(cloud) -> None:
    response = post_form(cloud, "kontakt", {"email": "petr@example.cz", "utm_source": "google", "utm_medium": "cpc",
                                            "page_url": "https://www.example.cz/?utm_source=other"}, as_json=True)
    assert response.status == 202
    assert response.json() == {"status": "accepted"}
    [contact] = contacts(cloud)
    assert contact.utm == {"utm_source": "google", "utm_medium": "cpc"}
    assert contact.last_name is None and contact.owner == "petr.svoboda"


def test_invalid_json_gets_422_naming_the_fields_and_nothing_is_written(cloud) -> None:
    response = post_form(cloud, "kontakt", {"email": "not-an-address", "first_name": "Jana\u0007", "colour": "red"},
                         as_json=True)
    assert response.status == 422
    fields = {e["field"] for e in response.json()["errors"]}
    assert {"email", "first_name", "colour"} <= fields
    assert contacts(cloud) == [] and activities(cloud) == []


def test_invalid_html_form_goes_to_the_error_page_or_gets_a_422_page(cloud) -> None:
    # a form with an error page: 303 there, naming the fields
    response = post_form(cloud, "kontakt", {"email": "nope"}, accept="text/html")
    assert response.status == 303
    location = urlsplit(response.headers["location"])
    assert (location.netloc, location.path) == ("www.example.cz", "/chyba") and "fields=email" in location.query
    # a form without one: a small 422 page listing the field
    response = post_form(cloud, "newsletter", {"email": "nope"}, accept="text/html")
    assert response.status == 422 and "text/html" in response.headers["content-type"]
    assert "E-mail" in response.text
    assert contacts(cloud) == []


@pytest.mark.parametrize("redirect", ["https://evil.example.com/phish", "javascript:alert(1)",
                                      "http://www.example.cz/dekujeme"])
def test_a_redirect_to_a_host_that_is_not_allowed_is_refused(cloud, redirect) -> None:
    response = post_form(cloud, "kontakt", {"email": "jana@example.cz", "redirect": redirect}, accept="text/html")
    assert response.status in (303, 422)
    assert not response.headers.get("location", "").startswith(redirect)
    assert contacts(cloud) == []


def test_a_redirect_to_an_allowed_host_is_followed(cloud) -> None:
    response = post_form(cloud, "kontakt", {"email": "jana@example.cz", "redirect": "https://shop.example.cz/diky"})
    assert response.status == 303 and response.headers["location"] == "https://shop.example.cz/diky"


def test_unknown_form_other_media_types_and_foreign_origins_are_refused(cloud) -> None:
    assert post_form(cloud, "neexistuje", {"email": "jana@example.cz"}).status == 404
    response = post_form(cloud, "kontakt", {"email": "jana@example.cz"}, headers={"content-type": "text/plain"})
    assert response.status == 415
    response = post_form(cloud, "kontakt", {"email": "jana@example.cz"}, headers={"origin": "https://evil.example"})
    assert response.status == 403
    preflight = cloud.http_request("OPTIONS", "/forms/kontakt", headers={"origin": "https://www.example.cz"})
    assert preflight.status == 204 and preflight.headers["access-control-allow-origin"] == "https://www.example.cz"
    assert contacts(cloud) == []


def test_a_filled_honeypot_answers_like_success_and_writes_nothing(cloud) -> None:
    real = post_form(cloud, "newsletter", {"email": "a@example.cz"}, as_json=True)
    bot = post_form(cloud, "newsletter", {"email": "b@example.cz", "nickname": "http://spam"}, as_json=True)
    assert (bot.status, bot.json()) == (real.status, real.json()) == (202, {"status": "accepted"})
    assert [c.email for c in contacts(cloud)] == ["a@example.cz"]


def test_a_filled_honeypot_never_redirects_to_a_refused_target(cloud) -> None:
    # Given a bot fills the honeypot and names a target that only looks like an allowed host (browsers read the
    # backslash as "/", so this goes to evil.com)
    sneaky = "https://evil.com\\@www.example.cz/"
    bot = post_form(cloud, "kontakt", {"email": "bot@example.cz", "website": "http://spam", "redirect": sneaky},
                    accept="text/html")
    # Then it gets the form's own thank-you page, never its target, and nothing is written
    assert bot.status == 303 and bot.headers["location"] == "https://www.example.cz/dekujeme"
    # And a real submission naming it is invalid input (the error page), not a redirect there
    real = post_form(cloud, "kontakt", {"email": "real@example.cz", "redirect": sneaky}, accept="text/html")
    assert real.status == 303 and urlsplit(real.headers["location"]).path == "/chyba"
    assert "fields=redirect" in urlsplit(real.headers["location"]).query
    assert contacts(cloud) == [] and flows(cloud, "RATE#") == []


def test_invalid_input_writes_no_rate_counter(cloud) -> None:
    for n in range(5):  # more than the per-IP limit (3): invalid posts are not counted at all
        assert post_form(cloud, "newsletter", {"email": f"nope-{n}"}, as_json=True).status == 422
    assert flows(cloud, "RATE#") == [] and contacts(cloud) == []
    assert post_form(cloud, "newsletter", {"email": "ok@example.cz"}, as_json=True).status == 202


def test_ipv6_clients_of_one_64_network_share_one_budget(cloud) -> None:
    # Given three submissions (the per-IP limit) from rotating addresses of one /64
    for n in range(3):
        response = post_form(cloud, "newsletter", {"email": f"v6-{n}@example.cz"}, as_json=True,
                             ip=f"2001:db8:aa:bb:{n + 1:x}::{n + 7:x}")
        assert response.status == 202
    # When a fourth address of the same /64 posts, it is over the limit
    assert post_form(cloud, "newsletter", {"email": "v6-3@example.cz"}, as_json=True,
                     ip="2001:db8:aa:bb:ffff:1:2:3").status == 429
    # And another /64 is another client
    assert post_form(cloud, "newsletter", {"email": "v6-4@example.cz"}, as_json=True,
                     ip="2001:db8:aa:bc::1").status == 202
    assert len(contacts(cloud)) == 4


def test_rate_limits_per_client_ip_and_per_form_answer_429_with_retry_after(cloud) -> None:
    # Given three submissions from one IP address within a minute (the per-IP limit)
    for n in range(3):
        assert post_form(cloud, "newsletter", {"email": f"r{n}@example.cz"}, as_json=True).status == 202
    # When a fourth arrives
    response = post_form(cloud, "newsletter", {"email": "r3@example.cz"}, as_json=True)
    # Then it is refused with a Retry-After, and nothing is written for it
    assert response.status == 429 and 1 <= int(response.headers["retry-after"]) <= 60
    assert len(contacts(cloud)) == 3
    # And another client still gets through until the form's own limit (5 per minute)
    assert post_form(cloud, "newsletter", {"email": "s0@example.cz"}, as_json=True, ip="198.51.100.1").status == 202
    assert post_form(cloud, "newsletter", {"email": "s1@example.cz"}, as_json=True, ip="198.51.100.2").status == 202
    assert post_form(cloud, "newsletter", {"email": "s2@example.cz"}, as_json=True, ip="198.51.100.3").status == 429
    # And the counters hold no IP address
    counters = flows(cloud, "RATE#")
    assert counters and not any(IP in json.dumps(c, default=str) for c in counters)
    assert all("expires_at" in c for c in counters)
    # And a minute later the client may submit again
    cloud.advance(timedelta(minutes=1))
    assert post_form(cloud, "newsletter", {"email": "r3@example.cz"}, as_json=True).status == 202


def test_a_double_click_records_one_submission(cloud) -> None:
    fields = {"email": "jana@example.cz", "message": "Dobrý den"}
    assert post_form(cloud, "kontakt", fields, as_json=True).status == 202
    first = table_items(cloud, "ContactsTable"), activities(cloud), flows(cloud, "CAPTURE#")
    assert post_form(cloud, "kontakt", fields, as_json=True).status == 202
    assert (table_items(cloud, "ContactsTable"), activities(cloud), flows(cloud, "CAPTURE#")) == first
    assert len(first[1]) == 1


def test_the_same_person_in_any_letter_case_is_one_contact_and_plus_addressing_is_another(cloud) -> None:
    post_form(cloud, "kontakt", {"email": "Jana@Example.cz", "first_name": "Jana",
                                 "page_url": "https://www.example.cz/?utm_source=first"}, as_json=True)
    post_form(cloud, "newsletter", {"email": "JANA@example.CZ", "last_name": "Nováková", "company": "Acme",
                                    "page_url": "https://www.example.cz/?utm_source=second"}, as_json=True)
    post_form(cloud, "kontakt", {"email": "jana+news@example.cz"}, as_json=True)
    by_email = {c.email.lower(): c for c in contacts(cloud)}
    assert set(by_email) == {"jana@example.cz", "jana+news@example.cz"}
    jana = by_email["jana@example.cz"]
    assert (jana.first_name, jana.last_name, jana.company) == ("Jana", "Nováková", "Acme")
    assert jana.lead_source == "form:kontakt" and jana.utm == {"utm_source": "first"}  # first touch kept
    assert jana.last_capture.source == "form:newsletter" and jana.last_capture.utm == {"utm_source": "second"}
    assert len([a for a in activities(cloud) if a["contact_id"] == jana.contact_id]) == 2


def test_two_concurrent_first_arrivals_of_one_address_make_one_contact(cloud) -> None:
    # Given two captures of a new address whose reads both happen before either writes
    rt = _rt(cloud)
    barrier = threading.Barrier(2, timeout=10)
    original = rt.store.addresses.get
    calls = {"n": 0}

    def racing_get(key: str):
        record = original(key)
        calls["n"] += 1
        if calls["n"] <= 2:
            barrier.wait()
        return record

    rt.store.addresses.get = racing_get  # type: ignore[method-assign]
    results: list[leads.Upserted] = []

    def capture(n: int) -> None:
        lead = leads.LeadIn(email="Race@Example.cz", first_name=f"R{n}", source="form:kontakt", channel="form",
                            capture_id=f"race-{n}", at=START)
        results.append(leads.upsert(rt, lead, START))

    threads = [threading.Thread(target=capture, args=(n,)) for n in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    # Then exactly one contact exists, created by one capture and updated by the other
    [contact] = contacts(cloud)
    assert sorted(r.created for r in results) == [False, True]
    assert {r.contact.contact_id for r in results} == {contact.contact_id}
    assert len(activities(cloud)) == 2
    [record] = table_items(cloud, "AddressesTable")
    assert record["contact_id"] == contact.contact_id


@pytest.mark.parametrize("reason", ["unsubscribed", "erased", "do_not_contact"])
def test_a_suppressed_or_erased_address_arriving_again_stays_suppressed(cloud, reason) -> None:
    # Given the address is on the suppression list
    assert cloud.http("POST", "/suppressions", json={"entries": [{"email": "gone@example.cz", "reason": reason}],
                                                     "source": "test"}).status == 200
    # When the person fills the form again, ticking the consent box
    response = post_form(cloud, "kontakt", {"email": "Gone@Example.cz", "consent_marketing": "on"}, as_json=True)
    # Then the lead is recorded
    assert response.status == 202
    [contact] = contacts(cloud)
    # And the address suppression is still there, so no automated marketing goes to it
    rt = _rt(cloud)
    record = rt.store.addresses.get(address_key("gone@example.cz", rt.keys.address))
    assert record.suppressed(AddressReason(reason)) and record.contact_id == contact.contact_id
    assert marketing_suppression(contact, record) == SuppressionReason(reason)


def test_a_contact_from_before_address_claims_is_found_and_claimed(cloud) -> None:
    # Given a contact stored before claims existed (no address record)
    rt = _rt(cloud)
    old = Contact(contact_id="c-legacy", email="old@example.cz", last_name="Starý", owner="martin.kral",
                  last_activity_at=START - timedelta(days=10), created_at=START - timedelta(days=400),
                  updated_at=START - timedelta(days=10))
    rt.store.contacts.save(old, new=True)
    # When the person fills the form
    post_form(cloud, "kontakt", {"email": "OLD@example.cz", "first_name": "Karel"}, as_json=True)
    # Then the existing contact is updated (owner and lifecycle kept) and now claims the address
    [contact] = contacts(cloud)
    assert (contact.contact_id, contact.first_name, contact.owner) == ("c-legacy", "Karel", "martin.kral")
    assert contact.lead_source == "form:kontakt"
    [record] = table_items(cloud, "AddressesTable")
    assert record["contact_id"] == "c-legacy"


def test_a_public_form_fills_empty_fields_but_never_overwrites_what_the_crm_holds(cloud) -> None:
    # Given a client in the CRM with a name and a phone, no company
    rt = _rt(cloud)
    client = Contact(contact_id="c-client", email="jana@example.cz", first_name="Jana", last_name="Nováková",
                     phone="+420 601 000 111", custom_fields={"segment": "VIP"}, owner="martin.kral",
                     last_activity_at=START - timedelta(days=10), created_at=START - timedelta(days=400),
                     updated_at=START - timedelta(days=10))
    rt.store.contacts.save(client, new=True)
    # When someone who knows her address submits the form with other values
    response = post_form(cloud, "kontakt", {"email": "jana@example.cz", "first_name": "Eva", "last_name": "Cizí",
                                            "phone": "+420 999 999 999", "company": "Pekárna Nováková"}, as_json=True)
    # Then only the empty field is filled: the CRM's name and phone stay
    assert response.status == 202
    [contact] = contacts(cloud)
    assert (contact.first_name, contact.last_name, contact.phone) == ("Jana", "Nováková", "+420 601 000 111")
    assert contact.company == "Pekárna Nováková" and contact.custom_fields == {"segment": "VIP"}


def test_the_admin_api_refuses_an_address_a_lead_already_holds(cloud) -> None:
    post_form(cloud, "kontakt", {"email": "lead@example.cz"}, as_json=True)
    response = cloud.http("POST", "/contacts", json={"last_name": "X", "owner": "petr", "email": "LEAD@example.cz"})
    assert response.status == 409
    assert len(contacts(cloud)) == 1


def test_a_ticked_consent_box_is_a_pending_double_opt_in_with_its_proof(cloud) -> None:
    response = post_form(cloud, "kontakt", {"email": "doi@example.cz", "consent_marketing": "on",
                                            "page_url": "https://www.example.cz/kontakt"})
    assert response.status == 303
    [contact] = contacts(cloud)
    assert contact.marketing_consent is None or not contact.marketing_consent.granted
    assert contact.pending_consent is not None and contact.pending_consent.text_version == "kontakt-2026-01"
    [entry] = table_items(cloud, "ConsentsTable")
    assert (entry["state"], entry["channel"], entry["source"]) == ("pending", "form", "form:kontakt")
    assert entry["metadata"]["ip"] == IP and entry["metadata"]["form_id"] == "kontakt"
    assert entry["metadata"]["page_url"] == "https://www.example.cz/kontakt"
    assert "Mozilla" in entry["metadata"]["user_agent"]


def test_without_the_consent_box_no_consent_is_recorded(cloud) -> None:
    post_form(cloud, "kontakt", {"email": "nodoi@example.cz"}, as_json=True)
    [contact] = contacts(cloud)
    assert contact.pending_consent is None and contact.marketing_consent is None
    assert table_items(cloud, "ConsentsTable") == []


# ---------------------------------------------------------------- the sample HTML form

class _FormParser(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.action: str | None = None
        self.method: str | None = None
        self.inputs: list[dict[str, str]] = []
        self.labels: set[str] = set()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "form":
            self.action, self.method = a.get("action"), a.get("method", "get").lower()
        elif tag in ("input", "textarea"):
            self.inputs.append({"tag": tag, **a})
        elif tag == "label" and a.get("for"):
            self.labels.add(a["for"])


def test_the_sample_html_form_works_against_the_emulation(cloud) -> None:
    # Given the documented sample form
    parser = _FormParser()
    parser.feed((ROOT / "docs" / "forms" / "kontakt.html").read_text(encoding="utf-8"))
    assert parser.method == "post" and parser.action is not None
    action = urlsplit(parser.action)
    # And every visible input has a label, the honeypot is present and hidden
    named = {i["name"]: i for i in parser.inputs if i.get("name")}
    visible = [i for i in named.values() if i.get("type") not in ("hidden", "submit") and i["name"] != "website"]
    assert all(i.get("id") in parser.labels for i in visible)
    assert "website" in named and "consent_marketing" in named
    # When a visitor fills it (the honeypot left empty) and the browser posts it
    values = {name: i.get("value", "") for name, i in named.items() if i.get("type") != "checkbox"}
    values |= {"email": "Formular@Example.cz", "first_name": "Eva", "last_name": "Svobodová",
               "message": "Prosím o nabídku.", "consent_marketing": named["consent_marketing"].get("value") or "on"}
    response = cloud.http_request("POST", action.path, body=urlencode(values).encode(), source_ip=IP,
                                  headers={"content-type": "application/x-www-form-urlencoded",
                                           "accept": "text/html", "user-agent": "Mozilla/5.0"})
    # Then it is accepted with the thank-you page and the contact captured with a pending consent
    assert response.status in (202, 303), response.body
    [contact] = contacts(cloud)
    assert (contact.first_name, contact.last_name, contact.lead_source) == ("Eva", "Svobodová", "form:kontakt")
    assert contact.pending_consent is not None


# ---------------------------------------------------------------- the chatbot webhook

def chatbot(cloud: LocalCloud, event: dict[str, Any], *, secret: str = CHATBOT_SECRET, at: int | None = None,
            signature: str | None = "sign"):
    body = json.dumps(event).encode()
    headers = {"content-type": "application/json"}
    if signature == "sign":
        headers["x-crm-signature"] = sign(secret, body, at if at is not None else int(cloud.clock.now().timestamp()))
    elif signature is not None:
        headers["x-crm-signature"] = signature
    return cloud.http_request("POST", "/chatbot/events", headers=headers, body=body)


def _event(event_id: str, kind: str, data: dict[str, Any], conversation: str = "conv-1") -> dict[str, Any]:
    return {"event_id": event_id, "type": kind, "conversation_id": conversation,
            "occurred_at": START.isoformat().replace("+00:00", "Z"), "data": data}


CONTACT = {"email": "Chat@Example.cz", "first_name": "Tomáš", "phone": "+420 601 000 000",
           "consent_marketing": True, "consent_text_version": "chat-2026-01"}


@pytest.mark.parametrize("how", ["unsigned", "forged", "stale", "wrong key", "garbage"])
def test_unsigned_forged_or_stale_chatbot_calls_are_refused_and_write_nothing(cloud, how) -> None:
    event = _event("e-1", "contact.provided", CONTACT)
    now = int(cloud.clock.now().timestamp())
    response = {
        "unsigned": lambda: chatbot(cloud, event, signature=None),
        "forged": lambda: chatbot(cloud, event, signature=f"t={now},v1={'0' * 64}"),
        "stale": lambda: chatbot(cloud, event, at=now - 301),
        "wrong key": lambda: chatbot(cloud, event, secret="another-secret-another-secret-another"),
        "garbage": lambda: chatbot(cloud, event, signature="v1=abc,t=x"),
    }[how]()
    assert response.status == 401
    assert contacts(cloud) == [] and flows(cloud, "CONV#") == [] and flows(cloud, "CAPTURE#") == []


def test_a_signature_over_a_different_body_is_refused(cloud) -> None:
    good = json.dumps(_event("e-1", "contact.provided", CONTACT)).encode()
    header = sign(CHATBOT_SECRET, good, int(cloud.clock.now().timestamp()))
    tampered = good.replace(b"Chat@Example.cz", b"evil@example.cz")
    response = cloud.http_request("POST", "/chatbot/events", body=tampered,
                                  headers={"content-type": "application/json", "x-crm-signature": header})
    assert response.status == 401 and contacts(cloud) == []


def test_a_chatbot_conversation_with_an_intent_before_the_contact_details(cloud) -> None:
    # Given a conversation started on a campaign page, and an intent expressed before any contact details
    started = _event("e-1", "conversation.started",
                     {"page_url": "https://www.example.cz/cenik?utm_source=facebook&utm_campaign=jaro"})
    assert chatbot(cloud, started).status == 202
    assert chatbot(cloud, _event("e-2", "intent.expressed", {"intent": "pricing", "text": "Kolik stojí licence?"})
                   ).status == 202
    [conversation] = flows(cloud, "CONV#")
    assert "expires_at" in conversation and "email" not in json.dumps(conversation, default=str)
    assert contacts(cloud) == []
    # When the visitor gives their contact details (with the marketing consent)
    assert chatbot(cloud, _event("e-3", "contact.provided", CONTACT)).status == 202
    # Then one contact from the chatbot, the UTM of the page the chat started on, a pending double opt-in
    [contact] = contacts(cloud)
    assert contact.email == "Chat@example.cz" and contact.lead_source == "chatbot"
    assert contact.utm == {"utm_source": "facebook", "utm_campaign": "jaro"}
    assert contact.pending_consent is not None and contact.pending_consent.text_version == "chat-2026-01"
    [entry] = table_items(cloud, "ConsentsTable")
    assert (entry["state"], entry["channel"]) == ("pending", "chatbot")
    # And the earlier intent is now a CHAT activity of the contact, next to the contact-details one
    chats = [a for a in activities(cloud) if a["contact_id"] == contact.contact_id and a["kind"] == "chat"]
    assert len(chats) == 2
    assert any(a.get("summary") == "Kolik stojí licence?" for a in chats)
    [conversation] = flows(cloud, "CONV#")
    assert conversation["contact_id"] == contact.contact_id and not conversation.get("pending")
    # And a later intent goes straight to the contact
    assert chatbot(cloud, _event("e-4", "intent.expressed", {"intent": "demo"})).status == 202
    assert len([a for a in activities(cloud) if a["contact_id"] == contact.contact_id and a["kind"] == "chat"]) == 3


def test_replayed_chatbot_events_answer_200_and_write_nothing_new(cloud) -> None:
    events = [_event("e-1", "conversation.started", {}), _event("e-2", "intent.expressed", {"intent": "pricing"}),
              _event("e-3", "contact.provided", CONTACT), _event("e-4", "intent.expressed", {"intent": "demo"})]
    for event in events:
        assert chatbot(cloud, event).status == 202
    before = (table_items(cloud, "ContactsTable"), activities(cloud), table_items(cloud, "ConsentsTable"),
              flows(cloud, "CONV#"))
    # When the chatbot delivers every event again
    for event in events:
        assert chatbot(cloud, event).status == 200
    # Then nothing changed
    after = (table_items(cloud, "ContactsTable"), activities(cloud), table_items(cloud, "ConsentsTable"),
             flows(cloud, "CONV#"))
    assert after == before


def test_an_intent_and_contact_details_sharing_one_event_id_are_both_recorded(cloud) -> None:
    # Given an intent waits on the conversation, and the contact details arrive under the same event_id
    intent = _event("e-7", "intent.expressed", {"intent": "pricing", "text": "Cena?"})
    details = _event("e-7", "contact.provided", CONTACT)
    assert chatbot(cloud, intent).status == 202
    # Then both are accepted (no 500): one contact, two CHAT activities
    assert chatbot(cloud, details).status == 202
    [contact] = contacts(cloud)
    chats = [a for a in activities(cloud) if a["contact_id"] == contact.contact_id and a["kind"] == "chat"]
    assert len(chats) == 2 and any(a.get("summary") == "Cena?" for a in chats)
    [conversation] = flows(cloud, "CONV#")
    assert conversation["contact_id"] == contact.contact_id and not conversation.get("pending")
    # And replays of either are still recognised
    before = table_items(cloud, "ContactsTable"), activities(cloud), flows(cloud, "CONV#")
    assert chatbot(cloud, details).status == 200 and chatbot(cloud, intent).status == 200
    assert (table_items(cloud, "ContactsTable"), activities(cloud), flows(cloud, "CONV#")) == before
    # And after the link, an intent reusing the contact details' event_id is recorded too, not taken for a replay
    assert chatbot(cloud, _event("e-8", "contact.provided", CONTACT, "conv-2")).status == 202
    assert chatbot(cloud, _event("e-8", "intent.expressed", {"intent": "demo"}, "conv-2")).status == 202
    assert len([a for a in activities(cloud) if a["contact_id"] == contact.contact_id and a["kind"] == "chat"]) == 4


def test_the_chatbot_and_a_form_update_the_same_person(cloud) -> None:
    post_form(cloud, "kontakt", {"email": "chat@example.cz", "last_name": "Dvořák"}, as_json=True)
    chatbot(cloud, _event("e-9", "contact.provided", {"email": "CHAT@example.cz", "first_name": "Tomáš"}))
    [contact] = contacts(cloud)
    assert (contact.first_name, contact.last_name, contact.lead_source) == ("Tomáš", "Dvořák", "form:kontakt")
    assert contact.last_capture.channel == "chatbot"


def test_an_invalid_chatbot_event_gets_422_naming_the_field(cloud) -> None:
    response = chatbot(cloud, _event("e-1", "contact.provided", {"email": "nope"}))
    assert response.status == 422 and "email" in response.json()["message"]
    response = chatbot(cloud, {"event_id": "e-2", "type": "other", "conversation_id": "c",
                               "occurred_at": "2026-03-02T04:00:00Z"})
    assert response.status == 422
    assert contacts(cloud) == []
