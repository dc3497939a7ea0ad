"""DynamoDB adapter for campaigns: campaign records and their chunks (Campaigns table), address records (Addresses
table, keyed on the hashed address), and the shared send-rate limiter.

Campaign counters are only ever changed with ADD (never by rewriting the item), so any number of senders can
count at once; status changes are conditional updates of one attribute.
"""

from __future__ import annotations

import json
import time as _time
from collections.abc import Iterator, Mapping
from datetime import datetime
from typing import Any

from boto3.dynamodb.conditions import Attr, Key
from botocore.exceptions import ClientError

from crm_automation.adapters.dynamodb import Store, _item, _to_dynamo, _translate, fmt_time, stats
from crm_automation.domain.addresses import AddressReason, AddressRecord, AddressSuppression
from crm_automation.domain.campaigns import Campaign, CampaignStatus, Chunk, ChunkState, Progress
from crm_automation.domain.models import Contact
from crm_automation.errors import ConcurrentWriteError

_COUNTERS = ("audience", "sent", "failed", "waiting", "unsubscribed", "bounced", "complaints", "opens", "clicks",
             "delivered", "opened", "clicked")
_SUP = "n_sup_"


def batch_get(store: Store, table: str, key_name: str, keys: list[str],
              attributes: tuple[str, ...] = ()) -> dict[str, dict[str, Any]]:
    """Consistent BatchGetItem in pages of 100, retrying unprocessed keys; only `attributes` if given.
    Returns {key: item}."""
    found: dict[str, dict[str, Any]] = {}
    unique = list(dict.fromkeys(keys))
    projection: dict[str, Any] = {}
    if attributes:
        names = {f"#a{i}": name for i, name in enumerate(attributes)}
        projection = {"ProjectionExpression": ", ".join(names), "ExpressionAttributeNames": names}
    for start in range(0, len(unique), 100):
        request: dict[str, Any] = {table: {"Keys": [{key_name: k} for k in unique[start:start + 100]],
                                           "ConsistentRead": True, **projection}}
        for attempt in range(8):
            try:
                response = store.client.batch_get_item(RequestItems=request)
            except ClientError as error:
                raise _translate(error) from error
            stats.requests += 1
            for item in response.get("Responses", {}).get(table, []):
                found[item[key_name]] = item
                stats.items_read += 1
            request = response.get("UnprocessedKeys") or {}
            if not request:
                break
            _time.sleep(min(0.05 * 2 ** attempt, 1.0))
    return found


class AddressesRepo:
    def __init__(self, store: Store, table: str) -> None:
        self.store, self.table = store, table

    def get(self, key: str) -> AddressRecord | None:
        item = self.store.get(self.table, {"address_key": key})
        return AddressRecord.model_validate(item) if item else None

    def batch_get(self, keys: list[str]) -> dict[str, AddressRecord]:
        return {k: AddressRecord.model_validate(v)
                for k, v in batch_get(self.store, self.table, "address_key", keys).items()}

    def save_op(self, record: AddressRecord) -> dict[str, Any]:
        """Write `record` (read at record.version; 0 = did not exist) as version + 1."""
        item = _item(record.model_copy(update={"version": record.version + 1}))
        put: dict[str, Any] = {"TableName": self.table, "Item": item}
        if record.version == 0:
            put["ConditionExpression"] = "attribute_not_exists(address_key)"
        else:
            put["ConditionExpression"] = "#v = :v"
            put["ExpressionAttributeNames"] = {"#v": "version"}
            put["ExpressionAttributeValues"] = {":v": record.version}
        return {"Put": put}

    def claim_op(self, record: AddressRecord | None, key: str, contact_id: str) -> dict[str, Any]:
        """Claim the address for `contact_id` (lead dedupe). Conditioned on the version read (absence for a new
        record), so of two first arrivals of one address only one transaction commits; the other re-reads the claim."""
        record = record or AddressRecord(address_key=key)
        return self.save_op(record.model_copy(update={"contact_id": contact_id}))

    def reserve_op(self, record: AddressRecord | None, key: str, campaign_id: str, chunk_id: str,
                   now: datetime) -> dict[str, Any]:
        record = record or AddressRecord(address_key=key)
        return self.save_op(record.model_copy(update={"sends": record.with_send(campaign_id, chunk_id, now)}))

    def suppress(self, key: str, reason: AddressReason, now: datetime, source: str,
                 extra: list[dict[str, Any]] | None = None) -> bool:
        """Add a suppression (read-modify-write, retried on a concurrent write). False if it was already there.
        `extra` writes commit in the same transaction (only when the suppression is new)."""
        for _ in range(10):
            record = self.get(key) or AddressRecord(address_key=key)
            if record.suppressed(reason):
                return False
            updated = record.model_copy(update={
                "suppressions": record.suppressions | {reason: AddressSuppression(at=now, source=source)}})
            try:
                self.store.transact([self.save_op(updated), *(extra or [])])
                return True
            except ConcurrentWriteError:
                continue
        raise ConcurrentWriteError(f"address record {key[:12]}… kept changing")


def _counter_update(counts: Mapping[str, int]) -> tuple[str, dict[str, Any], dict[str, str]]:
    names: dict[str, str] = {}
    values: dict[str, Any] = {}
    parts = []
    for i, (name, value) in enumerate(sorted(counts.items())):
        if not value:
            continue
        attr = f"{_SUP}{name[4:]}" if name.startswith("sup:") else f"n_{name}"
        names[f"#c{i}"] = attr
        values[f":c{i}"] = value
        parts.append(f"#c{i} :c{i}")
    return ("ADD " + ", ".join(parts)) if parts else "", values, names


class CampaignsRepo:
    """pk CAMPAIGN#<id>: sk META (the campaign), CHUNK#<chunk id>, PLAN#<segment>. pk RATE: the rate limiter."""

    def __init__(self, store: Store, table: str) -> None:
        self.store, self.table = store, table

    @staticmethod
    def _pk(campaign_id: str) -> str:
        return f"CAMPAIGN#{campaign_id}"

    # -- the campaign
    def create(self, campaign: Campaign) -> None:
        item = _item(campaign.model_copy(update={"version": 1}))
        item.pop("progress", None)
        item |= {"pk": self._pk(campaign.campaign_id), "sk": "META", "list_pk": "campaign",
                 "segment": json.dumps(campaign.segment, ensure_ascii=False)}
        try:
            self.store.client.put_item(TableName=self.table, Item=item, ConditionExpression="attribute_not_exists(pk)")
        except ClientError as error:
            raise _translate(error) from error

    @staticmethod
    def _from_item(item: dict[str, Any]) -> Campaign:
        progress = Progress(**{c: int(item.get(f"n_{c}", 0)) for c in _COUNTERS},
                            suppressed_by_reason={k[len(_SUP):]: int(v) for k, v in item.items()
                                                  if k.startswith(_SUP) and int(v)})
        data = {k: v for k, v in item.items() if not k.startswith("n_")}
        data["segment"] = json.loads(item["segment"])
        return Campaign.model_validate(data | {"progress": progress})

    def get(self, campaign_id: str) -> Campaign | None:
        item = self.store.get(self.table, {"pk": self._pk(campaign_id), "sk": "META"})
        return self._from_item(item) if item else None

    def list(self, created_from: datetime | None = None, created_to: datetime | None = None) -> list[Campaign]:
        """Campaigns newest first; with both bounds only those created between them (inclusive)."""
        condition = Key("list_pk").eq("campaign")
        if created_from is not None and created_to is not None:
            condition &= Key("created_at").between(fmt_time(created_from), fmt_time(created_to))
        items = self.store.query(TableName=self.table, IndexName="ByCreated",
                                 KeyConditionExpression=condition, ScanIndexForward=False)
        return [self._from_item(i) for i in items]

    def set_status_op(self, campaign_id: str, status: CampaignStatus, allowed_from: set[CampaignStatus],
                      fields: Mapping[str, Any] | None = None) -> dict[str, Any]:
        names = {"#s": "status"}
        values: dict[str, Any] = {":s": status.value}
        sets = ["#s = :s"]
        for i, (name, value) in enumerate((fields or {}).items()):
            names[f"#f{i}"] = name
            values[f":f{i}"] = _to_dynamo(value)
            sets.append(f"#f{i} = :f{i}")
        allowed = []
        for i, state in enumerate(sorted(allowed_from)):
            values[f":a{i}"] = state.value
            allowed.append(f":a{i}")
        return {"Update": {"TableName": self.table, "Key": {"pk": self._pk(campaign_id), "sk": "META"},
                           "UpdateExpression": "SET " + ", ".join(sets),
                           "ConditionExpression": f"#s IN ({', '.join(allowed)})",
                           "ExpressionAttributeNames": names, "ExpressionAttributeValues": values}}

    def set_status(self, campaign_id: str, status: CampaignStatus, allowed_from: set[CampaignStatus],
                   fields: Mapping[str, Any] | None = None) -> None:
        try:
            self.store.client.update_item(**self.set_status_op(campaign_id, status, allowed_from, fields)["Update"])
        except ClientError as error:
            raise _translate(error) from error

    def count_op(self, campaign_id: str, counts: Mapping[str, int], **numbers: int) -> dict[str, Any] | None:
        """ADD to progress counters (`sup:<reason>` for suppressions) and to plain numbers (chunks_done ...)."""
        expression, values, names = _counter_update(counts)
        extra = [(k, v) for k, v in numbers.items() if v]
        for i, (name, value) in enumerate(extra):
            names[f"#x{i}"] = name
            values[f":x{i}"] = value
            expression += (", " if expression else "ADD ") + f"#x{i} :x{i}"
        if not expression:
            return None
        return {"Update": {"TableName": self.table, "Key": {"pk": self._pk(campaign_id), "sk": "META"},
                           "UpdateExpression": expression, "ExpressionAttributeNames": names,
                           "ExpressionAttributeValues": values}}

    def message_marker_op(self, campaign_id: str, event: str, message_id: str, expires_at: int) -> dict[str, Any]:
        """Exactly-once marker `<EVENT>#<SES message id>` (DELIVERED, OPENED, CLICKED) in the campaign's partition:
        succeeds only the first time, in the transaction that ADDs the counter it guards. An Update that creates the
        item (the SES feedback function may only UpdateItem this table); it expires (TTL on `expires_at`)."""
        return {"Update": {"TableName": self.table,
                           "Key": {"pk": self._pk(campaign_id), "sk": f"{event}#{message_id}"},
                           "UpdateExpression": "SET expires_at = :ttl",
                           "ConditionExpression": "attribute_not_exists(pk)",
                           "ExpressionAttributeValues": {":ttl": expires_at}}}

    def complete_if_finished(self, campaign_id: str, now: datetime) -> bool:
        """Mark the campaign completed once every scan segment is planned and every chunk is done."""
        try:
            self.store.client.update_item(
                TableName=self.table, Key={"pk": self._pk(campaign_id), "sk": "META"},
                UpdateExpression="SET #s = :done, completed_at = :t",
                ConditionExpression="#s IN (:running, :paused) AND segments_done = segments_total "
                                    "AND chunks_done = chunks_total",
                ExpressionAttributeNames={"#s": "status"},
                ExpressionAttributeValues={":done": CampaignStatus.COMPLETED.value, ":t": fmt_time(now),
                                           ":running": CampaignStatus.RUNNING.value,
                                           ":paused": CampaignStatus.PAUSED.value})
            return True
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
                return False
            raise _translate(error) from error

    # -- chunks
    def chunk_item(self, chunk: Chunk) -> dict[str, Any]:
        item = _item(chunk)
        for name in ("sent", "failed", "ses_sent"):  # string sets; DynamoDB has no empty set
            values = getattr(chunk, name)
            if values:
                item[name] = set(values)
            else:
                item.pop(name, None)
        return item | {"pk": self._pk(chunk.campaign_id), "sk": f"CHUNK#{chunk.chunk_id}"}

    def create_chunk_op(self, chunk: Chunk) -> dict[str, Any]:
        return {"Put": {"TableName": self.table, "Item": self.chunk_item(chunk),
                        "ConditionExpression": "attribute_not_exists(pk)"}}

    def get_chunk(self, campaign_id: str, chunk_id: str) -> Chunk | None:
        item = self.store.get(self.table, {"pk": self._pk(campaign_id), "sk": f"CHUNK#{chunk_id}"})
        return Chunk.model_validate(item) if item else None

    def _chunk_key(self, chunk: Chunk) -> dict[str, str]:
        return {"pk": self._pk(chunk.campaign_id), "sk": f"CHUNK#{chunk.chunk_id}"}

    def lease_op(self, chunk: Chunk, lease_id: str, until: datetime, now: datetime) -> dict[str, Any]:
        """Take the chunk for one sender: only if no live lease is held and it is not done. Un-parks it."""
        return {"Update": {
            "TableName": self.table, "Key": self._chunk_key(chunk),
            "UpdateExpression": "SET lease_id = :l, lease_until = :u, #st = :queued, waiting = :zero "
                                "ADD attempts :one",
            # `waiting` as read: the caller subtracts exactly that from the campaign's count in the same transaction
            "ConditionExpression": "#st <> :done AND (attribute_not_exists(lease_until) OR lease_until < :now) "
                                   "AND (attribute_not_exists(waiting) OR waiting = :w)",
            "ExpressionAttributeNames": {"#st": "state"},
            "ExpressionAttributeValues": {":l": lease_id, ":u": fmt_time(until), ":now": fmt_time(now),
                                          ":queued": ChunkState.QUEUED.value, ":done": ChunkState.DONE.value,
                                          ":zero": 0, ":one": 1, ":w": chunk.waiting}}}

    def record_op(self, chunk: Chunk, lease_id: str, *, sent: set[str], failed: set[str], skipped: Mapping[str, str],
                  state: ChunkState | None = None, waiting: int | None = None, release: bool = False) -> dict[str, Any]:
        """Record outcomes under our lease (fails if the lease was lost: another sender took over)."""
        names: dict[str, str] = {}
        values: dict[str, Any] = {":l": lease_id}
        sets, adds, removes = [], [], []
        if sent:
            adds.append("sent :sent")
            values[":sent"] = set(sent)
        if failed:
            adds.append("failed :failed")
            values[":failed"] = set(failed)
        for i, (contact_id, reason) in enumerate(skipped.items()):
            names[f"#k{i}"] = contact_id
            values[f":k{i}"] = reason
            sets.append(f"skipped.#k{i} = :k{i}")
        if state is not None:
            names["#st"] = "state"
            values[":st"] = state.value
            sets.append("#st = :st")
        if waiting is not None:
            values[":w"] = waiting
            sets.append("waiting = :w")
        if release:
            removes += ["lease_id", "lease_until"]
        expression = " ".join(part for part in (
            ("SET " + ", ".join(sets)) if sets else "", ("ADD " + ", ".join(adds)) if adds else "",
            ("REMOVE " + ", ".join(removes)) if removes else "") if part)
        update: dict[str, Any] = {"TableName": self.table, "Key": self._chunk_key(chunk),
                                  "UpdateExpression": expression, "ConditionExpression": "lease_id = :l",
                                  "ExpressionAttributeValues": values}
        if names:
            update["ExpressionAttributeNames"] = names
        return {"Update": update}

    def ses_sent(self, campaign_id: str, chunk_id: str, key: str) -> None:
        """A Send event from SES: the message for `key` was accepted (reconciles a sender that died)."""
        try:
            self.store.client.update_item(
                TableName=self.table, Key={"pk": self._pk(campaign_id), "sk": f"CHUNK#{chunk_id}"},
                UpdateExpression="ADD ses_sent :k", ConditionExpression="attribute_exists(pk)",
                ExpressionAttributeValues={":k": {key}})
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") != "ConditionalCheckFailedException":
                raise _translate(error) from error

    def chunks(self, campaign_id: str, states: set[ChunkState]) -> Iterator[Chunk]:
        items = self.store.query(
            TableName=self.table,
            KeyConditionExpression=Key("pk").eq(self._pk(campaign_id)) & Key("sk").begins_with("CHUNK#"),
            FilterExpression=Attr("state").is_in(sorted(s.value for s in states)))
        for item in items:
            yield Chunk.model_validate(item)

    # -- planner cursors
    def get_plan(self, campaign_id: str, segment: int) -> dict[str, Any]:
        item = self.store.get(self.table, {"pk": self._pk(campaign_id), "sk": f"PLAN#{segment:02d}"})
        return item or {"pages": 0, "done": False}

    def plan_step_op(self, campaign_id: str, segment: int, pages_before: int, cursor: dict[str, Any] | None,
                     done: bool) -> dict[str, Any]:
        item: dict[str, Any] = {"pk": self._pk(campaign_id), "sk": f"PLAN#{segment:02d}", "pages": pages_before + 1,
                                "done": done}
        if cursor is not None:
            item["cursor"] = json.dumps(cursor, default=str)
        condition = "attribute_not_exists(pk)" if pages_before == 0 else "pages = :p AND done = :f"
        put: dict[str, Any] = {"TableName": self.table, "Item": item, "ConditionExpression": condition}
        if pages_before:
            put["ExpressionAttributeValues"] = {":p": pages_before, ":f": False}
        return {"Put": put}

    # -- the shared send-rate limiter
    def take_tokens(self, second: int, want: int, limit: int) -> int:
        """Take up to `want` send tokens of epoch second `second` (at most `limit` per second across all senders).
        Returns how many were granted (0: this second is used up)."""
        key = {"pk": "RATE", "sk": str(second)}
        want = min(want, limit)
        while want > 0:
            try:
                self.store.client.update_item(
                    TableName=self.table, Key=key, UpdateExpression="ADD n :k SET expires_at = :ttl",
                    ConditionExpression="attribute_not_exists(n) OR n <= :room",
                    ExpressionAttributeValues={":k": want, ":room": limit - want, ":ttl": second + 3600},
                    ReturnValuesOnConditionCheckFailure="ALL_OLD")
                return want
            except ClientError as error:
                if error.response.get("Error", {}).get("Code") != "ConditionalCheckFailedException":
                    raise _translate(error) from error
                old = error.response.get("Item")
                if old is None:  # not every DynamoDB implementation returns the old item: read it
                    old = {"n": {"N": str(self.store.get(self.table, key).get("n", limit))}}
                used = int(old.get("n", {}).get("N", limit))
                want = min(want - 1, limit - used)
        return 0


# What the sender needs of a contact (the suppression decision, the e-mail, the version it reserves against): the
# rest (history, deals, custom fields ...) is neither read nor parsed for each of a million recipients.
SENDER_ATTRIBUTES = ("contact_id", "first_name", "last_name", "email", "company", "owner", "archived",
                     "marketing_status", "marketing_consent", "marketing_pause", "email_status", "last_activity_at",
                     "created_at", "updated_at", "version", "erased")


def contacts_by_id(store: Store, ids: list[str], attributes: tuple[str, ...] = ()) -> dict[str, Contact]:
    items = batch_get(store, store.settings.contacts_table, "contact_id", ids, attributes)
    return {k: Contact.model_validate(v) for k, v in items.items() if not v.get("erased")}  # tombstones: absent
