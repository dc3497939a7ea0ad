"""SESv2 adapter: sends a fully built MIME message (Raw content) and maps errors to domain errors."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from email.message import EmailMessage
from typing import Any

import boto3
from botocore.exceptions import ClientError

from crm_automation.errors import PermanentSendError, TransientError

_BREAK = re.compile(r"[\r\n]")


@dataclass(frozen=True)
class SimpleMail:
    """A message for SES Simple content. Addresses are ready header values ("Name <addr>", RFC 2047 encoded)."""

    sender: str
    to: str
    subject: str
    text: str
    html: str
    headers: dict[str, str] = field(default_factory=dict)
    reply_to: str | None = None

    def __post_init__(self) -> None:  # no header injection through names, subjects or our own headers
        for value in (self.sender, self.to, self.subject, self.reply_to or "", *self.headers, *self.headers.values()):
            if _BREAK.search(value):
                raise ValueError("a header value must not contain a line break")

_TRANSIENT = {"TooManyRequestsException", "ThrottlingException", "LimitExceededException", "InternalFailure",
              "ServiceUnavailable"}


class Mailer:
    def __init__(self, configuration_set: str | None = None, client: Any | None = None) -> None:
        self._client = client or boto3.client("sesv2")
        self._configuration_set = configuration_set

    def send_simple(self, mail: SimpleMail, tags: dict[str, str] | None = None) -> str:
        """Send with SES's Simple content: SES builds the MIME message (multipart/alternative, UTF-8) and adds our
        headers. Cheaper than Raw for bulk sends: no MIME to build and flatten here."""
        request: dict[str, Any] = {
            "FromEmailAddress": mail.sender,
            "Destination": {"ToAddresses": [mail.to]},
            "Content": {"Simple": {
                "Subject": {"Data": mail.subject, "Charset": "UTF-8"},
                "Body": {"Text": {"Data": mail.text, "Charset": "UTF-8"},
                         "Html": {"Data": mail.html, "Charset": "UTF-8"}},
                "Headers": [{"Name": k, "Value": v} for k, v in mail.headers.items()],
            }},
        }
        if mail.reply_to:
            request["ReplyToAddresses"] = [mail.reply_to]
        return self._call(request, tags)

    def send(self, message: EmailMessage, tags: dict[str, str] | None = None) -> str:
        """Send one message; returns the SES message id."""
        request: dict[str, Any] = {
            "FromEmailAddress": message["From"],
            "Destination": {"ToAddresses": [message["To"]]},
            "Content": {"Raw": {"Data": message.as_bytes()}},
        }
        return self._call(request, tags)

    def _call(self, request: dict[str, Any], tags: dict[str, str] | None) -> str:
        if self._configuration_set:
            request["ConfigurationSetName"] = self._configuration_set
        if tags:
            request["EmailTags"] = [{"Name": k, "Value": v} for k, v in tags.items()]
        try:
            return self._client.send_email(**request)["MessageId"]
        except ClientError as error:
            code = error.response.get("Error", {}).get("Code", "")
            if code in _TRANSIENT:
                raise TransientError(code) from error
            raise PermanentSendError(code) from error
