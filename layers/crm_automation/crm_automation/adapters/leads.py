"""DynamoDB adapter for lead capture, all in the Flows table (generic pk / sk, TTL on `expires_at`):

- capture markers `CAPTURE#<digest>` / `CAPTURE`: one per form submission, chatbot event or import row, written in
  the transaction that records the capture, so a replay is recognised and writes nothing;
- fixed-window rate counters `RATE#<scope>#<window>` / `RATE`: `ADD n` conditioned on the limit (client IP
  addresses only as keyed hashes);
- chatbot conversations `CONV#<conversation id>` / `CONV`: the linked contact and intents waiting for one.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from botocore.exceptions import ClientError

from crm_automation.adapters.dynamodb import Store, _item, _put, _translate, fmt_time
from crm_automation.domain.leads import Conversation

CAPTURE_TTL_SECONDS = 400 * 86400  # replays come within minutes; a year of markers is plenty
CONVERSATION_TTL_SECONDS = 30 * 86400


class LeadsRepo:
    def __init__(self, store: Store) -> None:
        self.store, self.table = store, store.settings.flows_table

    # -- capture markers
    @staticmethod
    def _capture_key(digest: str) -> dict[str, str]:
        return {"pk": f"CAPTURE#{digest}", "sk": "CAPTURE"}

    def capture(self, digest: str) -> dict[str, Any] | None:
        return self.store.get(self.table, self._capture_key(digest))

    def capture_op(self, digest: str, contact_id: str, channel: str, now: datetime) -> dict[str, Any]:
        item = self._capture_key(digest) | {"contact_id": contact_id, "channel": channel, "at": fmt_time(now),
                                            "expires_at": int(now.timestamp()) + CAPTURE_TTL_SECONDS}
        return {"Put": {"TableName": self.table, "Item": item, "ConditionExpression": "attribute_not_exists(pk)"}}

    # -- fixed-window rate counters
    def hit(self, scope: str, window: int, limit: int, expires_at: int) -> bool:
        """Count one request of `scope` in window `window`; False (and nothing counted) when `limit` is reached."""
        try:
            self.store.client.update_item(
                TableName=self.table, Key={"pk": f"RATE#{scope}#{window}", "sk": "RATE"},
                UpdateExpression="ADD n :one SET expires_at = :ttl",
                ConditionExpression="attribute_not_exists(n) OR n < :limit",
                ExpressionAttributeValues={":one": 1, ":limit": limit, ":ttl": expires_at})
            return True
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
                return False
            raise _translate(error) from error

    # -- chatbot conversations
    @staticmethod
    def _conversation_key(conversation_id: str) -> dict[str, str]:
        return {"pk": f"CONV#{conversation_id}", "sk": "CONV"}

    def conversation(self, conversation_id: str) -> Conversation | None:
        item = self.store.get(self.table, self._conversation_key(conversation_id))
        return Conversation.model_validate(item) if item else None

    def conversation_op(self, conversation: Conversation, now: datetime) -> dict[str, Any]:
        """Write the conversation (read at its version; 0 = new) as version + 1, expiring 30 days from now."""
        stored = conversation.model_copy(update={"version": conversation.version + 1})
        item = _item(stored) | self._conversation_key(conversation.conversation_id) | {
            "expires_at": int(now.timestamp()) + CONVERSATION_TTL_SECONDS}
        return _put(self.table, item, "pk", conversation.version or None)
