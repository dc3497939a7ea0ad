"""What the template's EventBridge buses carried, read back through a tap the engine adds to each bus.

For every ``AWS::Events::EventBus`` it provisions, the engine puts its own catch-all rule
(``{"account": ["<account id>"]}``, named ``<name_prefix>-eventbridge-tap``) on the bus, targeting one
engine-owned SQS queue of the same name with the input template ``<aws.events.event.json>``: the queue
receives each event's whole envelope (``version``, ``id``, ``detail-type``, ``source``, ``account``, ``time``,
``region``, ``resources``, ``detail``), in the order the buses got them. (A plain SQS target would not do:
moto then builds a reduced envelope without ``account`` by pasting values into JSON text, and a
``detail-type`` with a ``"`` in it makes ``PutEvents`` fail with a 500.)

:meth:`BusTap.collect` drains the queue into :attr:`BusTap.events` after every invocation and settle round.
moto stamps ``time`` from the wall clock when the publisher passes no ``Time``; such events get the engine
clock's now instead (they are drained right after the call that put them, before the clock moves), as the
stream and queue consumers do with moto's timestamps. moto's extra ``ingestion-time`` is dropped. With an
``out_dir`` every event is also appended as one JSON line to ``<out_dir>/events.jsonl`` (started afresh by
each LocalCloud whose template has a bus).
"""

from __future__ import annotations

import json
from datetime import UTC
from pathlib import Path
from typing import TYPE_CHECKING, Any

from crm_local.schedules import parse_instant

if TYPE_CHECKING:
    from crm_local.cloud import LocalCloud

__all__ = ["BusTap"]

_WALL_CLOCK_STAMP_SECONDS = 2.0  # moto's ``time`` (whole seconds) vs its ``ingestion-time``: same call


class BusTap:
    """The engine's catch-all rule on every provisioned bus and the queue those rules deliver to."""

    def __init__(self, cloud: LocalCloud) -> None:
        self.cloud = cloud
        self.name = f"{cloud.name_prefix}-eventbridge-tap"
        self.path: Path | None = cloud.out_dir / "events.jsonl" if cloud.out_dir is not None else None
        self.buses: list[str] = []
        self.events: list[dict[str, Any]] = []
        self._queue_url: str | None = None

    def attach(self, bus_name: str) -> None:
        """Put the catch-all rule on ``bus_name`` (the tap queue is created with the first bus)."""
        if self._queue_url is None:
            self._queue_url = self.cloud.client("sqs").create_queue(QueueName=self.name)["QueueUrl"]
            if self.path is not None:
                self.path.unlink(missing_ok=True)  # a new run, a new record
        events = self.cloud.client("events")
        events.put_rule(
            Name=self.name,
            EventBusName=bus_name,
            EventPattern=json.dumps({"account": [self.cloud.account_id]}),
            Description="crm_local: every event on this bus, for LocalCloud.bus_events()",
        )
        events.put_targets(
            Rule=self.name,
            EventBusName=bus_name,
            Targets=[
                {
                    "Id": "tap",
                    "Arn": f"arn:aws:sqs:{self.cloud.region}:{self.cloud.account_id}:{self.name}",
                    "InputTransformer": {"InputPathsMap": {}, "InputTemplate": "<aws.events.event.json>"},
                }
            ],
        )
        self.buses.append(bus_name)

    def _pending(self) -> bool:
        """Cheap in-process check before an HTTP receive (unknown counts as "maybe")."""
        try:
            from moto.sqs.models import sqs_backends

            return bool(sqs_backends[self.cloud.account_id][self.cloud.region].queues[self.name]._messages)
        except Exception:  # noqa: BLE001 - fall back to receiving over HTTP
            return True

    def collect(self) -> list[dict[str, Any]]:
        """Drain the tap queue into :attr:`events` (and ``events.jsonl``). Returns the new events."""
        if self._queue_url is None or not self._pending():
            return []
        sqs = self.cloud.client("sqs")
        new: list[dict[str, Any]] = []
        while True:
            response = sqs.receive_message(
                QueueUrl=self._queue_url, MaxNumberOfMessages=10, VisibilityTimeout=60, WaitTimeSeconds=0
            )
            messages = response.get("Messages") or []
            if not messages:
                break
            sqs.delete_message_batch(
                QueueUrl=self._queue_url,
                Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(messages)],
            )
            new.extend(self._envelope(json.loads(m["Body"])) for m in messages)
        self.events.extend(new)
        if new and self.path is not None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self.path.open("a", encoding="utf-8") as out:
                out.writelines(json.dumps(event, ensure_ascii=False) + "\n" for event in new)
        if new:  # a downstream consumer's duty: the erased contact's mail goes from the local mail store
            from crm_local.erasure import honour

            honour(self.cloud, new)
        return new

    def _envelope(self, event: dict[str, Any]) -> dict[str, Any]:
        ingested = event.pop("ingestion-time", None)
        if ingested is not None:
            stamped = parse_instant(str(event["time"])).timestamp()
            if abs(stamped - float(ingested)) < _WALL_CLOCK_STAMP_SECONDS:
                event["time"] = self.cloud.clock.now().astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        return event
