"""Archive and erasure decisions (domain/privacy.py), without AWS."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from crm_automation.domain import deal_reactivation as flow
from crm_automation.domain import privacy
from crm_automation.domain.inactivity import is_candidate
from crm_automation.domain.models import Deal, DealStatus, Task, TaskStatus
from crm_automation.domain.suppression import SuppressionReason, marketing_suppression
from crm_automation.settings import Settings
from tests.factories import NOW, contact

S = Settings()


def deal(**overrides: Any) -> Deal:
    values: dict[str, Any] = {"deal_id": "d-1", "contact_id": "c-1", "owner": "petr.svoboda", "title": "Servis Novák",
                              "value": Decimal("120000"), "loss_reason": "Cena",
                              "last_activity_at": NOW - timedelta(days=100),
                              "created_at": NOW - timedelta(days=200), "updated_at": NOW - timedelta(days=100)}
    return Deal(**values | overrides)


def task(**overrides: Any) -> Task:
    values: dict[str, Any] = {"task_id": "t-1", "owner": "petr.svoboda", "title": "Zavolat Janu Novákovou",
                              "description": "Jana Nováková, jana@example.cz", "due_date": date(2026, 3, 3),
                              "contact_id": "c-1", "workflow": "inactivity", "created_at": NOW}
    return Task(**values | overrides)


def test_archiving_hides_the_contact_from_the_scan_and_marketing_and_unarchiving_undoes_it():
    # Given a contact that is a scan candidate
    c = contact()
    assert is_candidate(c)
    # When it is archived
    archived = privacy.archived(c, "Firma zanikla", NOW)
    # Then it is no candidate, automated marketing skips it, and archiving again changes nothing
    assert archived is not None and archived.archived and archived.archived_at == NOW
    assert archived.archive_reason == "Firma zanikla"
    assert not is_candidate(archived)
    assert marketing_suppression(archived) == SuppressionReason.ARCHIVED
    assert privacy.archived(archived, "again", NOW) is None
    # and unarchiving restores it
    back = privacy.unarchived(archived, NOW)
    assert back is not None and not back.archived and back.archived_at is None and back.archive_reason is None
    assert is_candidate(back) and privacy.unarchived(back, NOW) is None


def test_a_deal_of_an_archived_contact_leaves_the_reactivation_scan_and_its_flow_ends():
    # Given an open quiet deal, and one in the reactivation's sending step
    quiet = deal()
    sending = flow.plan_enrolment(deal(deal_id="d-2"), "stale", NOW, S).deal
    assert flow.quiet_since(quiet) is not None
    # When their contact is archived
    (archived_quiet, no_timer) = privacy.deal_with_contact_status(quiet, "archived", NOW)
    (archived_sending, timer) = privacy.deal_with_contact_status(sending, "archived", NOW)
    # Then neither is a scan candidate nor can be enrolled; the flow ended and its send timer is to be cancelled
    assert flow.quiet_since(archived_quiet) is None and no_timer is None
    assert not flow.can_enrol(archived_quiet, "stale", NOW + timedelta(days=400), S)
    assert not flow.can_enrol(archived_quiet.model_copy(update={"status": DealStatus.POSTPONED}), "postponed", NOW, S)
    assert archived_sending.reactivation.state == "ended"
    assert archived_sending.reactivation.outcome == "contact_archived"
    assert timer == sending.reactivation.send_timer_id
    # and the same status again is no change; active again makes it a candidate again
    assert privacy.deal_with_contact_status(archived_quiet, "archived", NOW) is None
    (active, _) = privacy.deal_with_contact_status(archived_quiet, "active", NOW)
    assert flow.quiet_since(active) is not None


def test_an_erased_contacts_deal_keeps_its_figures_only():
    d = deal(status=DealStatus.LOST)
    anonymised, cancel = privacy.anonymised_deal(d, NOW)
    assert anonymised.title == privacy.ERASED_TEXT and anonymised.contact_status == "erased" and cancel is None
    kept = ("deal_id", "contact_id", "owner", "value", "currency", "status", "loss_reason", "created_at",
            "last_activity_at")
    assert {k: getattr(anonymised, k) for k in kept} == {k: getattr(d, k) for k in kept}
    assert privacy.anonymised_deal(anonymised, NOW) is None  # idempotent


def test_an_erased_contacts_tasks_are_cancelled_if_open_and_lose_their_text():
    # Given an open task and a done one with a resolution
    open_task = privacy.scrubbed_task(task(), NOW)
    done = privacy.scrubbed_task(task(status=TaskStatus.DONE, completed_at=NOW, completed_by="petr.svoboda",
                                      resolution="Jana volala"), NOW)
    # Then the open one is cancelled by the erasure, the done one stays done; neither keeps any text
    assert open_task.status == TaskStatus.CANCELLED and open_task.completed_by == "erasure"
    assert done.status == TaskStatus.DONE and done.completed_by == "petr.svoboda"
    for t in (open_task, done):
        assert (t.title, t.description, t.resolution) == (privacy.ERASED_TEXT, "", None)
        assert (t.task_id, t.owner, t.due_date, t.workflow) == ("t-1", "petr.svoboda", date(2026, 3, 3), "inactivity")
        assert privacy.scrubbed_task(t, NOW) is None  # idempotent


def test_the_tombstone_holds_no_personal_data():
    c = contact(first_name="Jana", last_name="Nováková", email="jana@example.cz", phone="+420 601 111 222")
    tombstone = privacy.tombstone_of(c, NOW, "ab" * 32, "Žádost 4711")
    dumped = str(tombstone.model_dump())
    for value in ("Jana", "Nováková", "jana@example.cz", "601"):
        assert value not in dumped
    assert privacy.is_tombstone({"contact_id": "x", "erased": True}) and not privacy.is_tombstone({"contact_id": "x"})
    assert not privacy.is_tombstone(None)
