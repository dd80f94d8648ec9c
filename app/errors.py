"""Domain errors raised by services; each door (HTML, JSON, socket, CLI) translates them once."""
from __future__ import annotations

import math


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


class Throttled(ValidationError):
    """Too many failed attempts: refused without looking at the input. `retry_after` is the
    number of seconds until the next attempt may be made; the message names the wait."""

    status = 429

    def __init__(self, what: str, retry_after: int) -> None:
        self.retry_after = max(1, int(retry_after))
        super().__init__({"_": f"Too many failed {what}. {try_again_in(self.retry_after)}"})


def try_again_in(seconds: float) -> str:
    """'Try again in 45 seconds.', 'Try again in 4 minutes.', 'Try again in 2 hours.'
    (rounded up, so the wait named is never shorter than the real one)."""
    seconds = max(1, math.ceil(seconds))
    if seconds < 60:
        amount, unit = seconds, "second"
    elif seconds <= 90 * 60:
        amount, unit = math.ceil(seconds / 60), "minute"
    else:
        amount, unit = math.ceil(seconds / 3600), "hour"
    return f"Try again in {amount} {unit}{'' if amount == 1 else 's'}."
