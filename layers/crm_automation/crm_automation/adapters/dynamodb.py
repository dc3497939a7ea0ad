"""DynamoDB adapter: repositories for contacts, deals, activities, tasks and workflow state (timers, send ledger).

Every write is conditional (create = attribute_not_exists, update = expected ``version``), and writes that must
happen together go through one TransactWriteItems, so a crash never leaves half of a business event written.
Index keys are derived here from the model on every write: the InactivityDue and DueTimers indexes are sparse
because the attributes they are keyed on exist only while an item is due-able.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from enum import Enum
from typing import Any

import boto3
from boto3.dynamodb.conditions import Attr, Key
from botocore.exceptions import ClientError

from crm_automation.domain.deal_reactivation import quiet_since
from crm_automation.domain.escalation import needs_escalation, needs_resolution
from crm_automation.domain.inactivity import is_candidate
from crm_automation.domain.models import Activity, Contact, Deal, Task, Timer
from crm_automation.domain.privacy import Tombstone, is_tombstone
from crm_automation.errors import ConcurrentWriteError, TransientError
from crm_automation.settings import Settings

# Retry later: throttling, and a transaction that collided with another write in flight (TransactionConflict is
# not a failed condition: nothing was decided, the same request may well succeed next time).
_THROTTLING = {"ProvisionedThroughputExceededException", "ThrottlingException", "RequestLimitExceeded",
               "InternalServerError", "TransactionInProgressException", "TransactionConflict",
               "TransactionConflictException"}


@dataclass
class ReadStats:
    """Items read from DynamoDB by this process (benchmarks compare it with the table size)."""

    items_read: int = 0
    requests: int = 0

    def reset(self) -> None:
        self.items_read = 0
        self.requests = 0


stats = ReadStats()


def fmt_time(value: datetime) -> str:
    """Fixed-width, sortable UTC timestamp used in every stored attribute and index key."""
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _to_dynamo(value: Any) -> Any:
    if isinstance(value, datetime):
        return fmt_time(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, bool) or value is None or isinstance(value, str | Decimal):
        return value
    if isinstance(value, int):
        return Decimal(value)
    if isinstance(value, float):
        return Decimal(str(value))
    if isinstance(value, dict):
        return {k: _to_dynamo(v) for k, v in value.items() if v is not None}
    if isinstance(value, list | tuple | set):
        return [_to_dynamo(v) for v in value]
    raise TypeError(f"cannot store {type(value).__name__}")


def _item(model: Any) -> dict[str, Any]:
    return {k: v for k, v in _to_dynamo(model.model_dump()).items() if v is not None}


def shard_of(key: str, shards: int) -> str:
    return str(zlib.crc32(key.encode()) % shards)


def email_key(email: str | None) -> str | None:
    return email.strip().lower() if email else None


def _translate(error: ClientError) -> Exception:
    code = error.response.get("Error", {}).get("Code", "")
    if code in ("ConditionalCheckFailedException", "TransactionCanceledException"):
        reasons = [r.get("Code") for r in error.response.get("CancellationReasons", []) or []]
        if code == "TransactionCanceledException" and any(r in _THROTTLING for r in reasons):
            return TransientError(f"transaction throttled: {reasons}")
        return ConcurrentWriteError(f"{code}: {reasons}" if reasons else code)
    if code in _THROTTLING:
        return TransientError(code)
    return error


class Store:
    """All tables of one deployment. Create once per Lambda container (module level) and reuse."""

    def __init__(self, settings: Settings, resource: Any | None = None) -> None:
        self.settings = settings
        self._resource = resource or boto3.resource("dynamodb")
        self.client = self._resource.meta.client  # accepts and returns plain Python types
        self.contacts = ContactsRepo(self, settings.contacts_table)
        self.deals = DealsRepo(self, settings.deals_table)
        self.activities = ActivitiesRepo(self, settings.activities_table)
        self.tasks = TasksRepo(self, settings.tasks_table)
        self.flows = FlowsRepo(self, settings.flows_table)
        from crm_automation.adapters.marketing import AddressesRepo, CampaignsRepo  # they build on this module

        self.campaigns = CampaignsRepo(self, settings.campaigns_table)
        self.addresses = AddressesRepo(self, settings.addresses_table)
        from crm_automation.adapters.consents import ConsentsRepo

        self.consents = ConsentsRepo(self, settings.consents_table)
        from crm_automation.adapters.reports import ReportsRepo

        self.reports = ReportsRepo(self, settings.reports_table)

    def transact(self, operations: list[dict[str, Any]]) -> None:
        try:
            self.client.transact_write_items(TransactItems=operations)
        except ClientError as error:
            raise _translate(error) from error

    # -- reads, counted
    def get(self, table: str, key: dict[str, str]) -> dict[str, Any] | None:
        try:
            response = self.client.get_item(TableName=table, Key=key, ConsistentRead=True)
        except ClientError as error:
            raise _translate(error) from error
        stats.requests += 1
        item = response.get("Item")
        stats.items_read += 1 if item else 0
        return item

    def query(self, limit: int | None = None, **kwargs: Any) -> Iterator[dict[str, Any]]:
        """Query page by page, counting what is read; stop after `limit` items if given."""
        if limit is not None:
            kwargs["Limit"] = limit
        while True:
            try:
                response = self.client.query(**kwargs)
            except ClientError as error:
                raise _translate(error) from error
            stats.requests += 1
            stats.items_read += response.get("ScannedCount", len(response.get("Items", [])))
            yield from response.get("Items", [])
            if "LastEvaluatedKey" not in response or limit is not None:
                return
            kwargs["ExclusiveStartKey"] = response["LastEvaluatedKey"]


    def scan_contacts_page(self, segment: int, segments: int, cursor: dict[str, Any] | None,
                           limit: int) -> tuple[list[Contact], dict[str, Any] | None]:
        """One page of one parallel-scan segment of the contacts table; the cursor to go on from (None: the end)."""
        kwargs: dict[str, Any] = {"TableName": self.settings.contacts_table, "Segment": segment,
                                  "TotalSegments": segments, "Limit": limit, "ConsistentRead": True}
        if cursor:
            kwargs["ExclusiveStartKey"] = cursor
        try:
            response = self.client.scan(**kwargs)
        except ClientError as error:
            raise _translate(error) from error
        stats.requests += 1
        stats.items_read += response.get("ScannedCount", 0)
        # tombstones of erased contacts are not contacts
        return ([Contact.model_validate(i) for i in response.get("Items", []) if not is_tombstone(i)],
                response.get("LastEvaluatedKey"))

    def scan_contacts(self) -> Iterator[Contact]:
        cursor: dict[str, Any] | None = None
        while True:
            page, cursor = self.scan_contacts_page(0, 1, cursor, 1000)
            yield from page
            if cursor is None:
                return


def _put(table: str, item: dict[str, Any], key_attr: str, expected_version: int | None) -> dict[str, Any]:
    """A transaction Put: create when expected_version is None, else replace only if the version matches."""
    put: dict[str, Any] = {"TableName": table, "Item": item}
    if expected_version is None:
        put["ConditionExpression"] = f"attribute_not_exists({key_attr})"
    else:
        put["ConditionExpression"] = "#v = :expected"
        put["ExpressionAttributeNames"] = {"#v": "version"}
        put["ExpressionAttributeValues"] = {":expected": expected_version}
    return {"Put": put}


class ContactsRepo:
    def __init__(self, store: Store, table: str) -> None:
        self.store, self.table = store, table

    def to_item(self, contact: Contact) -> dict[str, Any]:
        item = _item(contact)
        if key := email_key(contact.email):
            item["email_key"] = key
        if is_candidate(contact):
            item["ia_shard"] = shard_of(contact.contact_id, self.store.settings.contact_shards)
            item["ia_since"] = fmt_time(contact.last_activity_at)
        # Present exactly while the escalation function has work on this contact: the contacts-stream filter
        # lets a record through only where one of them appears, so other updates never invoke that function.
        if needs_escalation(contact):
            item["escalate_due"] = fmt_time(contact.satisfaction_at)  # type: ignore[arg-type]
        if needs_resolution(contact):
            item["resolve_due"] = fmt_time(contact.satisfaction_at)  # type: ignore[arg-type]
        return item

    def get(self, contact_id: str) -> Contact | None:
        """The contact, or None if there is none (an erased contact's tombstone counts as none)."""
        item = self.store.get(self.table, {"contact_id": contact_id})
        return Contact.model_validate(item) if item and not is_tombstone(item) else None

    def read(self, contact_id: str) -> Contact | Tombstone | None:
        """The contact, the tombstone of an erased one, or None."""
        item = self.store.get(self.table, {"contact_id": contact_id})
        if not item:
            return None
        return Tombstone.model_validate(item) if is_tombstone(item) else Contact.model_validate(item)

    def tombstone_op(self, tombstone: Tombstone) -> dict[str, Any]:
        """Replace the contact (read at tombstone.version) with its tombstone: no personal data, no index keys."""
        stored = tombstone.model_copy(update={"version": tombstone.version + 1})
        return _put(self.table, _item(stored), "contact_id", tombstone.version)

    def tombstone_completed_op(self, tombstone: Tombstone, when: datetime, counts: dict[str, int]) -> dict[str, Any]:
        stored = tombstone.model_copy(update={"version": tombstone.version + 1, "erasure_completed_at": when,
                                              "erasure_counts": counts})
        return _put(self.table, _item(stored), "contact_id", tombstone.version)

    def save_op(self, contact: Contact, *, new: bool = False) -> dict[str, Any]:
        """Write `contact` (read at contact.version) as version + 1; fails if anyone wrote in between."""
        stored = contact.model_copy(update={"version": contact.version + 1})
        return _put(self.table, self.to_item(stored), "contact_id", None if new else contact.version)

    def save(self, contact: Contact, *, new: bool = False) -> Contact:
        op = self.save_op(contact, new=new)["Put"]
        try:
            self.store.client.put_item(**op)
        except ClientError as error:
            raise _translate(error) from error
        return contact.model_copy(update={"version": contact.version + 1})

    def ids_by_email(self, email: str) -> list[str]:
        key = email_key(email)
        items = self.store.query(TableName=self.table, IndexName="ByEmail",
                                 KeyConditionExpression=Key("email_key").eq(key))
        return [i["contact_id"] for i in items]

    def due_candidates(self, cutoff: datetime) -> Iterator[Contact]:
        """Candidates whose last activity is at or before `cutoff`: reads only those, shard by shard."""
        for shard in range(self.store.settings.contact_shards):
            items = self.store.query(
                TableName=self.table,
                IndexName="InactivityDue",
                KeyConditionExpression=Key("ia_shard").eq(str(shard)) & Key("ia_since").lte(fmt_time(cutoff)),
            )
            for item in items:
                yield Contact.model_validate(item)


class DealsRepo:
    def __init__(self, store: Store, table: str) -> None:
        self.store, self.table = store, table

    def to_item(self, deal: Deal) -> dict[str, Any]:
        item = _item(deal)
        since = quiet_since(deal)
        if since is not None:  # sparse ReactivationDue index: open deals outside the flow, keyed by quiet-since
            item["rd_shard"] = shard_of(deal.deal_id, self.store.settings.deal_shards)
            item["rd_since"] = fmt_time(since)
        return item

    def get(self, deal_id: str) -> Deal | None:
        item = self.store.get(self.table, {"deal_id": deal_id})
        return Deal.model_validate(item) if item else None

    def save_op(self, deal: Deal, *, new: bool = False) -> dict[str, Any]:
        stored = deal.model_copy(update={"version": deal.version + 1})
        return _put(self.table, self.to_item(stored), "deal_id", None if new else deal.version)

    def quiet_since_before(self, cutoff: datetime) -> Iterator[Deal]:
        """Open deals outside the reactivation flow, quiet since `cutoff` or longer: reads only those."""
        for shard in range(self.store.settings.deal_shards):
            items = self.store.query(
                TableName=self.table, IndexName="ReactivationDue",
                KeyConditionExpression=Key("rd_shard").eq(str(shard)) & Key("rd_since").lte(fmt_time(cutoff)),
            )
            for item in items:
                yield Deal.model_validate(item)

    def by_contact(self, contact_id: str) -> list[Deal]:
        items = self.store.query(TableName=self.table, IndexName="ByContact",
                                 KeyConditionExpression=Key("contact_id").eq(contact_id))
        return [Deal.model_validate(i) for i in items]


class ActivitiesRepo:
    def __init__(self, store: Store, table: str) -> None:
        self.store, self.table = store, table

    def to_item(self, activity: Activity) -> dict[str, Any]:
        item = _item(activity)
        item["occurred_key"] = f"{fmt_time(activity.occurred_at)}#{activity.activity_id}"
        return item

    def get(self, activity_id: str) -> dict[str, Any] | None:
        return self.store.get(self.table, {"activity_id": activity_id})

    def create_op(self, activity: Activity) -> dict[str, Any]:
        return _put(self.table, self.to_item(activity), "activity_id", None)

    def create(self, activity: Activity) -> None:
        try:
            self.store.client.put_item(**self.create_op(activity)["Put"])
        except ClientError as error:
            raise _translate(error) from error

    def mark_applied_op(self, activity_id: str, when: datetime, reactions: list[dict[str, str]] | None = None,
                        reaction_flows: str | None = None) -> dict[str, Any]:
        """Part of the transaction that applies an activity to its contact: succeeds once per activity. With
        `reactions` (the workflow waits the activity ended) it also stamps them and `reaction_flows` (the workflows,
        space-joined: what the report aggregator's stream filter looks for)."""
        update: dict[str, Any] = {
            "TableName": self.table,
            "Key": {"activity_id": activity_id},
            "UpdateExpression": "SET applied_at = :t",
            "ConditionExpression": "attribute_exists(activity_id) AND attribute_not_exists(applied_at)",
            "ExpressionAttributeValues": {":t": fmt_time(when)},
        }
        if reactions:
            update["UpdateExpression"] = "SET applied_at = :t, reactions = :r, reaction_flows = :f"
            update["ExpressionAttributeValues"] |= {":r": reactions, ":f": reaction_flows or ""}
        return {"Update": update}

    def by_contact_since(self, contact_id: str, since: datetime, kinds: frozenset[str], limit: int = 200) -> list[Activity]:
        """A contact's activities of `kinds` since `since`, newest first (the key range reads only that period)."""
        items = self.store.query(
            limit, TableName=self.table, IndexName="ByContact",
            KeyConditionExpression=Key("contact_id").eq(contact_id) & Key("occurred_key").gte(fmt_time(since)),
            FilterExpression=Attr("kind").is_in(sorted(kinds)), ScanIndexForward=False,
        )
        return [Activity.model_validate(i) for i in items]

    def keys_by_contact(self, contact_id: str, limit: int | None = None) -> list[str]:
        """The ids of the contact's activities (all of them, or the first `limit`), keys only."""
        items = self.store.query(limit, TableName=self.table, IndexName="ByContact",
                                 KeyConditionExpression=Key("contact_id").eq(contact_id),
                                 ProjectionExpression="activity_id")
        return [i["activity_id"] for i in items]

    def all_by_contact(self, contact_id: str) -> list[Activity]:
        items = self.store.query(TableName=self.table, IndexName="ByContact",
                                 KeyConditionExpression=Key("contact_id").eq(contact_id))
        return [Activity.model_validate(i) for i in items]

    def delete(self, activity_id: str) -> None:
        try:
            self.store.client.delete_item(TableName=self.table, Key={"activity_id": activity_id})
        except ClientError as error:
            raise _translate(error) from error

    def by_contact(self, contact_id: str, limit: int = 50) -> list[Activity]:
        items = self.store.query(
            limit, TableName=self.table, IndexName="ByContact",
            KeyConditionExpression=Key("contact_id").eq(contact_id), ScanIndexForward=False,
        )
        return [Activity.model_validate(i) for i in items]


class TasksRepo:
    def __init__(self, store: Store, table: str) -> None:
        self.store, self.table = store, table

    def to_item(self, task: Task) -> dict[str, Any]:
        item = _item(task)
        item["due_key"] = f"{task.due_date.isoformat()}#{task.task_id}"
        return item

    def get(self, task_id: str) -> Task | None:
        item = self.store.get(self.table, {"task_id": task_id})
        return Task.model_validate(item) if item else None

    def create_op(self, task: Task) -> dict[str, Any]:
        stored = task.model_copy(update={"version": 1})
        return _put(self.table, self.to_item(stored), "task_id", None)

    def save_op(self, task: Task) -> dict[str, Any]:
        """Write `task` (read at task.version) as version + 1; fails if anyone wrote in between."""
        stored = task.model_copy(update={"version": task.version + 1})
        return _put(self.table, self.to_item(stored), "task_id", task.version)

    def save(self, task: Task) -> Task:
        try:
            self.store.client.put_item(**self.save_op(task)["Put"])
        except ClientError as error:
            raise _translate(error) from error
        return task.model_copy(update={"version": task.version + 1})

    def by_owner(self, owner: str) -> list[Task]:
        items = self.store.query(TableName=self.table, IndexName="ByOwner",
                                 KeyConditionExpression=Key("owner").eq(owner))
        return [Task.model_validate(i) for i in items]

    def by_contact(self, contact_id: str) -> list[Task]:
        items = self.store.query(TableName=self.table, IndexName="ByContact",
                                 KeyConditionExpression=Key("contact_id").eq(contact_id))
        return [Task.model_validate(i) for i in items]

    def by_workflow(self, workflow: str, start: datetime, end: datetime) -> list[dict[str, Any]]:
        """The tasks a workflow created between `start` and `end` (both inclusive), from the sparse ByWorkflow index
        (all pages): `task_id`, `created_at`, and `status`, `completed_at`, `kind` as they are now."""
        items = self.store.query(
            TableName=self.table, IndexName="ByWorkflow",
            KeyConditionExpression=Key("workflow").eq(workflow) & Key("created_at").between(fmt_time(start),
                                                                                             fmt_time(end)))
        return [{name: item.get(name) for name in ("task_id", "created_at", "status", "completed_at", "kind")}
                for item in items]


class FlowsRepo:
    """Workflow state in one table: TIMER#<id> items and EMAIL#<send key> ledger items."""

    def __init__(self, store: Store, table: str) -> None:
        self.store, self.table = store, table

    # -- durable timers
    def timer_create_op(self, timer: Timer) -> dict[str, Any]:
        item = _item(timer)
        item |= {"pk": f"TIMER#{timer.timer_id}", "sk": "TIMER",
                 "timer_shard": shard_of(timer.timer_id, self.store.settings.timer_shards)}
        return {"Put": {"TableName": self.table, "Item": item, "ConditionExpression": "attribute_not_exists(pk)"}}

    def timer_schedule_op(self, timer: Timer) -> dict[str, Any]:
        """A transaction Put that makes the timer pending and due at timer.due_at whatever its item was (pending,
        fired or cancelled, or none). Only for a caller whose transaction is guarded otherwise (e.g. by the version of
        the record the timer serves)."""
        op = self.timer_create_op(timer.model_copy(update={"state": "pending", "ended_at": None, "note": None}))
        del op["Put"]["ConditionExpression"]
        return op

    def get_timer(self, timer_id: str) -> Timer | None:
        item = self.store.get(self.table, {"pk": f"TIMER#{timer_id}", "sk": "TIMER"})
        return Timer.model_validate(item) if item else None

    def timer_end_op(self, timer_id: str, state: str, when: datetime, note: str | None = None) -> dict[str, Any]:
        """Fire or cancel a pending timer: it leaves the DueTimers index (timer_shard removed). Once only."""
        return {
            "Update": {
                "TableName": self.table,
                "Key": {"pk": f"TIMER#{timer_id}", "sk": "TIMER"},
                "UpdateExpression": "SET #s = :state, ended_at = :t, note = :note REMOVE timer_shard",
                "ConditionExpression": "#s = :pending",
                "ExpressionAttributeNames": {"#s": "state"},
                "ExpressionAttributeValues": {":state": state, ":t": fmt_time(when), ":pending": "pending",
                                              ":note": note or state},
            }
        }

    def due_timers(self, now: datetime) -> Iterator[Timer]:
        for shard in range(self.store.settings.timer_shards):
            items = self.store.query(
                TableName=self.table, IndexName="DueTimers",
                KeyConditionExpression=Key("timer_shard").eq(str(shard)) & Key("due_at").lte(fmt_time(now)),
            )
            for item in items:
                yield Timer.model_validate(item)

    # -- the e-mail send ledger (claim before sending, confirm after)
    def ledger_get(self, send_key: str) -> dict[str, Any] | None:
        return self.store.get(self.table, {"pk": f"EMAIL#{send_key}", "sk": "EMAIL"})

    def ledger_claim(self, send_key: str, when: datetime, recipient_ref: str) -> None:
        try:
            self.store.client.put_item(
                TableName=self.table,
                Item={"pk": f"EMAIL#{send_key}", "sk": "EMAIL", "state": "claimed", "claimed_at": fmt_time(when),
                      "recipient_ref": recipient_ref},
                ConditionExpression="attribute_not_exists(pk) OR #s = :released",
                ExpressionAttributeNames={"#s": "state"},
                ExpressionAttributeValues={":released": "released"},
            )
        except ClientError as error:
            raise _translate(error) from error

    def ledger_set_op(self, send_key: str, state: str, when: datetime, message_id: str | None = None) -> dict[str, Any]:
        values: dict[str, Any] = {":s": state, ":t": fmt_time(when)}
        expression = "SET #s = :s, settled_at = :t"
        if message_id:
            expression += ", message_id = :m"
            values[":m"] = message_id
        return {"Update": {"TableName": self.table, "Key": {"pk": f"EMAIL#{send_key}", "sk": "EMAIL"},
                           "UpdateExpression": expression, "ExpressionAttributeNames": {"#s": "state"},
                           "ExpressionAttributeValues": values}}

    def ledger_set(self, send_key: str, state: str, when: datetime, message_id: str | None = None) -> None:
        try:
            self.store.client.update_item(**self.ledger_set_op(send_key, state, when, message_id)["Update"])
        except ClientError as error:
            raise _translate(error) from error
