"""Attachments (being written)."""
from __future__ import annotations


def for_post(post):
    return []
