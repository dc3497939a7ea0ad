"""Lead capture, the pure parts: form bodies, the chatbot signature, the redirect allow-list, capture ids, UTM
parameters, the merge rules of the dedupe and which address suppression a capture keeps."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError

from crm_automation.domain.addresses import AddressReason, AddressRecord, AddressSuppression
from crm_automation.domain.leads import (InvalidSignature, MalformedBody, UnsupportedMediaType, activity_id_of,
                                         address_suppression, chatbot_capture_id, digest, form_capture_id, parse_body,
                                         rate_client, sign, utm_of, verify_signature)
from crm_automation.domain.models import Contact, Lifecycle
from crm_automation.domain.suppression import SuppressionReason
from crm_automation.services.leads import FormSubmission, LeadIn, _merged, allowed_origin
from crm_automation.settings import FormConfig, Settings

NOW = datetime(2026, 3, 2, 9, 30, 15, tzinfo=UTC)
SECRET = "s" * 40


# ---------------------------------------------------------------- bodies

def test_an_urlencoded_body_drops_empty_fields_and_keeps_the_first_of_a_repeated_one() -> None:
    fields, urlencoded = parse_body("application/x-www-form-urlencoded; charset=UTF-8",
                                    "email=jana%40example.cz&first_name=&utm_source=a&utm_source=b".encode())
    assert urlencoded and fields == {"email": "jana@example.cz", "utm_source": "a"}


def test_a_json_body_must_be_an_object() -> None:
    assert parse_body("application/json", b'{"email": "a@b.cz", "phone": null}') == ({"email": "a@b.cz"}, False)
    with pytest.raises(MalformedBody):
        parse_body("application/json", b"[1, 2]")
    with pytest.raises(MalformedBody):
        parse_body("application/json", b"{not json")
    with pytest.raises(MalformedBody):
        parse_body("application/json", b"[" * 8000)  # nesting deeper than the parser's recursion limit


@pytest.mark.parametrize("content_type", [None, "", "text/plain", "multipart/form-data; boundary=x", "application/xml"])
def test_other_media_types_are_unsupported(content_type) -> None:
    with pytest.raises(UnsupportedMediaType):
        parse_body(content_type, b"email=a@b.cz")


def test_oversized_or_non_utf8_bodies_are_malformed() -> None:
    with pytest.raises(MalformedBody, match="too large"):
        parse_body("application/json", b" " * (17 * 1024))
    with pytest.raises(MalformedBody):
        parse_body("application/x-www-form-urlencoded", b"email=\xff\xfe")


@pytest.mark.parametrize(("value", "expected"), [("on", True), ("ano", True), ("1", True), (True, True),
                                                 ("off", False), ("ne", False)])
def test_the_consent_checkbox_understands_html_and_czech_values(value, expected) -> None:
    assert FormSubmission.model_validate({"email": "a@example.cz", "consent_marketing": value}).consent_marketing \
        is expected


@pytest.mark.parametrize(("field", "value"), [("email", "no-at-sign"), ("first_name", "Jana\nBcc: x"),
                                              ("first_name", "x" * 201), ("page_url", "javascript:alert(1)"),
                                              ("submission_id", "a b"), ("colour", "blue")])
def test_invalid_submissions_name_the_field(field, value) -> None:
    with pytest.raises(ValidationError) as error:
        FormSubmission.model_validate({"email": "a@example.cz", field: value})
    assert field in {str(e["loc"][0]) for e in error.value.errors()}


def test_the_e_mail_is_normalised_by_the_validator() -> None:
    assert FormSubmission.model_validate({"email": " Jana@EXAMPLE.cz "}).email == "Jana@example.cz"


# ---------------------------------------------------------------- the chatbot signature

def test_a_correct_signature_is_accepted() -> None:
    body = b'{"event_id": "e-1"}'
    header = sign(SECRET, body, int(NOW.timestamp()))
    assert header.startswith(f"t={int(NOW.timestamp())},v1=")
    assert verify_signature(header, body, SECRET, NOW, 300) == int(NOW.timestamp())


def test_one_of_several_signatures_may_match_during_a_key_rotation() -> None:
    body = b"{}"
    t = int(NOW.timestamp())
    good = sign(SECRET, body, t).split("v1=")[1]
    assert verify_signature(f"t={t},v1={'0' * 64},v1={good}", body, SECRET, NOW, 300) == t


@pytest.mark.parametrize("how", ["missing", "malformed", "forged", "other body", "other key", "stale", "future"])
def test_bad_signatures_are_refused(how) -> None:
    body = b'{"event_id": "e-1"}'
    t = int(NOW.timestamp())
    header = {"missing": None, "malformed": "v1=abc", "forged": f"t={t},v1={'ab' * 32}",
              "other body": sign(SECRET, b"{}", t), "other key": sign("k" * 40, body, t),
              "stale": sign(SECRET, body, t - 301), "future": sign(SECRET, body, t + 301)}[how]
    with pytest.raises(InvalidSignature):
        verify_signature(header, body, SECRET, NOW, 300)


# ---------------------------------------------------------------- redirects and origins

def test_redirects_go_only_to_the_configured_hosts_over_https() -> None:
    form = FormConfig(redirect_url="https://www.example.cz/dekujeme", redirect_hosts=["shop.example.cz"])
    assert form.redirect_allowed("https://www.example.cz/jinde")
    assert form.redirect_allowed("https://SHOP.example.cz/diky?x=1")
    for url in ("https://evil.example.com/", "http://www.example.cz/", "javascript:alert(1)", "//evil.com/",
                "https://www.example.cz.evil.com/", "https://evil.com/?https://www.example.cz", "data:text/html,x",
                "https://www.example.cz/\r\nSet-Cookie: a=b", "https://www.example.cz/ x"):
        assert not form.redirect_allowed(url), url


@pytest.mark.parametrize("url", [
    "https://evil.com\\@www.example.cz/",  # urlsplit's hostname is www.example.cz; a browser goes to evil.com
    "https://evil.com\\www.example.cz/", "https://www.example.cz\\evil.com/", "https://www.example.cz/\\evil.com",
    "https://evil.com@www.example.cz/", "https://user:pw@www.example.cz/", "https://@www.example.cz/",
    "https://www.example.cz@evil.com/", "https://www.exämple.cz/", "https://www.example.cz/dĕkujeme",
    "https://www.example.cz\u3002evil.com/", "https://www.example.cz\tevil.com/", "https://www.example.cz/\x00",
    "https://www.example.cz\u00a0/", "https://www.example.cz:/", "https://www.example.cz:abc/",
    "https://www.example.cz:0443/", "https://www.example.cz%2eevil.com/", "https://[::1]/"])
def test_redirects_with_backslashes_userinfo_or_odd_characters_are_refused(url) -> None:
    form = FormConfig(redirect_url="https://www.example.cz/dekujeme", redirect_hosts=["shop.example.cz"])
    assert not form.redirect_allowed(url), url


def test_an_explicit_port_on_an_allowed_host_is_still_allowed() -> None:
    form = FormConfig(redirect_url="https://www.example.cz/dekujeme")
    assert form.redirect_allowed("https://www.example.cz:443/diky?x=1#top")
    assert form.redirect_allowed("https://WWW.Example.CZ/diky")


def test_http_redirects_only_for_localhost() -> None:
    assert FormConfig(redirect_hosts=["127.0.0.1"]).redirect_allowed("http://127.0.0.1:8000/diky")
    with pytest.raises(ValidationError):
        FormConfig(redirect_url="http://www.example.cz/dekujeme")


def test_lead_forms_come_from_json_settings(monkeypatch) -> None:
    monkeypatch.setenv("LEAD_FORMS", json.dumps({"poptavka": {"owner": "jana", "rate_per_minute": 5}}))
    forms = Settings().lead_forms
    assert set(forms) == {"poptavka"} and forms["poptavka"].rate_per_minute == 5
    monkeypatch.setenv("LEAD_FORMS", json.dumps({"x": {"unknown": 1}}))
    with pytest.raises(ValidationError):
        Settings()


def test_origins() -> None:
    assert allowed_origin(FormConfig(), "https://any.example") == (True, None)
    form = FormConfig(allowed_origins=["https://www.example.cz"])
    assert allowed_origin(form, "https://www.example.cz") == (True, "https://www.example.cz")
    assert allowed_origin(form, "https://evil.example") == (False, None)
    assert allowed_origin(form, None) == (True, None)
    assert allowed_origin(FormConfig(allowed_origins=["*"]), "null") == (True, "null")


# ---------------------------------------------------------------- capture ids

def test_a_double_click_in_the_same_minute_has_one_capture_id() -> None:
    fields = {"email": "Jana@Example.cz", "message": "Dobrý den"}
    first = form_capture_id("kontakt", "Jana@Example.cz", fields, NOW)
    assert form_capture_id("kontakt", "jana@example.cz", dict(reversed(list(fields.items()))),
                           NOW + timedelta(seconds=30)) == first
    assert form_capture_id("kontakt", "jana@example.cz", fields, NOW + timedelta(minutes=1)) != first
    assert form_capture_id("kontakt", "jana@example.cz", fields | {"message": "Jiná"}, NOW) != first
    assert form_capture_id("jiny", "jana@example.cz", fields, NOW) != first


def test_a_client_submission_id_decides_alone() -> None:
    a = form_capture_id("kontakt", "a@example.cz", {"x": 1}, NOW, "sub-1")
    assert a == form_capture_id("kontakt", "a@example.cz", {"x": 2}, NOW + timedelta(hours=1), "sub-1")
    assert a != form_capture_id("kontakt", "a@example.cz", {"x": 1}, NOW, "sub-2")


def test_activity_ids_derive_from_capture_ids() -> None:
    assert activity_id_of(chatbot_capture_id("e-1")) == activity_id_of(chatbot_capture_id("e-1"))
    assert activity_id_of(chatbot_capture_id("e-1")) != activity_id_of(chatbot_capture_id("e-2"))


def test_chatbot_capture_ids_derive_from_the_event_type_and_id() -> None:
    # one event_id reused by two types is two captures (their activities must not be one item)
    assert chatbot_capture_id("e-1", "intent.expressed") != chatbot_capture_id("e-1", "contact.provided")
    assert chatbot_capture_id("e-1", "intent.expressed") == chatbot_capture_id("e-1", "intent.expressed")
    # contact.provided keeps the id stored markers already have
    assert chatbot_capture_id("e-1", "contact.provided") == chatbot_capture_id("e-1") == "b-" + digest("e-1")


# ---------------------------------------------------------------- the rate-limited client

def test_an_ipv6_client_is_counted_by_its_64_prefix() -> None:
    assert rate_client("2001:db8:1:2::1") == rate_client("2001:db8:1:2:ffff:ffff:ffff:fffe") == "2001:db8:1:2::/64"
    assert rate_client("2001:db8:1:3::1") != rate_client("2001:db8:1:2::1")
    assert rate_client("203.0.113.7") == rate_client("::ffff:203.0.113.7") == "203.0.113.7"
    assert rate_client("203.0.113.7") != rate_client("203.0.113.8")
    assert rate_client("") == "unknown" and rate_client("not-an-ip") == "not-an-ip"


# ---------------------------------------------------------------- UTM

def test_utm_from_fields_else_from_the_page_url() -> None:
    page = "https://www.example.cz/?utm_source=fb&utm_medium=social&utm_campaign=jaro&other=1"
    assert utm_of({"utm_source": "google"}, page) == {"utm_source": "google"}
    assert utm_of({}, page) == {"utm_source": "fb", "utm_medium": "social", "utm_campaign": "jaro"}
    assert utm_of({}, None) == {} and utm_of({}, "https://www.example.cz/") == {}


# ---------------------------------------------------------------- the merge of a lead into an existing contact

def _contact(**values) -> Contact:
    base = {"contact_id": "c-1", "email": "jana@example.cz", "first_name": "Jana", "last_name": "Nováková",
            "owner": "petr", "tags": ["VIP"], "custom_fields": {"a": 1}, "lifecycle": Lifecycle.CUSTOMER,
            "lead_source": "import:veletrh.csv", "utm": {"utm_source": "veletrh"},
            "last_activity_at": NOW - timedelta(days=3), "created_at": NOW - timedelta(days=300),
            "updated_at": NOW - timedelta(days=3)}
    return Contact.model_validate(base | values)


def _lead(**values) -> LeadIn:
    return LeadIn.model_validate({"email": "JANA@example.cz", "source": "form:kontakt", "channel": "form",
                                  "capture_id": "f-1", "at": NOW} | values)


def test_a_form_lead_fills_only_empty_fields_and_never_blanks_out() -> None:
    merged = _merged(_contact(), _lead(last_name="Dvořáková", phone="+420 777", tags=["Web"],
                                       custom_fields={"a": 9, "b": 2}, utm={"utm_source": "google"}, owner="jiny"),
                     NOW)
    assert (merged.first_name, merged.last_name, merged.phone) == ("Jana", "Nováková", "+420 777")  # phone was empty
    assert merged.tags == ["VIP", "Web"] and merged.custom_fields == {"a": 1, "b": 2}
    assert merged.owner == "petr" and merged.lifecycle == Lifecycle.CUSTOMER  # kept
    assert merged.lead_source == "import:veletrh.csv" and merged.utm == {"utm_source": "veletrh"}  # first touch
    assert merged.last_capture.capture_id == "f-1" and merged.last_capture.utm == {"utm_source": "google"}
    assert merged.email == "jana@example.cz"


def test_an_import_row_overwrites_the_fields_it_gives() -> None:
    merged = _merged(_contact(), _lead(channel="import", source="import:x.csv", last_name="Dvořáková",
                                       custom_fields={"a": 9}), NOW)
    assert (merged.first_name, merged.last_name) == ("Jana", "Dvořáková") and merged.custom_fields == {"a": 9}


def test_a_contact_without_a_lead_source_gets_the_first_capture_as_its_source() -> None:
    merged = _merged(_contact(lead_source=None, utm={}), _lead(utm={"utm_source": "google"}), NOW)
    assert merged.lead_source == "form:kontakt" and merged.utm == {"utm_source": "google"}


def test_the_address_suppression_a_capture_keeps() -> None:
    def record(*reasons: AddressReason) -> AddressRecord:
        return AddressRecord(address_key="k", suppressions={r: AddressSuppression(at=NOW, source="t")
                                                            for r in reasons})
    assert address_suppression(None) is None and address_suppression(record()) is None
    assert address_suppression(record(AddressReason.UNSUBSCRIBED)) == SuppressionReason.UNSUBSCRIBED
    assert address_suppression(record(AddressReason.BOUNCED, AddressReason.ERASED)) == SuppressionReason.ERASED
