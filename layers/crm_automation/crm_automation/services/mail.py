"""Exactly-once e-mail delivery around a non-idempotent SES call, using a ledger item per business send.

claim (conditional put) -> send -> confirm. A retry that finds the send confirmed does not send again. A retry
that finds a claim older than the lease (the previous attempt died between claim and confirm, so whether SES got
the message is unknown) does NOT send again either: a missing reactivation e-mail is recoverable, a duplicate is
not. Such sends are marked "unknown", logged and counted (metric EmailOutcomeUnknown) for a person to check.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from email.message import EmailMessage

from crm_automation.adapters.dynamodb import Store
from crm_automation.adapters.ses import Mailer
from crm_automation.errors import ConcurrentWriteError, PermanentSendError, TransientError
from crm_automation.observability import logger, metrics

from aws_lambda_powertools.metrics import MetricUnit

LEASE = timedelta(minutes=2)  # longer than one attempt (function timeout 60 s); shorter than SQS visibility 180 s


@dataclass(frozen=True)
class Delivery:
    state: str  # sent | unknown | failed
    message_id: str | None = None


def _tag(value: str) -> str:
    """The send key as an SES tag value (only letters, digits, '-' and '_' are allowed there), reversibly: '_' is
    written '__' and any other character '_xx' (its UTF-8 bytes in hex), so SES feedback finds the ledger again."""
    out = []
    for char in value:
        if char.isascii() and (char.isalnum() or char == "-"):
            out.append(char)
        elif char == "_":
            out.append("__")
        else:
            out.append("".join(f"_{b:02x}" for b in char.encode("utf-8")))
    return "".join(out)[:256]


def send_key_of(tag: str) -> str:
    """The inverse of _tag."""
    data, i = bytearray(), 0
    while i < len(tag):
        if tag[i] == "_" and tag[i + 1:i + 2] == "_":
            data += b"_"
            i += 2
        elif tag[i] == "_":
            data.append(int(tag[i + 1:i + 3], 16))
            i += 3
        else:
            data += tag[i].encode()
            i += 1
    return data.decode("utf-8")


def deliver_once(store: Store, mailer: Mailer, send_key: str, recipient_ref: str, now: datetime,
                 build: Callable[[], EmailMessage],
                 record: Callable[[str], list[dict[str, Any]]] = lambda _: []) -> Delivery:
    """Send `build()` at most once per `send_key`. `record(message_id)` returns writes (e.g. the e-mail activity)
    committed atomically with the confirmation, so a confirmed send is always recorded."""
    entry = store.flows.ledger_get(send_key)
    if entry is not None and entry["state"] in ("sent", "unknown", "failed"):
        return Delivery(entry["state"], entry.get("message_id"))
    if entry is not None and entry["state"] == "claimed":
        claimed_at = datetime.fromisoformat(entry["claimed_at"].replace("Z", "+00:00"))
        if now - claimed_at < LEASE:
            raise TransientError(f"send {send_key} is in flight elsewhere")
        store.flows.ledger_set(send_key, "unknown", now)
        logger.error("E-mail outcome unknown: an earlier attempt died after claiming; not resending",
                     extra={"send_key": send_key})
        metrics.add_metric(name="EmailOutcomeUnknown", unit=MetricUnit.Count, value=1)
        return Delivery("unknown")
    message = build()  # before claiming: a message that cannot be built must not leave a claim ("unknown")
    try:
        store.flows.ledger_claim(send_key, now, recipient_ref)
    except ConcurrentWriteError as error:
        raise TransientError(f"send {send_key} claimed concurrently") from error
    try:
        message_id = mailer.send(message, tags={"send_key": _tag(send_key)})
    except TransientError:
        store.flows.ledger_set(send_key, "released", now)  # SES refused it, so it was not sent: retry may send
        raise
    except PermanentSendError as error:
        store.flows.ledger_set(send_key, "failed", now)
        # the error text may quote the recipient's address: log its type only
        logger.warning("SES refused the message", extra={"send_key": send_key, "error": type(error).__name__})
        metrics.add_metric(name="EmailRejected", unit=MetricUnit.Count, value=1)
        return Delivery("failed")
    store.transact([store.flows.ledger_set_op(send_key, "sent", now, message_id), *record(message_id)])
    metrics.add_metric(name="EmailSent", unit=MetricUnit.Count, value=1)
    return Delivery("sent", message_id)
