"""The consent ledger, double opt-in and withdrawal end to end on the emulated template: the ledger written with the
contact, the confirmation e-mail sent once per request from the ledger stream, the signed link (a GET shows a page,
a POST confirms; forged, expired and repeated links), suppressions a confirmation lifts and those it never lifts,
and a withdrawal that stops a campaign already planned."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from crm_automation.domain.addresses import AddressReason, address_key
from crm_automation.domain.consent import ConsentEntry
from crm_automation.errors import TransientError
from crm_automation.services import campaigns, consent
from crm_local import LocalCloud
from tests.integration.conftest import PUBLIC_URL, ROOT, dying_after_ses_send, runtime_for, stream_record, table_items

MONDAY_0900 = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)  # Monday 09:00 Prague
FORM = {"granted": True, "double_opt_in": True, "source": "form:kontakt", "text_version": "souhlas-v3",
        "metadata": {"ip": "203.0.113.7", "user_agent": "Mozilla/5.0", "page_url": "https://example.cz/kontakt"}}


@pytest.fixture
def ccloud(tmp_path: Path) -> Iterator[LocalCloud]:
    with LocalCloud(template=str(ROOT / "template.yaml"), start=MONDAY_0900, out_dir=tmp_path / "out", quiet=True,
                    parameters={"PublicBaseUrl": PUBLIC_URL, "SendWindow": "always"}) as running:
        yield running


def rt_of(cloud: LocalCloud, **overrides: Any):
    return runtime_for(cloud, consents_table=cloud.physical_name("ConsentsTable"), **overrides)


def new_contact(cloud: LocalCloud, key: str, **extra: Any) -> dict[str, Any]:
    payload = {"contact_id": key, "first_name": "Jan", "last_name": "Novák", "email": f"{key}@example.cz",
               "owner": "petr.svoboda", "lifecycle": "former_customer",
               "custom_fields": {"Důvod ztráty": "Chybějící funkce A"}} | extra
    response = cloud.http("POST", "/contacts", json=payload)
    assert response.status == 201, response.body
    return response.json()


def give_consent(cloud: LocalCloud, key: str, body: dict[str, Any] = FORM, status: int = 201) -> dict[str, Any]:
    cloud.clock.advance(timedelta(seconds=1))
    response = cloud.http("POST", f"/contacts/{key}/consents", json=body)
    assert response.status == status, response.body
    return response.json()


def ledger(cloud: LocalCloud, key: str) -> list[dict[str, Any]]:
    response = cloud.http("GET", f"/contacts/{key}/consents")
    assert response.status == 200, response.body
    return response.json()


def contact(cloud: LocalCloud, key: str) -> dict[str, Any]:
    return cloud.http("GET", f"/contacts/{key}").json()["contact"]


def doi_messages(cloud: LocalCloud, to: str | None = None) -> list[Any]:
    return [m for m in cloud.mail_messages if m["X-CRM-Workflow"] == "double_opt_in"
            and (to is None or str(m["To"].addresses[0].addr_spec) == to)]


def confirm_path(message: Any) -> str:
    text = message.get_body(("plain",)).get_content()
    return re.search(r"https://crm\.example\.cz(/c/[A-Za-z0-9_.-]+)", text).group(1)


def post(cloud: LocalCloud, path: str, **kwargs: Any):
    cloud.clock.advance(timedelta(seconds=1))  # the emulation's clock stands still: the ledger sorts by time
    return cloud.http("POST", path, body="confirm=1", token=None,
                      headers={"content-type": "application/x-www-form-urlencoded", "user-agent": "Firefox/140"},
                      **kwargs)


# ---------------------------------------------------------------- double opt-in


def test_a_form_consent_waits_for_the_confirmation_link_then_counts(ccloud):
    # Given a contact without consent who ticks the marketing box on a form (double opt-in)
    new_contact(ccloud, "jan")
    entry = give_consent(ccloud, "jan")
    # Then the ledger holds a pending entry with the wording version and the request metadata
    assert entry["state"] == "pending" and entry["text_version"] == "souhlas-v3" and entry["request_id"]
    assert entry["metadata"]["ip"] == "203.0.113.7"
    saved = contact(ccloud, "jan")
    assert saved["pending_consent"]["request_id"] == entry["request_id"]
    assert saved.get("marketing_consent") is None  # it does not count yet

    # And exactly one confirmation e-mail went: a real MIME message with a Czech vocative greeting and the link
    [message] = doi_messages(ccloud, "jan@example.cz")
    assert message.is_multipart() and message["Subject"].startswith("Potvrďte")
    text = message.get_body(("plain",)).get_content()
    html = message.get_body(("html",)).get_content()
    assert text.startswith("Dobrý den, pane Nováku,")
    path = confirm_path(message)
    assert path in html and "jan@example.cz" not in path
    assert "List-Unsubscribe" not in message

    # When a link scanner (or the recipient) opens the link: only the page, nothing confirmed
    page = ccloud.http("GET", path, token=None)
    assert page.status == 200 and "Ano, potvrzuji odběr" in page.body and 'action=""' in page.body
    assert ccloud.http("GET", f"{path}?lang=en", token=None).body.count("Yes, I confirm") == 1
    assert contact(ccloud, "jan").get("marketing_consent") is None

    # When the recipient presses the button
    done = post(ccloud, path)
    assert done.status == 200 and "odběr je potvrzen" in done.body
    # Then the consent counts, the request is gone, and the ledger proves it with the confirming request's data
    saved = contact(ccloud, "jan")
    assert saved["marketing_consent"]["granted"] is True
    assert saved["marketing_consent"]["text_version"] == "souhlas-v3"
    assert saved["marketing_consent"]["source"] == "form:kontakt"
    assert saved.get("pending_consent") is None
    entries = ledger(ccloud, "jan")
    assert [e["state"] for e in entries] == ["confirmed", "pending"]  # newest first
    assert entries[0]["request_id"] == entry["request_id"] and entries[0]["channel"] == "confirmation"
    assert entries[0]["metadata"] == {"ip": "127.0.0.1", "user_agent": "Firefox/140"}

    # And confirming twice is a no-op page
    again = post(ccloud, path)
    assert again.status == 200 and "už dříve" in again.body
    assert len(ledger(ccloud, "jan")) == 2
    assert len(doi_messages(ccloud)) == 1


def test_forged_and_expired_links_change_nothing(ccloud):
    new_contact(ccloud, "eva", first_name="Eva", last_name="Svobodová")
    give_consent(ccloud, "eva")
    [message] = doi_messages(ccloud)
    path = confirm_path(message)
    assert message.get_body(("plain",)).get_content().startswith("Dobrý den, paní Svobodová,")
    # A forged or altered token: 400 on GET and POST, nothing written
    payload, tag = path[3:].split(".")
    for bad in (f"/c/{payload}.{tag[:-3]}AAA", f"/c/{payload[:-2]}xx.{tag}", "/c/nonsense", f"/c/{payload}"):
        assert ccloud.http("GET", bad, token=None).status == 400
        refused = post(ccloud, bad)
        assert refused.status == 400 and "není platný" in refused.body
    assert contact(ccloud, "eva").get("marketing_consent") is None
    assert len(ledger(ccloud, "eva")) == 1
    # After doi_link_days (7) the link has expired: 410, nothing written
    ccloud.clock.advance(timedelta(days=7, minutes=1))
    assert ccloud.http("GET", path, token=None).status == 410
    expired = post(ccloud, path)
    assert expired.status == 410 and "vypršela" in expired.body
    assert contact(ccloud, "eva").get("marketing_consent") is None
    assert [e["state"] for e in ledger(ccloud, "eva")] == ["pending"]


def test_the_pending_entry_delivered_twice_sends_one_email(ccloud):
    # Given a pending entry whose confirmation e-mail went
    new_contact(ccloud, "dup")
    give_consent(ccloud, "dup")
    assert len(doi_messages(ccloud)) == 1
    item = next(i for i in table_items(ccloud, "ConsentsTable") if i["state"] == "pending")
    # When the stream delivers the same record again
    result = ccloud.invoke("ConsentMailerFunction", {"Records": [
        stream_record(ccloud, "ConsentsTable", "contact_id", item, "901")]})
    # Then nothing fails and no second e-mail goes
    assert result == {"batchItemFailures": []}
    assert len(doi_messages(ccloud)) == 1
    # And a second form submission while the first request is still valid reuses it: no second e-mail either
    second = give_consent(ccloud, "dup")
    assert second["request_id"] == item["request_id"]
    assert len(doi_messages(ccloud)) == 1
    assert [e["state"] for e in ledger(ccloud, "dup")] == ["pending", "pending"]


def test_a_crash_between_sending_and_recording_never_sends_twice(ccloud):
    new_contact(ccloud, "crash")
    rt = rt_of(ccloud)
    # Given a pending request written without its stream being delivered yet
    given = consent.ConsentGiven(granted=True, double_opt_in=True, source="form:kontakt", channel="form",
                                 at=ccloud.clock.now())
    current = rt.store.contacts.get("crash")
    from crm_automation.services import crm

    updated, ops = consent.consent_ops(rt, current, given, ccloud.clock.now())
    crm._save(rt, current, updated, ccloud.clock.now(), extra=ops)
    entry = next(e for e in rt.store.consents.by_contact("crash") if e.state == "pending")
    # And the mailer dies right after SES accepted the message, before anything was recorded
    with dying_after_ses_send():
        consent.send_confirmation(rt, entry, ccloud.clock.now())
    assert len(doi_messages(ccloud)) == 1
    # When the record is retried while the first attempt might still be running: it backs off
    with pytest.raises(TransientError):
        consent.send_confirmation(rt, entry, ccloud.clock.now() + timedelta(seconds=30))
    # And after the lease: outcome unknown, never sent twice
    assert consent.send_confirmation(rt, entry, ccloud.clock.now() + timedelta(minutes=3)) == "unknown"
    ccloud.settle()  # the stream's own delivery of the entry
    assert len(doi_messages(ccloud)) == 1


def test_no_confirmation_email_to_an_erased_bounced_complained_or_do_not_contact_address(ccloud, caplog):
    rt = rt_of(ccloud)
    now = ccloud.clock.now()
    for key, reason in (("gone", AddressReason.ERASED), ("bounce", AddressReason.BOUNCED),
                        ("spam", AddressReason.COMPLAINT), ("dnc", AddressReason.DO_NOT_CONTACT)):
        new_contact(ccloud, key)
        rt.store.addresses.suppress(address_key(f"{key}@example.cz", rt.keys.address), reason, now, "test")
        # the pending entry is still recorded (the proof of what the form said), but no e-mail goes
        assert give_consent(ccloud, key)["state"] == "pending"
    new_contact(ccloud, "status", email_status="bounced")
    give_consent(ccloud, "status")
    assert doi_messages(ccloud) == []
    # and the skips are logged with ids and the reason, never the address
    skipped = [r for r in caplog.records if r.getMessage() == "Consent confirmation e-mail skipped"]
    assert {r.reason for r in skipped} == {"erased", "bounced", "complaint", "do_not_contact"}
    assert "@example.cz" not in caplog.text


def test_a_confirmation_lifts_an_unsubscribe_but_never_a_bounce(ccloud):
    rt = rt_of(ccloud)
    # Given an address that unsubscribed earlier, and one that bounced
    new_contact(ccloud, "back", marketing_status="unsubscribed")
    new_contact(ccloud, "hard")
    rt.store.addresses.suppress(address_key("hard@example.cz", rt.keys.address), AddressReason.BOUNCED,
                                ccloud.clock.now(), "ses-bounce")
    rt.store.addresses.suppress(address_key("hard@example.cz", rt.keys.address), AddressReason.UNSUBSCRIBED,
                                ccloud.clock.now(), "unsubscribe-page")
    # When the unsubscribed person signs up again on a form and confirms through the link
    give_consent(ccloud, "back")
    [message] = doi_messages(ccloud)
    assert post(ccloud, confirm_path(message)).status == 200
    # Then the unsubscribe is lifted (they proved control of the mailbox and asked again) and campaigns reach them
    saved = contact(ccloud, "back")
    assert saved["marketing_status"] == "subscribed" and saved["marketing_consent"]["granted"] is True
    record = rt.store.addresses.get(address_key("back@example.cz", rt.keys.address))
    assert record is not None and AddressReason.UNSUBSCRIBED not in record.suppressions
    # And for the bounced address no e-mail went at all; a consent granted by phone still leaves it suppressed
    give_consent(ccloud, "hard")
    assert len(doi_messages(ccloud)) == 1
    give_consent(ccloud, "hard", {"granted": True, "source": "phone"})
    record = rt.store.addresses.get(address_key("hard@example.cz", rt.keys.address))
    assert set(record.suppressions) == {AddressReason.BOUNCED, AddressReason.UNSUBSCRIBED}
    campaign_id = ccloud.http("POST", "/campaigns", json={
        "name": "Win-back", "template": "winback_feature_a",
        "segment_query": 'lifecycle = former_customer'}).json()["campaign_id"]
    preview = ccloud.http("POST", f"/campaigns/{campaign_id}/preview", json={"samples": 0}).json()
    assert preview["eligible"] == 1 and sum(preview["excluded"].values()) == 1  # "back" yes, "hard" no


# ---------------------------------------------------------------- the API and contact writes


def test_consents_given_by_phone_and_withdrawals_are_recorded_through_the_api(ccloud):
    new_contact(ccloud, "tel")
    # A consent given on the phone counts at once (channel api, who recorded it)
    granted = give_consent(ccloud, "tel", {"granted": True, "source": "phone", "text_version": "tel-v1",
                                           "metadata": {"call_id": "hov-17"}})
    assert granted["state"] == "granted" and granted["channel"] == "api"
    assert granted["metadata"]["call_id"] == "hov-17" and granted["metadata"]["recorded_by"]
    assert contact(ccloud, "tel")["marketing_consent"]["granted"] is True
    assert doi_messages(ccloud) == []
    # A withdrawal takes effect at once
    withdrawn = give_consent(ccloud, "tel", {"granted": False, "source": "phone"})
    assert withdrawn["state"] == "withdrawn"
    assert contact(ccloud, "tel")["marketing_consent"]["granted"] is False
    # Another purpose is kept apart from marketing
    give_consent(ccloud, "tel", {"purpose": "profiling", "granted": True, "source": "phone"})
    saved = contact(ccloud, "tel")
    assert saved["consents"]["profiling"]["granted"] is True and saved["marketing_consent"]["granted"] is False
    assert [e["state"] for e in ledger(ccloud, "tel")] == ["granted", "withdrawn", "granted"]
    # Each is in the contact's history as a consent activity
    kinds = [a["kind"] for a in ccloud.http("GET", "/contacts/tel").json()["activities"]]
    assert kinds.count("consent") == 3
    # Bad input: a clear 4xx, nothing written
    assert ccloud.http("POST", "/contacts/tel/consents", json={"granted": "maybe"}).status == 422
    assert ccloud.http("POST", "/contacts/tel/consents", json={"granted": True, "channel": "x"}).status == 422
    assert ccloud.http("POST", "/contacts/nobody/consents", json={"granted": True}).status == 404
    assert ccloud.http("GET", "/contacts/nobody/consents").status == 404
    assert len(ledger(ccloud, "tel")) == 3
    # And both routes need authentication
    assert ccloud.http("GET", "/contacts/tel/consents", token=None).status in (401, 403)


def test_marketing_consent_set_on_a_contact_goes_to_the_ledger_in_the_same_write(ccloud):
    new_contact(ccloud, "crmc", marketing_consent={"granted": True, "at": "2024-01-01T00:00:00Z",
                                                   "source": "web-form", "text_version": "v1"})
    [entry] = ledger(ccloud, "crmc")
    assert entry["state"] == "granted" and entry["source"] == "web-form" and entry["at"].startswith("2024-01-01")
    # The same consent sent again (a CRM sync) is no new entry; a change is
    same = {"granted": True, "at": "2024-01-01T00:00:00Z", "source": "web-form", "text_version": "v1"}
    assert ccloud.http("PATCH", "/contacts/crmc", json={"marketing_consent": same}).status == 200
    assert len(ledger(ccloud, "crmc")) == 1
    assert ccloud.http("PATCH", "/contacts/crmc", json={"marketing_consent": {"granted": False}}).status == 200
    entries = ledger(ccloud, "crmc")
    assert [e["state"] for e in entries] == ["withdrawn", "granted"] and entries[0]["source"] == "api"
    assert contact(ccloud, "crmc")["marketing_consent"]["granted"] is False


def test_an_old_consent_synced_or_recorded_after_a_withdrawal_is_history_only(ccloud):
    new_contact(ccloud, "sync", marketing_consent={"granted": True, "at": "2024-01-01T00:00:00Z", "source": "web"})
    give_consent(ccloud, "sync", {"granted": False, "source": "phone"})
    # A CRM sync PATCHes the old consent: recorded, but the withdrawal stands
    old = {"granted": True, "at": "2024-02-01T00:00:00Z", "source": "old-crm"}
    assert ccloud.http("PATCH", "/contacts/sync", json={"marketing_consent": old}).status == 200
    assert contact(ccloud, "sync")["marketing_consent"]["granted"] is False
    newest = ledger(ccloud, "sync")
    assert [(e["state"], e["effective"]) for e in newest] == [("withdrawn", True), ("granted", False),
                                                               ("granted", True)]
    # A consent recorded at the very instant of the withdrawal answers 201 and says it had no effect
    response = ccloud.http("POST", "/contacts/sync/consents", json={"granted": True, "source": "phone"})
    assert response.status == 201 and response.json()["effective"] is False
    assert contact(ccloud, "sync")["marketing_consent"]["granted"] is False


# ---------------------------------------------------------------- withdrawal


def test_an_unsubscribe_withdraws_the_consent_in_the_same_write_as_the_status(ccloud):
    new_contact(ccloud, "out", marketing_consent={"granted": True, "at": "2024-01-01T00:00:00Z", "source": "web"})
    campaign_id = ccloud.http("POST", "/campaigns", json={
        "name": "Win-back", "template": "winback_feature_a", "segment_query": "lifecycle = former_customer"}
    ).json()["campaign_id"]
    ccloud.http("POST", f"/campaigns/{campaign_id}/launch")
    [message] = [m for m in ccloud.mail_messages if m["X-CRM-Campaign"]]
    path = re.search(r"<https://crm\.example\.cz(/u/[^>]+)>", str(message["List-Unsubscribe"])).group(1)
    assert ccloud.http("POST", path, body="List-Unsubscribe=One-Click", token=None,
                       headers={"content-type": "application/x-www-form-urlencoded"}).status == 200
    saved = contact(ccloud, "out")
    assert saved["marketing_status"] == "unsubscribed" and saved["marketing_consent"]["granted"] is False
    [withdrawn, _] = ledger(ccloud, "out")
    assert withdrawn["state"] == "withdrawn" and withdrawn["channel"] == "unsubscribe"
    assert withdrawn["source"] == "unsubscribe-one-click" and withdrawn["metadata"] == {"list": campaign_id}
    # A second one-click POST writes no second entry
    ccloud.http("POST", path, body="List-Unsubscribe=One-Click", token=None,
                headers={"content-type": "application/x-www-form-urlencoded"})
    assert len(ledger(ccloud, "out")) == 2


def test_a_withdrawal_between_planning_and_sending_stops_the_email(ccloud):
    # Given a campaign planned for two consenting contacts, its chunk queued but not yet sent
    for key in ("stay", "leave"):
        new_contact(ccloud, key, marketing_consent={"granted": True, "at": "2024-01-01T00:00:00Z", "source": "web"})
    rt = rt_of(ccloud, send_window="always")
    campaign_id = ccloud.http("POST", "/campaigns", json={
        "name": "Win-back", "template": "winback_feature_a", "segment_query": "lifecycle = former_customer"}
    ).json()["campaign_id"]
    rt.store.campaigns.set_status(campaign_id, campaigns.CampaignStatus.RUNNING, {campaigns.CampaignStatus.DRAFT},
                                  {"segments_total": 1, "segments_done": 0, "chunks_total": 0, "chunks_done": 0})
    campaigns.plan_segment(rt, campaign_id, 0, 1, ccloud.clock.now(), lambda: 900)
    # When one of them withdraws on the phone before the sender runs
    give_consent(ccloud, "leave", {"granted": False, "source": "phone"})
    ccloud.settle()
    # Then only the other one gets the e-mail, and the campaign counts the withdrawal as no consent
    sent = [str(m["To"].addresses[0].addr_spec) for m in ccloud.mail_messages if m["X-CRM-Campaign"]]
    assert sent == ["stay@example.cz"]
    progress = ccloud.http("GET", f"/campaigns/{campaign_id}").json()["progress"]
    assert progress["sent"] == 1


def test_a_withdrawal_ends_a_pending_request_so_its_link_no_longer_confirms(ccloud):
    new_contact(ccloud, "late")
    give_consent(ccloud, "late")
    [message] = doi_messages(ccloud)
    give_consent(ccloud, "late", {"granted": False, "source": "phone"})
    assert contact(ccloud, "late").get("pending_consent") is None
    stale = post(ccloud, confirm_path(message))
    assert stale.status == 410 and "už neplatí" in stale.body
    assert contact(ccloud, "late")["marketing_consent"]["granted"] is False
    assert [e["state"] for e in ledger(ccloud, "late")] == ["withdrawn", "pending"]


def test_ledger_entries_parse_as_the_domain_model(ccloud):
    new_contact(ccloud, "model")
    give_consent(ccloud, "model")
    for item in table_items(ccloud, "ConsentsTable"):
        assert ConsentEntry.model_validate(item).contact_id == "model"


def test_an_english_form_gets_an_english_email_and_a_link_to_an_old_address_no_longer_confirms(ccloud):
    new_contact(ccloud, "anna", first_name="Anna", last_name="<b>Smith</b>")
    give_consent(ccloud, "anna", FORM | {"metadata": {"locale": "en"}})
    [message] = doi_messages(ccloud)
    assert message["Subject"].startswith("Please confirm")
    assert message.get_body(("plain",)).get_content().startswith("Hello Anna <b>Smith</b>,")
    assert "Hello Anna &lt;b&gt;Smith&lt;/b&gt;," in message.get_body(("html",)).get_content()  # autoescaped
    # When the contact's e-mail changes before the link is used, the link proves nothing about the new address
    assert ccloud.http("PATCH", "/contacts/anna", json={"email": "anna.new@example.cz"}).status == 200
    stale = post(ccloud, confirm_path(message) + "?lang=en")
    assert stale.status == 410 and "no longer valid" in stale.body
    assert contact(ccloud, "anna").get("marketing_consent") is None
