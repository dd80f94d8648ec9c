"""How Kring writes a count with its noun: the one plural rule of the site.

`plural(3, "comment")` is "3 comments", `plural(1, "person", "people")` is "1 person". Views,
services and templates (the `plural` filter) all use it, so there is one place to change
when Kring is translated: with Flask-Babel it becomes `ngettext(one, many, count)`, whose
arguments it already takes in that order (singular, plural, count). Imports nothing from app.
"""
from __future__ import annotations


def plural(count, one: str, many: str | None = None, *, number: bool = True) -> str:
    """"0 comments", "1 comment", "2 comments", "1,204 people": the count (with thousands
    separators) and the noun that agrees with it. `many` for irregular nouns (default: `one`
    + "s"); `number=False` gives the noun alone, for a count styled apart from its noun."""
    n = int(count or 0)
    noun = one if n == 1 else (many if many is not None else one + "s")
    return f"{n:,} {noun}" if number else noun
