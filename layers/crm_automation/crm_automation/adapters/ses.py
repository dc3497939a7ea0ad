"""SESv2 adapter: sends a fully built MIME message (Raw content) and maps errors to domain errors."""

from __future__ import annotations

from email.message import EmailMessage
from typing import Any

import boto3
from botocore.exceptions import ClientError

from crm_automation.errors import PermanentSendError, TransientError

_TRANSIENT = {"TooManyRequestsException", "ThrottlingException", "LimitExceededException", "InternalFailure",
              "ServiceUnavailable"}


class Mailer:
    def __init__(self, configuration_set: str | None = None, client: Any | None = None) -> None:
        self._client = client or boto3.client("sesv2")
        self._configuration_set = configuration_set

    def send(self, message: EmailMessage, tags: dict[str, str] | None = None) -> str:
        """Send one message; returns the SES message id."""
        request: dict[str, Any] = {
            "FromEmailAddress": message["From"],
            "Destination": {"ToAddresses": [message["To"]]},
            "Content": {"Raw": {"Data": message.as_bytes()}},
        }
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
