"""Lead scoring and qualification on the emulated template: page views through the API, opens and clicks from SES
feedback, profile completeness on create and update, time decay (the contact view and campaign segments), and the
owner's task created exactly once under re-delivered and failing stream records."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from crm_automation.adapters.dynamodb import Store
from crm_automation.errors import TransientError
from crm_local import LocalCloud
from tests.integration.conftest import PUBLIC_URL, ROOT, stream_insert_event, table_items

MONDAY_0900 = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)  # Monday 09:00 Prague
THRESHOLD = 40  # the deployment's LeadScoring parameter lowers the default 50: the parameter reaches the functions


@pytest.fixture
def cloud(tmp_path: Path) -> Iterator[LocalCloud]:
    params = {"PublicBaseUrl": PUBLIC_URL, "SendWindow": "always", "SesMaxSendRate": "50",
              "LeadScoring": f'{{"threshold": {THRESHOLD}}}'}
    with LocalCloud(template=str(ROOT / "template.yaml"), start=MONDAY_0900, out_dir=tmp_path / "out", quiet=True,
                    parameters=params) as running:
        yield running


def new_lead(cloud: LocalCloud, key: str, **extra: Any) -> dict[str, Any]:
    """A lead with e-mail, first and last name and company: 15 profile points (no phone, no company fields)."""
    payload = {"contact_id": key, "first_name": "Jana", "last_name": f"Nováková {key}", "email": f"{key}@example.cz",
               "company": "Strojírna Novák s.r.o.", "owner": "petr.svoboda",
               "marketing_consent": {"granted": True, "at": "2026-01-01T00:00:00Z", "source": "web-form"}} | extra
    response = cloud.http("POST", "/contacts", json=payload)
    assert response.status == 201, response.body
    return response.json()


def activity(cloud: LocalCloud, key: str, kind: str, activity_id: str | None = None) -> None:
    body = {"contact_id": key, "kind": kind} | ({"activity_id": activity_id} if activity_id else {})
    response = cloud.http("POST", "/activities", json=body)
    assert response.status in (200, 201), response.body


def contact(cloud: LocalCloud, key: str) -> dict[str, Any]:
    return cloud.http("GET", f"/contacts/{key}").json()["contact"]


def qualified_tasks(cloud: LocalCloud) -> list[dict[str, Any]]:
    return [t for t in table_items(cloud, "TasksTable") if t.get("workflow") == "lead_scoring"]


def test_page_views_through_the_api_score_within_the_daily_cap(cloud) -> None:
    # Given a new lead: its profile scores at once
    created = new_lead(cloud, "visitor")
    assert created["lead_score"] == 15 and created["score"]["profile"] == 15
    # When the website reports eight page views today (2 points each, at most 10 a day)
    for n in range(8):
        activity(cloud, "visitor", "page_view", f"pv-{n}")
    # Then the score rose by the daily cap, not by 16, and nobody was qualified
    lead = contact(cloud, "visitor")
    assert lead["lead_score"] == 25
    assert lead["score"]["days"] == {"2026-03-02": {"page_view": 10}}
    assert lead["qualified_at"] is None and qualified_tasks(cloud) == []


def test_opens_and_clicks_from_ses_feedback_qualify_the_lead_with_one_task(cloud) -> None:
    # Given a lead with a phone (20 profile points) who filled in a form (15)
    new_lead(cloud, "reader", phone="+420 777 123 456")
    activity(cloud, "reader", "form", "form-1")
    assert contact(cloud, "reader")["lead_score"] == 35
    # And a newsletter sent to the leads
    response = cloud.http("POST", "/campaigns", json={"name": "Novinky", "template": "newsletter",
                                                      "segment_query": "lifecycle = lead"})
    assert response.status == 201, response.body
    assert cloud.http("POST", f"/campaigns/{response.json()['campaign_id']}/launch").status == 202
    message_id = cloud.message_ids_for("reader@example.cz")[0]

    # When the lead opens it (1 point): still below the threshold of 40
    cloud.ses_event(message_id, "Open")
    assert contact(cloud, "reader")["lead_score"] == 36 and qualified_tasks(cloud) == []
    # And clicks (5 points)
    cloud.ses_event(message_id, "Click", link="https://example.cz/nabidka")

    # Then the lead is qualified and its owner has one task, in Czech, due in two working days
    lead = contact(cloud, "reader")
    assert lead["lead_score"] == 41
    assert lead["qualified_at"] is not None
    tasks = qualified_tasks(cloud)
    assert len(tasks) == 1
    task = tasks[0]
    assert task["task_id"] == "qualified-reader" and task["owner"] == "petr.svoboda" and task["status"] == "open"
    assert task["title"] == "Kvalifikovaný lead: Jana Nováková reader – ozvat se"
    assert task["due_date"] == "2026-03-04"

    # When the lead clicks again a minute later and SNS delivers that event twice
    cloud.advance(timedelta(minutes=1))
    again = cloud.ses_event(message_id, "Click", link="https://example.cz/cenik")
    cloud.client("sqs").send_message(QueueUrl=cloud.ref("SesEventsQueue"), MessageBody=json.dumps(
        {"Type": "Notification", "MessageId": "dup", "Message": json.dumps(again)}))
    cloud.settle()
    # Then the click counted once, the qualification did not move and there is still one task
    later = contact(cloud, "reader")
    assert later["lead_score"] == 46
    assert later["qualified_at"] == lead["qualified_at"]
    assert len(qualified_tasks(cloud)) == 1


def test_a_redelivered_stream_record_scores_once_and_creates_one_task(cloud) -> None:
    # Given a lead at 35 points whose chat crosses the threshold
    new_lead(cloud, "chatter", phone="+420 777 123 456")
    activity(cloud, "chatter", "form", "form-1")
    activity(cloud, "chatter", "chat", "chat-1")
    assert contact(cloud, "chatter")["lead_score"] == 45
    assert [t["task_id"] for t in qualified_tasks(cloud)] == ["qualified-chatter"]
    # When the stream delivers the chat's record again
    item = next(a for a in table_items(cloud, "ActivitiesTable") if a["activity_id"] == "chat-1")
    result = cloud.invoke("ActivityProcessorFunction", stream_insert_event(cloud, item, "900"))
    # Then nothing fails, the points were counted once and there is one task
    assert result == {"batchItemFailures": []}
    assert contact(cloud, "chatter")["lead_score"] == 45
    assert len(qualified_tasks(cloud)) == 1


def _is_qualifying(operations: list[dict[str, Any]]) -> bool:
    return any(op.get("Put", {}).get("Item", {}).get("task_id", "").startswith("qualified-") for op in operations)


def test_a_transaction_that_fails_is_retried_and_creates_one_task(cloud, monkeypatch) -> None:
    # Given a lead one chat away from the threshold
    new_lead(cloud, "flaky", phone="+420 777 123 456")
    activity(cloud, "flaky", "form", "form-1")
    # And the qualifying transaction is throttled on its first attempt (DynamoDB writes nothing of it)
    original = Store.transact
    failures: list[str] = []

    def throttled_once(self, operations):
        if _is_qualifying(operations) and not failures:
            failures.append("throttled")
            raise TransientError("transaction throttled")
        return original(self, operations)

    monkeypatch.setattr(Store, "transact", throttled_once)
    # When the chat is recorded (the stream retries the failed record)
    activity(cloud, "flaky", "chat", "chat-1")
    # Then it was applied once on the retry: points once, qualified, one task
    assert failures == ["throttled"]
    lead = contact(cloud, "flaky")
    assert lead["lead_score"] == 45 and lead["qualified_at"] is not None
    assert len(qualified_tasks(cloud)) == 1


def test_a_function_dying_after_the_transaction_creates_no_second_task(cloud, monkeypatch) -> None:
    # Given a lead one chat away from the threshold
    new_lead(cloud, "crash", phone="+420 777 123 456")
    activity(cloud, "crash", "form", "form-1")
    # And the function dies right after its qualifying transaction committed (the record is delivered again)
    original = Store.transact
    crashes: list[str] = []

    def die_after_commit(self, operations):
        original(self, operations)
        if _is_qualifying(operations) and not crashes:
            crashes.append("died")
            raise TransientError("the function died after writing")

    monkeypatch.setattr(Store, "transact", die_after_commit)
    # When the chat is recorded
    activity(cloud, "crash", "chat", "chat-1")
    # Then the retry saw the activity applied: one task, the points once
    assert crashes == ["died"]
    assert contact(cloud, "crash")["lead_score"] == 45
    assert len(qualified_tasks(cloud)) == 1


def test_profile_completeness_on_update_can_qualify_the_lead(cloud) -> None:
    # Given a lead at 15 + 15 (form) + 5 (click) = 35 points
    new_lead(cloud, "grower")
    activity(cloud, "grower", "form", "form-1")
    activity(cloud, "grower", "click", "click-1")
    assert contact(cloud, "grower")["lead_score"] == 35
    # When the salesperson adds the phone and the company's industry
    response = cloud.http("PATCH", "/contacts/grower", json={
        "phone": "+420 777 123 456", "company_fields": {"industry": "Strojírenství"}})
    # Then the profile points count at once and the lead is qualified in the same write, with its task
    assert response.status == 200, response.body
    assert response.json()["lead_score"] == 45 and response.json()["qualified_at"] is not None
    assert [t["task_id"] for t in qualified_tasks(cloud)] == ["qualified-grower"]


def test_customers_are_scored_but_not_qualified_until_they_are_leads(cloud) -> None:
    # Given a customer with a lot of interest
    new_lead(cloud, "buyer", phone="+420 777 123 456", lifecycle="customer")
    activity(cloud, "buyer", "form", "form-1")
    activity(cloud, "buyer", "chat", "chat-1")
    # Then it has the score but is not qualified
    customer = contact(cloud, "buyer")
    assert customer["lead_score"] == 45 and customer["qualified_at"] is None and qualified_tasks(cloud) == []
    # When it is archived, then made a lead: no task while archived
    cloud.http("PATCH", "/contacts/buyer", json={"archived": True, "lifecycle": "lead"})
    assert contact(cloud, "buyer")["qualified_at"] is None and qualified_tasks(cloud) == []
    # And once it is back from the archive it qualifies
    back = cloud.http("PATCH", "/contacts/buyer", json={"archived": False}).json()
    assert back["qualified_at"] is not None and len(qualified_tasks(cloud)) == 1


def test_a_score_carried_over_from_an_older_crm_qualifies_and_decays(cloud) -> None:
    # Given a lead imported with the score its old CRM gave it
    imported = new_lead(cloud, "legacy", lead_score=60)
    assert imported["lead_score"] == 60 and imported["qualified_at"] is not None
    assert len(qualified_tasks(cloud)) == 1
    # When a month passes, the contact view shows the decayed score (45 above the profile halves)
    cloud.advance(timedelta(days=30), rate_resolution=timedelta(days=1))
    assert contact(cloud, "legacy")["lead_score"] == 15 + 23  # 22.5 rounds half up


def test_decay_shows_in_the_view_and_in_segments_and_a_second_crossing_makes_no_second_task(cloud) -> None:
    # Given a qualified lead (20 + 15 + 10 = 45)
    new_lead(cloud, "hot", phone="+420 777 123 456")
    activity(cloud, "hot", "form", "form-1")
    activity(cloud, "hot", "chat", "chat-1")
    first = contact(cloud, "hot")
    assert first["lead_score"] == 45 and first["qualified_at"] is not None
    campaign_id = cloud.http("POST", "/campaigns", json={
        "name": "Horké leady", "template": "newsletter", "segment_query": f"lead_score >= {THRESHOLD}"}).json()[
        "campaign_id"]

    def audience() -> int:
        return cloud.http("POST", f"/campaigns/{campaign_id}/preview", json={"samples": 0}).json()["audience"]

    assert audience() == 1
    # When 30 days pass without anything happening
    cloud.advance(timedelta(days=30), rate_resolution=timedelta(days=1))
    # Then the view shows the decayed score (25 behaviour points earned on 2 March, from its midnight: ~12.3)
    cooled = contact(cloud, "hot")
    assert cooled["lead_score"] == 20 + 12
    # And the segment no longer selects the lead
    assert audience() == 0
    # When the lead comes back with a form and a chat and crosses the threshold again
    activity(cloud, "hot", "form", "form-2")
    activity(cloud, "hot", "chat", "chat-2")
    again = contact(cloud, "hot")
    assert again["lead_score"] >= THRESHOLD and audience() == 1
    # Then it stays qualified since the first time and gets no second task
    assert again["qualified_at"] == first["qualified_at"]
    assert len(qualified_tasks(cloud)) == 1
