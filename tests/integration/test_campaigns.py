"""Campaigns end to end on the emulated template: preview, launch, exactly-once sends under duplicate delivery,
crashes and throttling, the send rate, the send window, pause/resume, one-click unsubscribe and SES feedback."""

from __future__ import annotations

import email
import email.policy
import random
import re
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from crm_automation.adapters.ses import Mailer
from crm_automation.domain.addresses import address_key
from crm_automation.errors import TransientError
from crm_automation.services import campaign_sender, campaigns
from crm_local import LocalCloud
from tests.integration.conftest import PUBLIC_URL, ROOT, runtime_for, table_items

MONDAY_0900 = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)  # Monday 09:00 Prague
WINBACK = 'lifecycle = former_customer and custom."Důvod ztráty" = "Chybějící funkce A"'


def _cloud(tmp_path: Path, start: datetime = MONDAY_0900, **parameters: str) -> LocalCloud:
    params = {"PublicBaseUrl": PUBLIC_URL, "SendWindow": "always", "SesMaxSendRate": "50"} | parameters
    return LocalCloud(template=str(ROOT / "template.yaml"), start=start, out_dir=tmp_path / "out", quiet=True,
                      parameters=params)


@pytest.fixture
def mcloud(tmp_path: Path) -> Iterator[LocalCloud]:
    with _cloud(tmp_path) as running:
        yield running


def former_customer(cloud: LocalCloud, key: str, email_address: str | None = None, **extra: Any) -> None:
    payload = {"contact_id": key, "first_name": "Jana", "last_name": f"Nováková {key}",
               "email": email_address or f"{key}@example.cz", "owner": "petr.svoboda", "lifecycle": "former_customer",
               "custom_fields": {"Důvod ztráty": "Chybějící funkce A"},
               "marketing_consent": {"granted": True, "at": "2024-01-01T00:00:00Z", "source": "web-form"},
               "last_activity_at": "2025-06-01T00:00:00Z", "created_at": "2023-01-01T00:00:00Z"} | extra
    response = cloud.http("POST", "/contacts", json=payload)
    assert response.status == 201, response.body


def new_campaign(cloud: LocalCloud, query: str = WINBACK, **extra: Any) -> str:
    response = cloud.http("POST", "/campaigns", json={"name": "Win-back funkce A", "template": "winback_feature_a",
                                                      "segment_query": query} | extra)
    assert response.status == 201, response.body
    return response.json()["campaign_id"]


def campaign(cloud: LocalCloud, campaign_id: str) -> dict[str, Any]:
    return cloud.http("GET", f"/campaigns/{campaign_id}").json()


def recipients(cloud: LocalCloud) -> Counter[str]:
    return Counter(str(m["To"].addresses[0].addr_spec).lower() for m in cloud.mail_messages
                   if m["X-CRM-Campaign"])


def unsubscribe_path(message: Any) -> str:
    return re.search(r"<https://crm\.example\.cz(/u/[^>]+)>", str(message["List-Unsubscribe"])).group(1)


# ---------------------------------------------------------------- preview and launch


def test_win_back_preview_then_launch_sends_one_copy_per_address_and_says_why_others_were_left_out(mcloud):
    # Given former customers who left for lack of feature A, some of whom must not be e-mailed
    for i in range(6):
        former_customer(mcloud, f"ok{i}")
    # the same address as ok0 on another contact (a CRM with duplicates: the API refuses them, old imports did not)
    rt = runtime_for(mcloud)
    twin = rt.store.contacts.get("ok0").model_copy(update={"contact_id": "dup", "email": "OK0@Example.cz",
                                                             "version": 0})
    rt.store.contacts.save(twin, new=True)
    former_customer(mcloud, "noconsent", marketing_consent=None)
    former_customer(mcloud, "unsub", marketing_status="unsubscribed")
    former_customer(mcloud, "dnc", marketing_status="do_not_contact")
    former_customer(mcloud, "erased", "returned@example.cz")  # re-imported from a purchased list
    former_customer(mcloud, "customer", lifecycle="customer")  # not in the segment
    imported = mcloud.http("POST", "/suppressions", json={
        "entries": [{"email": "Returned@Example.cz ", "reason": "erased"}, {"email": "not an address", "reason": "erased"}],
        "source": "gdpr-erasures-2025"})
    assert imported.json()["added"] == 1 and imported.json()["invalid"][0]["index"] == 1
    campaign_id = new_campaign(mcloud)

    # When marketing previews it
    preview = mcloud.http("POST", f"/campaigns/{campaign_id}/preview", json={"samples": 2}).json()

    # Then it shows the audience, who is left out and why, and real rendered e-mails; nothing was sent
    assert preview["audience"] == 11 and preview["eligible"] == 6
    assert preview["excluded"] == {"no_consent": 1, "unsubscribed": 1, "do_not_contact": 1, "erased": 1,
                                   "duplicate": 1}
    sample = preview["samples"][0]
    assert sample["subject"] == "Funkce A, která vám u nás chyběla, je tady"
    assert sample["text"].startswith("Dobrý den, paní Nováková") or sample["text"].startswith("Dobrý den,")
    assert f"{PUBLIC_URL}/u/" in sample["text"] and sample["headers"]["List-Unsubscribe-Post"] == \
        "List-Unsubscribe=One-Click"
    assert recipients(mcloud) == Counter()

    # When it is launched
    launched = mcloud.http("POST", f"/campaigns/{campaign_id}/launch")
    assert launched.status == 202

    # Then every eligible address got exactly one e-mail, and the counts add up
    assert recipients(mcloud) == Counter({f"ok{i}@example.cz": 1 for i in range(6)})
    done = campaign(mcloud, campaign_id)
    assert done["status"] == "completed"
    assert done["progress"] | {"suppressed_by_reason": None} == done["progress"] | {
        "audience": 11, "sent": 6, "failed": 0, "waiting": 0, "queued": 0, "suppressed": 5,
        "suppressed_by_reason": None}
    # And each message is a real MIME e-mail with RFC 8058 headers and a visible unsubscribe link
    path = next(p for p in mcloud.mail_files if "ok1" in p.name)
    message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert message.get_body(("html",)).get_content().count(unsubscribe_path(message)) == 1
    assert message["Subject"] == "Funkce A, která vám u nás chyběla, je tady"


def test_a_campaign_needs_a_valid_segment_and_template(mcloud):
    bad_query = mcloud.http("POST", "/campaigns", json={"name": "x", "template": "winback_feature_a",
                                                        "segment_query": "lifecycel = customer"})
    assert bad_query.status == 400 and "lifecycel" in bad_query.json()["message"]
    bad_template = mcloud.http("POST", "/campaigns", json={"name": "x", "template": "nope", "segment_query": "tag x"})
    assert bad_template.status == 400
    both = mcloud.http("POST", "/campaigns", json={"name": "x", "template": "newsletter", "segment_query": "tag x",
                                                   "segment": {"field": "tag", "op": "has", "value": "x"}})
    assert both.status == 422
    assert table_items(mcloud, "CampaignsTable") == []


# ---------------------------------------------------------------- exactly once


def _planned(cloud: LocalCloud, n: int) -> tuple[Any, str]:
    """n eligible contacts and a running campaign whose chunks are planned and queued (not yet sent)."""
    for i in range(n):
        former_customer(cloud, f"r{i:03d}")
    campaign_id = new_campaign(cloud)
    rt = runtime_for(cloud, send_window="always", campaign_chunk_size=7)
    rt.store.campaigns.set_status(campaign_id, campaigns.CampaignStatus.RUNNING, {campaigns.CampaignStatus.DRAFT},
                                  {"segments_total": 1, "segments_done": 0, "chunks_total": 0, "chunks_done": 0})
    campaigns.plan_segment(rt, campaign_id, 0, 1, cloud.clock.now(), lambda: 900)
    return rt, campaign_id


def test_every_chunk_message_delivered_twice_sends_nothing_twice(mcloud):
    # Given a planned campaign whose chunk messages are all queued a second time
    rt, campaign_id = _planned(mcloud, 20)
    chunks = [c.chunk_id for c in rt.store.campaigns.chunks(campaign_id, {campaigns.ChunkState.QUEUED})]
    rt.send_queue.send_all({"campaign_id": campaign_id, "chunk_id": c} for c in chunks)
    # When the sender works through the queue
    mcloud.settle()
    # Then each recipient got one e-mail, and a third delivery after completion changes nothing
    assert recipients(mcloud) == Counter({f"r{i:03d}@example.cz": 1 for i in range(20)})
    rt.send_queue.send_all({"campaign_id": campaign_id, "chunk_id": c} for c in chunks)
    mcloud.settle()
    assert sum(recipients(mcloud).values()) == 20
    assert campaign(mcloud, campaign_id)["progress"]["sent"] == 20
    assert campaign(mcloud, campaign_id)["status"] == "completed"


@pytest.mark.parametrize("die", ["after sending, before recording", "after reserving, before sending"])
def test_a_sender_killed_half_way_neither_duplicates_nor_skips(mcloud, monkeypatch, die):
    # Given a sender that dies half-way through its first chunk
    rt, campaign_id = _planned(mcloud, 14)
    real_record, real_send = campaign_sender._Work.record, campaign_sender._Work.send
    state = {"killed": False, "sends": 0}

    def record(self, sent, *args, **kwargs):
        if die.startswith("after sending") and sent and not state["killed"]:
            state["killed"] = True
            raise RuntimeError("Lambda timed out")  # the sends went out; their record did not
        return real_record(self, sent, *args, **kwargs)

    def send(self, cid, *args):
        state["sends"] += 1
        if die.startswith("after reserving") and state["sends"] == 4 and not state["killed"]:
            state["killed"] = True
            raise RuntimeError("Lambda timed out")  # reservations written, three sent, the rest never
        return real_send(self, cid, *args)

    monkeypatch.setattr(campaign_sender._Work, "record", record)
    monkeypatch.setattr(campaign_sender._Work, "send", send)
    mcloud.settle()
    assert state["killed"]
    # When the lease runs out and the timer sweep queues the chunk again (past the reconcile window too)
    mcloud.advance(timedelta(minutes=20))
    mcloud.advance(timedelta(minutes=20))
    # Then everybody has exactly one copy
    assert recipients(mcloud) == Counter({f"r{i:03d}@example.cz": 1 for i in range(14)})
    progress = campaign(mcloud, campaign_id)["progress"]
    assert progress["sent"] == 14 and progress["queued"] == 0
    assert campaign(mcloud, campaign_id)["status"] == "completed"


def test_with_a_fifth_of_ses_calls_throttled_everyone_gets_exactly_one(mcloud, monkeypatch):
    # Given SES throttling 20 % of the calls (a throttled call sends nothing)
    rt, campaign_id = _planned(mcloud, 30)
    dice = random.Random(7)
    real = Mailer._call
    throttled = Counter()

    def flaky(self, request, tags=None):
        if dice.random() < 0.2:
            throttled["n"] += 1
            raise TransientError("TooManyRequestsException")
        return real(self, request, tags)

    monkeypatch.setattr(Mailer, "_call", flaky)
    # When the campaign is sent
    mcloud.settle()
    # Then nobody was skipped and nobody got two
    assert throttled["n"] >= 4
    assert recipients(mcloud) == Counter({f"r{i:03d}@example.cz": 1 for i in range(30)})
    assert campaign(mcloud, campaign_id)["status"] == "completed"


def test_the_send_rate_is_never_exceeded(tmp_path, monkeypatch):
    # Given an SES account allowing 4 messages per second
    with _cloud(tmp_path, SesMaxSendRate="4") as cloud:
        rt, campaign_id = _planned(cloud, 25)
        seconds: Counter[int] = Counter()
        real = Mailer._call

        def timed(self, request, tags=None):
            seconds[int(cloud.clock.now().timestamp())] += 1
            return real(self, request, tags)

        monkeypatch.setattr(Mailer, "_call", timed)
        # When the campaign is sent (the limiter waits on the clock)
        cloud.settle()
        # Then no second saw more than 4 sends, and the 25 took at least 6 seconds
        assert sum(seconds.values()) == 25
        assert max(seconds.values()) <= 4
        assert max(seconds) - min(seconds) >= 6


# ---------------------------------------------------------------- window, pause, schedule


def test_outside_the_send_window_recipients_wait_for_monday_morning(tmp_path):
    friday_1830 = datetime(2026, 3, 6, 17, 30, tzinfo=UTC)  # Friday 18:30 Prague
    with _cloud(tmp_path, start=friday_1830, SendWindow="mon-fri 08:00-18:00") as cloud:
        for i in range(5):
            former_customer(cloud, f"w{i}")
        campaign_id = new_campaign(cloud)
        # When launched on Friday evening
        cloud.http("POST", f"/campaigns/{campaign_id}/launch")
        # Then nothing goes and everybody is waiting
        running = campaign(cloud, campaign_id)
        assert recipients(cloud) == Counter() and running["progress"]["waiting"] == 5
        assert running["status"] == "running"
        # And on Saturday still nothing; on Monday 08:00 Prague (07:00 UTC) they go
        cloud.advance(datetime(2026, 3, 7, 12, 0, tzinfo=UTC))
        assert recipients(cloud) == Counter()
        cloud.advance(datetime(2026, 3, 9, 7, 15, tzinfo=UTC))
        assert sum(recipients(cloud).values()) == 5
        sent = [m for m in cloud.mail_messages if m["X-CRM-Campaign"]]
        assert all(email.utils.parsedate_to_datetime(m["Date"]) >= datetime(2026, 3, 9, 7, 0, tzinfo=UTC)
                   for m in sent)
        assert campaign(cloud, campaign_id)["progress"]["waiting"] == 0


def test_pause_holds_the_rest_and_resume_finishes_it(mcloud):
    rt, campaign_id = _planned(mcloud, 21)  # three chunks of 7
    # When the campaign is paused before the sender runs
    assert mcloud.http("POST", f"/campaigns/{campaign_id}/pause").json()["status"] == "paused"
    # Then nothing goes and all wait
    assert recipients(mcloud) == Counter()
    assert campaign(mcloud, campaign_id)["progress"]["waiting"] == 21
    # When resumed
    resumed = mcloud.http("POST", f"/campaigns/{campaign_id}/resume")
    assert resumed.status == 200
    # Then all are sent once and the campaign completes
    assert recipients(mcloud) == Counter({f"r{i:03d}@example.cz": 1 for i in range(21)})
    assert campaign(mcloud, campaign_id)["status"] == "completed"
    assert mcloud.http("POST", f"/campaigns/{campaign_id}/resume").status == 400  # completed


def test_a_scheduled_campaign_goes_at_its_send_time(mcloud):
    for i in range(3):
        former_customer(mcloud, f"s{i}")
    send_at = MONDAY_0900 + timedelta(hours=3)
    campaign_id = new_campaign(mcloud, send_at=send_at.isoformat())
    assert mcloud.http("POST", f"/campaigns/{campaign_id}/launch").json()["status"] == "scheduled"
    mcloud.advance(timedelta(hours=2, minutes=50))
    assert recipients(mcloud) == Counter()
    mcloud.advance(timedelta(minutes=20))
    assert sum(recipients(mcloud).values()) == 3 and campaign(mcloud, campaign_id)["status"] == "completed"


# ---------------------------------------------------------------- unsubscribe


def test_one_click_unsubscribe_is_honoured_at_once_and_forged_tokens_are_refused(mcloud):
    former_customer(mcloud, "u1")
    former_customer(mcloud, "u2")
    first = new_campaign(mcloud)
    mcloud.http("POST", f"/campaigns/{first}/launch")
    message = next(m for m in mcloud.mail_messages if str(m["To"].addresses[0].addr_spec) == "u1@example.cz")
    path = unsubscribe_path(message)

    # A GET (a link scanner, or the recipient opening the link) only shows the page
    page = mcloud.http("GET", path, token=None)
    assert page.status == 200 and "Odhlásit odběr" in page.body
    english = mcloud.http("GET", f"{path}?lang=en", token=None)
    assert "Unsubscribe" in english.body
    assert campaign(mcloud, first)["progress"]["unsubscribed"] == 0

    # A forged or altered token is refused and changes nothing
    forged = mcloud.http("POST", path[:-3] + "AAA", body="List-Unsubscribe=One-Click", token=None,
                         headers={"content-type": "application/x-www-form-urlencoded"})
    assert forged.status == 400
    assert mcloud.http("GET", "/contacts/u1").json()["contact"]["marketing_status"] == "subscribed"

    # The mail client's one-click POST (RFC 8058) unsubscribes at once; a second one is harmless
    done = mcloud.http("POST", path, body="List-Unsubscribe=One-Click", token=None,
                       headers={"content-type": "application/x-www-form-urlencoded"})
    assert done.status == 200 and "jste odhlášeni" in done.body
    again = mcloud.http("POST", path, body="List-Unsubscribe=One-Click", token=None,
                        headers={"content-type": "application/x-www-form-urlencoded"})
    assert again.status == 200 and "už dříve" in again.body
    assert mcloud.http("GET", "/contacts/u1").json()["contact"]["marketing_status"] == "unsubscribed"
    assert campaign(mcloud, first)["progress"]["unsubscribed"] == 1

    # And the next campaign leaves the address out
    second = new_campaign(mcloud)
    preview = mcloud.http("POST", f"/campaigns/{second}/preview", json={"samples": 0}).json()
    assert preview["excluded"] == {"unsubscribed": 1} and preview["eligible"] == 1


# ---------------------------------------------------------------- SES feedback


def test_bounces_complaints_opens_and_clicks_come_back_from_ses(mcloud):
    former_customer(mcloud, "reader")
    former_customer(mcloud, "bouncer", "bounce@simulator.amazonses.com")
    former_customer(mcloud, "complainer", "complaint@simulator.amazonses.com")
    campaign_id = new_campaign(mcloud)
    mcloud.http("POST", f"/campaigns/{campaign_id}/launch")
    rt = runtime_for(mcloud)

    # The simulator's bounce and complaint suppress those addresses and mark the contacts
    bouncer = mcloud.http("GET", "/contacts/bouncer").json()["contact"]
    complainer = mcloud.http("GET", "/contacts/complainer").json()["contact"]
    assert bouncer["email_status"] == "bounced" and complainer["email_status"] == "complained"
    for address, reason in (("bounce@simulator.amazonses.com", "bounced"),
                            ("complaint@simulator.amazonses.com", "complaint")):
        record = rt.store.addresses.get(address_key(address, rt.keys.address))
        assert reason in record.suppressions

    # The reader opens the e-mail and clicks: activities, and the contact counts as active again
    message_id = mcloud.message_ids_for("reader@example.cz")[0]
    opened = mcloud.ses_event(message_id, "Open")
    mcloud.ses_event(message_id, "Click", link="https://example.cz/funkce-a")
    reader = mcloud.http("GET", "/contacts/reader").json()
    kinds = Counter(a["kind"] for a in reader["activities"])
    assert kinds["open"] == 1 and kinds["click"] == 1
    assert reader["contact"]["last_activity_at"].startswith(MONDAY_0900.strftime("%Y-%m-%d"))

    # SNS/SQS deliver an event twice: counted once
    import json as _json
    rt.send_queue.__class__(mcloud.ref("SesEventsQueue"), client=mcloud.client("sqs")).send_all(
        [{"Type": "Notification", "MessageId": "dup", "Message": _json.dumps(opened)}])
    mcloud.settle()
    progress = campaign(mcloud, campaign_id)["progress"]
    assert progress["opens"] == 1 and progress["clicks"] == 1
    assert progress["bounced"] == 1 and progress["complaints"] == 1
    assert progress["sent"] == 3


def test_an_opt_out_in_the_crm_holds_for_every_contact_with_that_address(mcloud):
    # Given a contact marked "Nezasílat marketing" by a salesperson
    former_customer(mcloud, "opt")
    assert mcloud.http("PATCH", "/contacts/opt", json={"marketing_status": "do_not_contact"}).status == 200
    # And the same person again under another contact (an old import), looking perfectly subscribed
    rt = runtime_for(mcloud)
    twin = rt.store.contacts.get("opt").model_copy(update={
        "contact_id": "opt-twin", "email": "Opt@Example.cz", "marketing_status": "subscribed", "version": 0})
    rt.store.contacts.save(twin, new=True)
    # Then a campaign leaves both out: the address carries the opt-out
    campaign_id = new_campaign(mcloud)
    preview = mcloud.http("POST", f"/campaigns/{campaign_id}/preview", json={"samples": 0}).json()
    assert preview["eligible"] == 0 and preview["excluded"] == {"do_not_contact": 2}
    mcloud.http("POST", f"/campaigns/{campaign_id}/launch")
    assert recipients(mcloud) == Counter()


@pytest.mark.parametrize("batch_size", [1, 2, 49])
def test_two_contacts_with_one_address_in_one_chunk_get_one_copy(mcloud, batch_size):
    # Given three contacts, two of them with the same address (differently written), all in one chunk
    for key in ("d1", "d2"):
        former_customer(mcloud, key)
    rt = runtime_for(mcloud, send_window="always", send_batch_size=batch_size)
    twin = rt.store.contacts.get("d1").model_copy(update={"contact_id": "d1-twin", "email": " D1@example.cz",
                                                           "version": 0})
    rt.store.contacts.save(twin, new=True)
    campaign_id = new_campaign(mcloud)
    rt.store.campaigns.set_status(campaign_id, campaigns.CampaignStatus.RUNNING, {campaigns.CampaignStatus.DRAFT},
                                  {"segments_total": 1, "segments_done": 0, "chunks_total": 0, "chunks_done": 0})
    campaigns.plan_segment(rt, campaign_id, 0, 1, mcloud.clock.now(), lambda: 900)
    [chunk] = list(rt.store.campaigns.chunks(campaign_id, {campaigns.ChunkState.QUEUED}))
    assert {"d1", "d1-twin", "d2"} <= set(chunk.contact_ids)
    # When the chunk is sent (and its message delivered again)
    campaign_sender.send_chunk(rt, campaign_id, chunk.chunk_id, mcloud.clock.now())
    campaign_sender.send_chunk(rt, campaign_id, chunk.chunk_id, mcloud.clock.now())
    # Then the address got one copy, the twin counts as a duplicate, and the campaign completes
    assert recipients(mcloud) == Counter({"d1@example.cz": 1, "d2@example.cz": 1})
    done = rt.store.campaigns.get(campaign_id)
    assert done.progress.sent == 2 and done.progress.suppressed_by_reason == {"duplicate": 1}
    assert done.status == campaigns.CampaignStatus.COMPLETED


def test_a_bounce_logged_in_the_crm_suppresses_the_address_for_every_contact(mcloud):
    # Given a contact whose e-mail bounced, as the CRM records it (a bounce activity)
    former_customer(mcloud, "b1")
    rt = runtime_for(mcloud)
    twin = rt.store.contacts.get("b1").model_copy(update={"contact_id": "b1-twin", "version": 0})
    rt.store.transact([rt.store.contacts.save_op(twin.model_copy(update={"email": "B1@example.cz"}), new=True)])
    assert mcloud.http("POST", "/activities", json={
        "activity_id": "bounce-1", "contact_id": "b1", "kind": "bounce",
        "occurred_at": MONDAY_0900.isoformat()}).status == 201
    # Then the address record holds the bounce, and a campaign leaves the twin out too
    assert "bounced" in rt.store.addresses.get(address_key("b1@example.cz", rt.keys.address)).suppressions
    campaign_id = new_campaign(mcloud)
    preview = mcloud.http("POST", f"/campaigns/{campaign_id}/preview", json={"samples": 0}).json()
    assert preview["eligible"] == 0 and preview["excluded"] == {"bounced": 2}
