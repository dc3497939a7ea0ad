"""lead.captured, lead.qualified, contact.erased and consent.changed: derived from the records' old and new images,
with ids and states only (no e-mail, name or request metadata), and the publisher's stream filters that let them
through."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import yaml
from boto3.dynamodb.types import TypeSerializer
from moto.events.models import EventPattern

from crm_automation.adapters.dynamodb import ContactsRepo, Store
from crm_automation.domain.domain_events import consent_event, contact_events, erased_event
from crm_automation.domain.models import LeadCapture
from crm_automation.settings import Settings
from tests.factories import NOW, contact

S = Settings()
ROOT = Path(__file__).resolve().parents[2]
PERSONAL = ("jana", "nováková", "novakova", "example.cz", "192.0.2.7", "Mozilla")


class _Ignore(yaml.SafeLoader):
    pass


_Ignore.add_multi_constructor("!", lambda loader, suffix, node: None)


def _capture(capture_id: str, at=NOW) -> LeadCapture:
    return LeadCapture(capture_id=capture_id, channel="form", source="form:kontakt", at=at,
                       utm={"utm_source": "newsletter"})


def _no_personal_data(detail: dict[str, Any]) -> None:
    text = json.dumps(detail, ensure_ascii=False).lower()
    assert not [p for p in PERSONAL if p.lower() in text], text


def test_a_new_capture_is_lead_captured_and_a_replay_or_other_write_is_not() -> None:
    # Given a contact a form brought, then the same person again through another submission
    first = contact(last_capture=_capture("cap-1"), lead_source="form:kontakt")
    again = first.model_copy(update={"last_capture": _capture("cap-2", NOW + timedelta(days=3))})
    # When / Then
    [created] = contact_events(None, first)
    assert created.detail_type == "lead.captured"
    assert created.detail["new_contact"] is True and created.detail["capture_id"] == "cap-1"
    assert created.detail["utm"] == {"utm_source": "newsletter"} and created.detail["channel"] == "form"
    [repeated] = contact_events(first, again)
    assert repeated.detail["new_contact"] is False and repeated.detail["capture_id"] == "cap-2"
    assert contact_events(first, first.model_copy(update={"phone": "+420 777"})) == []
    _no_personal_data(created.detail)


def test_qualification_is_published_once() -> None:
    lead = contact(lead_score=40)
    qualified = lead.model_copy(update={"lead_score": 55, "qualified_at": NOW})
    [event] = contact_events(lead, qualified)
    assert event.detail_type == "lead.qualified"
    assert event.detail == {"contact_id": "c-1", "owner": "petr.svoboda", "lead_score": 55,
                            "qualified_at": NOW.isoformat(), "lead_source": None}
    assert contact_events(qualified, qualified.model_copy(update={"lead_score": 70})) == []
    assert [e.detail_type for e in contact_events(None, qualified)] == ["lead.qualified"]  # created qualified


def test_the_erasure_tombstone_is_contact_erased_once() -> None:
    before = ContactsRepo(_store(), "contacts").to_item(contact())
    tombstone = {"contact_id": "c-1", "erased": True, "erased_at": "2026-06-01T04:00:00.000000Z", "version": 5}
    [event] = erased_event(before, tombstone)
    assert event.detail_type == "contact.erased"
    assert event.detail == {"contact_id": "c-1", "erased_at": "2026-06-01T04:00:00.000000Z"}
    assert erased_event(tombstone, tombstone | {"erasure_completed_at": "x", "version": 6}) == []


def test_a_consent_entry_is_consent_changed_without_its_request_metadata() -> None:
    entry = {"contact_id": "c-1", "entry_id": "2026-06-01T04:00:00.000000Z#e1", "purpose": "marketing",
             "state": "pending", "channel": "form", "source": "form:kontakt", "text_version": "2026-01",
             "at": "2026-06-01T04:00:00.000000Z", "request_id": "r1",
             "metadata": {"ip": "192.0.2.7", "user_agent": "Mozilla/5.0", "page_url": "https://example.cz/?e=jana"}}
    event = consent_event(entry)
    assert event.detail_type == "consent.changed"
    assert event.detail["state"] == "pending" and "metadata" not in event.detail
    _no_personal_data(event.detail)


# -------------------------------------------------------------------- the publisher's contacts-stream filter

def _store() -> Store:
    store = Store.__new__(Store)
    store.settings = S
    return store


def _patterns() -> list[EventPattern]:
    template = yaml.load((ROOT / "template.yaml").read_text(), Loader=_Ignore)  # noqa: S506 - SafeLoader subclass
    events = template["Resources"]["EventPublisherFunction"]["Properties"]["Events"]
    return [EventPattern.load(f["Pattern"]) for f in events["ContactChanges"]["Properties"]["FilterCriteria"]["Filters"]]


def _passes(old: dict[str, Any] | None, new: dict[str, Any]) -> bool:
    serializer = TypeSerializer()
    dynamodb = {"NewImage": {k: serializer.serialize(v) for k, v in new.items()}}
    if old is not None:
        dynamodb["OldImage"] = {k: serializer.serialize(v) for k, v in old.items()}
    record = {"eventName": "INSERT" if old is None else "MODIFY", "dynamodb": dynamodb}
    return any(p.matches_event(json.loads(json.dumps(record, default=str))) for p in _patterns())


def test_the_filter_passes_captures_qualifications_and_erasures() -> None:
    repo = ContactsRepo(_store(), "contacts")
    plain = repo.to_item(contact())
    captured = repo.to_item(contact(last_capture=_capture("cap-1")))
    qualified = repo.to_item(contact(qualified_at=NOW, lead_score=60))
    tombstone = {"contact_id": "c-1", "erased": True, "erased_at": "2026-06-01T04:00:00.000000Z", "version": 5}
    assert _passes(None, captured) and _passes(plain, captured)
    assert _passes(plain, qualified) and _passes(None, qualified)
    assert not _passes(qualified, qualified | {"phone": "1"})
    assert _passes(plain, tombstone)
    assert not _passes(tombstone, tombstone | {"erasure_completed_at": "2026-06-01T04:01:00.000000Z"})
    assert not _passes(plain, plain | {"phone": "1"})


def test_a_free_text_consent_source_stays_in_the_ledger() -> None:
    # Given an import row whose consent source column names a person
    entry = {"contact_id": "c-1", "entry_id": "e", "purpose": "marketing", "state": "granted", "channel": "import",
             "source": "předal Jan Novák na veletrhu", "at": "2026-06-01T04:00:00.000000Z"}
    # When / Then: the event says what changed, not the free text
    assert "source" not in consent_event(entry).detail
    assert consent_event(entry | {"channel": "form", "source": "form:kontakt"}).detail["source"] == "form:kontakt"
