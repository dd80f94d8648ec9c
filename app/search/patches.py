"""Small, local fixes to Whoosh behaviour that Kring depends on (applied once, on import).

1. W3PerDocReader._cached_reader caches a field-length column reader only when the column
   exists; for fields without lengths (ID, KEYWORD: most of ours) every posting written at commit
   time asked the file system again (`file_exists`), which made a commit of a segment spend
   most of its time in stat() calls. The absence is cached too (a written segment's files never
   change).
2. SegmentReader.column_reader builds a new column reader on every call, and a VarBytes column
   reader reads the offsets of every document when built: sorting and faceting paid that for
   each segment on each query. Readers are cached per segment reader (keyed by field, column,
   direction and translation; segment files never change, and a pooled searcher is used by one
   thread at a time).

3. BufferFile (every file inside a segment, opened through the segment's memory map) copied
   the file into a BytesIO: opening a reader of a big segment copied megabytes each time. It
   now reads the mapped memory in place.

Other Whoosh pitfalls are handled where they bite: Searcher.refresh() keeps stale deletions
(store.refreshed), Query.existing_terms stops after the first field (query.highlights.highlight_terms),
KEYWORD ignores a Column passed as `sortable` and VarBytesListColumn lacks its writer and
reader (schema.TagList), and an empty filter set means "no filter" (query.permissions.restriction).
"""
from __future__ import annotations

from whoosh.codec import whoosh3
from whoosh.filedb import structfile
from whoosh.reading import SegmentReader

_MISSING = object()


def _cached_reader(self, fieldname, column):
    found = self._readers.get(fieldname, _MISSING)
    if found is _MISSING:
        found = self.column_reader(fieldname, column) if self.has_column(fieldname) else None
        self._readers[fieldname] = found
    return found


_original_column_reader = SegmentReader.column_reader


def _column_reader(self, fieldname, column=None, reverse=False, translate=True):
    cache = self.__dict__.get("_kring_columns")
    if cache is None:
        cache = self.__dict__["_kring_columns"] = {}
    shape = None if column is None else (type(column), tuple(sorted((k, repr(v)) for k, v in vars(column).items())))
    key = (fieldname, shape, reverse, translate)
    found = cache.get(key)
    if found is None:
        found = _original_column_reader(self, fieldname, column, reverse, translate)
        cache[key] = found
    return found


class _MemoryReader:
    """A read-only file over a buffer (a memoryview of the mapped segment), without the copy
    that BytesIO(buffer) makes."""

    def __init__(self, buf):
        self._buf = buf if isinstance(buf, memoryview) else memoryview(buf)
        self._len = len(self._buf)
        self._pos = 0

    def read(self, n=-1):
        start = self._pos
        end = self._len if n is None or n < 0 else min(self._len, start + n)
        self._pos = end
        return bytes(self._buf[start:end])

    def readinto(self, target):
        data = self.read(len(target))
        target[:len(data)] = data
        return len(data)

    def readline(self, limit=-1):
        start = self._pos
        end = self._len if limit is None or limit < 0 else min(self._len, start + limit)
        i = start
        while i < end:
            chunk = bytes(self._buf[i:min(end, i + 256)])
            found = chunk.find(b"\n")
            if found >= 0:
                i += found + 1
                break
            i += len(chunk)
        self._pos = i
        return bytes(self._buf[start:i])

    def __iter__(self):
        while True:
            line = self.readline()
            if not line:
                return
            yield line

    def seek(self, pos, whence=0):
        base = {0: 0, 1: self._pos, 2: self._len}[whence]
        self._pos = max(0, base + pos)
        return self._pos

    def tell(self):
        return self._pos

    def flush(self):
        pass

    def close(self):
        self._buf = memoryview(b"")
        self._len = self._pos = 0


def _buffer_file_init(self, buf, name=None, onclose=None):
    self._buf = buf
    self._name = name
    self.file = _MemoryReader(buf)
    self.onclose = onclose
    self.is_real = False
    self.is_closed = False


def apply() -> None:
    if getattr(whoosh3.W3PerDocReader, "_kring_patched", False):
        return
    whoosh3.W3PerDocReader._cached_reader = _cached_reader
    whoosh3.W3PerDocReader._kring_patched = True
    SegmentReader.column_reader = _column_reader
    structfile.BufferFile.__init__ = _buffer_file_init


apply()
