"""The dissatisfaction escalation on the emulated template: both rating paths, the lead's task with its context,
"Nutno řešit", the marketing pause, both resolution paths, the stream filter, domain events, and exactly-once
under re-delivered and half-failed stream batches."""

from __future__ import annotations

import json
from datetime import date, timedelta
from typing import Any

import pytest

from crm_automation.errors import TransientError
from crm_automation.services import escalation as escalation_service

from .conftest import START, add_contact, runtime_for, stream_record, table_items

VERY_UNHAPPY = "Vysoká nespokojenost"
CATEGORY = "Nutno řešit"
LEAD = "vedouci.obchodu"  # the template's DefaultTeamLead


def _client(cloud, key: str = "k1", **extra: Any) -> dict[str, Any]:
    contact = add_contact(cloud, key, quiet_days=20, company=f"Pekárna {key} s.r.o.", **extra)
    for title, status, value in (("Rozšíření licence", "open", 120000), ("Servisní smlouva", "open", 48000),
                                 ("Starý projekt", "lost", 9000)):
        response = cloud.http("POST", "/deals", json={"contact_id": key, "title": title, "status": status,
                                                      "value": value})
        assert response.status == 201, response.body
    for kind, days, subject in (("complaint", 10, "Pozdní dodávka"), ("ticket", 5, "Nefunguje export"),
                                ("ticket", 200, "Starý tiket"), ("call", 2, "Běžný hovor")):
        response = cloud.http("POST", "/activities", json={
            "contact_id": key, "kind": kind, "subject": subject,
            "occurred_at": (START - timedelta(days=days)).isoformat()})
        assert response.status == 201, response.body
    return contact


def _contact(cloud, key: str) -> dict[str, Any]:
    response = cloud.http("GET", f"/contacts/{key}")
    assert response.status == 200, response.body
    return response.json()


def _escalation_tasks(cloud, key: str) -> list[dict[str, Any]]:
    return [t for t in table_items(cloud, "TasksTable") if t["contact_id"] == key and t.get("workflow") == "escalation"]


def _rate(cloud, key: str, value: str) -> None:
    response = cloud.http("PATCH", f"/contacts/{key}", json={"satisfaction": value})
    assert response.status == 200, response.body


def test_a_user_rating_escalates_with_a_task_for_the_lead_the_category_and_a_pause(cloud) -> None:
    _client(cloud, "k1")
    _rate(cloud, "k1", VERY_UNHAPPY)

    [task] = _escalation_tasks(cloud, "k1")
    assert task["owner"] == LEAD
    assert task["title"] == "Prověřit situaci u klienta Pekárna k1 s.r.o."
    assert task["due_date"] == date(2026, 3, 3).isoformat()  # Monday 2 March -> the next working day
    description = task["description"]
    assert "Pozdní dodávka" in description and "Nefunguje export" in description
    assert "Starý tiket" not in description and "Běžný hovor" not in description  # too old / not a complaint
    assert "Rozšíření licence · 120\u00a0000 CZK · otevřený" in description
    assert "Starý projekt" not in description  # lost: not open
    assert description.index("Nefunguje export") < description.index("Pozdní dodávka")  # newest first

    contact = _contact(cloud, "k1")["contact"]
    assert CATEGORY in contact["categories"]
    assert contact["marketing_pause"]["reference"] == contact["escalation"]["escalation_id"]
    assert VERY_UNHAPPY in contact["marketing_pause"]["reason"]
    assert contact["escalation"]["state"] == "open"
    assert contact["escalation"]["lead"] == LEAD
    assert contact["escalation"]["rated_by"].endswith(":user/local-admin")


def test_team_leads_come_from_configuration(tmp_path) -> None:
    from crm_local import LocalCloud

    from .conftest import ROOT

    with LocalCloud(template=str(ROOT / "template.yaml"), start=START, out_dir=tmp_path / "out", quiet=True,
                    parameters={"TeamLeads": json.dumps({"petr.svoboda": "marie.kralova"})}) as cloud:
        add_contact(cloud, "k1", quiet_days=3)
        add_contact(cloud, "k2", quiet_days=3, owner="eva.mala")
        _rate(cloud, "k1", VERY_UNHAPPY)
        _rate(cloud, "k2", VERY_UNHAPPY)
        assert [t["owner"] for t in _escalation_tasks(cloud, "k1")] == ["marie.kralova"]
        assert [t["owner"] for t in _escalation_tasks(cloud, "k2")] == [LEAD]
        # no company: the contact's name stands in the title
        assert _escalation_tasks(cloud, "k1")[0]["title"] == "Prověřit situaci u klienta Jana Nováková k1"


def test_a_helpdesk_ticket_carrying_the_rating_escalates_too(cloud) -> None:
    _client(cloud, "k1")
    response = cloud.http("POST", "/activities", json={
        "activity_id": "ticket-981", "contact_id": "k1", "kind": "ticket", "subject": "Faktura znovu špatně",
        "satisfaction": "vysoká  NESPOKOJENOST"})  # any letter case and spacing
    assert response.status == 201, response.body

    [task] = _escalation_tasks(cloud, "k1")
    assert "Faktura znovu špatně · Vysoká nespokojenost" in task["description"]
    assert "z tiketu" in task["description"]
    contact = _contact(cloud, "k1")["contact"]
    assert contact["satisfaction"] == VERY_UNHAPPY
    assert contact["escalation"]["rated_by"] == "activity:ticket-981"


def test_an_unknown_satisfaction_value_is_refused_naming_the_allowed_values(cloud) -> None:
    add_contact(cloud, "k1", quiet_days=3)
    response = cloud.http("PATCH", "/contacts/k1", json={"satisfaction": "Nespokojen hodně"})
    assert response.status == 422
    assert "satisfaction" in response.json()["message"] and "Vysoká nespokojenost" in response.json()["message"]
    assert _contact(cloud, "k1")["contact"]["satisfaction"] is None


def test_unrelated_updates_never_invoke_the_escalation_function(cloud) -> None:
    add_contact(cloud, "calm", quiet_days=3)
    add_contact(cloud, "angry", quiet_days=3)
    _rate(cloud, "angry", VERY_UNHAPPY)
    invoked = cloud.invocations["EscalationFunction"]
    filtered = cloud.filtered["EscalationFunction"]
    for i in range(10):
        for key in ("calm", "angry"):
            response = cloud.http("PATCH", f"/contacts/{key}", json={"phone": f"+420 600 000 {i:03d}"})
            assert response.status == 200
        _rate(cloud, "calm", ["Spokojenost", "Neutrální", "Nespokojenost"][i % 3])
    _rate(cloud, "angry", VERY_UNHAPPY)  # the same value again (a CRM sync): not a new rating
    assert cloud.invocations["EscalationFunction"] == invoked
    assert cloud.filtered["EscalationFunction"] - filtered == 31
    assert len(_escalation_tasks(cloud, "angry")) == 1


def test_another_critical_rating_while_open_creates_no_second_task(cloud) -> None:
    _client(cloud, "k1")
    _rate(cloud, "k1", VERY_UNHAPPY)
    response = cloud.http("POST", "/activities", json={"contact_id": "k1", "kind": "ticket",
                                                       "subject": "Pořád nic", "satisfaction": VERY_UNHAPPY})
    assert response.status == 201
    assert len(_escalation_tasks(cloud, "k1")) == 1
    assert _contact(cloud, "k1")["contact"]["escalation_history"] == []


def test_a_neutral_rating_resolves_lifts_the_pause_and_closes_the_task(cloud) -> None:
    _client(cloud, "k1")
    _rate(cloud, "k1", VERY_UNHAPPY)
    _rate(cloud, "k1", "Nespokojenost")  # still negative: stays open
    assert _contact(cloud, "k1")["contact"]["escalation"]["state"] == "open"
    _rate(cloud, "k1", "Neutrální")

    contact = _contact(cloud, "k1")["contact"]
    assert contact["marketing_pause"] is None
    assert CATEGORY not in contact["categories"]
    escalation = contact["escalation"]
    assert escalation["state"] == "resolved" and escalation["resolution"] == "satisfaction"
    assert escalation["satisfaction"] == VERY_UNHAPPY and escalation["resolved_by"].endswith(":user/local-admin")
    [task] = _escalation_tasks(cloud, "k1")
    assert task["status"] == "cancelled"
    assert task["resolution"] == "Vyřešeno bez úkolu: spokojenost změněna na „Neutrální“ (zadal local-admin)."


def test_completing_an_escalation_task_needs_to_say_whether_it_is_resolved(cloud) -> None:
    _client(cloud, "k1")
    _rate(cloud, "k1", VERY_UNHAPPY)
    [task] = _escalation_tasks(cloud, "k1")
    unclear = cloud.http("POST", f"/tasks/{task['task_id']}/complete", json={"resolution": "Volal jsem."})
    assert unclear.status == 400 and unclear.json()["message"].startswith("resolved:")
    assert _escalation_tasks(cloud, "k1")[0]["status"] == "open"  # nothing written
    # completed as not resolved: the escalation and the pause stay until the rating improves
    other = cloud.http("POST", f"/tasks/{task['task_id']}/complete",
                       json={"resolution": "Volal jsem, nebere to.", "resolved": False})
    assert other.status == 200
    contact = _contact(cloud, "k1")["contact"]
    assert contact["escalation"]["state"] == "open" and contact["marketing_pause"] is not None
    _rate(cloud, "k1", "Spokojenost")
    assert _contact(cloud, "k1")["contact"]["escalation"]["resolution"] == "satisfaction"


def test_a_rating_given_while_open_does_not_reopen_after_the_lead_resolves(cloud) -> None:
    _client(cloud, "k1")
    _rate(cloud, "k1", VERY_UNHAPPY)
    cloud.clock.advance(timedelta(hours=1))
    response = cloud.http("POST", "/activities", json={"contact_id": "k1", "kind": "ticket", "subject": "Znovu",
                                                       "satisfaction": VERY_UNHAPPY})
    assert response.status == 201
    cloud.clock.advance(timedelta(hours=1))
    [task] = _escalation_tasks(cloud, "k1")
    cloud.http("POST", f"/tasks/{task['task_id']}/complete", json={"resolved": True})
    contact = _contact(cloud, "k1")["contact"]
    assert contact["escalation"]["state"] == "resolved" and contact["marketing_pause"] is None
    assert len(_escalation_tasks(cloud, "k1")) == 1
    # a rating given after the resolution does escalate again
    cloud.clock.advance(timedelta(days=3))
    cloud.http("POST", "/activities", json={"contact_id": "k1", "kind": "ticket", "subject": "A zase",
                                            "satisfaction": VERY_UNHAPPY})
    assert len(_escalation_tasks(cloud, "k1")) == 2


def test_the_lead_marks_the_task_resolved(cloud) -> None:
    _client(cloud, "k1")
    _rate(cloud, "k1", VERY_UNHAPPY)
    [task] = _escalation_tasks(cloud, "k1")
    done = cloud.http("POST", f"/tasks/{task['task_id']}/complete",
                      json={"resolution": "Sleva 10 % a nový termín dodávky.", "resolved": True})
    assert done.status == 200, done.body

    contact = _contact(cloud, "k1")["contact"]
    assert contact["marketing_pause"] is None and CATEGORY not in contact["categories"]
    escalation = contact["escalation"]
    assert escalation["resolution"] == "task"
    assert escalation["resolution_note"] == "Sleva 10 % a nový termín dodávky."
    assert escalation["resolved_by"].endswith(":user/local-admin")
    # the rating itself is still critical, but it has had its escalation: no new one
    assert contact["satisfaction"] == VERY_UNHAPPY
    assert len(_escalation_tasks(cloud, "k1")) == 1


def test_a_new_critical_rating_after_a_resolution_escalates_again(cloud) -> None:
    _client(cloud, "k1")
    _rate(cloud, "k1", VERY_UNHAPPY)
    _rate(cloud, "k1", "Spokojenost")
    cloud.clock.advance(timedelta(days=20))
    response = cloud.http("POST", "/activities", json={"contact_id": "k1", "kind": "complaint",
                                                       "subject": "Zase zpoždění", "satisfaction": VERY_UNHAPPY})
    assert response.status == 201

    tasks = sorted(_escalation_tasks(cloud, "k1"), key=lambda t: t["created_at"])
    assert [t["status"] for t in tasks] == ["cancelled", "open"]
    contact = _contact(cloud, "k1")["contact"]
    assert contact["escalation"]["escalation_id"] == "esc-k1-2" and contact["escalation"]["state"] == "open"
    assert [e["escalation_id"] for e in contact["escalation_history"]] == ["esc-k1-1"]
    assert contact["escalation_history"][0]["resolution"] == "satisfaction"
    assert contact["marketing_pause"]["reference"] == "esc-k1-2"


def test_every_action_goes_out_on_the_event_bus_once(cloud) -> None:
    _client(cloud, "k1")
    _rate(cloud, "k1", VERY_UNHAPPY)
    _rate(cloud, "k1", "Spokojenost")
    kinds = [e["detail-type"] for e in cloud.bus_events() if e["detail"].get("contact_id") == "k1"]
    # each stream keeps its own order; the two streams interleave as they come
    assert [k for k in kinds if k.startswith("contact.")] == [
        "contact.escalated", "contact.marketing_paused", "contact.escalation_resolved", "contact.marketing_resumed"]
    assert [k for k in kinds if k.startswith("task.")] == ["task.created", "task.cancelled"]
    created = next(e for e in cloud.bus_events("task.created") if e["detail"]["workflow"] == "escalation")
    assert created["source"] == "crm-automation"
    assert created["detail"]["owner"] == LEAD and created["detail"]["due_date"] == "2026-03-03"
    assert "title" not in created["detail"] and "description" not in created["detail"]  # text stays in the CRM
    ids = [e["detail"]["event_id"] for e in cloud.bus_events()]
    assert len(ids) == len(set(ids))


def test_a_publisher_record_delivered_twice_is_published_once(cloud) -> None:
    add_contact(cloud, "k1", quiet_days=3)
    _rate(cloud, "k1", VERY_UNHAPPY)
    [task] = _escalation_tasks(cloud, "k1")
    before = len(cloud.bus_events())
    record = stream_record(cloud, "TasksTable", "task_id", task, "900")
    for _ in range(2):
        result = cloud.invoke("EventPublisherFunction", {"Records": [record]})
        assert result == {"batchItemFailures": []}
    assert len(cloud.bus_events()) == before + 1


def _critical_change(cloud, key: str, sequence: str) -> dict[str, Any]:
    [item] = [c for c in table_items(cloud, "ContactsTable") if c["contact_id"] == key]
    old = {k: v for k, v in item.items() if k not in ("escalate_due", "satisfaction", "satisfaction_level")}
    return stream_record(cloud, "ContactsTable", "contact_id", item, sequence, old=old)


def test_a_rating_record_delivered_twice_escalates_once(cloud) -> None:
    add_contact(cloud, "k1", quiet_days=3)
    _rate(cloud, "k1", VERY_UNHAPPY)
    assert len(_escalation_tasks(cloud, "k1")) == 1
    # the same record again (as Lambda re-delivers after a retried batch), twice
    record = _critical_change(cloud, "k1", "950")
    for _ in range(2):
        assert cloud.invoke("EscalationFunction", {"Records": [record]}) == {"batchItemFailures": []}
    assert len(_escalation_tasks(cloud, "k1")) == 1
    assert _contact(cloud, "k1")["contact"]["escalation_history"] == []


@pytest.mark.parametrize("fail", ["before writing", "after committing"])
def test_a_batch_failing_half_way_is_retried_without_doubling(cloud, monkeypatch, fail: str) -> None:
    rt = runtime_for(cloud)
    for key in ("a", "b", "c"):
        add_contact(cloud, key, quiet_days=3)
    from crm_automation.domain.escalation import rate

    for key in ("a", "b", "c"):  # all three ratings land in one stream batch, "a" first
        contact = rt.store.contacts.get(key)
        assert contact is not None
        rt.store.contacts.save(rate(contact, VERY_UNHAPPY, cloud.clock.now(), "helpdesk", rt.settings))
    real = escalation_service._escalate
    calls: list[str] = []

    def flaky(rt_, contact, now):
        calls.append(contact.contact_id)
        if contact.contact_id == "a" and calls.count("a") == 1:
            if fail == "after committing":
                real(rt_, contact, now)  # the work is done, then the invocation dies
            raise TransientError("throttled")
        return real(rt_, contact, now)

    monkeypatch.setattr(escalation_service, "_escalate", flaky)
    cloud.settle()
    # the first record failed, so the whole rest of the batch was delivered again
    assert calls.count("a") == (2 if fail == "before writing" else 1)
    assert {k: len(_escalation_tasks(cloud, k)) for k in ("a", "b", "c")} == {"a": 1, "b": 1, "c": 1}
    assert all(_contact(cloud, k)["contact"]["escalation"]["escalation_id"] == f"esc-{k}-1" for k in "abc")


def test_a_lost_race_is_decided_again_on_the_fresh_record(cloud, monkeypatch) -> None:
    add_contact(cloud, "k1", quiet_days=3)
    rt = runtime_for(cloud)
    from crm_automation.adapters.dynamodb import Store

    original = Store.transact
    raced: list[bool] = []

    def someone_writes_first(self, operations):
        if not raced:  # a salesperson edits the contact between the function's read and its write
            raced.append(True)
            contact = rt.store.contacts.get("k1")
            assert contact is not None
            rt.store.contacts.save(contact.model_copy(update={"phone": "+420 777 000 111"}))
        return original(self, operations)

    from crm_automation.domain.escalation import rate

    contact = rt.store.contacts.get("k1")
    assert contact is not None
    rt.store.contacts.save(rate(contact, VERY_UNHAPPY, cloud.clock.now(), "helpdesk", rt.settings))
    monkeypatch.setattr(Store, "transact", someone_writes_first)
    assert escalation_service.on_contact(rt, "k1", cloud.clock.now()) == "escalated"
    contact_after = _contact(cloud, "k1")["contact"]
    assert contact_after["phone"] == "+420 777 000 111" and contact_after["escalation"]["state"] == "open"
    assert len(_escalation_tasks(cloud, "k1")) == 1


def test_a_malformed_record_goes_to_the_failure_queue_and_the_rest_of_the_batch_proceeds(cloud, caplog) -> None:
    add_contact(cloud, "k1", quiet_days=3)
    _rate(cloud, "k1", VERY_UNHAPPY)
    [task] = _escalation_tasks(cloud, "k1")
    good_contact = add_contact(cloud, "k2", quiet_days=3)
    assert good_contact
    rt = runtime_for(cloud)
    from crm_automation.domain.escalation import rate

    contact = rt.store.contacts.get("k2")
    assert contact is not None
    rt.store.contacts.save(rate(contact, VERY_UNHAPPY, cloud.clock.now(), "helpdesk", rt.settings))
    broken_task = {**task, "status": "done", "resolved": True, "due_date": "not a date"}
    records = [
        stream_record(cloud, "TasksTable", "task_id", broken_task, "970", old=task),
        _critical_change(cloud, "k2", "971"),
    ]
    result = cloud.invoke("EscalationFunction", {"Records": records})
    assert result == {"batchItemFailures": []}
    assert len(_escalation_tasks(cloud, "k2")) == 1  # the good record was processed
    messages = cloud.client("sqs").receive_message(QueueUrl=cloud.ref("StreamFailureQueue"),
                                                   MaxNumberOfMessages=10)["Messages"]
    parked = [json.loads(m["Body"]) for m in messages]
    reasons = [p.get("reason", "") for p in parked]
    assert any(r.startswith("ValidationError: due_date") for r in reasons), reasons
    assert "Unprocessable stream record sent to the on-failure queue" in caplog.text


def test_a_paused_contact_gets_no_reactivation_e_mail(cloud) -> None:
    add_contact(cloud, "k1", quiet_days=200)
    add_contact(cloud, "k2", quiet_days=200)
    cloud.advance(timedelta(hours=2))  # the 06:00 scan enrols both
    _rate(cloud, "k1", VERY_UNHAPPY)
    cloud.advance(timedelta(days=31), rate_resolution=timedelta(days=1))  # the follow-up: k2 gets the e-mail, k1 does not
    contact = _contact(cloud, "k1")["contact"]
    assert contact["marketing_pause"] is not None
    assert contact["inactivity"]["outcome"] == "email_skipped"
    assert contact["inactivity"]["skip_reason"] == "marketing_paused"
    followup_task = [t for t in table_items(cloud, "TasksTable") if t["contact_id"] == "k1" and t.get("workflow") == "inactivity"]
    assert len(followup_task) == 1
    assert _contact(cloud, "k2")["contact"]["inactivity"]["outcome"] == "email_sent"
    assert [m["To"] for m in cloud.mail_messages] == ["Jana Nováková k2 <k2@example.cz>"]
