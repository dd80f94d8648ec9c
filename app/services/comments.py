"""Comments on posts (being written)."""
from __future__ import annotations


def thread(viewer, pacc):
    return []
