"""Markdown to safe HTML: render with Python-Markdown, then sanitise with an nh3 allowlist.

Python-Markdown has no safe mode, so the sanitiser is what makes the output safe: no script,
no event attributes, no style, only http/https/mailto links, and every link gets
rel="nofollow ugc noopener".
"""
from __future__ import annotations

import markdown as md
import nh3
from markupsafe import Markup

ALLOWED_TAGS = {
    "a", "abbr", "b", "blockquote", "br", "code", "del", "em", "h1", "h2", "h3", "h4", "h5", "h6",
    "hr", "i", "img", "li", "ol", "p", "pre", "s", "strong", "sub", "sup", "table", "tbody", "td",
    "th", "thead", "tr", "ul",
}
ALLOWED_ATTRIBUTES = {
    "a": {"href", "title"},
    "abbr": {"title"},
    "img": {"src", "alt", "title", "width", "height"},
    "td": {"align"},
    "th": {"align"},
}
URL_SCHEMES = {"http", "https", "mailto"}
EXTENSIONS = ["fenced_code", "tables", "sane_lists", "nl2br"]


def to_html(text: str | None) -> str:
    """Return sanitised HTML for the markdown `text` (a plain str, to store or to mark safe)."""
    if not text:
        return ""
    raw = md.markdown(text, extensions=EXTENSIONS, output_format="html")
    return nh3.clean(raw, tags=ALLOWED_TAGS, attributes=ALLOWED_ATTRIBUTES,
                     url_schemes=URL_SCHEMES, link_rel="nofollow ugc noopener",
                     strip_comments=True)


def render(text: str | None) -> Markup:
    """Jinja filter: markdown to sanitised HTML, marked safe only after nh3 cleaned it."""
    return Markup(to_html(text))  # noqa: S704 - nh3 output is the safe form


def to_text(text: str | None) -> str:
    """The plain text of a markdown body (for snippets, search, notifications)."""
    return nh3.clean(md.markdown(text or ""), tags=set()).strip()
