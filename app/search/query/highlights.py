"""Highlights: the index terms a query matched, and a text (or its best fragments) as
(piece, matched) pairs that the template escapes piece by piece, so a highlight never injects
HTML.
"""
from __future__ import annotations

from whoosh import highlight as wh

from app.search import schema as search_schema


def highlight_terms(searcher, q) -> dict[str, set[str]]:
    """field -> the index terms of the query (prefixes and fuzzy terms expanded), for highlights.
    Raises nothing (a leaf that cannot be expanded gives its own terms)."""
    terms: dict[str, set[str]] = {}
    found = set()
    reader = searcher.reader()
    # leaf by leaf: Whoosh's Query.existing_terms reuses its `fieldname` argument as a loop
    # variable and so stops after the first field
    for leaf in q.leaves():
        try:
            found |= leaf.existing_terms(reader, expand=True)
        except Exception:  # noqa: BLE001 - highlighting is a nicety
            found |= set(leaf.terms())
    for fieldname, text in found:
        if isinstance(text, bytes):
            text = text.decode("utf-8", "ignore")
        terms.setdefault(fieldname, set()).add(text)
    return terms


class _Segments(wh.Formatter):
    """A formatter that returns (text, matched) pairs instead of markup: the template escapes
    every piece, so a highlight can never inject HTML."""

    between = None

    def format_token(self, text, token, replace=False):
        """(the token's text, True). Raises nothing."""
        return (wh.get_text(text, token, replace), True)

    def format_fragment(self, fragment, replace=False):
        """(start, end, [(piece, matched), ...]) for one fragment. Raises nothing."""
        output = []
        index = fragment.startchar
        text = fragment.text
        for t in sorted(fragment.matches, key=lambda tok: (tok.startchar, -(tok.endchar - tok.startchar))):
            if t.startchar is None or t.startchar < index:
                continue
            if t.startchar > index:
                output.append((text[index:t.startchar], False))
            output.append(self.format_token(text, t, replace))
            index = t.endchar
        output.append((text[index:fragment.endchar], False))
        return fragment.startchar, fragment.endchar, output

    def format(self, fragments, replace=False):
        """format_fragment() of each fragment. Raises nothing."""
        return [self.format_fragment(f, replace=replace) for f in fragments]


_analyzers: dict[str, object] = {}


def segments(text: str, terms: set[str], language: str, *, whole: bool = False, maxchars: int = 220,
             top: int = 2) -> list[tuple[str, bool]]:
    """`text` (or its best fragments) as (piece, matched) pairs; "…" marks text left out.
    Without a match: the start of the text, unmarked. Raises nothing (a snippet that fails to
    highlight falls back to the start of the text)."""
    text = text or ""
    if not text:
        return []
    analyzer = _analyzers.get(language)
    if analyzer is None:
        analyzer = _analyzers.setdefault(language, search_schema.text_analyzer(language))
    offset, window = 0, text
    if terms and not whole and len(text) > 3 * maxchars:
        # analyse only the stretch around the first place a term (or its stem) appears: the
        # analyser is the cost of a snippet, and a long body would be analysed whole
        lowered = text.lower()
        found = [lowered.find(t[:max(3, len(t) - 1)]) for t in terms if t]
        found = [f for f in found if f >= 0]
        if not found:
            terms = set()  # no term in the text: the start of the text, without analysing it
        else:
            first = min(found)
            offset = max(0, text.rfind(" ", 0, max(0, first - maxchars)) + 1)
            window = text[offset:first + 3 * maxchars]
    if terms:
        fragmenter = wh.WholeFragmenter() if whole else wh.ContextFragmenter(maxchars=maxchars, surround=60)
        try:
            fragments = wh.highlight(window, terms, analyzer, fragmenter, _Segments(), top=top)
        except Exception:  # noqa: BLE001 - never fail a page over a snippet
            fragments = []
        if fragments:
            out: list[tuple[str, bool]] = []
            end_of_text = len(text.rstrip(" .!?…\n"))
            fragments = [(start + offset, end + offset, pieces) for start, end, pieces in fragments]
            for i, (start, end, pieces) in enumerate(sorted(fragments, key=lambda f: f[0])):
                if start > 0 and not whole:
                    out.append(("… " if i == 0 else " … ", False))
                elif i:
                    out.append((" ", False))
                out.extend(piece for piece in pieces if piece[0])
                if i == len(fragments) - 1 and end < end_of_text and not whole:
                    out.append((" …", False))
            return out
    if whole or len(text) <= maxchars:
        return [(text, False)]
    cut = text[:maxchars].rsplit(" ", 1)[0]
    return [(cut + " …", False)]
