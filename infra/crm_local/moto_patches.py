"""Patches of moto's in-process backends (the emulation's own moto server runs in this process).

**DynamoDB: keep TransactWriteItems fast on large tables, with the same all-or-nothing result.**
moto snapshots every table a transaction touches with ``copy.deepcopy`` so it can roll back when a condition
fails: that copies every item *and every stream record the table ever produced*, so each transaction costs
O(table size + stream length) and a run of the demo or a benchmark grows quadratically (the 250-contact demo did
not finish loading in ten minutes). Here the snapshot copies only what a transaction can change: the item map
(shallowly), deep copies of the items the transaction names by key (moto's updates mutate an item in place), and
the stream shard's record list (a cancelled transaction must leave no stream records, as in DynamoDB). Rolling
back to it restores exactly the state before the transaction. Writes (transactions, puts, updates, deletes) are
serialised: a rollback puts the snapshot in place, so a write committed by another request thread in between
would otherwise be lost, which DynamoDB never does (concurrent writers, e.g. racing purchases, rely on it).

**SNS: notifications stamped on the emulation's clock, with a real unsubscribe URL.** moto already delivers a
``Publish`` to subscribed SQS queues in SNS's envelope (``Type``, ``MessageId``, ``TopicArn``, ``Message``,
``Timestamp``, ``SignatureVersion``, ``Signature``, ``SigningCertURL``, ``UnsubscribeURL``; the bare message with
``RawMessageDelivery``), which Powertools' ``SnsNotificationModel`` accepts. Two fields differ from AWS: the
``Timestamp`` is wall time (here: :func:`now`, the emulation's clock, also in the signed string) and the
``UnsubscribeURL`` names us-east-1 and a made-up subscription (here: the topic's region and the subscription).

**SES: remember what a SESv2 ``SendEmail`` asked for.** moto hands the send to its v1 backend and drops
``ConfigurationSetName`` and ``EmailTags``; event publishing (:mod:`crm_local.ses_events`) needs both. The request
of each SESv2 send is attached to the message moto stores (``sent_messages``), with the clock's time of the send:
see :func:`send_context`.

**SES: ``Simple`` content is sent as the MIME message SES builds.** moto's sesv2 stores a ``Simple`` send as a v1
``Message`` with the subject and one body only (the HTML when both are given), without the custom ``Headers``.
Here it is built as SES would (:func:`crm_local.mail.simple_message`: the addresses, the UTF-8 subject, ``Date``
on the emulation's clock, ``Message-ID`` ``<{MessageId}@email.amazonses.com>``, the custom headers as given,
``multipart/alternative`` text then HTML) and handed to moto's raw send, so ``sent_messages`` holds a
``RawMessage`` whose ``raw_data`` is that message, with the returned ``MessageId``, moto's identity checks and its
sent count as before, and ``destinations`` the request's To, Cc and Bcc addresses. What SES refuses is refused
with ``BadRequestException`` (HTTP 400) and nothing is stored: a custom header with CR or LF, one SES sets itself
(``From``, ``To``, ``Subject``, ``Content-Type``, ``MIME-Version``, ``Date``, ``Message-ID`` ...), see
:class:`crm_local.mail.SimpleContentError`. ``Raw`` content and v1 sends are untouched.
"""

from __future__ import annotations

import copy as _copy
import functools
import json
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

_state = threading.local()
_installed = False
_clock: Callable[[], datetime] | None = None


def use_clock(clock: Callable[[], datetime] | None) -> None:
    """Stamp SNS notifications and SES sends with ``clock()`` (``None``: wall time again)."""
    global _clock
    _clock = clock


def now() -> datetime:
    """The emulation's time when a LocalCloud runs (see :func:`use_clock`), else wall time; always UTC."""
    return (_clock() if _clock is not None else datetime.now(UTC)).astimezone(UTC)


# ------------------------------------------------------------------------------------------------ DynamoDB


class _CopyProxy:
    """Stands in for the ``copy`` module inside moto.dynamodb.models only."""

    def __getattr__(self, name: str) -> Any:
        return getattr(_copy, name)

    @staticmethod
    def deepcopy(value: Any, memo: Any = None) -> Any:
        from moto.dynamodb.models.table import Table

        keys = getattr(_state, "keys", None)
        if isinstance(value, Table) and keys is not None and value.name in keys:
            # moto takes the backup once per transaction *item*, all before the first write: one snapshot per table
            # serves them all (a purchase's 9 items on one table would otherwise copy its item map 9 times)
            snapshots = _state.snapshots
            if value.name not in snapshots:
                snapshots[value.name] = _snapshot(value, keys[value.name])
            return snapshots[value.name]
        return _copy.deepcopy(value, memo)


def _untracked(obj: Any) -> Any:
    """Forget a copy in moto's model registry: moto's BaseModel.__new__ appends every instance, copies included, to
    its class's `instances_tracked` list for good, so each snapshot (with its copy of the table's item map) would
    stay in memory for the life of the process: gigabytes after a few thousand transactions on a large table."""
    tracked = getattr(type(obj), "instances_tracked", None)
    if tracked:
        for index in range(len(tracked) - 1, max(len(tracked) - 64, 0) - 1, -1):
            if tracked[index] is obj:
                del tracked[index]
                break
    return obj


def _snapshot(table: Any, keys: list[tuple[Any, Any]]) -> Any:
    clone = _untracked(_copy.copy(table))
    items = _copy.copy(table.items)  # keeps the defaultdict's factory
    for hash_value, range_value in keys:
        if hash_value not in items:
            continue
        if table.range_key_attr:
            inner = dict(items[hash_value])
            if range_value in inner:
                inner[range_value] = _untracked(_copy.deepcopy(inner[range_value]))
            items[hash_value] = inner
        else:
            items[hash_value] = _untracked(_copy.deepcopy(items[hash_value]))
    clone.items = items
    if table.stream_shard is not None:
        shard = _untracked(_copy.copy(table.stream_shard))
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


# ------------------------------------------------------------------------------------------------ SES


@dataclass(frozen=True)
class SendContext:
    """What moto does not keep of a send: when (on the emulation's clock) and the SESv2 request, if it was one."""

    sent_at: datetime
    request: dict[str, Any] | None  # the SESv2 SendEmail JSON body (ConfigurationSetName, EmailTags ...)


_sesv2_request = threading.local()  # the SESv2 request being handled by this moto server thread


def send_context(message: Any) -> SendContext | None:
    """The :class:`SendContext` of a message in moto's ``sent_messages`` (``None``: sent before the patch)."""
    return getattr(message, "crm_local_context", None)


@functools.cache
def _bad_request() -> type[Exception]:
    from moto.core.exceptions import ServiceException

    class BadRequestException(ServiceException):  # sesv2's BadRequestException shape: HTTP 400
        code = "BadRequestException"

    return BadRequestException


def _send_simple(response: Any, request: dict[str, Any]) -> str:
    """SESv2 ``SendEmail`` with ``Simple`` content, sent through moto's raw path as the MIME message SES builds."""
    from moto.ses import utils

    from crm_local.mail import SimpleContentError, simple_message

    message_id = utils.get_random_message_id()
    try:
        raw = simple_message(request, message_id, now())
    except SimpleContentError as error:
        raise _bad_request()(str(error)) from None
    destination = request.get("Destination") or {}
    recipients = [a for key in ("ToAddresses", "CcAddresses", "BccAddresses") for a in destination.get(key) or []]
    _sesv2_request.message_id = message_id
    try:
        # moto adds the To and Cc addresses of the MIME headers to ``destinations``: pass only the Bcc ones, so
        # its recipient limit and sent count see each recipient once, as SES does
        message = response.sesv2_backend.send_raw_email(
            source=request.get("FromEmailAddress"), destinations=list(destination.get("BccAddresses") or []),
            raw_data=raw,
        )
    finally:
        _sesv2_request.message_id = None
    message.destinations = recipients  # the envelope, in the request's order
    return json.dumps({"MessageId": message.id})


def _install_ses() -> None:
    from moto.ses import models
    from moto.ses.models import SESBackend
    from moto.sesv2.responses import SESV2Response

    real_response = SESV2Response.send_email
    real_message_id = models.get_random_message_id

    @functools.wraps(real_response)
    def send_email_response(self: Any) -> Any:
        try:
            _sesv2_request.body = json.loads(self.body or "{}")
        except ValueError:
            _sesv2_request.body = None
        try:
            request = _sesv2_request.body
            if isinstance(request, dict) and "Simple" in (request.get("Content") or {}):
                return _send_simple(self, request)
            return real_response(self)
        finally:
            _sesv2_request.body = None

    def get_random_message_id() -> str:  # the id the Message-ID of a Simple send was built with
        return getattr(_sesv2_request, "message_id", None) or real_message_id()

    SESV2Response.send_email = send_email_response  # type: ignore[method-assign]
    models.get_random_message_id = get_random_message_id  # type: ignore[assignment]

    def remembering(real: Callable[..., Any]) -> Callable[..., Any]:
        # The context is attached inside the backend call, before moto answers: whoever reads sent_messages
        # after the send returned finds it there (no window between the message and its request).
        @functools.wraps(real)
        def send(self: Any, *args: Any, **kwargs: Any) -> Any:
            message = real(self, *args, **kwargs)
            context = SendContext(now(), getattr(_sesv2_request, "body", None))
            try:
                message.crm_local_context = context
            except AttributeError:  # pragma: no cover - a moto message type with __slots__
                pass
            return message

        return send

    for name in ("send_email", "send_raw_email", "send_templated_email"):
        setattr(SESBackend, name, remembering(getattr(SESBackend, name)))


# ------------------------------------------------------------------------------------------------ SNS


def _install_sns() -> None:
    from moto.sns import models

    real_timestamp = models.iso_8601_datetime_with_milliseconds
    real_post_data = models.Subscription.get_post_data

    def timestamp(value: datetime | None = None) -> str:
        return real_timestamp(value or now())

    @functools.wraps(real_post_data)
    def get_post_data(self: Any, *args: Any, **kwargs: Any) -> dict[str, Any]:
        data = real_post_data(self, *args, **kwargs)
        region = self.topic.sns_backend.region_name
        data["UnsubscribeURL"] = f"https://sns.{region}.amazonaws.com/?Action=Unsubscribe&SubscriptionArn={self.arn}"
        return data

    models.iso_8601_datetime_with_milliseconds = timestamp  # type: ignore[assignment]  # used for Timestamp only
    models.Subscription.get_post_data = get_post_data  # type: ignore[method-assign]


# ------------------------------------------------------------------------------------------------ install


_write_lock = threading.RLock()


def _serialised(real: Callable[..., Any]) -> Callable[..., Any]:
    def write(self: Any, *args: Any, **kwargs: Any) -> Any:
        with _write_lock:
            return real(self, *args, **kwargs)

    return write


def install() -> None:
    """Idempotent; affects only moto's backends in this process (the emulation's in-process server)."""
    global _installed
    if _installed:
        return
    _install_ses()
    _install_sns()
    from moto.dynamodb import models

    real = models.DynamoDBBackend.transact_write_items

    def transact_write_items(self: Any, transact_items: list[dict[str, Any]]) -> None:
        with _write_lock:
            return _transact(self, transact_items)

    def _transact(self: Any, transact_items: list[dict[str, Any]]) -> None:
        _state.keys = _keys_by_table(self, transact_items)
        _state.snapshots = {}
        names = {next(iter(entry.values())).get("TableName") for entry in transact_items}
        shards = {name: (table.stream_shard, len(table.stream_shard.items)) for name, table in self.tables.items()
                  if name in names and table.stream_shard is not None}
        try:
            return real(self, transact_items)
        except Exception:
            # A cancelled transaction rolls back to the snapshot, whose stream shard is a copy; but the stream
            # consumers' shard iterators hold the live shard object: put it back (minus the cancelled records),
            # or every record written afterwards would go to a shard nobody reads.
            for name, (shard, length) in shards.items():
                table = self.tables.get(name)
                if table is not None and table.stream_shard is not shard:
                    del shard.items[length:]
                    shard.table = table
                    table.stream_shard = shard
            raise
        finally:
            _state.keys = None
            _state.snapshots = {}

    models.copy = _CopyProxy()  # type: ignore[assignment]
    models.DynamoDBBackend.transact_write_items = transact_write_items  # type: ignore[method-assign]
    # moto rolls a cancelled transaction back by putting its snapshot of the tables in place: a write another
    # request thread of the server committed meanwhile would be lost (and one made to the replaced table object
    # too). DynamoDB never loses a committed write, so writes are serialised here, as they are in effect per item.
    for name in ("put_item", "update_item", "delete_item", "batch_write_item"):
        setattr(models.DynamoDBBackend, name, _serialised(getattr(models.DynamoDBBackend, name)))
    _installed = True
