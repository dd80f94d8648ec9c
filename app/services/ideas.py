"""Ideas: votes and status (being written)."""
from __future__ import annotations


def panel(viewer, pacc):
    return None
