"""The Whoosh schema and analyzers.

Text fields use a stemming analyzer for the deployment's language (KRING_SEARCH_LANGUAGE,
default "en"; any language Whoosh has a stemmer for: da de en es fi fr hu it nl no pt ro ru sv
tr ar): "returns" finds "returned". `spell` keeps the unstemmed words of titles, texts (posts,
comments, chat), names and topics for "did you mean". Facet and sort fields are column-backed
(sortable) so counting them reads a column instead of walking postings.

Documents carry only the facts the permission filter needs (their community, or for people
the communities they belong to); who may read which community is decided fresh at query time.
Changing the schema or the language needs a rebuild: `SCHEMA_VERSION` and the language are
written beside each index and a mismatch rebuilds it.
"""
from __future__ import annotations

from whoosh import columns, fields
from whoosh.analysis import LanguageAnalyzer, LowercaseFilter, RegexTokenizer
from whoosh.lang import has_stemmer

SCHEMA_VERSION = 4  # 3: experts of topics are documents of their own; 4: texts in `spell` (issue 13)
DEFAULT_LANGUAGE = "en"


class BytesListColumn(columns.VarBytesListColumn):
    """Whoosh's VarBytesListColumn with the writer and reader it forgets to hand out."""

    def writer(self, *args, **kwargs):
        return self.Writer(self._child.writer(*args, **kwargs))

    def reader(self, *args, **kwargs):
        return self.Reader(self._child.reader(*args, **kwargs))

    def default_value(self, reverse=False):
        return []


class TagList(fields.KEYWORD):
    """Space-separated values (topic ids) with a list column, so a document counts once for
    each of its values in a facet."""

    def __init__(self, **kw):
        super().__init__(**kw)
        self.column_type = BytesListColumn()  # KEYWORD ignores a Column passed as `sortable`

    def to_column_value(self, value):
        if isinstance(value, (list, tuple)):
            return [str(v).encode() for v in value]
        return [part.encode() for part in (value or "").split()]

    def from_column_value(self, value):
        return [v.decode() for v in value]


def language_or_default(language: str | None) -> str:
    language = (language or DEFAULT_LANGUAGE).strip().lower()
    return language if has_stemmer(language) else DEFAULT_LANGUAGE


def text_analyzer(language: str):
    return LanguageAnalyzer(language_or_default(language))


def spell_analyzer():
    return RegexTokenizer(r"[^\W\d_]{3,}") | LowercaseFilter()


def _facet():
    """A few distinct values per field: a column of references into a list of unique values."""
    return columns.RefBytesColumn()


def _id(stored: bool = False) -> fields.ID:
    field = fields.ID(stored=stored)
    field.column_type = _facet()
    return field


def build_schema(language: str) -> fields.Schema:
    text = text_analyzer(language)
    return fields.Schema(
        id=fields.ID(stored=True, unique=True),          # "post:12"
        type=_id(),                   # post comment person community topic message
        community=_id(stored=True),  # the community the document lives in
        post=fields.STORED,                                # posts and comments: the post
        title=fields.TEXT(analyzer=text, field_boost=3.0),
        body=fields.TEXT(analyzer=text),
        topics=fields.TEXT(analyzer=text, field_boost=1.5),  # topic names and slugs
        topic_ids=TagList(),
        expertise=fields.TEXT(analyzer=text, field_boost=2.0),  # people: tags and expert topics
        kind=_id(),                     # idea question discussion
        status=_id(),                   # idea status
        author=fields.KEYWORD(lowercase=True),             # the author's handle
        author_id=fields.STORED,                           # (cascades: a renamed author)
        author_kind=_id(),              # employee customer partner
        department=_id(),               # the author's (or person's) department id
        members=fields.KEYWORD,                            # people: ids of their communities
        created=fields.COLUMN(columns.NumericColumn("q")),  # seconds since 1970 (sort only)
        day=fields.COLUMN(columns.NumericColumn("i")),      # days since 1970 (date facet and filter)
        votes=fields.COLUMN(columns.NumericColumn("i")),      # sort only
        spell=fields.TEXT(analyzer=spell_analyzer(), phrase=False),
        sig=fields.STORED,                                 # what dependants copied (cascades)
        hash=fields.STORED,                                # digest of the fields (`flask search check`)
    )


# Free text searches these fields; `field:value` reaches the others.
TEXT_FIELDS = ("title", "body", "topics", "expertise")
