"""The one source of "now". Times are naive UTC everywhere (SQLite keeps no zone).

Tests move time with `clock.set_now(...)`/`clock.reset()` instead of sleeping.
"""
from __future__ import annotations

from datetime import UTC, datetime

_frozen: datetime | None = None


def utcnow() -> datetime:
    """Return the current UTC time without tzinfo (or the frozen test time)."""
    if _frozen is not None:
        return _frozen
    return datetime.now(UTC).replace(tzinfo=None)


def set_now(moment: datetime) -> None:
    global _frozen
    _frozen = moment


def reset() -> None:
    global _frozen
    _frozen = None
