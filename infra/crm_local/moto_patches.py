"""Keep moto's TransactWriteItems fast on large tables, with the same all-or-nothing result.

moto snapshots every table a transaction touches with ``copy.deepcopy`` so it can roll back when a condition
fails: that copies every item *and every stream record the table ever produced*, so each transaction costs
O(table size + stream length) and a run of the demo or a benchmark grows quadratically (the 250-contact demo did
not finish loading in ten minutes). Here the snapshot copies only what a transaction can change: the item map
(shallowly), deep copies of the items the transaction names by key (moto's updates mutate an item in place), and
the stream shard's record list (a cancelled transaction must leave no stream records, as in DynamoDB). Rolling
back to it restores exactly the state before the transaction.
"""

from __future__ import annotations

import copy as _copy
import threading
from typing import Any

_state = threading.local()
_installed = False


class _CopyProxy:
    """Stands in for the ``copy`` module inside moto.dynamodb.models only."""

    def __getattr__(self, name: str) -> Any:
        return getattr(_copy, name)

    @staticmethod
    def deepcopy(value: Any, memo: Any = None) -> Any:
        from moto.dynamodb.models.table import Table

        keys = getattr(_state, "keys", None)
        if isinstance(value, Table) and keys is not None and value.name in keys:
            return _snapshot(value, keys[value.name])
        return _copy.deepcopy(value, memo)


def _snapshot(table: Any, keys: list[tuple[Any, Any]]) -> Any:
    clone = _copy.copy(table)
    items = _copy.copy(table.items)  # keeps the defaultdict's factory
    for hash_value, range_value in keys:
        if hash_value not in items:
            continue
        if table.range_key_attr:
            inner = dict(items[hash_value])
            if range_value in inner:
                inner[range_value] = _copy.deepcopy(inner[range_value])
            items[hash_value] = inner
        else:
            items[hash_value] = _copy.deepcopy(items[hash_value])
    clone.items = items
    if table.stream_shard is not None:
        shard = _copy.copy(table.stream_shard)
        shard.items = list(table.stream_shard.items)
        shard.table = clone
        clone.stream_shard = shard
    return clone


def _keys_by_table(backend: Any, transact_items: list[dict[str, Any]]) -> dict[str, list[tuple[Any, Any]]] | None:
    from moto.dynamodb.models.dynamo_type import DynamoType

    keys: dict[str, list[tuple[Any, Any]]] = {}
    for entry in transact_items:
        _, op = next(iter(entry.items()))
        table = backend.tables.get(op.get("TableName"))
        if table is None:
            return None  # let moto raise its own error, with its own snapshot
        source = op.get("Key") or op.get("Item") or {}
        if table.hash_key_attr not in source:
            return None
        range_value = DynamoType(source[table.range_key_attr]) if table.range_key_attr in source else None
        keys.setdefault(table.name, []).append((DynamoType(source[table.hash_key_attr]), range_value))
    return keys


def install() -> None:
    """Idempotent; affects only moto's DynamoDB backend in this process (the emulation's in-process server)."""
    global _installed
    if _installed:
        return
    from moto.dynamodb import models

    real = models.DynamoDBBackend.transact_write_items

    def transact_write_items(self: Any, transact_items: list[dict[str, Any]]) -> None:
        _state.keys = _keys_by_table(self, transact_items)
        try:
            return real(self, transact_items)
        finally:
            _state.keys = None

    models.copy = _CopyProxy()  # type: ignore[assignment]
    models.DynamoDBBackend.transact_write_items = transact_write_items  # type: ignore[method-assign]
    _installed = True
