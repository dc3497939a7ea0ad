"""Report aggregates (ReportsTable: pk/sk strings, TTL on `expires_at`): running totals kept by the report aggregator
from the deals and activities streams, read by the report API.

Items: `DEALS#<YYYY-MM>` (won/lost rollups, one per segment dimension), `WF#<YYYY-MM>` (workflow results), `RC#<period>` / `RH#<period>`
(retention: one customer's purchases in a period, and the period's histogram) and `SEEN#<key>` (the exactly-once
marker of one stream record, written in the transaction that adds its deltas; it expires after 8 days, longer than
a stream record can be re-delivered: streams keep records 24 hours).

Every change of the totals is ONE TransactWriteItems that also puts the record's marker (absent condition): a
re-delivered record fails on its marker and writes nothing, a failed transaction writes nothing at all, so a retry
counts exactly once. Transactions hold at most 100 items; see `MAX_TRANSACTION_ITEMS`.
"""

from __future__ import annotations

import time as _time
from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal
from typing import Any

from boto3.dynamodb.conditions import Key

from crm_automation.adapters.dynamodb import Store, _to_dynamo, fmt_time
from crm_automation.domain.reports import Cell, CustomerState
from crm_automation.errors import ConcurrentWriteError

# DynamoDB's limit on the items of one TransactWriteItems. A deal record changes at most a handful of cells (its
# four won/lost rollup cells, old and new, the months of its reactivation enrolments that changed, its attribution and its won-after-
# reactivation cell: 4 parts, each one or two cells, since the cells of unchanged parts cancel out in the diff);
# an activity at most three (its e-mail, its inactivity reaction and all its deal-reactivation reactions merged in
# one cell per workflow and month); a purchase 8 (4 periods x customer + histogram). With the marker that is far
# below 100: exceeding it means corrupt input, and is refused loudly rather than split (a split would lose
# exactly-once).
MAX_TRANSACTION_ITEMS = 100
MARKER_TTL_SECONDS = 8 * 24 * 3600


class TooManyCells(ValueError):
    """One record would change more report cells than fit into one transaction (cannot happen for sane data)."""


def marker_pk(key: str) -> str:
    return f"SEEN#{key}"


def _plain(value: Any) -> Any:
    """DynamoDB's numbers as Decimal (kept), sets as sorted lists; the rest as it is."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, set):
        return sorted(_plain(v) for v in value)
    return value


class ReportsRepo:
    def __init__(self, store: Store, table: str) -> None:
        self.store, self.table = store, table

    # -- reads (the report API)
    def partition(self, pk: str, sk_prefix: str | None = None) -> list[dict[str, Any]]:
        """The items of one partition (all pages; only those whose sk begins with `sk_prefix` if given), sorted by
        sk; numbers as Decimal."""
        condition = Key("pk").eq(pk)
        if sk_prefix:
            condition = condition & Key("sk").begins_with(sk_prefix)
        # eventually consistent (half the read cost): the totals already trail the streams by seconds
        items = self.store.query(TableName=self.table, KeyConditionExpression=condition)
        return [_plain(i) for i in items]

    def get(self, pk: str, sk: str) -> dict[str, Any] | None:
        item = self.store.get(self.table, {"pk": pk, "sk": sk})
        return _plain(item) if item else None

    def seen(self, key: str) -> bool:
        return self.store.get(self.table, {"pk": marker_pk(key), "sk": "SEEN"}) is not None

    # -- writes (the report aggregator)
    def _marker_op(self, key: str, now: datetime) -> dict[str, Any]:
        return {"Put": {"TableName": self.table,
                        "Item": {"pk": marker_pk(key), "sk": "SEEN", "at": fmt_time(now),
                                 "expires_at": int(now.timestamp()) + MARKER_TTL_SECONDS},
                        "ConditionExpression": "attribute_not_exists(pk)"}}

    def _add_op(self, pk: str, sk: str, dims: Mapping[str, str], numbers: Mapping[str, int | Decimal]) -> dict[str, Any]:
        """SET the cell's dimension attributes (once: if_not_exists) and ADD its numbers."""
        names: dict[str, str] = {}
        values: dict[str, Any] = {}
        sets, adds = [], []
        for i, (name, value) in enumerate(sorted(dims.items())):
            names[f"#d{i}"] = name
            values[f":d{i}"] = value
            sets.append(f"#d{i} = if_not_exists(#d{i}, :d{i})")
        for i, (name, value) in enumerate(sorted(numbers.items())):
            names[f"#n{i}"] = name
            values[f":n{i}"] = _to_dynamo(value)
            adds.append(f"#n{i} :n{i}")
        expression = (f"SET {', '.join(sets)} " if sets else "") + (f"ADD {', '.join(adds)}" if adds else "")
        return {"Update": {"TableName": self.table, "Key": {"pk": pk, "sk": sk}, "UpdateExpression": expression.strip(),
                           "ExpressionAttributeNames": names, "ExpressionAttributeValues": values}}

    def _transact_once(self, key: str, operations: list[dict[str, Any]], now: datetime) -> str:
        """The operations with the marker, in one transaction: "applied", or "duplicate" when the marker exists
        (the record was counted before). Any other failed condition raises ConcurrentWriteError."""
        operations = [self._marker_op(key, now), *operations]
        if len(operations) > MAX_TRANSACTION_ITEMS:
            raise TooManyCells(f"{key}: {len(operations)} items, more than one transaction holds "
                               f"({MAX_TRANSACTION_ITEMS})")
        try:
            self.store.transact(operations)
        except ConcurrentWriteError:
            if self.seen(key):
                return "duplicate"  # a re-delivered record: counted before, nothing written now
            raise
        return "applied"

    def apply(self, key: str, cells: Mapping[tuple[str, str], Cell], now: datetime, *, contact_id: str | None = None,
              customers: Mapping[str, tuple[CustomerState | None, CustomerState]] | None = None) -> str:
        """Add `cells` (merged deltas, one per (pk, sk)) and put the marker `key`, in ONE transaction; with
        `customers` (period -> (state as read or None, new state)) also put the customer's `RC#<period>` items,
        each conditioned on the version read (or on its absence). Returns "applied", or "duplicate" when the marker
        exists; a lost race on a customer item raises ConcurrentWriteError (the caller reads again and retries)."""
        operations = [self._add_op(pk, sk, cell.dims, cell.numbers) for (pk, sk), cell in sorted(cells.items())]
        for period, (old, new) in sorted((customers or {}).items()):
            if contact_id is None:
                raise ValueError("customers need the contact_id")
            put: dict[str, Any] = {"TableName": self.table,
                                   "Item": {**_to_dynamo(new.to_item()), "pk": f"RC#{period}", "sk": contact_id}}
            if old is None:
                put["ConditionExpression"] = "attribute_not_exists(pk)"
            else:
                put["ConditionExpression"] = "#v = :v"
                put["ExpressionAttributeNames"] = {"#v": "version"}
                put["ExpressionAttributeValues"] = {":v": old.version}
            operations.append({"Put": put})
        return self._transact_once(key, operations, now)

    # -- retention
    def customer(self, period: str, contact_id: str) -> CustomerState | None:
        """One customer's state in one period (`RC#<period>`), or None before its first purchase there."""
        item = self.get(f"RC#{period}", contact_id)
        return CustomerState.from_item(item) if item else None


def backoff(attempt: int) -> None:
    """A short, growing pause before re-reading after a lost race."""
    _time.sleep(min(0.02 * 2 ** attempt, 0.5))
