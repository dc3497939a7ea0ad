"""Integration fixtures: the real template.yaml on the local emulation (moto server, handlers in-process)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest
from boto3.dynamodb.types import TypeSerializer

from crm_automation.adapters.dynamodb import FlowsRepo, Store
from crm_automation.adapters.ses import Mailer
from crm_automation.adapters.sqs import Queue
from crm_automation.services.runtime import Runtime
from crm_automation.settings import Settings
from crm_local import LocalCloud

ROOT = Path(__file__).resolve().parents[2]
START = datetime(2026, 3, 2, 4, 0, tzinfo=UTC)  # Monday 05:00 Prague, one hour before the daily scan
FIRST_SCAN = datetime(2026, 3, 2, 5, 0, tzinfo=UTC)


@pytest.fixture
def cloud(tmp_path: Path) -> Iterator[LocalCloud]:
    with LocalCloud(template=str(ROOT / "template.yaml"), start=START, out_dir=tmp_path / "out",
                    quiet=True) as running:
        yield running


PUBLIC_URL = "https://crm.example.cz"


def signing_secret(cloud: LocalCloud) -> str:
    """The deployment's signing secret as the emulation generated it (functions read it from Secrets Manager)."""
    return cloud.client("secretsmanager").get_secret_value(SecretId=cloud.ref("SigningSecret"))["SecretString"]


def runtime_for(cloud: LocalCloud, **settings_overrides: Any) -> Runtime:
    """A Runtime wired to the emulation's resources, for calling services directly from a test."""
    wiring: dict[str, Any] = dict(
        contacts_table=cloud.physical_name("ContactsTable"), deals_table=cloud.physical_name("DealsTable"),
        activities_table=cloud.physical_name("ActivitiesTable"), tasks_table=cloud.physical_name("TasksTable"),
        flows_table=cloud.physical_name("FlowsTable"), timer_queue_url=cloud.ref("TimerQueue"),
        sender_email="obchod@example.cz",
        campaigns_table=cloud.physical_name("CampaignsTable"), addresses_table=cloud.physical_name("AddressesTable"),
        consents_table=cloud.physical_name("ConsentsTable"), reports_table=cloud.physical_name("ReportsTable"),
        campaign_plan_queue_url=cloud.ref("CampaignPlanQueue"), campaign_send_queue_url=cloud.ref("CampaignSendQueue"),
        signing_secret=signing_secret(cloud), public_base_url=PUBLIC_URL,
        ses_configuration_set=cloud.ref("EmailConfigurationSet"),
    )
    settings = Settings(**(wiring | settings_overrides))
    resource = boto3.resource("dynamodb", endpoint_url=cloud.endpoint_url, region_name="eu-central-1")
    runtime = Runtime(settings, store=Store(settings, resource),
                      mailer=Mailer(settings.ses_configuration_set, client=cloud.client("sesv2")),
                      timer_queue=Queue(settings.timer_queue_url, client=cloud.client("sqs")))
    runtime.__dict__["plan_queue"] = Queue(settings.campaign_plan_queue_url, client=cloud.client("sqs"))
    runtime.__dict__["send_queue"] = Queue(settings.campaign_send_queue_url, client=cloud.client("sqs"))
    return runtime


def add_contact(cloud: LocalCloud, key: str, quiet_days: int, **extra: Any) -> dict[str, Any]:
    payload = {
        "contact_id": key, "first_name": "Jana", "last_name": f"Nováková {key}", "email": f"{key}@example.cz",
        "owner": "petr.svoboda",
        "marketing_consent": {"granted": True, "at": "2024-01-01T00:00:00Z", "source": "web-form"},
        "last_activity_at": (START - timedelta(days=quiet_days)).isoformat(),
        "created_at": (START - timedelta(days=900)).isoformat(), **extra,
    }
    response = cloud.http("POST", "/contacts", json=payload)
    assert response.status == 201, response.body
    return response.json()


def table_items(cloud: LocalCloud, logical_id: str) -> list[dict[str, Any]]:
    table = boto3.resource("dynamodb", endpoint_url=cloud.endpoint_url,
                           region_name="eu-central-1").Table(cloud.physical_name(logical_id))
    return table.scan()["Items"]


def stream_record(cloud: LocalCloud, table: str, key: str, new: dict[str, Any] | None, sequence: str,
                  old: dict[str, Any] | None = None) -> dict[str, Any]:
    """One DynamoDB stream record exactly as Lambda delivers it (`table` is the logical id, `key` the key
    attribute)."""
    serializer = TypeSerializer()
    images = {name: {k: serializer.serialize(v) for k, v in image.items()}
              for name, image in (("NewImage", new), ("OldImage", old)) if image is not None}
    some_image = images.get("NewImage") or images["OldImage"]
    return {
        "eventID": f"evt-{sequence}", "eventName": "INSERT" if old is None else "REMOVE" if new is None else "MODIFY",
        "eventVersion": "1.1", "eventSource": "aws:dynamodb",
        "awsRegion": "eu-central-1", "eventSourceARN": cloud.get_att(table, "StreamArn"),
        "dynamodb": {"ApproximateCreationDateTime": 1772427600, "Keys": {key: some_image[key]}, **images,
                     "SequenceNumber": sequence, "SizeBytes": 256, "StreamViewType": "NEW_AND_OLD_IMAGES"},
    }


def stream_insert_event(cloud: LocalCloud, item: dict[str, Any], sequence: str) -> dict[str, Any]:
    """A DynamoDB stream event exactly as Lambda delivers one INSERT of `item` to the activity processor."""
    return {"Records": [stream_record(cloud, "ActivitiesTable", "activity_id", item, sequence)]}


@contextmanager
def dying_after_ses_send() -> Iterator[None]:
    """The block's function dies right after SES accepted a message, before the send ledger recorded it (the
    crash every exactly-once e-mail path must survive). The block must raise that crash."""
    original = FlowsRepo.ledger_set_op

    def die_after_send(self, send_key, state, when, message_id=None):  # noqa: ANN001, ANN202
        if state == "sent":
            raise RuntimeError("Lambda timed out after SES send")
        return original(self, send_key, state, when, message_id)

    FlowsRepo.ledger_set_op = die_after_send  # type: ignore[method-assign]
    try:
        with pytest.raises(RuntimeError, match="after SES send"):
            yield
    finally:
        FlowsRepo.ledger_set_op = original  # type: ignore[method-assign]
