"""The consent domain: state transitions of a consent, its withdrawal and the double opt-in, the confirmation-mail
block, and the signed confirmation tokens."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError

from crm_automation.adapters.secrets import Keys
from crm_automation.domain import consent
from crm_automation.domain.addresses import AddressReason, AddressRecord, AddressSuppression
from crm_automation.domain.consent import ConsentClaim, ConsentGiven, ConsentState, ExpiredToken, InvalidToken
from crm_automation.domain.models import Consent, Contact, EmailStatus, MarketingStatus

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
WEEK = timedelta(days=7)
KEY = Keys.from_secret("k" * 40).consent


def a_contact(**extra) -> Contact:
    return Contact(contact_id="c-1", first_name="Jan", last_name="Novák", email="jan@example.cz", owner="petr",
                   last_activity_at=NOW, created_at=NOW, updated_at=NOW, **extra)


def form(**extra) -> ConsentGiven:
    return ConsentGiven(**({"granted": True, "double_opt_in": True, "source": "form:kontakt", "channel": "form",
                            "at": NOW, "text_version": "v3", "metadata": {"ip": "203.0.113.7"}} | extra))


# ---------------------------------------------------------------- transitions


def test_a_double_opt_in_consent_is_pending_and_does_not_count_yet():
    recorded = consent.record(a_contact(), form(), NOW, "u1", WEEK)
    assert recorded.entry.state == ConsentState.PENDING and recorded.new_request
    assert recorded.entry.entry_id == "2026-03-02T09:00:00.000000Z#u1"
    assert recorded.entry.metadata == {"ip": "203.0.113.7"} and recorded.entry.text_version == "v3"
    assert recorded.contact.marketing_consent is None
    pending = recorded.contact.pending_consent
    assert pending.request_id == recorded.entry.request_id == "r-u1" and pending.entry_id == recorded.entry.entry_id


def test_a_second_submission_reuses_a_still_valid_request_and_a_stale_one_gets_a_new_request():
    first = consent.record(a_contact(), form(), NOW, "u1", WEEK).contact
    again = consent.record(first, form(at=NOW + timedelta(hours=1)), NOW + timedelta(hours=1), "u2", WEEK)
    assert not again.new_request and again.entry.request_id == "r-u1" and again.entry.entry_id.endswith("#u2")
    later = NOW + timedelta(days=8)
    renewed = consent.record(first, form(at=later), later, "u3", WEEK)
    assert renewed.new_request and renewed.contact.pending_consent.request_id == "r-u3"


def test_a_consent_given_by_other_means_counts_at_once_and_ends_a_pending_request():
    waiting = consent.record(a_contact(), form(), NOW, "u1", WEEK).contact
    phone = ConsentGiven(granted=True, source="phone", channel="api", at=NOW)
    recorded = consent.record(waiting, phone, NOW, "u2", WEEK)
    assert recorded.entry.state == ConsentState.GRANTED
    assert recorded.contact.marketing_consent == Consent(granted=True, at=NOW, source="phone")
    assert recorded.contact.pending_consent is None


def test_a_form_consent_when_already_granted_keeps_the_original_proof_and_sends_nothing():
    original = Consent(granted=True, at=NOW - timedelta(days=300), source="import:veletrh.csv")
    recorded = consent.record(a_contact(marketing_consent=original), form(), NOW, "u1", WEEK)
    assert recorded.entry.state == ConsentState.GRANTED and not recorded.new_request
    assert recorded.contact.marketing_consent == original and recorded.contact.pending_consent is None


def test_a_withdrawal_clears_the_consent_and_the_pending_request():
    waiting = consent.record(a_contact(), form(), NOW, "u1", WEEK).contact
    out = ConsentGiven(granted=False, source="unsubscribe-page", channel="unsubscribe", at=NOW)
    recorded = consent.record(waiting, out, NOW, "u2", WEEK)
    assert recorded.entry.state == ConsentState.WITHDRAWN and recorded.entry.request_id is None
    assert recorded.contact.marketing_consent.granted is False and recorded.contact.pending_consent is None


WITHDRAWN_AT = datetime(2026, 3, 10, 14, 0, tzinfo=UTC)
LATER = WITHDRAWN_AT + timedelta(days=1)


def withdrawn_contact(**extra) -> Contact:
    return a_contact(marketing_consent=Consent(granted=False, at=WITHDRAWN_AT, source="phone"), **extra)


@pytest.mark.parametrize("given_at", [datetime(2024, 1, 1, tzinfo=UTC), WITHDRAWN_AT])
@pytest.mark.parametrize("channel", ["import", "api"])
def test_an_older_consent_is_recorded_as_history_but_does_not_undo_a_newer_withdrawal(given_at, channel):
    old = ConsentGiven(granted=True, source=f"{channel}:old", channel=channel, at=given_at, text_version="v1")
    recorded = consent.record(withdrawn_contact(), old, LATER, "u1", WEEK)
    # the ledger keeps it (as given) but says it had no effect; the withdrawal stands
    assert recorded.entry.state == ConsentState.GRANTED and recorded.entry.effective is False
    assert recorded.entry.at == given_at and not recorded.effective
    assert recorded.superseded_by == Consent(granted=False, at=WITHDRAWN_AT, source="phone")
    assert recorded.contact.marketing_consent == Consent(granted=False, at=WITHDRAWN_AT, source="phone")


def test_an_older_double_opt_in_request_opens_no_request_after_a_withdrawal():
    recorded = consent.record(withdrawn_contact(), form(at=WITHDRAWN_AT - timedelta(hours=1)), LATER, "u1", WEEK)
    assert recorded.entry.state == ConsentState.PENDING and recorded.entry.effective is False
    assert recorded.entry.request_id is None and not recorded.new_request
    assert recorded.contact.pending_consent is None and recorded.contact.marketing_consent.granted is False


def test_a_consent_newer_than_the_withdrawal_grants_again():
    recorded = consent.record(withdrawn_contact(), ConsentGiven(granted=True, source="phone", channel="api", at=LATER),
                              LATER, "u1", WEEK)
    assert recorded.effective and recorded.entry.effective is True
    assert recorded.contact.marketing_consent == Consent(granted=True, at=LATER, source="phone")
    fresh_form = consent.record(withdrawn_contact(), form(at=LATER), LATER, "u2", WEEK)
    assert fresh_form.new_request and fresh_form.contact.pending_consent.request_id == "r-u2"


def test_a_withdrawal_applies_when_newer_or_at_the_same_time_but_an_older_one_does_not_revoke_a_consent():
    granted = a_contact(marketing_consent=Consent(granted=True, at=WITHDRAWN_AT, source="phone"))
    for at in (WITHDRAWN_AT, LATER):  # the same instant: the withdrawal wins
        out = consent.record(granted, ConsentGiven(granted=False, source="api", channel="api", at=at), LATER, "u", WEEK)
        assert out.effective and out.contact.marketing_consent.granted is False
    old = ConsentGiven(granted=False, source="crm-sync", channel="api", at=WITHDRAWN_AT - timedelta(days=30))
    stale = consent.record(granted, old, LATER, "u1", WEEK)
    assert stale.entry.state == ConsentState.WITHDRAWN and stale.entry.effective is False
    assert stale.contact.marketing_consent == granted.marketing_consent


def test_a_current_statement_without_a_time_or_for_another_purpose_does_not_supersede():
    untimed = a_contact(marketing_consent=Consent(granted=False))
    old = ConsentGiven(granted=True, source="import:x.csv", channel="import", at=datetime(2024, 1, 1, tzinfo=UTC))
    assert consent.record(untimed, old, LATER, "u1", WEEK).contact.marketing_consent.granted is True
    profiling = old.model_copy(update={"purpose": "profiling"})
    recorded = consent.record(withdrawn_contact(), profiling, LATER, "u2", WEEK)
    assert recorded.effective and recorded.contact.consents["profiling"].granted is True
    assert recorded.contact.marketing_consent.granted is False


def test_other_purposes_live_apart_from_marketing():
    given = ConsentGiven(purpose="profiling", granted=True, source="phone", channel="api", at=NOW)
    recorded = consent.record(a_contact(marketing_consent=Consent(granted=False)), given, NOW, "u1", WEEK)
    assert recorded.contact.consents["profiling"].granted is True
    assert recorded.contact.marketing_consent.granted is False


def test_confirming_grants_the_consent_lifts_an_unsubscribe_and_a_second_time_is_a_no_op():
    waiting = consent.record(a_contact(marketing_status=MarketingStatus.UNSUBSCRIBED), form(), NOW, "u1",
                             WEEK).contact
    later = NOW + timedelta(hours=2)
    result = consent.confirm(waiting, "r-u1", later, "u2", {"ip": "198.51.100.1"}, already_confirmed=False)
    assert result.outcome == "confirmed" and result.lift_unsubscribed
    assert result.contact.marketing_consent == Consent(granted=True, at=later, source="form:kontakt",
                                                       text_version="v3")
    assert result.contact.pending_consent is None
    assert result.contact.marketing_status == MarketingStatus.SUBSCRIBED
    assert result.entry.state == ConsentState.CONFIRMED and result.entry.channel == "confirmation"
    assert result.entry.metadata == {"ip": "198.51.100.1"} and result.entry.request_id == "r-u1"
    again = consent.confirm(result.contact, "r-u1", later, "u3", {}, already_confirmed=True)
    assert again.outcome == "already" and again.contact is None and again.entry is None


def test_confirming_never_lifts_do_not_contact_and_a_superseded_request_changes_nothing():
    waiting = consent.record(a_contact(marketing_status=MarketingStatus.DO_NOT_CONTACT), form(), NOW, "u1",
                             WEEK).contact
    result = consent.confirm(waiting, "r-u1", NOW, "u2", {}, already_confirmed=False)
    assert result.outcome == "confirmed" and result.contact.marketing_status == MarketingStatus.DO_NOT_CONTACT
    assert consent.confirm(waiting, "r-other", NOW, "u3", {}, already_confirmed=False).outcome == "superseded"
    moved = consent.confirm(waiting, "r-u1", NOW, "u4", {}, already_confirmed=False, address_matches=False)
    assert moved.outcome == "superseded"


@pytest.mark.parametrize("reason", [AddressReason.ERASED, AddressReason.BOUNCED, AddressReason.COMPLAINT,
                                    AddressReason.DO_NOT_CONTACT])
def test_no_confirmation_mail_to_an_address_suppressed_for_good(reason):
    record = AddressRecord(address_key="k", suppressions={reason: AddressSuppression(at=NOW, source="x")})
    assert consent.confirmation_mail_blocked(a_contact(), record) == reason.value


def test_an_unsubscribed_address_may_get_the_confirmation_mail_but_a_bounced_contact_not():
    record = AddressRecord(address_key="k", suppressions={
        AddressReason.UNSUBSCRIBED: AddressSuppression(at=NOW, source="x")})
    assert consent.confirmation_mail_blocked(a_contact(marketing_status=MarketingStatus.UNSUBSCRIBED), record) is None
    assert consent.confirmation_mail_blocked(a_contact(email_status=EmailStatus.BOUNCED), None) == "bounced"
    assert consent.confirmation_mail_blocked(a_contact(email_status=EmailStatus.COMPLAINED), None) == "complaint"


def test_consent_given_refuses_unknown_channels_fields_and_naive_times():
    with pytest.raises(ValidationError):
        ConsentGiven(granted=True, source="x", channel="fax", at=NOW)
    with pytest.raises(ValidationError):
        ConsentGiven(granted=True, source="x", channel="api", at=NOW, extra=1)
    with pytest.raises(ValidationError):
        ConsentGiven(granted=True, source="x", channel="api", at=datetime(2026, 1, 1))
    with pytest.raises(ValidationError):
        ConsentGiven(purpose="Marketing Emails!", granted=True, source="x", channel="api", at=NOW)


# ---------------------------------------------------------------- tokens


def claim(**extra) -> ConsentClaim:
    return ConsentClaim(**({"contact_id": "c-1", "request_id": "r-u1", "address_ref": "ab" * 16,
                            "expires_at": NOW + WEEK} | extra))


def test_a_token_round_trips_and_carries_no_address():
    token = consent.sign(claim(), KEY)
    assert "@" not in token and "example" not in token
    back = consent.verify(token, KEY, NOW)
    assert (back.contact_id, back.request_id, back.address_ref) == ("c-1", "r-u1", "ab" * 16)
    assert back.expires_at == NOW + WEEK


def test_an_altered_truncated_or_foreign_token_is_invalid():
    token = consent.sign(claim(), KEY)
    payload, tag = token.split(".")
    forged = consent.sign(claim(contact_id="c-2"), KEY).split(".")[0] + "." + tag
    for bad in (forged, token[:-2], payload, f"{payload}.{tag}.x", "", "a.b", token + "A",
                consent.sign(claim(), Keys.from_secret("z" * 40).consent),
                consent.sign(claim(), Keys.from_secret("k" * 40).unsubscribe)):
        with pytest.raises(InvalidToken):
            consent.verify(bad, KEY, NOW)


def test_an_authentic_token_expires():
    token = consent.sign(claim(), KEY)
    consent.verify(token, KEY, NOW + WEEK - timedelta(seconds=1))
    with pytest.raises(ExpiredToken):
        consent.verify(token, KEY, NOW + WEEK)


def test_token_fields_cannot_smuggle_the_separator():
    with pytest.raises(ValueError):
        consent.sign(claim(request_id="r|x"), KEY)
