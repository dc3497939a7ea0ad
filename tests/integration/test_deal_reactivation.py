"""The dead-deal reactivation on the emulated template: both triggers, the personal e-mail (owner's name, Reply-To,
Czech vocative), the 14-day wait a reaction or a status change ends, the call task with the real N, suppression,
cool-down, and exactly-once under re-delivered records, retried timers and a crash between sending and recording."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from crm_automation.errors import TransientError
from crm_automation.services import deal_reactivation, timers
from crm_local import LocalCloud

from .conftest import ROOT, START, add_contact, dying_after_ses_send, runtime_for, stream_record, table_items

OWNERS = {"petr.svoboda": {"name": "Petr Svoboda", "email": "petr.svoboda@example.cz"}}
SWEEP = timedelta(minutes=16)  # the next 15-minute sweep has run


@pytest.fixture
def cloud(tmp_path: Path) -> Iterator[LocalCloud]:
    with LocalCloud(template=str(ROOT / "template.yaml"), start=START, out_dir=tmp_path / "out", quiet=True,
                    parameters={"Owners": json.dumps(OWNERS)}) as running:
        yield running


def _deal(cloud, key: str = "k1", quiet_days: int = 30, **contact: Any) -> str:
    add_contact(cloud, key, quiet_days=quiet_days, **{"first_name": "Jana", "last_name": "Nováková", **contact})
    response = cloud.http("POST", "/deals", json={
        "deal_id": f"d-{key}", "contact_id": key, "title": "Servisní smlouva 2026", "value": 120000,
        "last_activity_at": (START - timedelta(days=quiet_days)).isoformat()})
    assert response.status == 201, response.body
    return f"d-{key}"


def _postpone(cloud, deal_id: str, status: str = "postponed") -> None:
    response = cloud.http("PATCH", f"/deals/{deal_id}", json={"status": status})
    assert response.status == 200, response.body


def _deal_state(cloud, deal_id: str) -> dict[str, Any]:
    return cloud.http("GET", f"/deals/{deal_id}").json()


def _tasks(cloud, deal_id: str) -> list[dict[str, Any]]:
    return [t for t in table_items(cloud, "TasksTable") if t.get("deal_id") == deal_id]


def test_a_postponed_deal_gets_the_owners_personal_email_then_after_14_days_a_call_task(cloud) -> None:
    deal_id = _deal(cloud, quiet_days=40)
    _postpone(cloud, deal_id)
    assert _deal_state(cloud, deal_id)["reactivation"]["state"] == "sending"
    cloud.advance(SWEEP)  # the send timer is swept

    [message] = cloud.mail_messages
    assert message["From"] == "Petr Svoboda <petr.svoboda@example.cz>"
    assert message["Reply-To"] == "petr.svoboda@example.cz"
    assert message["Subject"] == "Servisní smlouva 2026 – je to pro vás stále aktuální?"
    text = message.get_body(("plain",)).get_content()
    assert text.startswith("Dobrý den, paní Nováková,\n")
    assert "naposledy jsme byli v kontaktu před 40 dny ohledně „Servisní smlouva 2026“" in text
    assert "Chtěl bych se zeptat" in text  # Petr writes in the masculine
    html = message.get_body(("html",)).get_content()
    assert "<p>Dobrý den, paní Nováková,</p>" in html
    reactivation = _deal_state(cloud, deal_id)["reactivation"]
    assert (reactivation["state"], reactivation["email"], reactivation["trigger"]) == ("waiting", "sent", "postponed")
    assert _tasks(cloud, deal_id) == []

    cloud.advance(timedelta(days=14), rate_resolution=timedelta(hours=1))
    [task] = _tasks(cloud, deal_id)
    assert task["title"] == "Reaktivační hovor - Klient Jana Nováková nereagoval na e-mail."
    assert task["description"].startswith(
        "Prosím, kontaktuj telefonicky klienta Jana Nováková. Poslední aktivita před 54 dny. "
        "Odeslán automatický e-mail před 14 dny bez reakce.")
    assert task["owner"] == "petr.svoboda" and task["kind"] == "call"
    assert task["due_date"] == "2026-03-17"  # sent Mon 2 March + 14 days = Mon 16 March -> Tuesday
    assert _deal_state(cloud, deal_id)["reactivation"]["state"] == "called"


def test_an_open_deal_silent_for_90_days_is_found_by_the_daily_scan(cloud) -> None:
    stale = _deal(cloud, "old", quiet_days=91, first_name="Karel", last_name="Beneš")
    fresh = _deal(cloud, "new", quiet_days=60)
    cloud.advance(timedelta(hours=2, minutes=30))  # 06:15 Prague scan, then a sweep
    assert _deal_state(cloud, stale)["reactivation"]["trigger"] == "stale"
    assert _deal_state(cloud, fresh).get("reactivation") is None
    [message] = cloud.mail_messages
    assert message.get_body(("plain",)).get_content().startswith("Dobrý den, pane Beneši,\n")


@pytest.mark.parametrize("reaction", ["email_in", "call", "meeting"])
def test_a_reaction_ends_the_wait_at_once_and_no_task_follows(cloud, reaction: str) -> None:
    deal_id = _deal(cloud)
    _postpone(cloud, deal_id)
    cloud.advance(SWEEP)
    response = cloud.http("POST", "/activities", json={"contact_id": "k1", "kind": reaction, "subject": "Re:"})
    assert response.status == 201
    deal = _deal_state(cloud, deal_id)
    reactivation = deal["reactivation"]
    assert (reactivation["state"], reactivation["outcome"]) == ("ended", "reaction")
    assert deal["last_activity_at"].startswith("2026-03-02T04:16")  # the reaction made the deal active again
    wait = next(t for t in table_items(cloud, "FlowsTable") if t["pk"] == f"TIMER#{reactivation['wait_timer_id']}")
    assert wait["state"] == "cancelled"
    cloud.advance(timedelta(days=15), rate_resolution=timedelta(hours=6))
    assert _tasks(cloud, deal_id) == []


def test_a_note_is_not_a_reaction(cloud) -> None:
    deal_id = _deal(cloud)
    _postpone(cloud, deal_id)
    cloud.advance(SWEEP)
    cloud.http("POST", "/activities", json={"contact_id": "k1", "deal_id": deal_id, "kind": "note",
                                            "subject": "Interní poznámka"})
    assert _deal_state(cloud, deal_id)["reactivation"]["state"] == "waiting"


def test_a_status_change_ends_the_wait(cloud) -> None:
    deal_id = _deal(cloud)
    _postpone(cloud, deal_id)
    cloud.advance(SWEEP)
    _postpone(cloud, deal_id, "won")
    reactivation = _deal_state(cloud, deal_id)["reactivation"]
    assert (reactivation["state"], reactivation["outcome"]) == ("ended", "status_changed")
    cloud.advance(timedelta(days=15), rate_resolution=timedelta(hours=6))
    assert _tasks(cloud, deal_id) == []


def test_a_suppressed_contact_gets_no_email_and_the_owner_the_call_task_at_once(cloud) -> None:
    deal_id = _deal(cloud, marketing_status="do_not_contact")
    _postpone(cloud, deal_id)
    cloud.advance(SWEEP)
    assert cloud.mail_messages == []
    [task] = _tasks(cloud, deal_id)
    assert task["title"] == "Reaktivační hovor - Klient Jana Nováková: e-mail nešel (Nezasílat marketing)."
    assert "Automatický reaktivační e-mail nebyl odeslán: Nezasílat marketing." in task["description"]
    assert task["due_date"] == "2026-03-03"
    reactivation = _deal_state(cloud, deal_id)["reactivation"]
    assert (reactivation["state"], reactivation["email"], reactivation["skip_reason"]) == (
        "called", "skipped", "do_not_contact")


def test_a_deal_is_not_enrolled_again_within_the_cooldown(cloud) -> None:
    deal_id = _deal(cloud)
    _postpone(cloud, deal_id)
    cloud.advance(SWEEP)
    _postpone(cloud, deal_id, "open")  # ends the wait
    cloud.clock.advance(timedelta(days=30))
    _postpone(cloud, deal_id)  # postponed again a month later: no second e-mail
    cloud.advance(SWEEP)
    assert len(cloud.mail_messages) == 1
    assert _deal_state(cloud, deal_id)["reactivation"]["state"] == "ended"
    cloud.clock.advance(timedelta(days=61))
    _postpone(cloud, deal_id, "open")
    _postpone(cloud, deal_id)  # after 90 days: enrolled again
    cloud.advance(SWEEP)
    assert len(cloud.mail_messages) == 2
    assert len(_deal_state(cloud, deal_id)["reactivation_history"]) == 1


def test_a_postponed_record_delivered_twice_enrols_once(cloud) -> None:
    deal_id = _deal(cloud)
    _postpone(cloud, deal_id)
    [item] = [d for d in table_items(cloud, "DealsTable") if d["deal_id"] == deal_id]
    record = stream_record(cloud, "DealsTable", "deal_id", item, "990", old={**item, "status": "open"})
    for _ in range(2):
        assert cloud.invoke("DealPostponedFunction", {"Records": [record]}) == {"batchItemFailures": []}
    send_timers = [t for t in table_items(cloud, "FlowsTable") if t.get("kind") == "deal_reactivation_send"]
    assert len(send_timers) == 1
    cloud.advance(SWEEP)
    assert len(cloud.mail_messages) == 1


def test_retried_timers_send_once_and_create_one_task(cloud) -> None:
    deal_id = _deal(cloud)
    _postpone(cloud, deal_id)
    rt = runtime_for(cloud)
    send_id = _deal_state(cloud, deal_id)["reactivation"]["send_timer_id"]
    now = cloud.clock.now()
    assert timers.fire(rt, send_id, now) == "e-mail sent, waiting"
    assert timers.fire(rt, send_id, now) == "already fired"
    wait_id = _deal_state(cloud, deal_id)["reactivation"]["wait_timer_id"]
    later = now + timedelta(days=14, minutes=1)
    assert timers.fire(rt, wait_id, later) == "call task"
    assert timers.fire(rt, wait_id, later) == "already fired"
    assert len(cloud.mail_messages) == 1 and len(_tasks(cloud, deal_id)) == 1


def test_a_crash_between_sending_and_recording_does_not_send_again(cloud) -> None:
    deal_id = _deal(cloud)
    _postpone(cloud, deal_id)
    rt = runtime_for(cloud)
    send_id = _deal_state(cloud, deal_id)["reactivation"]["send_timer_id"]
    with dying_after_ses_send():
        timers.fire(rt, send_id, cloud.clock.now())
    with pytest.raises(TransientError):  # redelivered while the first attempt might still run: backs off
        timers.fire(rt, send_id, cloud.clock.now() + timedelta(seconds=30))
    assert timers.fire(rt, send_id, cloud.clock.now() + timedelta(minutes=3)) == "e-mail unknown, waiting"
    assert len(cloud.mail_messages) == 1
    assert _deal_state(cloud, deal_id)["reactivation"]["email"] == "unknown"


def test_the_deal_scan_reads_only_due_deals(cloud) -> None:
    from crm_automation.adapters import dynamodb

    for n in range(6):
        _deal(cloud, f"k{n}", quiet_days=95 if n < 2 else 20)
    rt = runtime_for(cloud)
    dynamodb.stats.reset()
    report = deal_reactivation.run_scan(rt, datetime(2026, 3, 2, 5, 15, tzinfo=UTC))
    assert report["enrolled"] == 2
    assert dynamodb.stats.items_read == 2  # the two due deals, nothing else


def test_the_send_step_run_twice_directly_sends_once(cloud) -> None:
    from crm_automation.services import deal_reactivation as service

    deal_id = _deal(cloud)
    _postpone(cloud, deal_id)
    rt = runtime_for(cloud)
    timer = rt.store.flows.get_timer(_deal_state(cloud, deal_id)["reactivation"]["send_timer_id"])
    assert timer is not None
    assert service.send(rt, timer, cloud.clock.now()) == "e-mail sent, waiting"
    # the same (stale) timer object again, as a worker holding an old read would: ledger + conditions hold
    with pytest.raises(Exception, match="ConditionalCheckFailed|TransactionCanceled"):
        service.send(rt, timer.model_copy(), cloud.clock.now())
    assert len(cloud.mail_messages) == 1
    assert len([t for t in table_items(cloud, "FlowsTable") if t.get("kind") == "deal_reactivation_wait"]) == 1


def test_a_crash_after_the_send_was_confirmed_resumes_into_the_wait(cloud, monkeypatch) -> None:
    from crm_automation.adapters.dynamodb import Store

    deal_id = _deal(cloud)
    _postpone(cloud, deal_id)
    rt = runtime_for(cloud)
    send_id = _deal_state(cloud, deal_id)["reactivation"]["send_timer_id"]
    original = Store.transact
    failing = {"once": True}

    def die_in_final_transaction(self, operations):
        creates_wait = any(op.get("Put", {}).get("Item", {}).get("kind") == "deal_reactivation_wait" for op in operations)
        if creates_wait and failing.pop("once", False):
            raise RuntimeError("Lambda killed after the send was confirmed")
        return original(self, operations)

    monkeypatch.setattr(Store, "transact", die_in_final_transaction)
    with pytest.raises(RuntimeError):
        timers.fire(rt, send_id, cloud.clock.now())
    assert timers.fire(rt, send_id, cloud.clock.now() + timedelta(minutes=1)) == "e-mail sent, waiting"
    assert len(cloud.mail_messages) == 1
    sent = [a for a in table_items(cloud, "ActivitiesTable") if a.get("workflow") == "deal_reactivation"]
    assert len(sent) == 1 and sent[0]["deal_id"] == deal_id


def test_a_reply_naming_one_deal_does_not_end_another_deals_wait(cloud) -> None:
    first = _deal(cloud)
    response = cloud.http("POST", "/deals", json={"deal_id": "d-k1-b", "contact_id": "k1", "title": "Druhý obchod",
                                                  "last_activity_at": (START - timedelta(days=30)).isoformat()})
    assert response.status == 201
    for deal_id in (first, "d-k1-b"):
        _postpone(cloud, deal_id)
    cloud.advance(SWEEP)
    cloud.http("POST", "/activities", json={"contact_id": "k1", "deal_id": first, "kind": "call"})
    assert _deal_state(cloud, first)["reactivation"]["outcome"] == "reaction"
    assert _deal_state(cloud, "d-k1-b")["reactivation"]["state"] == "waiting"
    # a reply that names no deal ends the wait of every waiting deal of the contact
    cloud.http("POST", "/activities", json={"contact_id": "k1", "kind": "email_in"})
    assert _deal_state(cloud, "d-k1-b")["reactivation"]["outcome"] == "reaction"


def test_a_contact_name_with_a_line_break_is_refused(cloud) -> None:
    response = cloud.http("POST", "/contacts", json={"last_name": "Novák\r\nBcc: x@example.cz", "owner": "petr.svoboda"})
    assert response.status == 422 and "last_name" in response.json()["message"]
