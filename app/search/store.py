"""Where the index lives on disk, its cursor, and the searchers that read it.

Layout (KRING_SEARCH_DIR, default instance/search/):

    CURRENT                  the name of the live index folder (replaced atomically on swap)
    PREVIOUS                 the one live before the last swap (removed a while after it)
    index-<time>-<pid>/      a Whoosh index with
        kring-meta.json      schema version and language it was built with
        kring-cursor.json    how far this copy applied the change log (+ ids still to wait for)
    rebuild.lock             held while a rebuild runs

Every machine keeps its own folder and cursor, reading the same change log: search scales out
without a shared disk. All writes are atomic (temporary file, fsync, rename).

Searchers are pooled per index folder: one is taken for a query and given back, refreshed when
the index has a newer commit (Whoosh readers see nothing new until refreshed). Only the
indexer writes; searchers never take the write lock, so a LockError never reaches a user.
"""
from __future__ import annotations

import json
import logging
import os
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from flask import current_app
from whoosh import index as whoosh_index
from whoosh.reading import MultiReader, SegmentReader
from whoosh.searching import Searcher

from app.search import schema as search_schema

log = logging.getLogger(__name__)

POINTER = "CURRENT"
PREVIOUS = "PREVIOUS"
META = "kring-meta.json"
CURSOR = "kring-cursor.json"
INDEX_NAME = "MAIN"


class IndexUnavailable(Exception):
    """There is no usable index right now (first start, rebuild after damage or a schema change)."""


def setting(name: str, default, cast=str):
    """A search setting: app.config first, then the environment, then `default`.
    (KRING_SEARCH_DIR, KRING_SEARCH_LANGUAGE, KRING_SEARCH_INDEXER, KRING_SEARCH_ALERTS,
    KRING_SEARCH_CHANGES_DAYS, KRING_SEARCH_LOG_DAYS, KRING_SEARCH_AUTO_PROCS; see README.)"""
    value = current_app.config.get(name)
    if value is None:
        value = os.environ.get(name)
    if value is None or value == "":
        return default
    if cast is bool and isinstance(value, str):
        return value.strip().lower() in {"1", "true", "yes", "on"}
    return cast(value)


def base_dir() -> Path:
    configured = setting("KRING_SEARCH_DIR", None)
    return Path(configured) if configured else Path(current_app.config["INSTANCE_DIR"]) / "search"


def language() -> str:
    return search_schema.language_or_default(setting("KRING_SEARCH_LANGUAGE", None))


def atomic_write(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    with open(tmp, "w", encoding="utf-8") as fh:
        fh.write(text)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    try:
        dir_fd = os.open(path.parent, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


# --- the live index pointer ----------------------------------------------------------------

def _named_dir(base: Path, pointer: str) -> Path | None:
    """The index folder that the file `pointer` in `base` names, if it is one."""
    try:
        name = (base / pointer).read_text(encoding="utf-8").strip()
    except OSError:
        return None
    if not name or "/" in name or name.startswith("."):
        return None
    path = base / name
    return path if path.is_dir() else None


def current_dir(base: Path | None = None) -> Path | None:
    return _named_dir(base or base_dir(), POINTER)


def set_current(base: Path, path: Path) -> None:
    old = current_dir(base)
    if old is not None and old != path:
        atomic_write(base / PREVIOUS, old.name + "\n")
    atomic_write(base / POINTER, path.name + "\n")


def previous_dir(base: Path | None = None) -> Path | None:
    """The index folder that was live before the last swap (kept a while for searches that
    began on it), or None."""
    return _named_dir(base or base_dir(), PREVIOUS)


def new_dir(base: Path) -> Path:
    base.mkdir(parents=True, exist_ok=True)
    path = base / f"index-{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}-{time.monotonic_ns() % 10**6}"
    path.mkdir()
    return path


def create(path: Path, lang: str):
    ix = whoosh_index.create_in(str(path), search_schema.build_schema(lang), indexname=INDEX_NAME)
    atomic_write(path / META, json.dumps({"schema": search_schema.SCHEMA_VERSION, "language": lang}))
    return ix


def meta(path: Path) -> dict:
    try:
        return json.loads((path / META).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


def outdated(path: Path) -> str | None:
    """Why this index cannot serve this deployment (schema or language changed), or None."""
    info = meta(path)
    if info.get("schema") != search_schema.SCHEMA_VERSION:
        return f"schema version {info.get('schema')} is not {search_schema.SCHEMA_VERSION}"
    if info.get("language") != language():
        return f"built for language {info.get('language')!r}, configured {language()!r}"
    return None


def open_index(path: Path):
    """The Whoosh index in `path`. Raises IndexUnavailable when it is missing or unreadable."""
    try:
        return whoosh_index.open_dir(str(path), indexname=INDEX_NAME)
    except Exception as exc:  # noqa: BLE001 - EmptyIndexError, IOError, unpickling errors...
        raise IndexUnavailable(f"cannot open the index in {path}: {exc}") from exc


def live_index():
    """(folder, index) of the live index. Raises IndexUnavailable."""
    path = current_dir()
    if path is None:
        raise IndexUnavailable("there is no search index yet")
    reason = outdated(path)
    if reason:
        raise IndexUnavailable(f"the search index must be rebuilt: {reason}")
    return path, open_index(path)


# --- the cursor ---------------------------------------------------------------------------

@dataclass
class Cursor:
    position: int = 0                                        # every change id <= position is applied...
    gaps: dict[int, float] = field(default_factory=dict)    # ...except these, still awaited (id -> first seen)


def read_cursor(path: Path) -> Cursor:
    try:
        data = json.loads((path / CURSOR).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return Cursor()
    return Cursor(int(data.get("position", 0)), {int(k): float(v) for k, v in (data.get("gaps") or {}).items()})


def write_cursor(path: Path, cursor: Cursor) -> None:
    atomic_write(path / CURSOR, json.dumps({"position": cursor.position,
                                            "gaps": {str(k): v for k, v in sorted(cursor.gaps.items())}}))


# --- searchers ----------------------------------------------------------------------------

class _Pool:
    """Searchers of one index folder, handed out one per query and refreshed when stale."""

    def __init__(self, path: Path, ix):
        self.path = path
        self.ix = ix
        self.free: list = []
        self.lock = threading.Lock()

    def take(self):
        with self.lock:
            searcher = self.free.pop() if self.free else None
        if searcher is None:
            return self.ix.searcher()
        try:
            return refreshed(self.ix, searcher)
        except Exception:  # noqa: BLE001 - a vanished segment after a merge: start afresh
            return self.ix.searcher()

    def give(self, searcher) -> None:
        with self.lock:
            if len(self.free) < 32:
                self.free.append(searcher)
                return
        searcher.close()

    def close(self) -> None:
        with self.lock:
            for searcher in self.free:
                try:
                    searcher.close()
                except Exception:  # noqa: BLE001 - closing a searcher of a replaced index
                    log.debug("search: closing a pooled searcher failed", exc_info=True)
            self.free.clear()


def refreshed(ix, searcher):
    """`searcher` itself when the index has no newer commit, else a searcher of the latest
    commit that reuses the segment readers whose segment did not change.

    Whoosh's own `Searcher.refresh()` reuses a segment's reader whenever the segment id is the
    same, keeping the deletions it knew (a document deleted or replaced later in an old segment
    stays visible, twice once replaced). Here a reader is reused only when its segment also has
    the same number of deleted documents; the readers not reused are closed."""
    if ix.latest_generation() == searcher.reader().generation():
        return searcher
    info = ix._read_toc()
    old = {r.segment().segment_id(): r for r, _off in searcher.reader().leaf_readers() if r.segment() is not None}
    readers = []
    for segment in info.segments:
        reader = old.get(segment.segment_id())
        if reader is not None and reader.segment().deleted_count() == segment.deleted_count():
            del old[segment.segment_id()]
        else:
            reader = SegmentReader(ix.storage, info.schema, segment, generation=info.generation)
        readers.append(reader)
    for reader in old.values():
        reader.close()
    if not readers:
        return ix.searcher()
    reader = readers[0] if len(readers) == 1 else MultiReader(readers, generation=info.generation)
    if len(readers) == 1:
        reader._gen = info.generation
    searcher.is_closed = True
    return Searcher(reader, fromindex=ix, weighting=searcher.weighting)


_pools: dict[str, _Pool] = {}
_pools_lock = threading.Lock()


def _pool() -> _Pool:
    base = base_dir()
    path = current_dir(base)
    if path is None:
        raise IndexUnavailable("there is no search index yet")
    key = str(base)
    pool = _pools.get(key)
    if pool is not None and pool.path == path:
        return pool
    with _pools_lock:
        pool = _pools.get(key)
        if pool is None or pool.path != path:
            reason = outdated(path)
            if reason:
                raise IndexUnavailable(f"the search index must be rebuilt: {reason}")
            old, pool = pool, _Pool(path, open_index(path))
            _pools[key] = pool
            if old is not None:
                old.close()
    return pool


@contextmanager
def searcher():
    """A searcher of the live index, current as of now. Raises IndexUnavailable."""
    pool = _pool()
    try:
        s = pool.take()
    except Exception as exc:  # noqa: BLE001 - a damaged index must not become a 500
        raise IndexUnavailable(f"cannot read the search index: {exc}") from exc
    try:
        yield s
    finally:
        pool.give(s)


def forget_searchers() -> None:
    """Close every pooled searcher (tests, after a rebuild in the same process)."""
    with _pools_lock:
        for pool in _pools.values():
            pool.close()
        _pools.clear()
