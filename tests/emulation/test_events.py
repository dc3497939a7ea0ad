"""EventBridge buses: provisioning, Ref/GetAtt, and the tap that records every event put on them."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from crm_local import LocalCloud

from .support import EVENTS_TEMPLATE, START

BUS_ARN = "arn:aws:events:eu-central-1:123456789012:event-bus/crm-local-crm"


@pytest.fixture
def bus_cloud(tmp_path: Path) -> Iterator[LocalCloud]:
    with LocalCloud(template=EVENTS_TEMPLATE, start=START, out_dir=tmp_path / "out", quiet=True) as running:
        yield running


def publish(cloud: LocalCloud, *entries: dict) -> list[str]:
    result = cloud.invoke("PublisherFunction", {"entries": list(entries)})
    assert result["failed"] == 0
    return result["ids"]


def test_bus_ref_and_getatt_are_name_and_moto_arn(bus_cloud: LocalCloud) -> None:
    # Given a bus named !Sub "${AWS::StackName}-crm" and one named plainly
    # Then !Ref and .Name are the names, .Arn is moto's ARN, and the buses exist under them
    assert bus_cloud.ref("CrmEventBus") == "crm-local-crm" == bus_cloud.get_att("CrmEventBus", "Name")
    assert bus_cloud.get_att("CrmEventBus", "Arn") == BUS_ARN
    assert bus_cloud.ref("AuditBus") == "audit" == bus_cloud.physical_name("AuditBus")
    described = bus_cloud.client("events").describe_event_bus(Name="crm-local-crm")
    assert described["Arn"] == BUS_ARN and described["Description"] == "CRM domain events"
    # and the function's environment carries them
    env = bus_cloud.functions["PublisherFunction"].environment
    assert env["EVENT_BUS_NAME"] == "crm-local-crm"
    assert env["EVENT_BUS_ARN"] == BUS_ARN
    assert env["AUDIT_BUS_NAME"] == "audit"


def test_archive_is_created_on_its_bus(bus_cloud: LocalCloud) -> None:
    # Given an archive of the bus with an event pattern
    name = bus_cloud.ref("CrmEventArchive")
    assert name == "crm-local-CrmEventArchive" == bus_cloud.functions["PublisherFunction"].environment["ARCHIVE_NAME"]
    # When one matching and one other event are put
    publish(bus_cloud, {"detail_type": "ContactCreated", "detail": {}}, {"detail_type": "Other", "source": "x", "detail": {}})
    # Then the archive exists as declared and holds the matching event only
    archive = bus_cloud.client("events").describe_archive(ArchiveName=name)
    assert bus_cloud.get_att("CrmEventArchive", "Arn") == archive["ArchiveArn"]
    assert archive["EventSourceArn"] == BUS_ARN
    assert json.loads(archive["EventPattern"]) == {"source": ["crm.contacts"]}
    assert archive["RetentionDays"] == 7 and archive["EventCount"] == 1


def test_events_put_by_a_function_are_recorded_in_order(bus_cloud: LocalCloud) -> None:
    # When the function puts events on both buses (one detail type with quotes, Czech text in the detail)
    ids = publish(
        bus_cloud,
        {"detail_type": "ContactCreated", "detail": {"contact_id": "c-1", "name": "Jana Nováková"}},
        {"detail_type": 'Tag "VIP" added', "detail": {"contact_id": "c-1"}, "bus": "AUDIT_BUS_NAME"},
        {"detail_type": "ContactCreated", "detail": {"contact_id": "c-2"}},
    )
    # Then bus_events() has their envelopes, in order, detail parsed, time on the engine's clock
    events = bus_cloud.bus_events()
    assert [e["id"] for e in events] == ids
    first = events[0]
    assert first["detail"] == {"contact_id": "c-1", "name": "Jana Nováková"}
    assert first["detail-type"] == "ContactCreated" and first["source"] == "crm.contacts"
    assert first["time"] == "2026-01-05T07:00:00Z"
    assert first["account"] == "123456789012" and first["region"] == "eu-central-1"
    assert first["version"] == "0" and first["resources"] == []
    assert "ingestion-time" not in first
    assert events[1]["detail-type"] == 'Tag "VIP" added'
    # and a detail type selects, and reading again loses nothing
    assert [e["detail"]["contact_id"] for e in bus_cloud.bus_events("ContactCreated")] == ["c-1", "c-2"]
    assert bus_cloud.bus_events() == events


def test_events_are_written_as_json_lines(bus_cloud: LocalCloud) -> None:
    # When events are put before and after the clock moves
    publish(bus_cloud, {"detail_type": "ContactCreated", "detail": {"contact_id": "c-1"}})
    bus_cloud.advance(timedelta(days=1))
    publish(bus_cloud, {"detail_type": "ContactUpdated", "detail": {"contact_id": "c-1", "city": "Brno"}})
    # Then <out_dir>/events.jsonl has one envelope per line, as bus_events() returns them
    assert bus_cloud.out_dir is not None
    path = bus_cloud.out_dir / "events.jsonl"
    assert bus_cloud.events_file == path
    lines = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    assert lines == bus_cloud.bus_events()
    assert [e["time"] for e in lines] == ["2026-01-05T07:00:00Z", "2026-01-06T07:00:00Z"]


def test_explicit_time_and_direct_puts_are_kept(bus_cloud: LocalCloud) -> None:
    # When the publisher sets Time itself, and a test puts an event with its own client
    publish(bus_cloud, {"detail_type": "Backdated", "detail": {}, "time": "2025-12-24T18:00:00Z"})
    bus_cloud.client("events").put_events(
        Entries=[{"EventBusName": BUS_ARN, "Source": "test", "DetailType": "Direct", "Detail": '{"n": 1}'}]
    )
    # Then the given time is kept and the direct put is recorded too
    backdated, direct = bus_cloud.bus_events()
    assert backdated["time"] == "2025-12-24T18:00:00Z"
    assert direct["detail"] == {"n": 1} and direct["time"] == "2026-01-05T07:00:00Z"


def test_tap_is_the_only_extra_rule_and_queue(bus_cloud: LocalCloud) -> None:
    # The engine's catch-all rule sits on each bus (next to the archive's managed rule), delivering to one queue
    events = bus_cloud.client("events")
    rules = {r["Name"]: r for r in events.list_rules(EventBusName="audit")["Rules"]}
    assert set(rules) == {"crm-local-eventbridge-tap"}
    assert json.loads(rules["crm-local-eventbridge-tap"]["EventPattern"]) == {"account": ["123456789012"]}
    assert "crm-local-eventbridge-tap" in {r["Name"] for r in events.list_rules(EventBusName="crm-local-crm")["Rules"]}
    queues = bus_cloud.client("sqs").list_queues()["QueueUrls"]
    assert [q.rsplit("/", 1)[1] for q in queues] == ["crm-local-eventbridge-tap"]


def test_template_without_buses_records_nothing(cloud: LocalCloud) -> None:
    # Given the fixture template (no buses) after a function ran
    cloud.http("GET", "/public", token=None)
    # Then there are no bus events, no events.jsonl and no tap queue
    assert cloud.bus_events() == []
    assert cloud.events_file is None
    assert cloud.out_dir is not None and not (cloud.out_dir / "events.jsonl").exists()
    queues = cloud.client("sqs").list_queues()["QueueUrls"]
    assert not [q for q in queues if q.endswith("-eventbridge-tap")]


def test_events_file_starts_afresh_with_each_cloud(tmp_path: Path) -> None:
    # Given an events.jsonl left by an earlier run
    out = tmp_path / "out"
    out.mkdir()
    (out / "events.jsonl").write_text('{"old": true}\n', encoding="utf-8")
    # When a new cloud with a bus starts and publishes
    with LocalCloud(template=EVENTS_TEMPLATE, start=START, out_dir=out, quiet=True) as cloud:
        publish(cloud, {"detail_type": "ContactCreated", "detail": {}})
    # Then the file holds this run's event only
    (line,) = (out / "events.jsonl").read_text(encoding="utf-8").splitlines()
    assert json.loads(line)["detail-type"] == "ContactCreated"


def test_archive_moto_refuses_is_skipped_with_a_warning(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    # Given an archive whose name is longer than EventBridge allows (48)
    template = tmp_path / "template.yaml"
    template.write_text(
        "Resources:\n"
        "  Bus: {Type: AWS::Events::EventBus, Properties: {Name: lone}}\n"
        f"  Archive: {{Type: AWS::Events::Archive, Properties: {{ArchiveName: {'a' * 49}, SourceArn: !GetAtt Bus.Arn}}}}\n",
        encoding="utf-8",
    )
    # When the cloud starts
    with caplog.at_level("WARNING", logger="crm_local"), LocalCloud(template=template, start=START) as cloud:
        # Then it runs without the archive, says so, and still resolves the archive's Ref and Arn
        assert "archive Archive" in caplog.text and "not created locally" in caplog.text
        assert cloud.ref("Archive") == "a" * 49
        assert cloud.get_att("Archive", "Arn") == f"arn:aws:events:eu-central-1:123456789012:archive/{'a' * 49}"
        assert cloud.client("events").list_archives()["Archives"] == []
        assert cloud.ref("Bus") == "lone" and cloud.bus_events() == []
