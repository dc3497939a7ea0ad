"""The consent ledger (ConsentsTable: pk contact_id, sk entry_id = "<time>#<id>"): append-only entries, so every
consent, confirmation and withdrawal stays as proof. Its stream (NEW_IMAGE) drives the double opt-in e-mail and the
consent.changed domain event."""

from __future__ import annotations

from typing import Any

from boto3.dynamodb.conditions import Attr, Key
from botocore.exceptions import ClientError

from crm_automation.adapters.dynamodb import Store, _item, _translate
from crm_automation.domain.consent import ConsentEntry, ConsentState


class ConsentsRepo:
    def __init__(self, store: Store, table: str) -> None:
        self.store, self.table = store, table

    def append_op(self, entry: ConsentEntry) -> dict[str, Any]:
        """A transaction Put of a new entry (never overwrites one: the ledger is append-only)."""
        return {"Put": {"TableName": self.table, "Item": _item(entry),
                        "ConditionExpression": "attribute_not_exists(entry_id)"}}

    def by_contact(self, contact_id: str, limit: int | None = None) -> list[ConsentEntry]:
        """The contact's ledger, newest first."""
        items = self.store.query(limit, TableName=self.table, KeyConditionExpression=Key("contact_id").eq(contact_id),
                                 ScanIndexForward=False, ConsistentRead=True)
        return [ConsentEntry.model_validate(i) for i in items]

    def confirmed(self, contact_id: str, request_id: str) -> bool:
        """Does the ledger hold the confirmation of this double opt-in request?"""
        items = self.store.query(
            TableName=self.table, KeyConditionExpression=Key("contact_id").eq(contact_id), ConsistentRead=True,
            FilterExpression=Attr("request_id").eq(request_id) & Attr("state").eq(ConsentState.CONFIRMED.value))
        return any(True for _ in items)

    def delete_all(self, contact_id: str) -> int:
        """Delete the contact's whole ledger (erasure only). Returns how many entries went; a throttle is a
        TransientError (retried), like every other write."""
        keys = list(self.store.query(TableName=self.table, KeyConditionExpression=Key("contact_id").eq(contact_id),
                                     ProjectionExpression="contact_id, entry_id", ConsistentRead=True))
        for key in keys:
            try:
                self.store.client.delete_item(TableName=self.table,
                                              Key={"contact_id": key["contact_id"], "entry_id": key["entry_id"]})
            except ClientError as error:
                raise _translate(error) from error
        return len(keys)
