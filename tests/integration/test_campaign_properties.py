"""Property-based: over random contacts, address suppressions, prior sends and campaigns, the real planner and
sender (on the emulated tables and SES) never e-mail a suppressed address, never send an address two copies of one
campaign, and skip nobody who may be e-mailed.

The expected audience is computed here from the rules as the product brief states them, not with the product's
own suppression function."""

from __future__ import annotations

import uuid
from email.utils import parseaddr
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from crm_automation.adapters.ses import Mailer
from crm_automation.domain.addresses import AddressReason, AddressRecord, AddressSuppression, CampaignSend, address_key
from crm_automation.domain.campaigns import CampaignStatus, ChunkState
from crm_automation.domain.models import Consent, Contact, EmailStatus, Lifecycle, MarketingPause, MarketingStatus
from crm_automation.services import campaign_sender, campaigns
from crm_automation.services.suppressions import write_through_ops
from crm_local import LocalCloud
from tests.integration.conftest import PUBLIC_URL, ROOT, runtime_for

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
CAP = 3
POOL = 5  # addresses per example: contacts share them (duplicates in the CRM)


class RecordingMailer(Mailer):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.sent: list[tuple[str, str]] = []  # (campaign id, recipient)

    def send_simple(self, mail: Any, tags: dict[str, str] | None = None) -> str:
        message_id = super().send_simple(mail, tags)
        self.sent.append((mail.headers["X-CRM-Campaign"], parseaddr(mail.to)[1].lower()))
        return message_id


class ListQueue:
    def __init__(self) -> None:
        self.messages: list[dict[str, Any]] = []

    def send_all(self, bodies: Any) -> int:
        batch = list(bodies)
        self.messages += batch
        return len(batch)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LocalCloud, Any]]:
    with LocalCloud(template=str(ROOT / "template.yaml"), start=NOW, quiet=True,
                    out_dir=tmp_path_factory.mktemp("props"),
                    parameters={"PublicBaseUrl": PUBLIC_URL, "SendWindow": "always"}) as cloud:
        rt = runtime_for(cloud, send_window="always", marketing_weekly_cap=CAP, campaign_chunk_size=4,
                         ses_max_send_rate=10_000, send_batch_size=3)
        rt.__dict__["mailer"] = RecordingMailer(rt.settings.ses_configuration_set, client=cloud.client("sesv2"))
        rt.__dict__["send_queue"] = ListQueue()
        rt.__dict__["plan_queue"] = ListQueue()
        yield cloud, rt


contact_st = st.fixed_dictionaries({
    "address": st.one_of(st.none(), st.integers(0, POOL - 1)),
    "shout": st.booleans(),  # the same address in capitals
    "archived": st.booleans(),
    "marketing_status": st.sampled_from(list(MarketingStatus)),
    "email_status": st.sampled_from(list(EmailStatus)),
    "paused": st.booleans(),
    "consent": st.sampled_from(["granted", "withdrawn", "none"]),
})
address_st = st.fixed_dictionaries({
    "reasons": st.sets(st.sampled_from(list(AddressReason)), max_size=2),
    "recent_sends": st.integers(0, CAP),
})


@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(people=st.lists(contact_st, min_size=1, max_size=10),
       addresses=st.lists(address_st, min_size=POOL, max_size=POOL),
       campaigns_run=st.integers(1, 2))
def test_no_email_to_a_suppressed_address_and_one_to_everyone_else(world, people, addresses, campaigns_run):
    cloud, rt = world
    ns = uuid.uuid4().hex[:8]
    pool = [f"p{i}-{ns}@example.cz" for i in range(POOL)]

    # Given the address records (suppressions, marketing e-mails already received this week)
    ops = []
    for email, spec in zip(pool, addresses):
        key = address_key(email, rt.keys.address)
        ops.append(rt.store.addresses.save_op(AddressRecord(
            address_key=key, suppressions={r: AddressSuppression(at=NOW, source="test") for r in spec["reasons"]},
            sends={f"old-{i}": CampaignSend(at=NOW - timedelta(days=1 + i), chunk="x")
                   for i in range(spec["recent_sends"])})))
    rt.store.transact(ops)
    # And the contacts, saved the way the CRM saves them (opt-outs and bounces mark the address too)
    contacts = []
    for i, spec in enumerate(people):
        email = None if spec["address"] is None else pool[spec["address"]]
        contact = Contact(
            contact_id=f"{ns}-{i}", last_name=f"Test {i}", owner="petr.svoboda", tags=[ns],
            email=email.upper() if email and spec["shout"] else email, lifecycle=Lifecycle.CUSTOMER,
            archived=spec["archived"], marketing_status=spec["marketing_status"], email_status=spec["email_status"],
            marketing_pause=MarketingPause(reason="x", reference="e", since=NOW) if spec["paused"] else None,
            marketing_consent=None if spec["consent"] == "none" else Consent(granted=spec["consent"] == "granted"),
            last_activity_at=NOW - timedelta(days=10), created_at=NOW, updated_at=NOW)
        rt.store.transact([rt.store.contacts.save_op(contact, new=True), *write_through_ops(rt, None, contact, NOW)])
        contacts.append((contact, spec))

    # The rules, straight from the brief: an address is out if it is on the suppression list or any contact with it
    # opted out, is "Nezasílat marketing", bounced or complained; a contact is out if archived, paused or without
    # consent; at most CAP marketing e-mails per address per week; one copy per address and campaign
    blocked = {pool[i] for i, spec in enumerate(addresses) if spec["reasons"]}
    for contact, spec in contacts:
        if contact.email and (spec["marketing_status"] != MarketingStatus.SUBSCRIBED
                              or spec["email_status"] != EmailStatus.OK):
            blocked.add(contact.email.lower())
    reachable = {contact.email.lower() for contact, spec in contacts
                 if contact.email and not spec["archived"] and not spec["paused"] and spec["consent"] == "granted"}
    received = Counter({pool[i]: spec["recent_sends"] for i, spec in enumerate(addresses)})

    for round_ in range(campaigns_run):
        # When a campaign to everybody in this example is planned and sent
        created = campaigns.create(rt, campaigns.CampaignIn(name=f"P {ns} {round_}", template="newsletter",
                                                            segment_query=f'tag "{ns}"'), NOW, None)
        cid = created.campaign_id
        rt.store.campaigns.set_status(cid, CampaignStatus.RUNNING, {CampaignStatus.DRAFT},
                                      {"segments_total": 1, "segments_done": 0, "chunks_total": 0, "chunks_done": 0})
        campaigns.plan_segment(rt, cid, 0, 1, NOW, lambda: 900)
        for chunk in list(rt.store.campaigns.chunks(cid, {ChunkState.QUEUED})):
            campaign_sender.send_chunk(rt, cid, chunk.chunk_id, NOW)
            campaign_sender.send_chunk(rt, cid, chunk.chunk_id, NOW)  # delivered twice

        # Then exactly the addresses the rules allow got exactly one copy
        sent = Counter(to for campaign_id, to in rt.mailer.sent if campaign_id == cid)
        expected = {a for a in reachable - blocked if received[a] < CAP}
        assert sent == Counter({a: 1 for a in expected})
        assert not set(sent) & blocked
        received.update(sent.keys())
        assert rt.store.campaigns.get(cid).status == CampaignStatus.COMPLETED
