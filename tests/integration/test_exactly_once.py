"""Every trigger delivers at least once; every side effect (tag, task, timer, e-mail, revenue) happens once.

These run the real handlers on the local emulation of template.yaml: schedules and SQS messages are delivered
twice, batches fail half-way, and the worker dies between sending an e-mail and recording it.
"""

from __future__ import annotations

import json
from datetime import timedelta
from decimal import Decimal

from crm_automation.adapters.dynamodb import Store
from crm_automation.errors import TransientError
from crm_automation.services import activities as activities_service
from crm_automation.services import timers

from .conftest import FIRST_SCAN, add_contact, dying_after_ses_send, runtime_for, stream_insert_event, table_items

TAG = "Neaktivní 6m+"


def _tasks_by_contact(cloud) -> dict[str, int]:
    counts: dict[str, int] = {}
    for task in table_items(cloud, "TasksTable"):
        counts[task["contact_id"]] = counts.get(task["contact_id"], 0) + 1
    return counts


def test_the_same_scheduled_scan_delivered_twice_enrols_each_contact_once(cloud) -> None:
    # Given three inactive contacts and one active one
    for key in ("a", "b", "c"):
        add_contact(cloud, key, quiet_days=200)
    add_contact(cloud, "active", quiet_days=3)
    # When the 06:00 run is delivered, then delivered again with the same scheduled time
    cloud.fire("InactivityScanFunction", "Daily", at=FIRST_SCAN)
    cloud.fire("InactivityScanFunction", "Daily", at=FIRST_SCAN)
    # Then each inactive contact has exactly one task, one tag and one timer
    assert _tasks_by_contact(cloud) == {"a": 1, "b": 1, "c": 1}
    contacts = {c["contact_id"]: c for c in table_items(cloud, "ContactsTable")}
    assert all(contacts[k]["tags"].count(TAG) == 1 for k in ("a", "b", "c"))
    assert TAG not in contacts["active"]["tags"]
    timers_ = [i for i in table_items(cloud, "FlowsTable") if i["pk"].startswith("TIMER#")]
    assert len(timers_) == 3


def test_a_second_run_the_same_day_without_the_idempotency_record_still_doubles_nothing(cloud) -> None:
    # Given a finished scan
    for key in ("a", "b"):
        add_contact(cloud, key, quiet_days=250)
    cloud.fire("InactivityScanFunction", "Daily", at=FIRST_SCAN)
    # When the idempotency record is gone (expired) and the scan runs again later that day
    idempotency = cloud.client("dynamodb")
    table = cloud.physical_name("IdempotencyTable")
    for item in idempotency.scan(TableName=table)["Items"]:
        idempotency.delete_item(TableName=table, Key={"id": item["id"]})
    cloud.fire("InactivityScanFunction", "Daily", at=FIRST_SCAN + timedelta(hours=3))
    # Then the conditional transactions underneath keep one task per contact
    assert _tasks_by_contact(cloud) == {"a": 1, "b": 1}


def test_a_scan_that_crashes_half_way_is_retried_and_completes_without_duplicates(cloud, monkeypatch) -> None:
    # Given four inactive contacts
    for key in ("a", "b", "c", "d"):
        add_contact(cloud, key, quiet_days=300)
    # And the third enrolment transaction fails once (the function dies half-way through the run)
    original = Store.transact
    calls = {"n": 0}

    def flaky(self, operations):
        calls["n"] += 1
        if calls["n"] == 3:
            raise RuntimeError("Lambda killed half-way")
        return original(self, operations)

    monkeypatch.setattr(Store, "transact", flaky)
    # When the scheduled run is delivered (Scheduler retries the failed invocation)
    firing = cloud.fire("InactivityScanFunction", "Daily", at=FIRST_SCAN)
    # Then the retry enrolled the rest and nobody got a second task
    assert _tasks_by_contact(cloud) == {"a": 1, "b": 1, "c": 1, "d": 1}
    assert calls["n"] > 4, f"the retry must have run ({firing})"


def _enrol_and_wait_30_days(cloud, key: str = "mail") -> None:
    add_contact(cloud, key, quiet_days=200)
    cloud.fire("InactivityScanFunction", "Daily", at=FIRST_SCAN)
    cloud.advance(timedelta(days=30, hours=2), rate_resolution=timedelta(days=1))


def test_a_timer_message_delivered_twice_sends_one_email(cloud) -> None:
    # Given the follow-up fired and sent the reactivation e-mail
    _enrol_and_wait_30_days(cloud)
    assert len(cloud.mail_files) == 1
    timer = next(i for i in table_items(cloud, "FlowsTable") if i["pk"].startswith("TIMER#"))
    # When SQS delivers the same timer message again
    cloud.client("sqs").send_message(QueueUrl=cloud.ref("TimerQueue"), MessageBody=json.dumps(
        {"timer_id": timer["timer_id"], "kind": timer["kind"], "due_at": timer["due_at"]}))
    cloud.settle()
    # Then no second e-mail, and exactly one automated e-mail activity is recorded
    assert len(cloud.mail_files) == 1
    sent = [a for a in table_items(cloud, "ActivitiesTable") if a.get("automated")]
    assert len(sent) == 1 and sent[0]["kind"] == "email_out"


def _due_followup(cloud, key: str):
    """An enrolment whose follow-up is due now; returns (runtime, timer id) to fire it directly."""
    add_contact(cloud, key, quiet_days=200)
    cloud.fire("InactivityScanFunction", "Daily", at=FIRST_SCAN)
    cloud.clock.advance(timedelta(days=30, hours=1))
    timer_id = next(i["timer_id"] for i in table_items(cloud, "FlowsTable") if i["pk"].startswith("TIMER#"))
    return runtime_for(cloud), timer_id


def test_the_worker_dying_between_sending_and_recording_does_not_send_again(cloud) -> None:
    # Given an enrolment whose follow-up is due
    rt, timer_id = _due_followup(cloud, "crash")
    # And the function dies right after SES accepted the message, before anything was recorded
    with dying_after_ses_send():
        timers.fire(rt, timer_id, cloud.clock.now())
    assert len(cloud.mail_messages) == 1
    # When the message is redelivered while the first attempt might still be running: it backs off
    try:
        timers.fire(rt, timer_id, cloud.clock.now() + timedelta(seconds=30))
        raise AssertionError("expected a retry-later")
    except TransientError:
        pass
    # And when it is redelivered after the lease: outcome unknown, recorded, never sent twice
    outcome = timers.fire(rt, timer_id, cloud.clock.now() + timedelta(minutes=3))
    assert outcome == "email_unknown"
    assert len(cloud.mail_messages) == 1
    assert timers.fire(rt, timer_id, cloud.clock.now() + timedelta(minutes=10)) == "already fired"


def test_ses_throttling_releases_the_claim_so_the_retry_sends_once(cloud, monkeypatch) -> None:
    # Given a due follow-up, and SES throttling the first attempt
    rt, timer_id = _due_followup(cloud, "throttled")
    original = type(rt.mailer).send
    monkeypatch.setattr(type(rt.mailer), "send", lambda self, m, tags=None: (_ for _ in ()).throw(
        TransientError("TooManyRequestsException")))
    try:
        timers.fire(rt, timer_id, cloud.clock.now())
    except TransientError:
        pass
    monkeypatch.setattr(type(rt.mailer), "send", original)
    assert timers.fire(rt, timer_id, cloud.clock.now()) == "email_sent"
    assert len(cloud.mail_messages) == 1


def test_a_stream_record_delivered_twice_adds_the_purchase_once(cloud) -> None:
    # Given a purchase recorded through the API (applied once through the stream)
    add_contact(cloud, "buyer", quiet_days=10, lifetime_revenue=1000)
    response = cloud.http("POST", "/activities", json={"activity_id": "p-1", "contact_id": "buyer",
                                                       "kind": "purchase", "amount": 2500})
    assert response.status == 201
    item = next(a for a in table_items(cloud, "ActivitiesTable") if a["activity_id"] == "p-1")
    # When the stream delivers the same record again
    result = cloud.invoke("ActivityProcessorFunction", stream_insert_event(cloud, item, "900"))
    # Then nothing fails and the revenue was added once
    assert result == {"batchItemFailures": []}
    contact = cloud.http("GET", "/contacts/buyer").json()["contact"]
    assert Decimal(str(contact["lifetime_revenue"])) == Decimal("3500")


def test_a_batch_that_fails_half_way_is_retried_without_double_counting(cloud, monkeypatch) -> None:
    # Given three purchases written straight to the table (one stream batch)
    add_contact(cloud, "buyer", quiet_days=10)
    table = cloud.client("dynamodb")
    # And the second one hits a transient failure on its first attempt
    original = activities_service.apply
    failed: set[str] = set()

    def flaky(rt, activity, now):
        if activity.activity_id == "p-2" and "p-2" not in failed:
            failed.add("p-2")
            raise TransientError("throttled")
        return original(rt, activity, now)

    monkeypatch.setattr(activities_service, "apply", flaky)
    for n, amount in ((1, "100"), (2, "200"), (3, "400")):
        table.put_item(TableName=cloud.physical_name("ActivitiesTable"), Item={
            "activity_id": {"S": f"p-{n}"}, "contact_id": {"S": "buyer"}, "kind": {"S": "purchase"},
            "direction": {"S": "in"}, "occurred_at": {"S": "2026-03-01T10:00:00.000000Z"},
            "created_at": {"S": "2026-03-01T10:00:00.000000Z"}, "amount": {"N": amount},
            "automated": {"BOOL": False}, "occurred_key": {"S": f"2026-03-01T10:00:00.000000Z#p-{n}"}})
    # When the emulation delivers the batch (Lambda retries from the failed record: p-2 and p-3 again)
    cloud.settle()
    # Then every purchase counted exactly once
    assert failed == {"p-2"}
    contact = cloud.http("GET", "/contacts/buyer").json()["contact"]
    assert Decimal(str(contact["lifetime_revenue"])) == Decimal("700")


def test_a_sent_email_is_recorded_even_if_the_contact_reacts_before_the_retry(cloud, monkeypatch) -> None:
    # Given a follow-up whose final transaction fails after SES accepted and the ledger confirmed the e-mail
    rt, timer_id = _due_followup(cloud, "late")
    original = Store.transact
    failing = {"once": True}

    def fail_once(self, operations):
        ends_timer = any(op.get("Update", {}).get("Key", {}).get("pk", "").startswith("TIMER#") for op in operations)
        if ends_timer and failing.pop("once", False):
            raise RuntimeError("Lambda killed after the send was confirmed")
        return original(self, operations)

    monkeypatch.setattr(Store, "transact", fail_once)
    try:
        timers.fire(rt, timer_id, cloud.clock.now())
    except RuntimeError:
        pass
    assert not failing and len(cloud.mail_messages) == 1
    # When the client replies before the retry (the flow ends) and the timer message is then redelivered
    assert cloud.http("POST", "/activities", json={"contact_id": "late", "kind": "email_in"}).status == 201
    outcome = timers.fire(rt, timer_id, cloud.clock.now() + timedelta(minutes=3))
    # Then nothing is sent again, and the e-mail that did go out is in the contact's history
    assert outcome == "already cancelled"  # the reply took the contact out of the flow and cancelled the timer
    assert len(cloud.mail_messages) == 1
    assert [a for a in table_items(cloud, "ActivitiesTable") if a.get("automated")][0]["kind"] == "email_out"
