"""Campaign decisions without AWS: send window, unsubscribe tokens, address keys, the one suppression decision
and what the sender does for each recipient."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from crm_automation.adapters.secrets import Keys
from crm_automation.domain.addresses import AddressReason, AddressRecord, AddressSuppression, CampaignSend, address_key
from crm_automation.domain.campaigns import Chunk, Outcome, Progress, decide, exclusion
from crm_automation.domain.models import Consent, EmailStatus, MarketingPause, MarketingStatus
from crm_automation.domain.send_window import parse_window
from crm_automation.domain.suppression import SuppressionReason, marketing_suppression
from crm_automation.domain.tokens import _b64, _unb64
from crm_automation.domain.unsubscribe import InvalidToken, UnsubscribeClaim, sign, verify
from tests.factories import NOW, contact

KEYS = Keys.from_secret("s" * 40)
PRAGUE_FRIDAY_1830 = datetime(2026, 6, 5, 16, 30, tzinfo=UTC)


# ---------------------------------------------------------------- send window


def test_window_is_open_on_weekday_hours_in_prague_time():
    # Given the default window
    window = parse_window("mon-fri 08:00-18:00")
    # Then Monday 1 June 2026 07:59 and 18:00 Prague (UTC+2) are outside, 08:00 and 17:59 inside
    assert not window.is_open(datetime(2026, 6, 1, 5, 59, tzinfo=UTC))
    assert window.is_open(datetime(2026, 6, 1, 6, 0, tzinfo=UTC))
    assert window.is_open(datetime(2026, 6, 1, 15, 59, tzinfo=UTC))
    assert not window.is_open(datetime(2026, 6, 1, 16, 0, tzinfo=UTC))


def test_friday_evening_waits_for_monday_morning():
    window = parse_window("mon-fri 08:00-18:00")
    assert window.next_open(PRAGUE_FRIDAY_1830) == datetime(2026, 6, 8, 6, 0, tzinfo=UTC)


def test_czech_public_holiday_is_skipped():
    # Given Tuesday 17 November 2026 (Den boje za svobodu a demokracii), after Monday's window closed
    window = parse_window("mon-fri 08:00-18:00")
    monday_evening = datetime(2026, 11, 16, 18, 0, tzinfo=UTC)  # 19:00 Prague (UTC+1)
    # Then the next opening is Wednesday 08:00 Prague
    assert not window.is_open(datetime(2026, 11, 17, 9, 0, tzinfo=UTC))
    assert window.next_open(monday_evening) == datetime(2026, 11, 18, 7, 0, tzinfo=UTC)


def test_always_and_bad_windows():
    assert parse_window("always").is_open(datetime(2026, 12, 25, 2, 0, tzinfo=UTC))
    assert parse_window("sat,sun 10:00-12:00").is_open(datetime(2026, 6, 6, 8, 30, tzinfo=UTC))
    for bad in ("weekdays 8-18", "mon-fri 18:00-08:00", "mon-xyz 08:00-18:00"):
        with pytest.raises(ValueError):
            parse_window(bad)


# ---------------------------------------------------------------- unsubscribe tokens


def test_token_round_trip_names_no_email_address():
    claim = UnsubscribeClaim("c-1", "cmp-1", address_key("jana@example.cz", KEYS.address))
    token = sign(claim, KEYS.unsubscribe)
    assert verify(token, KEYS.unsubscribe) == claim
    assert b"jana" not in _unb64(token.split(".")[0])


@pytest.mark.parametrize("tamper", ["payload", "tag", "truncate", "key", "garbage", "swap"])
def test_forged_or_altered_tokens_are_refused(tamper: str):
    claim = UnsubscribeClaim("c-1", "cmp-1", "a" * 64)
    token = sign(claim, KEYS.unsubscribe)
    payload, tag = token.split(".")
    forged = {
        "payload": f"{_b64(_unb64(payload).replace(b'c-1', b'c-2'))}.{tag}",
        "tag": f"{payload}.{tag[:-2]}AA",
        "truncate": token[:-5],
        "key": sign(claim, Keys.from_secret("x" * 40).unsubscribe),
        "garbage": "not-a-token",
        "swap": f"{tag}.{payload}",
    }[tamper]
    with pytest.raises(InvalidToken):
        verify(forged, KEYS.unsubscribe)


# ---------------------------------------------------------------- address keys


def test_address_key_is_the_same_for_every_spelling_of_one_address():
    key = address_key("jana.novakova@example.cz", KEYS.address)
    assert address_key("  Jana.Novakova@EXAMPLE.cz ", KEYS.address) == key
    assert address_key("jana.novakova+news@example.cz", KEYS.address) != key  # plus-addressing stays distinct
    assert address_key("jana.novakova@example.cz", Keys.from_secret("y" * 40).address) != key
    assert "jana" not in key and len(key) == 64


def test_a_short_secret_is_refused():
    with pytest.raises(ValueError):
        Keys.from_secret("short")


# ---------------------------------------------------------------- the one suppression decision


def _address(*reasons: AddressReason, sends: dict[str, CampaignSend] | None = None) -> AddressRecord:
    return AddressRecord(address_key="k", suppressions={r: AddressSuppression(at=NOW, source="test") for r in reasons},
                         sends=sends or {}, version=1)


@pytest.mark.parametrize(("reason", "expected"), [
    (AddressReason.ERASED, SuppressionReason.ERASED),
    (AddressReason.UNSUBSCRIBED, SuppressionReason.UNSUBSCRIBED),
    (AddressReason.DO_NOT_CONTACT, SuppressionReason.DO_NOT_CONTACT),
    (AddressReason.BOUNCED, SuppressionReason.BOUNCED),
    (AddressReason.COMPLAINT, SuppressionReason.COMPLAINT),
])
def test_address_suppressions_hold_for_a_contact_that_looks_fine(reason: AddressReason, expected: SuppressionReason):
    # Given a re-imported contact, subscribed and consenting, whose address is on the suppression list
    fresh = contact()
    assert marketing_suppression(fresh) is None
    # Then the address record decides
    assert marketing_suppression(fresh, _address(reason)) == expected


@pytest.mark.parametrize(("overrides", "expected"), [
    ({"email": None}, SuppressionReason.NO_EMAIL),
    ({"archived": True}, SuppressionReason.ARCHIVED),
    ({"marketing_status": MarketingStatus.DO_NOT_CONTACT}, SuppressionReason.DO_NOT_CONTACT),
    ({"marketing_status": MarketingStatus.UNSUBSCRIBED}, SuppressionReason.UNSUBSCRIBED),
    ({"email_status": EmailStatus.BOUNCED}, SuppressionReason.BOUNCED),
    ({"email_status": EmailStatus.COMPLAINED}, SuppressionReason.COMPLAINT),
    ({"marketing_pause": MarketingPause(reason="x", reference="e-1", since=NOW)}, SuppressionReason.MARKETING_PAUSED),
    ({"marketing_consent": None}, SuppressionReason.NO_CONSENT),
    ({"marketing_consent": Consent(granted=False)}, SuppressionReason.NO_CONSENT),
])
def test_contact_level_reasons(overrides: dict, expected: SuppressionReason):
    assert marketing_suppression(contact(**overrides), None) == expected


def test_erasure_wins_over_every_other_reason():
    assert marketing_suppression(contact(archived=True), _address(AddressReason.ERASED, AddressReason.BOUNCED)) \
        == SuppressionReason.ERASED


# ---------------------------------------------------------------- the sender's per-recipient decision


def _chunk(**overrides) -> Chunk:
    return Chunk(campaign_id="cmp-1", chunk_id="00-000000", contact_ids=["c-1"], **overrides)


def test_weekly_cap_counts_sends_of_the_last_seven_days():
    recent = {f"cmp-{i}": CampaignSend(at=NOW - timedelta(days=i + 1), chunk="x") for i in range(3)}  # 1, 2, 3 days
    old = {"cmp-old": CampaignSend(at=NOW - timedelta(days=8), chunk="x")}
    assert decide(contact(), _address(sends=recent), "cmp-new", _chunk(), NOW, weekly_cap=3).reason \
        == SuppressionReason.FREQUENCY_CAP
    assert decide(contact(), _address(sends=dict(list(recent.items())[:2]) | old), "cmp-new", _chunk(), NOW,
                  weekly_cap=3).outcome == Outcome.SEND
    assert decide(contact(), _address(sends=recent), "cmp-new", _chunk(), NOW, weekly_cap=0).outcome == Outcome.SEND
    assert exclusion(contact(), _address(sends=recent), NOW, 3) == SuppressionReason.FREQUENCY_CAP


def test_an_address_already_reserved_for_the_campaign_is_never_sent_again():
    sent_here = _address(sends={"cmp-1": CampaignSend(at=NOW, chunk="00-000000")})
    sent_elsewhere = _address(sends={"cmp-1": CampaignSend(at=NOW, chunk="01-000004")})
    # the same address through another contact or chunk: a duplicate
    assert decide(contact(), sent_elsewhere, "cmp-1", _chunk(), NOW, 3).outcome == Outcome.DUPLICATE
    # reserved by this chunk and recorded: done; reserved but not recorded (a crash): uncertain
    assert decide(contact(), sent_here, "cmp-1", _chunk(sent={"k"}), NOW, 3).outcome == Outcome.DONE
    assert decide(contact(), sent_here, "cmp-1", _chunk(), NOW, 3).outcome == Outcome.UNCERTAIN


def test_a_suppressed_recipient_is_not_sent():
    assert decide(contact(), _address(AddressReason.UNSUBSCRIBED), "cmp-1", _chunk(), NOW, 3).outcome \
        == Outcome.SUPPRESSED


def test_progress_adds_up():
    progress = Progress(audience=10, sent=4, failed=1, waiting=2, suppressed_by_reason={"unsubscribed": 2})
    assert progress.queued == 1 and progress.view()["suppressed"] == 2


# ---------------------------------------------------------------- pacing sends inside the shared rate


def test_the_pacer_asks_only_for_what_it_can_use_before_the_second_ends():
    from crm_automation.domain.campaigns import SendPacer

    pacer = SendPacer(limit=14, seconds_per_send=0.09)
    # at the start of a second, with 90 ms per send, about 11 of the 14 tokens are usable
    assert pacer.ask(100.0, remaining=50) == (100, 11)
    pacer.granted(100, 11)
    assert pacer.ask(100.5, remaining=50) is None  # a token in hand
    # never more than are left to send, nor than the rate
    assert SendPacer(limit=14, seconds_per_send=0.001).ask(100.0, remaining=3) == (100, 3)
    assert SendPacer(limit=14, seconds_per_send=0.001).ask(100.0, remaining=500) == (100, 14)


def test_a_token_is_never_used_after_its_second():
    from crm_automation.domain.campaigns import SendPacer

    pacer = SendPacer(limit=14, seconds_per_send=0.09)
    pacer.granted(100, 5)
    # late in second 100 (inside the margin) the rest of its tokens are abandoned: ask for second 101
    assert pacer.ask(100.97, remaining=10)[0] == 101
    # and in second 101 the old grant does not count
    assert pacer.ask(101.2, remaining=10)[0] == 101
    pacer.sent(0.2)
    assert pacer.seconds_per_send > 0.09  # it learns its send time


@pytest.mark.parametrize("key", ["inactivity-c-1-2026-03-02-reactivation", "deal.x:y@z_1-email", "a__b_", "č-ř"])
def test_send_keys_survive_the_trip_through_an_ses_tag(key: str):
    import re as _re

    from crm_automation.services.mail import _tag, send_key_of

    tag = _tag(key)
    assert _re.fullmatch(r"[A-Za-z0-9_-]+", tag) and send_key_of(tag) == key
