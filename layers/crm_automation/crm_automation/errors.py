"""Domain errors. Adapters turn botocore errors into these; handlers turn them into 4xx responses or retries."""


class CrmError(Exception):
    """Base class."""


class NotFoundError(CrmError):
    pass


class ConflictError(CrmError):
    """The request conflicts with existing data (e.g. the e-mail is already used); the message is for the caller."""


class ConcurrentWriteError(ConflictError):
    """A conditional write failed: someone wrote the record meanwhile, or it already exists."""


class InvalidRequestError(CrmError):
    """The request is well-formed but not allowed by the data (e.g. a deal for an unknown contact)."""


class TransientError(CrmError):
    """Retry later (throttling, a send in flight elsewhere)."""


class PermanentSendError(CrmError):
    """SES refused the message for a reason a retry will not fix."""


class GoneError(NotFoundError):
    """The record existed and was erased on purpose (GDPR Art. 17): HTTP 410."""
