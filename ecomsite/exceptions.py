"""Domain errors: 400/409 in the API (ecomsite/api/exceptions.py), form errors in views."""


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
