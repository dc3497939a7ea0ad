"""Domain errors. Adapters turn botocore errors into these; handlers turn them into 4xx responses or retries."""


class CrmError(Exception):
    """Base class."""


class NotFoundError(CrmError):
    pass


class ConflictError(CrmError):
    """A conditional write lost a race or the record already exists."""


class InvalidRequestError(CrmError):
    """The request is well-formed but not allowed by the data (e.g. a deal for an unknown contact)."""


class TransientError(CrmError):
    """Retry later (throttling, a send in flight elsewhere)."""


class PermanentSendError(CrmError):
    """SES refused the message for a reason a retry will not fix."""
