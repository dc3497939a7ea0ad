"""Archive, erasure (GDPR Art. 17) and export (Art. 15) on the emulated template."""

from __future__ import annotations

import email
import email.policy
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import boto3
import pytest

from crm_automation.domain.addresses import AddressReason, address_key
from botocore.exceptions import ClientError

from crm_automation.domain.models import Activity, ActivityKind, Contact
from crm_automation.errors import TransientError
from crm_automation.domain.suppression import SuppressionReason, marketing_suppression
from crm_automation.services import privacy
from crm_local import LocalCloud
from tests.integration.conftest import PUBLIC_URL, ROOT, add_contact, runtime_for, table_items

MONDAY_0900 = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)  # Monday 09:00 Prague
OWNER = "petr.svoboda"


@pytest.fixture
def pcloud(tmp_path: Path) -> Iterator[LocalCloud]:
    params = {"PublicBaseUrl": PUBLIC_URL, "SendWindow": "always", "SesMaxSendRate": "50"}
    with LocalCloud(template=str(ROOT / "template.yaml"), start=MONDAY_0900, out_dir=tmp_path / "out", quiet=True,
                    parameters=params) as running:
        yield running


def rt_of(cloud: LocalCloud):
    return runtime_for(cloud, consents_table=cloud.physical_name("ConsentsTable"))


def post(cloud: LocalCloud, path: str, body: dict[str, Any] | None = None, status: int = 200) -> dict[str, Any]:
    response = cloud.http("POST", path, json=body if body is not None else {})
    assert response.status == status, response.body
    return response.json()


def contact_item(cloud: LocalCloud, contact_id: str) -> dict[str, Any]:
    return next(i for i in table_items(cloud, "ContactsTable") if i["contact_id"] == contact_id)


def new_deal(cloud: LocalCloud, contact_id: str, deal_id: str, **extra: Any) -> None:
    payload = {"deal_id": deal_id, "contact_id": contact_id, "title": f"Zakázka {deal_id}", "value": "120000"} | extra
    response = cloud.http("POST", "/deals", json=payload)
    assert response.status == 201, response.body


# ---------------------------------------------------------------- archive


def test_archived_contact_leaves_the_inactivity_scan_and_keeps_its_history(pcloud):
    # Given two contacts quiet for 200 days, one with a call in its history
    add_contact(pcloud, "arch", 200)
    add_contact(pcloud, "keep", 200)
    pcloud.http("POST", "/activities", json={"activity_id": "old-call", "contact_id": "arch", "kind": "call",
                                             "occurred_at": (MONDAY_0900 - timedelta(days=300)).isoformat()})
    assert "ia_shard" in contact_item(pcloud, "arch")
    # When one is archived with a reason
    archived = post(pcloud, "/contacts/arch/archive", {"reason": "Firma zanikla"})
    # Then it is archived, out of the InactivityDue index, and the daily scan enrols only the other
    assert archived["archived"] is True and archived["archive_reason"] == "Firma zanikla"
    assert archived["archived_at"].startswith("2026-03-02")
    assert "ia_shard" not in contact_item(pcloud, "arch")
    pcloud.fire("InactivityScanFunction", "Daily")
    tasks = {t["contact_id"] for t in table_items(pcloud, "TasksTable")}
    assert tasks == {"keep"}
    # and its history is kept
    view = pcloud.http("GET", "/contacts/arch").json()
    assert [a["activity_id"] for a in view["activities"]] == ["old-call"]
    # archiving again is a no-op; unarchiving makes it a scan candidate again
    assert post(pcloud, "/contacts/arch/archive", {})["version"] == archived["version"]
    back = post(pcloud, "/contacts/arch/unarchive")
    assert back["archived"] is False and back.get("archived_at") is None
    assert "ia_shard" in contact_item(pcloud, "arch")


def test_a_pending_inactivity_follow_up_skips_a_contact_archived_during_the_wait(pcloud):
    # Given a contact enrolled in the inactivity flow (its follow-up timer pending)
    add_contact(pcloud, "sleepy", 200)
    pcloud.fire("InactivityScanFunction", "Daily")
    assert contact_item(pcloud, "sleepy")["inactivity"]["state"] == "waiting"
    # When it is archived and the follow-up comes due
    post(pcloud, "/contacts/sleepy/archive", {"reason": "duplicitní"})
    pcloud.advance(timedelta(days=31), rate_resolution=timedelta(hours=6))
    # Then no e-mail went, the flow ended as "archived" and the timer fired (nothing is left pending)
    assert pcloud.mail_messages == []
    item = contact_item(pcloud, "sleepy")
    assert item["inactivity"]["state"] == "followed_up" and item["inactivity"]["outcome"] == "archived"
    timers = [i for i in table_items(pcloud, "FlowsTable") if i["pk"].startswith("TIMER#")]
    assert [t["state"] for t in timers] == ["fired"]


def test_archiving_takes_the_deals_out_of_the_dead_deal_reactivation(pcloud):
    # Given a contact with an open deal silent for 100 days and another one already in the reactivation wait
    add_contact(pcloud, "dealer", 100)
    quiet = (MONDAY_0900 - timedelta(days=100)).isoformat()
    new_deal(pcloud, "dealer", "d-quiet", last_activity_at=quiet, created_at=quiet)
    new_deal(pcloud, "dealer", "d-flow", last_activity_at=quiet, created_at=quiet)
    rt = rt_of(pcloud)
    from crm_automation.services import deal_reactivation

    assert deal_reactivation.enrol(rt, rt.store.deals.get("d-flow"), "stale", MONDAY_0900) == "enrolled"
    deals = {d["deal_id"]: d for d in table_items(pcloud, "DealsTable")}
    assert "rd_shard" in deals["d-quiet"] and deals["d-flow"]["reactivation"]["state"] == "sending"
    # When the contact is archived
    post(pcloud, "/contacts/dealer/archive", {"reason": "odchod ke konkurenci"})
    # Then both deals are marked, leave the ReactivationDue index, the flow in progress ends and its timer is cancelled
    deals = {d["deal_id"]: d for d in table_items(pcloud, "DealsTable")}
    assert {d["contact_status"] for d in deals.values()} == {"archived"}
    assert "rd_shard" not in deals["d-quiet"]
    assert deals["d-flow"]["reactivation"]["state"] == "ended"
    assert deals["d-flow"]["reactivation"]["outcome"] == "contact_archived"
    timer = next(i for i in table_items(pcloud, "FlowsTable") if i["pk"].startswith("TIMER#send-"))
    assert timer["state"] == "cancelled" and "timer_shard" not in timer
    # and the daily deal scan and the sweep do nothing for them: no e-mail, no task
    pcloud.advance(timedelta(days=1), rate_resolution=timedelta(hours=1))
    assert pcloud.mail_messages == [] and table_items(pcloud, "TasksTable") == []
    # a deal created for the archived contact is not a scan candidate either
    new_deal(pcloud, "dealer", "d-new", last_activity_at=quiet, created_at=quiet)
    item = next(d for d in table_items(pcloud, "DealsTable") if d["deal_id"] == "d-new")
    assert item["contact_status"] == "archived" and "rd_shard" not in item
    # unarchiving puts the open deals back into the scan
    post(pcloud, "/contacts/dealer/unarchive")
    deals = {d["deal_id"]: d for d in table_items(pcloud, "DealsTable")}
    assert {d["contact_status"] for d in deals.values()} == {"active"} and "rd_shard" in deals["d-quiet"]


def test_an_archived_contact_gets_no_campaign_e_mail(pcloud):
    # Given two former customers with consent, one archived
    for key in ("camp-a", "camp-b"):
        add_contact(pcloud, key, 10, lifecycle="former_customer")
    post(pcloud, "/contacts/camp-a/archive", {"reason": "neplatná firma"})
    # When a campaign to former customers runs
    created = post(pcloud, "/campaigns", {"name": "Návrat", "template": "winback_feature_a",
                                          "segment_query": "lifecycle = former_customer"}, status=201)
    post(pcloud, f"/campaigns/{created['campaign_id']}/launch", status=202)
    # Then only the other one got it; the archived one is counted as suppressed "archived"
    to = [str(m["To"].addresses[0].addr_spec) for m in pcloud.mail_messages]
    assert to == ["camp-b@example.cz"]
    progress = pcloud.http("GET", f"/campaigns/{created['campaign_id']}").json()["progress"]
    assert progress["suppressed_by_reason"] == {"archived": 1}


def test_bulk_archive_by_segment_pages_with_a_cursor_and_a_dry_run_changes_nothing(pcloud):
    # Given seven contacts tagged "veletrh-2019" (one already archived) and two others
    for i in range(7):
        add_contact(pcloud, f"fair{i}", 10, tags=["veletrh-2019"])
    add_contact(pcloud, "other1", 10)
    add_contact(pcloud, "other2", 10, tags=["jiný"])
    post(pcloud, "/contacts/fair0/archive", {})
    body = {"segment_query": 'tag = "veletrh-2019"', "reason": "Stará data z veletrhu", "page_size": 2}
    # When a dry run goes through all pages
    seen, cursor, pages = 0, None, 0
    while True:
        report = post(pcloud, "/contacts/archive", body | {"dry_run": True} | ({"cursor": cursor} if cursor else {}))
        seen += report["would_archive"]
        pages += 1
        cursor = report["cursor"]
        if report["complete"]:
            break
        assert cursor and pages < 20
    # Then it counted six and archived nothing
    assert seen == 6
    assert sum(1 for i in table_items(pcloud, "ContactsTable") if i.get("archived")) == 1
    # When it runs for real, page by page
    totals: dict[str, int] = {"archived": 0, "already_archived": 0, "matched": 0}
    cursor = None
    while True:
        report = post(pcloud, "/contacts/archive", body | ({"cursor": cursor} if cursor else {}))
        for k in totals:
            totals[k] += report[k]
        cursor = report["cursor"]
        if report["complete"]:
            break
    # Then the six are archived with the reason, the others untouched
    assert totals == {"archived": 6, "already_archived": 1, "matched": 7}
    items = {i["contact_id"]: i for i in table_items(pcloud, "ContactsTable")}
    assert all(items[f"fair{i}"]["archived"] for i in range(7))
    assert items["fair3"]["archive_reason"] == "Stará data z veletrhu"
    assert not items["other1"].get("archived") and not items["other2"].get("archived")


def test_bulk_archive_stops_within_a_page_when_out_of_time_and_goes_on_without_skipping(pcloud):
    # Given seven contacts of the segment and two others, all on one scan page
    for i in range(7):
        add_contact(pcloud, f"slow{i}", 10, tags=["stará-data"])
    add_contact(pcloud, "slow-other1", 10)
    add_contact(pcloud, "slow-other2", 10)
    rt = rt_of(pcloud)
    body = privacy.BulkArchiveIn(segment_query='tag = "stará-data"', page_size=1000)
    # When every call is out of time right after its first contact
    reports = []
    while True:
        reports.append(privacy.bulk_archive(rt, body.model_copy(update={"cursor": reports[-1]["cursor"]})
                                            if reports else body, pcloud.clock.now(), lambda: 0.0))
        if reports[-1]["complete"]:
            break
        assert len(reports) < 20
    # Then each call did one contact and answered a cursor, and together they saw every contact exactly once
    assert reports[0]["scanned"] == 1 and reports[0]["complete"] is False and reports[0]["cursor"]
    assert sum(r["scanned"] for r in reports) == 9 and len(reports) == 9
    assert sum(r["archived"] for r in reports) == 7 and sum(r["matched"] for r in reports) == 7
    items = {i["contact_id"]: i for i in table_items(pcloud, "ContactsTable")}
    assert all(items[f"slow{i}"]["archived"] for i in range(7)) and not items["slow-other1"].get("archived")


def test_bulk_archive_matches_lead_score_on_the_decayed_score(pcloud, monkeypatch):
    # Given two contacts with the same stored score, one of which the scoring decays to 80 and the other to 10
    add_contact(pcloud, "hot", 10)
    add_contact(pcloud, "cold", 10)
    monkeypatch.setattr(privacy.scoring, "score_getter",
                        lambda settings: lambda contact, when: 80 if contact.contact_id == "hot" else 10)
    rt = rt_of(pcloud)
    # When the bulk archive filters on lead_score
    report = privacy.bulk_archive(rt, privacy.BulkArchiveIn(segment_query="lead_score >= 50", dry_run=True),
                                  pcloud.clock.now())
    # Then it matches on the score at the moment (as campaigns do), not on the stored attribute
    assert report["matched"] == 1 and report["would_archive"] == 1


@pytest.mark.parametrize("path, body, status", [
    ("/contacts/nobody/archive", {}, 404),
    ("/contacts/nobody/unarchive", None, 404),
    ("/contacts/archive", {"segment_query": "tag ="}, 400),
    ("/contacts/archive", {"segment_query": 'tag = "x"', "cursor": "not-a-cursor"}, 400),
    ("/contacts/archive", {"segment_query": 'tag = "x"', "cursor": "eyJ4IjogMX0="}, 400),
    ("/contacts/archive", {}, 422),
    ("/contacts/archive", {"segment_query": 'tag = "x"', "page_size": 0}, 422),
    ("/contacts/nobody/erase", {"confirm": "nobody"}, 404),
    ("/contacts/c1/erase", {"confirm": "c2"}, 400),
    ("/contacts/c1/erase", {}, 422),
    ("/contacts/c1/archive", {"reason": "x" * 501}, 422),
])
def test_bad_archive_and_erase_requests_get_a_clear_4xx_and_change_nothing(pcloud, path, body, status):
    add_contact(pcloud, "c1", 10)
    before = table_items(pcloud, "ContactsTable")
    response = pcloud.http("POST", path, json=body if body is not None else {})
    assert response.status == status, response.body
    assert "message" in response.json()
    assert table_items(pcloud, "ContactsTable") == before


# ---------------------------------------------------------------- erasure


EMAIL = "Zdenka.Kvapilova@Example.CZ"
FIRST, LAST, PHONE = "Zdeňka", "Kvapilová", "+420 601 234 567"
NEEDLES = [EMAIL.lower(), FIRST.lower(), LAST.lower(), "zdenka", "kvapilov", PHONE, "601 234 567", "198.51.100.7"]


def _scan_everything(cloud: LocalCloud) -> dict[str, str]:
    """Every item of every table and every GSI of the template, every message waiting in every queue of the template,
    as text (lower case), by where it was found."""
    found: dict[str, str] = {}
    client = boto3.client("dynamodb", endpoint_url=cloud.endpoint_url, region_name="eu-central-1")
    tables = cloud.template.resources_of_type("AWS::DynamoDB::Table")
    assert len(tables) >= 9
    for lid, resource in tables.items():
        name = cloud.physical_name(lid)
        indexes = [None, *(g["IndexName"] for g in resource["Properties"].get("GlobalSecondaryIndexes", []))]
        for index in indexes:
            kwargs: dict[str, Any] = {"TableName": name} | ({"IndexName": index} if index else {})
            items = []
            for page in client.get_paginator("scan").paginate(**kwargs):
                items += page["Items"]
            found[f"{lid}/{index or '-'}"] = json.dumps(items, ensure_ascii=False).lower()
    sqs = cloud.client("sqs")
    queues = cloud.template.resources_of_type("AWS::SQS::Queue")
    assert len(queues) >= 9
    for lid in queues:
        bodies = []
        for _ in range(5):
            got = sqs.receive_message(QueueUrl=cloud.ref(lid), MaxNumberOfMessages=10, VisibilityTimeout=0,
                                      WaitTimeSeconds=0, MessageAttributeNames=["All"]).get("Messages", [])
            bodies += [m["Body"] + json.dumps(m.get("MessageAttributes", {})) for m in got]
        found[f"queue {lid}"] = "\n".join(bodies).lower()
    return found


def _mail_texts(cloud: LocalCloud) -> dict[str, str]:
    """Every mail file (raw and decoded), the in-memory messages, the SES events and the bus events file."""
    out: dict[str, str] = {}
    for path in sorted((cloud.out_dir / "mail").glob("*.eml")) if (cloud.out_dir / "mail").exists() else []:
        raw = path.read_bytes()
        parsed = email.message_from_bytes(raw, policy=email.policy.default)
        parts = [str(parsed.get(h, "")) for h in ("To", "Cc", "Subject")]
        parts += [p.get_content() for p in parsed.walk() if p.get_content_maintype() == "text"]
        out[f"file {path.name}"] = (raw.decode("latin-1") + "\n".join(parts)).lower()
    for i, message in enumerate(cloud.mail_messages):
        out[f"message {i}"] = (str(message.get("To", "")) + message.as_string()).lower()
    out["ses events"] = json.dumps(cloud.ses_events, ensure_ascii=False).lower()
    if cloud.events_file is not None and cloud.events_file.exists():
        out["events.jsonl"] = cloud.events_file.read_text(encoding="utf-8").lower()
    out["bus events"] = json.dumps(cloud.bus_events(), ensure_ascii=False).lower()
    return out


def _leaks(texts: dict[str, str]) -> dict[str, list[str]]:
    return {where: hits for where, text in texts.items() if (hits := [n for n in NEEDLES if n.lower() in text])}


def _erased_event(cloud: LocalCloud, contact_id: str, key: str) -> None:
    """contact.erased as the event publisher puts it on the bus (ids only); put it ourselves until it is wired."""
    if not any(e["detail"].get("contact_id") == contact_id for e in cloud.bus_events("contact.erased")):
        bus = cloud.physical_name("CrmEventBus")
        cloud.client("events").put_events(Entries=[{
            "Source": "crm-automation", "DetailType": "contact.erased", "EventBusName": bus,
            "Detail": json.dumps({"contact_id": contact_id, "address_key": key})}])
        cloud.settle()
    cloud.bus_events()


def test_erasure_end_to_end_leaves_no_personal_data_anywhere_and_the_address_stays_suppressed(pcloud):
    cloud = pcloud
    rt = rt_of(cloud)
    # Given a contact with deals, activities, tasks, consents, an inactivity e-mail and a campaign e-mail sent
    add_contact(cloud, "zk", 200, first_name=FIRST, last_name=LAST, email=EMAIL, phone=PHONE, company="Kvapil a syn",
                lifecycle="former_customer", custom_fields={"Poznámka": f"{FIRST} {LAST} chce volat"})
    add_contact(cloud, "other", 5, lifecycle="former_customer")  # someone else: nothing of theirs goes
    long_ago = (MONDAY_0900 - timedelta(days=400)).isoformat()
    new_deal(cloud, "zk", "d-won", title=f"Zakázka {LAST}", status="won", created_at=long_ago,
             last_activity_at=long_ago)
    new_deal(cloud, "zk", "d-lost", value="54000.50", status="lost", loss_reason="Cena", created_at=long_ago,
             last_activity_at=long_ago)
    for i, kind in enumerate(("call", "note", "meeting")):
        response = cloud.http("POST", "/activities", json={
            "activity_id": f"act-zk-{i}", "contact_id": "zk", "kind": kind, "subject": f"{FIRST} {LAST}",
            "summary": f"Hovor s {FIRST} {LAST}, {EMAIL}",
            "occurred_at": (MONDAY_0900 - timedelta(days=300 + i)).isoformat()})
        assert response.status == 201, response.body
    cloud.fire("InactivityScanFunction", "Daily")  # enrolled: tag, task "Prověřit neaktivní kontakt Zdeňka …"
    cloud.advance(timedelta(days=31), rate_resolution=timedelta(hours=6))  # the follow-up sends the e-mail
    assert [str(m["To"].addresses[0].addr_spec).lower() for m in cloud.mail_messages] == [EMAIL.lower()]
    campaign = post(cloud, "/campaigns", {"name": "Návrat", "template": "winback_feature_a",
                                          "segment_query": "lifecycle = former_customer"}, status=201)["campaign_id"]
    post(cloud, f"/campaigns/{campaign}/launch", status=202)
    sent_to = sorted(str(m["To"].addresses[0].addr_spec).lower() for m in cloud.mail_messages)
    assert sent_to == sorted([EMAIL.lower(), EMAIL.lower(), "other@example.cz"])
    for granted in (True, False):
        post(cloud, "/contacts/zk/consents", {"purpose": "newsletter", "granted": granted, "source": "telefon",
                                              "text_version": "v3", "metadata": {"ip": "198.51.100.7",
                                                                                 "note": f"{FIRST} {LAST}"}},
             status=201)
    (message_id, *_) = cloud.message_ids_for(EMAIL)
    cloud.ses_event(message_id, "Open")

    # And the export holds everything about her
    export = cloud.http("GET", "/contacts/zk/export")
    assert export.status == 200, export.body
    data = export.json()
    assert data["contact"]["email"] == "Zdenka.Kvapilova@example.cz" and data["contact"]["first_name"] == FIRST
    assert {d["deal_id"] for d in data["deals"]} == {"d-won", "d-lost"}
    assert {"act-zk-0", "act-zk-1", "act-zk-2"} <= {a["activity_id"] for a in data["activities"]}
    assert any(a["kind"] == "email_out" and a["automated"] for a in data["activities"])
    assert any(t["workflow"] == "inactivity" for t in data["tasks"])
    newsletter = [c for c in data["consents"] if c["purpose"] == "newsletter"]
    assert sorted(c["state"] for c in newsletter) == ["granted", "withdrawn"]
    assert all(c["metadata"]["ip"] == "198.51.100.7" for c in newsletter)
    assert [c["campaign_id"] for c in data["campaigns"]] == [campaign] and data["campaigns"][0]["name"] == "Návrat"
    assert campaign in data["address"]["campaign_sends"]
    assert data["workflows"]["inactivity"]["outcome"] == "email_sent"  # (then exited: the consent was a sign of life)
    assert [t["kind"] for t in data["workflows"]["timers"]] == ["inactivity_followup"]
    before = _leaks(_scan_everything(cloud)) | _leaks(_mail_texts(cloud))
    assert "ContactsTable/-" in before and "ActivitiesTable/-" in before and "TasksTable/-" in before
    assert "ConsentsTable/-" in before and any(k.startswith("file ") for k in before)  # the checks can see it

    # When she is erased
    erased = post(cloud, "/contacts/zk/erase", {"confirm": "zk", "reason": "Žádost č. 4711"})
    key = address_key(EMAIL, rt.keys.address)
    _erased_event(cloud, "zk", key)

    # Then nothing anywhere holds her e-mail, name, phone or IP: tables, indexes, queues, mail, SES and bus events
    # (the call's pass did it all; the erasure completes with the timer's later pass, which finds nothing more)
    assert erased["completed"] is False and erased["already_erased"] is False
    assert erased["counts"]["activities_deleted"] >= 5 and erased["counts"]["consents_deleted"] == len(data["consents"])
    assert _leaks(_scan_everything(cloud)) == {}
    assert _leaks(_mail_texts(cloud)) == {}
    # the other recipient's e-mail is still there
    assert [str(m["To"].addresses[0].addr_spec) for m in cloud.mail_messages] == ["other@example.cz"]
    assert len(list((cloud.out_dir / "mail").glob("*.eml"))) == 1
    # the tombstone, the anonymised deal figures and the hashed suppression are what is left
    assert "erasure_completed_at" not in contact_item(cloud, "zk")
    cloud.advance(timedelta(minutes=30))  # the erasure timer's pass finds nothing more: completed
    tombstone = contact_item(cloud, "zk")
    assert set(tombstone) <= {"contact_id", "erased", "erased_at", "address_key", "erasure_reason",
                              "erasure_timer_id", "erasure_completed_at", "erasure_counts", "version"}
    assert tombstone["address_key"] == key and tombstone["erasure_completed_at"]
    assert tombstone["erasure_counts"] == erased["counts"]
    assert _leaks(_scan_everything(cloud)) == {}
    deals = {d["deal_id"]: d for d in table_items(cloud, "DealsTable")}
    assert (deals["d-won"]["value"], deals["d-won"]["currency"], deals["d-won"]["status"]) == (120000, "CZK", "won")
    assert (deals["d-lost"]["value"], deals["d-lost"]["loss_reason"]) == (Decimal("54000.50"), "Cena")
    assert deals["d-lost"]["owner"] == OWNER and deals["d-lost"]["created_at"].startswith("2025-01")
    assert {d["contact_status"] for d in deals.values()} == {"erased"}
    tasks = [t for t in table_items(cloud, "TasksTable") if t["contact_id"] == "zk"]
    assert tasks and all(t["status"] in ("done", "cancelled") and not t.get("description") for t in tasks)
    record = rt.store.addresses.get(key)
    assert set(record.suppressions) == {AddressReason.ERASED} and record.sends == {} and record.contact_id is None
    assert [i for i in table_items(cloud, "ActivitiesTable") if i["contact_id"] == "zk"] == []
    timers = {i["pk"]: i for i in table_items(cloud, "FlowsTable") if i["pk"].startswith("TIMER#")}
    assert timers["TIMER#erasure-zk"]["state"] == "fired" and "timer_shard" not in timers["TIMER#erasure-zk"]
    # the API answers 410 Gone for her, and erasing again is a no-op
    assert cloud.http("GET", "/contacts/zk").status == 410
    assert cloud.http("GET", "/contacts/zk/export").status == 410
    assert cloud.http("PATCH", "/contacts/zk", json={"phone": "1"}).status == 410
    assert cloud.http("POST", "/contacts/zk/archive", json={}).status == 410
    assert cloud.http("POST", "/activities", json={"contact_id": "zk", "kind": "call"}).status == 400
    again = post(cloud, "/contacts/zk/erase", {"confirm": "zk"})
    assert again["already_erased"] is True and again["completed"] is True and again["counts"] == erased["counts"]
    assert contact_item(cloud, "zk") == tombstone

    # When the same address comes back (another letter case), it stays suppressed: reason "erased"
    response = cloud.http("POST", "/contacts", json={
        "first_name": FIRST, "last_name": LAST, "email": EMAIL.upper().replace("EXAMPLE", "example"),
        "owner": OWNER, "marketing_consent": {"granted": True, "source": "import"}})
    assert response.status == 201, response.body
    again_contact = Contact.model_validate(response.json())
    assert again_contact.contact_id != "zk"
    assert marketing_suppression(again_contact, rt.store.addresses.get(key)) == SuppressionReason.ERASED
    assert set(rt.store.addresses.get(key).suppressions) == {AddressReason.ERASED}


def test_an_erasure_that_dies_after_its_first_transaction_is_finished_by_its_timer(pcloud, monkeypatch):
    # Given a contact with activities, a deal and a task
    add_contact(pcloud, "crash", 200, first_name="Bohumil", last_name="Hrabal")
    new_deal(pcloud, "crash", "d-crash", title="Zakázka Hrabal", status="won")
    pcloud.http("POST", "/activities", json={"activity_id": "a-crash", "contact_id": "crash", "kind": "note",
                                             "summary": "Bohumil Hrabal",
                                             "occurred_at": (MONDAY_0900 - timedelta(days=300)).isoformat()})
    pcloud.fire("InactivityScanFunction", "Daily")  # a task and a pending follow-up timer
    rt = rt_of(pcloud)

    # When the erasure dies right after its first transaction
    def die(*_: Any, **__: Any) -> None:
        raise RuntimeError("the function timed out")

    monkeypatch.setattr(privacy, "_finish_steps", die)
    with pytest.raises(RuntimeError):
        privacy.erase(rt, "crash", privacy.EraseIn(confirm="crash"), pcloud.clock.now())
    monkeypatch.undo()
    # Then the contact is already a tombstone (410), the address erased, the follow-up cancelled; the rest is pending
    assert pcloud.http("GET", "/contacts/crash").status == 410
    assert "erasure_completed_at" not in contact_item(pcloud, "crash")
    assert [i["activity_id"] for i in table_items(pcloud, "ActivitiesTable")] == ["a-crash"]
    timers = {i["pk"]: i for i in table_items(pcloud, "FlowsTable") if i["pk"].startswith("TIMER#")}
    assert timers["TIMER#erasure-crash"]["state"] == "pending"
    assert [t["state"] for k, t in timers.items() if k != "TIMER#erasure-crash"] == ["cancelled"]
    # When the timer comes due (the sweep runs every 15 minutes), does the work and comes due again
    pcloud.advance(timedelta(minutes=45))
    # Then the erasure is complete: activity gone, deal anonymised, task cancelled and scrubbed
    item = contact_item(pcloud, "crash")
    assert item["erasure_completed_at"] and item["erasure_counts"]["activities_deleted"] == 1
    timer = next(i for i in table_items(pcloud, "FlowsTable") if i["pk"] == "TIMER#erasure-crash")
    assert timer["state"] == "fired" and "timer_shard" not in timer
    assert table_items(pcloud, "ActivitiesTable") == []
    (deal,) = table_items(pcloud, "DealsTable")
    assert deal["title"] == "[erased]" and deal["status"] == "won"
    (task,) = table_items(pcloud, "TasksTable")
    assert task["status"] == "cancelled" and task["title"] == "[erased]" and task["description"] == ""
    texts = _scan_everything(pcloud)
    assert not [w for w, t in texts.items() if "hrabal" in t or "bohumil" in t]
    # and the API call made again afterwards is a no-op
    assert post(pcloud, "/contacts/crash/erase", {"confirm": "crash"})["already_erased"] is True


def test_erasure_twice_concurrently_with_the_timer_is_harmless(pcloud):
    # Given an erasure interrupted after its first transaction (out of time)
    add_contact(pcloud, "twice", 10)
    pcloud.http("POST", "/activities", json={"activity_id": "a-twice", "contact_id": "twice", "kind": "note"})
    rt = rt_of(pcloud)
    view = privacy.erase(rt, "twice", privacy.EraseIn(confirm="twice"), pcloud.clock.now(), time_left=lambda: 0.0)
    assert view["completed"] is False
    # When the API call is repeated and then the timer fires too
    again = post(pcloud, "/contacts/twice/erase", {"confirm": "twice"})
    assert again["completed"] is False and again["counts"]["activities_deleted"] == 1
    pcloud.advance(timedelta(minutes=30))
    # Then the timer's pass completed it once, with the counts of the work done
    item = contact_item(pcloud, "twice")
    assert item["erasure_completed_at"] and item["erasure_counts"] == again["counts"]
    timer = next(i for i in table_items(pcloud, "FlowsTable") if i["pk"] == "TIMER#erasure-twice")
    assert timer["state"] == "fired" and timer["note"] == "erasure completed"


def test_a_record_written_after_the_erasure_pass_is_deleted_by_a_later_pass_before_completion(pcloud):
    # Given a contact erased through the API: its pass deletes what it finds but does not complete the erasure
    add_contact(pcloud, "late", 10)
    pcloud.http("POST", "/activities", json={"activity_id": "a-early", "contact_id": "late", "kind": "note",
                                             "summary": "Jan Pozdní"})
    erased = post(pcloud, "/contacts/late/erase", {"confirm": "late"})
    assert erased["completed"] is False and erased["counts"]["activities_deleted"] == 1
    timer = next(i for i in table_items(pcloud, "FlowsTable") if i["pk"] == "TIMER#erasure-late")
    assert timer["state"] == "pending" and "timer_shard" in timer
    # When a writer that does not check the contact (an SES open in flight) adds an activity after the pass
    rt = rt_of(pcloud)
    now = pcloud.clock.now()
    rt.store.activities.create(Activity(activity_id="ses-open", contact_id="late", kind=ActivityKind.OPEN,
                                        direction="in", occurred_at=now, summary="Jan Pozdní opened", created_at=now))
    # Then the timer's pass deletes it, and a still later pass that finds nothing completes the erasure
    pcloud.advance(timedelta(minutes=45))
    assert [i for i in table_items(pcloud, "ActivitiesTable") if i["contact_id"] == "late"] == []
    item = contact_item(pcloud, "late")
    assert item["erasure_completed_at"] and item["erasure_counts"]["activities_deleted"] == 2
    timer = next(i for i in table_items(pcloud, "FlowsTable") if i["pk"] == "TIMER#erasure-late")
    assert timer["state"] == "fired" and "timer_shard" not in timer


def test_a_throttled_consent_delete_is_a_transient_error_not_a_raw_client_error(pcloud, monkeypatch):
    # Given a contact with a consent ledger entry
    add_contact(pcloud, "thr", 10)
    post(pcloud, "/contacts/thr/consents", {"purpose": "newsletter", "granted": True, "source": "telefon"},
         status=201)
    rt = rt_of(pcloud)
    consents_table = rt.store.consents.table
    real = rt.store.client.delete_item

    def throttled(**kwargs: Any) -> Any:
        if kwargs["TableName"] == consents_table:
            raise ClientError({"Error": {"Code": "ProvisionedThroughputExceededException", "Message": "slow"}},
                              "DeleteItem")
        return real(**kwargs)

    monkeypatch.setattr(rt.store.client, "delete_item", throttled)
    # When the erasure's consent step is throttled, it is a TransientError (retried), not a raw ClientError
    with pytest.raises(TransientError):
        privacy.erase(rt, "thr", privacy.EraseIn(confirm="thr"), pcloud.clock.now())
    monkeypatch.undo()
    # and the timer finishes the job
    pcloud.advance(timedelta(minutes=45))
    assert contact_item(pcloud, "thr")["erasure_completed_at"]
    assert [i for i in table_items(pcloud, "ConsentsTable") if i["contact_id"] == "thr"] == []


def test_the_erasure_timer_works_within_a_budget_and_goes_on_at_the_next_firing(pcloud, monkeypatch):
    # Given an erasure interrupted after its first transaction, with an activity left to delete
    add_contact(pcloud, "budget", 10)
    pcloud.http("POST", "/activities", json={"activity_id": "a-budget", "contact_id": "budget", "kind": "note"})
    rt = rt_of(pcloud)
    privacy.erase(rt, "budget", privacy.EraseIn(confirm="budget"), pcloud.clock.now(), time_left=lambda: 0.0)
    # When the timer fires with no time for any work: it does nothing, stays pending and does not complete
    monkeypatch.setattr(privacy, "FIRE_BUDGET_SECONDS", 0.0)
    pcloud.advance(timedelta(minutes=30))
    assert "erasure_completed_at" not in contact_item(pcloud, "budget")
    assert [i["activity_id"] for i in table_items(pcloud, "ActivitiesTable")] == ["a-budget"]
    timer = next(i for i in table_items(pcloud, "FlowsTable") if i["pk"] == "TIMER#erasure-budget")
    assert timer["state"] == "pending" and "timer_shard" in timer
    # and each firing passes a finite budget (the worker times out after 60 s)
    seen: list[float] = []
    real_finish = privacy.finish

    def spy(rt_: Any, contact_id: str, now: datetime, time_left: Any = None, **kw: Any) -> Any:
        seen.append(time_left())
        return real_finish(rt_, contact_id, now, time_left, **kw)

    monkeypatch.setattr(privacy, "FIRE_BUDGET_SECONDS", 40.0)
    monkeypatch.setattr(privacy, "finish", spy)
    # When it has time again, the next firings finish it
    pcloud.advance(timedelta(minutes=45))
    assert seen and all(0 < left <= 40.0 for left in seen)
    assert contact_item(pcloud, "budget")["erasure_completed_at"]
    assert table_items(pcloud, "ActivitiesTable") == []


def test_export_of_an_unknown_contact_is_404(pcloud):
    assert pcloud.http("GET", "/contacts/nobody/export").status == 404
