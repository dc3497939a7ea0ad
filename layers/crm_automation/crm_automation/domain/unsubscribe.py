"""Signed one-click unsubscribe tokens (RFC 8058 links in List-Unsubscribe and in the e-mail body).

A token names the contact, the campaign and the address key (never the e-mail address itself, so links and access
logs carry no personal data) and is authenticated with HMAC-SHA256 under a key derived from the deployment secret.
Anything altered, truncated or signed with another key is refused.
"""

from __future__ import annotations

from dataclasses import dataclass

from crm_automation.domain.tokens import InvalidToken, seal, unseal

VERSION = "1"

__all__ = ["InvalidToken", "UnsubscribeClaim", "sign", "verify"]


@dataclass(frozen=True)
class UnsubscribeClaim:
    contact_id: str
    campaign_id: str
    address_key: str


def sign(claim: UnsubscribeClaim, key: bytes) -> str:
    return seal((VERSION, claim.contact_id, claim.campaign_id, claim.address_key), key)


def verify(token: str, key: bytes) -> UnsubscribeClaim:
    _, contact_id, campaign_id, key_of_address = unseal(token, key, VERSION, 4)
    return UnsubscribeClaim(contact_id=contact_id, campaign_id=campaign_id, address_key=key_of_address)
