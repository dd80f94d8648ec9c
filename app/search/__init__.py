"""Full-text search over posts, comments, chat messages, people, communities and topics, with
Whoosh (the maintained fork `whoosh-reloaded`, imported as `whoosh`). This package is the only
code that imports Whoosh.

    schema.py     fields and analyzers (stemming in KRING_SEARCH_LANGUAGE)
    registry.py   what is searchable and which changes reach it (features add to it)
    documents.py  the built-in document types, built from the database in bulk
    capture.py    change log rows written in the same transaction as every change
    indexer.py    applies the log to this machine's index copy, in order, with a cursor
    rebuild.py    rebuild beside the live index and swap; check; status
    query/        parsing, permission filter, facets, matching and scoring, highlights,
                  suggestions, similar (a package; its __init__ is the public face)
    alerts.py     saved searches matched against each indexer round
    store.py      folders, the CURRENT pointer, cursors, pooled searchers
    cli.py        `flask search rebuild|check|worker|status`

Importing the package registers the change-capture listeners and the document types.
The use cases (search a page for a viewer, similar posts, saved searches, alerts) live in
app/services/search.py, which decides permissions through app/services/access.py.
"""
from __future__ import annotations

from app.search import capture, documents, patches, registry  # noqa: F401 - listeners, types, Whoosh fixes
from app.search.query import Permissions, QueryError
from app.search.store import IndexUnavailable

__all__ = ["IndexUnavailable", "Permissions", "QueryError", "capture", "documents", "registry"]
