"""Domain errors. The API maps them to 400/409 (ecomsite/api/exceptions.py); views to form errors."""


class DomainError(Exception):
    """Base: a request that the domain refuses, with a message fit for the user."""

    status_code = 400


class ValidationFailed(DomainError):
    pass


class UnknownFormat(DomainError):
    """The file is not in the format it was imported as."""


class InvalidTransition(DomainError):
    """A status change the object's workflow does not allow (e.g. restarting a finished run)."""

    status_code = 409
