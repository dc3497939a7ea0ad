"""The emulation honours ``contact.erased`` the way a downstream connector would.

In AWS, SES keeps no copy of a sent message; locally the ``.eml`` files, the SES events kept in memory, moto's store
of sent messages and the SNS topic's record of published notifications stand for the recipients' mailboxes and a mail
archive. When a ``contact.erased`` event (detail ``contact_id`` and ``address_key``: ids only) reaches a bus of the
template, :func:`purge` removes every trace of that contact's mail from them.

A message is the contact's when it carries the contact's id or address key as an SES message tag (campaign sends:
``contact`` / ``address``) or when one of its recipients hashes to ``address_key`` (every send: the key is the keyed
hash of the normalised address, derived from the template's signing secret as the functions derive it).
"""

from __future__ import annotations

import email
import email.policy
import json
import logging
from email.utils import getaddresses
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from crm_local.cloud import LocalCloud

log = logging.getLogger("crm_local")

__all__ = ["ERASED_EVENT", "purge", "honour"]

ERASED_EVENT = "contact.erased"
_PLACEHOLDER = "X-Crm-Local: erased\r\n\r\n"


def _address_keys(cloud: LocalCloud) -> list[bytes]:
    """The address-hash keys of the template's secrets (normally one: SigningSecret)."""
    from crm_automation.adapters.secrets import Keys

    keys = []
    client = cloud.client("secretsmanager")
    for lid in cloud.template.resources_of_type("AWS::SecretsManager::Secret") if cloud.template else {}:
        try:
            value = client.get_secret_value(SecretId=cloud.ref(lid))["SecretString"]
            keys.append(Keys.from_secret(value).address)
        except Exception:  # noqa: BLE001 - a secret that is not a signing secret
            continue
    return keys


class _Matcher:
    def __init__(self, cloud: LocalCloud, contact_id: str | None, address_key: str | None) -> None:
        from crm_automation.domain.addresses import address_key as hash_of

        self.contact_id, self.key = contact_id, address_key
        self._hash = hash_of
        self._keys = _address_keys(cloud) if address_key else []

    def address(self, value: str) -> bool:
        if not self.key or not value or "@" not in value:
            return False
        return any(self._hash(value, k) == self.key for k in self._keys)

    def addresses(self, values: list[str]) -> bool:
        return any(self.address(addr) for _, addr in getaddresses([str(v) for v in values]))

    def tags(self, tags: dict[str, Any]) -> bool:
        def first(name: str) -> str | None:
            value = tags.get(name)
            return value[0] if isinstance(value, list) and value else value

        return bool((self.contact_id and first("contact") == self.contact_id)
                    or (self.key and first("address") == self.key))

    def mime(self, message: Any) -> bool:
        return self.addresses(message.get_all("To", []) + message.get_all("Cc", []) + message.get_all("Bcc", []))


def purge(cloud: LocalCloud, contact_id: str | None, address_key: str | None) -> dict[str, int]:
    """Remove the erased contact's mail from the emulation's stores. Returns what was removed, by store."""
    match = _Matcher(cloud, contact_id, address_key)
    removed = {"mail_files": 0, "ses_messages": 0, "ses_events": 0, "sns_notifications": 0}
    message_ids: set[str] = set()

    ses = cloud._ses
    if ses is not None:
        ses.collect()
        for message_id, sent in list(ses.sent.items()):
            if match.tags(sent.mail.get("tags") or {}) or match.addresses(sent.destination):
                message_ids.add(message_id)
                del ses.sent[message_id]
        kept = [e for e in ses.events if (e.get("mail") or {}).get("messageId") not in message_ids]
        removed["ses_events"] = len(ses.events) - len(kept)
        ses.events[:] = kept
        for message in ses._backend().sent_messages:
            if getattr(message, "id", None) in message_ids or match.addresses(_destinations(message)):
                _scrub(message)
                removed["ses_messages"] += 1

    mail = cloud._mail
    if mail is not None:
        mail.collect()
        kept_messages = [m for m in mail.messages if not match.mime(m)]
        mail.messages[:] = kept_messages
        for path in list(mail.paths):
            try:
                parsed = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
            except OSError:
                continue
            if match.mime(parsed) or _message_id(parsed) in message_ids:
                path.unlink(missing_ok=True)
                mail.paths.remove(path)
                removed["mail_files"] += 1

    if message_ids:
        removed["sns_notifications"] = _purge_notifications(cloud, message_ids)
    log.info("contact.erased honoured locally: %s", json.dumps(removed))
    return removed


def honour(cloud: LocalCloud, events: list[dict[str, Any]]) -> None:
    """Called with the events a bus just carried: purge for each ``contact.erased``."""
    for event in events:
        if event.get("detail-type") == ERASED_EVENT:
            detail = event.get("detail") or {}
            if isinstance(detail, str):
                detail = json.loads(detail)
            contact_id = detail.get("contact_id")
            purge(cloud, contact_id, detail.get("address_key") or _tombstone_key(cloud, contact_id))


def _tombstone_key(cloud: LocalCloud, contact_id: str | None) -> str | None:
    """The address key the erased contact's tombstone keeps (for an event that carries the contact id only)."""
    if not contact_id or cloud.template is None:
        return None
    client = cloud.client("dynamodb")
    for lid, resource in cloud.template.resources_of_type("AWS::DynamoDB::Table").items():
        schema = (resource.get("Properties") or {}).get("KeySchema") or []
        if [k.get("AttributeName") for k in schema] != ["contact_id"]:
            continue
        item = client.get_item(TableName=cloud.physical_name(lid), Key={"contact_id": {"S": contact_id}},
                               ConsistentRead=True).get("Item") or {}
        if item.get("erased") and "address_key" in item:
            return item["address_key"].get("S")
    return None


def _destinations(message: Any) -> list[str]:
    dest = getattr(message, "destinations", None)
    if isinstance(dest, dict):
        return [a for key in ("ToAddresses", "CcAddresses", "BccAddresses") for a in dest.get(key, [])]
    return [str(a) for a in dest or []]


def _message_id(parsed: Any) -> str | None:
    value = str(parsed.get("Message-ID", "")).strip("<> ")
    return value.split("@", 1)[0] or None


def _scrub(message: Any) -> None:
    """Keep moto's list as long as it was (the collectors count on it), without the message's content."""
    if hasattr(message, "raw_data"):
        message.raw_data = _PLACEHOLDER
    for name in ("subject", "body", "source"):
        if hasattr(message, name):
            setattr(message, name, "")
    if hasattr(message, "destinations"):
        message.destinations = {} if isinstance(message.destinations, dict) else []
    if hasattr(message, "crm_local_context"):
        message.crm_local_context = None


def _purge_notifications(cloud: LocalCloud, message_ids: set[str]) -> int:
    """moto's SNS topics keep every notification published (SES events name the recipient)."""
    try:
        from moto.sns.models import sns_backends

        backend = sns_backends[cloud.account_id][cloud.region]
    except Exception:  # noqa: BLE001
        return 0
    removed = 0
    for topic in backend.topics.values():
        notifications = getattr(topic, "sent_notifications", None)
        if not notifications:
            continue
        kept = [n for n in notifications if not any(mid in str(n) for mid in message_ids)]
        removed += len(notifications) - len(kept)
        notifications[:] = kept
    return removed
