"""Secrets Manager and SSM Parameter Store, through Powertools' cached `parameters` utility."""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass

from aws_lambda_powertools.utilities import parameters

CACHE_SECONDS = 300


@dataclass(frozen=True)
class Keys:
    """Keys derived from the one deployment secret, one per purpose (a leaked token key says nothing of the other)."""

    address: bytes  # the keyed hash of e-mail addresses (address records)
    unsubscribe: bytes  # unsubscribe tokens
    consent: bytes  # double opt-in confirmation tokens

    @classmethod
    def from_secret(cls, secret: str) -> Keys:
        if len(secret) < 32:
            raise ValueError("the signing secret must have at least 32 characters")
        root = secret.encode("utf-8")
        derive = lambda purpose: hmac.new(root, purpose.encode(), hashlib.sha256).digest()  # noqa: E731
        return cls(address=derive("crm-automation/address-key/v1"), unsubscribe=derive("crm-automation/unsubscribe/v1"),
                   consent=derive("crm-automation/consent/v1"))


def secret_value(arn: str) -> str:
    value = parameters.get_secret(arn, max_age=CACHE_SECONDS)
    if not isinstance(value, str):
        raise ValueError("the signing secret must be a string")
    return value


def parameter_value(name: str) -> str:
    return str(parameters.get_parameter(name, max_age=CACHE_SECONDS))
