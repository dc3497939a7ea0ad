"""SQS adapter: batched sends with per-entry failure checking."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

import boto3

from crm_automation.errors import TransientError


class Queue:
    def __init__(self, url: str, client: Any | None = None) -> None:
        self.url = url
        self._client = client or boto3.client("sqs")

    def send_all(self, bodies: Iterable[dict[str, Any]]) -> int:
        sent = 0
        batch: list[dict[str, Any]] = []
        for body in bodies:
            batch.append(body)
            if len(batch) == 10:
                sent += self._send(batch)
                batch = []
        if batch:
            sent += self._send(batch)
        return sent

    def _send(self, batch: list[dict[str, Any]]) -> int:
        entries = [{"Id": str(i), "MessageBody": json.dumps(b, separators=(",", ":"))} for i, b in enumerate(batch)]
        response = self._client.send_message_batch(QueueUrl=self.url, Entries=entries)
        if response.get("Failed"):
            raise TransientError(f"{len(response['Failed'])} of {len(entries)} messages not queued")
        return len(entries)
