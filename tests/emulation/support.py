"""Helpers for the local-emulation engine tests (the tiny fixture template and its handler modules)."""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType

INFRA = Path(__file__).resolve().parents[2] / "infra"
if str(INFRA) not in sys.path:  # also works before `pip install -e .` learned about crm_local
    sys.path.insert(0, str(INFRA))

from crm_local import LocalCloud  # noqa: E402

FIXTURES = Path(__file__).resolve().parent / "fixtures"
TEMPLATE = FIXTURES / "template.yaml"
EVENTS_TEMPLATE = FIXTURES / "events.yaml"  # EventBridge buses, an archive, a publishing function
START = datetime(2026, 1, 5, 7, 0, tzinfo=UTC)  # a Monday, 08:00 in Prague
def module(cloud: LocalCloud, function: str) -> ModuleType:
    """The fixture handler module of ``function`` in this cloud (imported on first use, like a cold start)."""
    runtime = cloud.runtimes[function]
    runtime.handler()
    assert runtime.module is not None
    return runtime.module


def put(cloud: LocalCloud, pk: str, **attrs: str) -> None:
    """Write an item straight to the table (no settle: records wait in the stream)."""
    item = {"pk": {"S": pk}, **{k: ({"N": v[1:]} if v.startswith("#") else {"S": v}) for k, v in attrs.items()}}
    cloud.client("dynamodb").put_item(TableName=cloud.physical_name("ItemsTable"), Item=item)


def queue_messages(cloud: LocalCloud, logical_id: str) -> list[dict]:
    sqs = cloud.client("sqs")
    out: list[dict] = []
    while True:
        got = sqs.receive_message(
            QueueUrl=cloud.ref(logical_id), MaxNumberOfMessages=10, MessageAttributeNames=["All"], VisibilityTimeout=300
        ).get("Messages", [])
        if not got:
            return out
        out.extend(got)
