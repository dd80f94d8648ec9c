"""Domain errors raised by services; each door (HTML, JSON, socket, CLI) translates them once."""
from __future__ import annotations


class DomainError(Exception):
    """Base class. `message` is safe to show to the person who caused it."""

    status = 400

    def __init__(self, message: str = "") -> None:
        super().__init__(message)
        self.message = message


class ValidationError(DomainError):
    """Bad input. `errors` maps a field name (or "_" for the whole form) to a message."""

    def __init__(self, errors: dict[str, str] | str) -> None:
        if isinstance(errors, str):
            errors = {"_": errors}
        self.errors = errors
        super().__init__("; ".join(errors.values()))


class NotFound(DomainError):
    """The thing does not exist, or the viewer may not know that it does."""

    status = 404


class Forbidden(DomainError):
    """The viewer may see the thing but not do this with it."""

    status = 403


class Gone(DomainError):
    """A link that was valid once: an expired or used invitation or token."""

    status = 410
