"""EventBridge adapter: put domain events on the bus, retrying the entries EventBridge reports as failed."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import boto3

from crm_automation.domain.domain_events import DomainEvent
from crm_automation.errors import TransientError

MAX_ENTRIES = 10  # PutEvents accepts at most 10 entries per call
ATTEMPTS = 3


class Bus:
    def __init__(self, name: str, source: str, client: Any | None = None) -> None:
        self.name, self.source = name, source
        self._client = client or boto3.client("events")

    def put(self, events: Sequence[DomainEvent]) -> int:
        entries = [{"EventBusName": self.name, "Source": self.source, "DetailType": e.detail_type,
                    "Detail": json.dumps(e.detail, ensure_ascii=False, separators=(",", ":"))} for e in events]
        for start in range(0, len(entries), MAX_ENTRIES):
            self._put(entries[start:start + MAX_ENTRIES])
        return len(entries)

    def _put(self, entries: list[dict[str, Any]]) -> None:
        for _ in range(ATTEMPTS):
            response = self._client.put_events(Entries=entries)
            if not response.get("FailedEntryCount"):
                return
            entries = [e for e, r in zip(entries, response["Entries"], strict=True) if r.get("ErrorCode")]
        raise TransientError(f"EventBridge refused {len(entries)} events after {ATTEMPTS} attempts")
