"""Markdown to safe HTML: render with Python-Markdown, then sanitise with an nh3 allowlist.

Python-Markdown has no safe mode, so the sanitiser is what makes the output safe: no script,
no event attributes, no style, only http/https/mailto links, and every link gets
rel="nofollow ugc noopener". Two small extensions run before it: `@handle` mentions become
links to the person's profile, and bare http(s) URLs become links. After it, a paragraph that
is nothing but a link to an allowed video provider becomes an embedded player (built by us
from a validated id, never from the user's HTML).
"""
from __future__ import annotations

import re
import xml.etree.ElementTree as etree

import markdown as md
import nh3
from markdown.inlinepatterns import InlineProcessor
from markdown.util import AtomicString
from markupsafe import Markup, escape

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

MENTION_RE = r"(?<![@/.])(?<![^\W_])@([a-z0-9](?:[a-z0-9.]{0,38}[a-z0-9])?)"
BARE_URL_RE = r"(?<![\"'(<=\w])(https?://[^\s<>\"')\]]+[^\s<>\"')\].,;:!?])"


class _MentionPattern(InlineProcessor):
    def handleMatch(self, m, data):  # noqa: N802 - Python-Markdown's API
        el = etree.Element("a")
        el.set("href", f"/people/{m.group(1)}")
        el.text = AtomicString(f"@{m.group(1)}")  # not parsed again (no nested links)
        return el, m.start(0), m.end(0)


class _BareUrlPattern(InlineProcessor):
    def handleMatch(self, m, data):  # noqa: N802
        el = etree.Element("a")
        el.set("href", m.group(1))
        el.text = AtomicString(m.group(1))
        return el, m.start(0), m.end(0)


class _KringExtension(md.Extension):
    def extendMarkdown(self, parser):  # noqa: N802
        parser.inlinePatterns.register(_MentionPattern(MENTION_RE, parser), "kring_mention", 175)
        parser.inlinePatterns.register(_BareUrlPattern(BARE_URL_RE, parser), "kring_bare_url", 174)


def source_problem(text: str, max_chars: int) -> str | None:
    """What is wrong with a text someone typed, as a message for them (None: nothing): too long,
    or a NUL character, which no database stores. Every service that takes text asks this."""
    if len(text) > max_chars:
        return f"Use at most {max_chars:,} characters (you wrote {len(text):,})."
    if "\x00" in text:
        return "The text contains a character that cannot be stored."
    return None


def _markdown(text: str) -> str:
    return md.markdown(text, extensions=["fenced_code", "tables", "sane_lists", "nl2br", _KringExtension()],
                       output_format="html")


def _only_local_images(tag: str, attribute: str, value: str) -> str | None:
    """Images may only come from this site (attachments): the CSP would block others anyway,
    and a remote image would tell a third party who reads what."""
    if tag == "img" and attribute == "src" and not (value.startswith("/") and not value.startswith("//")):
        return None
    return value


def _clean(html: str) -> str:
    return nh3.clean(html, tags=ALLOWED_TAGS, attributes=ALLOWED_ATTRIBUTES, attribute_filter=_only_local_images,
                     url_schemes=URL_SCHEMES, link_rel="nofollow ugc noopener", strip_comments=True)


# --- video embeds -------------------------------------------------------------------------

VIDEO_PROVIDERS = {
    "youtube": [
        (re.compile(r"^https?://(?:www\.|m\.)?youtube\.com/watch\?(?:[^#\s]*&)?v=([A-Za-z0-9_-]{11})(?:[&#].*)?$"),
         "https://www.youtube-nocookie.com/embed/{}"),
        (re.compile(r"^https?://youtu\.be/([A-Za-z0-9_-]{11})(?:[?#].*)?$"),
         "https://www.youtube-nocookie.com/embed/{}"),
    ],
    "vimeo": [
        (re.compile(r"^https?://(?:www\.)?vimeo\.com/(\d{4,12})(?:[?#].*)?$"), "https://player.vimeo.com/video/{}"),
    ],
}
EMBED_HOSTS = {"youtube": "https://www.youtube-nocookie.com", "vimeo": "https://player.vimeo.com"}
_LONE_LINK = re.compile(r'<p><a href="([^"]+)"[^>]*>([^<]*)</a></p>')


def embed_url(url: str, providers: list[str] | tuple[str, ...]) -> str | None:
    """The player URL for a video link of an allowed provider, or None."""
    for name in providers:
        for pattern, template in VIDEO_PROVIDERS.get(name, ()):
            match = pattern.match(url)
            if match:
                return template.format(match.group(1))
    return None


def _embed_videos(html: str, providers) -> str:
    if not providers:
        return html

    def replace(m: re.Match) -> str:
        href = m.group(1).replace("&amp;", "&")
        player = embed_url(href, providers)
        if player is None:
            return m.group(0)
        return (f'<div class="video-embed"><iframe src="{escape(player)}" title="Embedded video" '
                f'loading="lazy" allowfullscreen sandbox="allow-scripts allow-same-origin allow-presentation" '
                f'referrerpolicy="strict-origin-when-cross-origin"></iframe>'
                f'<p class="small"><a href="{escape(href)}" rel="nofollow ugc noopener">{m.group(2)}</a></p></div>')

    return _LONE_LINK.sub(replace, html)


def _providers() -> tuple[str, ...]:
    from flask import current_app, has_app_context

    if not has_app_context():
        return ()
    return tuple(current_app.config.get("KRING_VIDEO_PROVIDERS", ()))


# --- public API ---------------------------------------------------------------------------

def to_html(text: str | None, *, embeds: bool = False) -> str:
    """Sanitised HTML for the markdown `text` (a plain str to store, or mark safe)."""
    if not text:
        return ""
    html = _clean(_markdown(text))
    return _embed_videos(html, _providers()) if embeds else html


def render(text: str | None) -> Markup:
    """Jinja filter: markdown to sanitised HTML, marked safe only after nh3 cleaned it."""
    return Markup(to_html(text))  # noqa: S704 - nh3 output is the safe form


def stored(html: str | None) -> Markup:
    """Jinja filter for HTML that to_html() produced and the database stored."""
    return Markup(html or "")  # noqa: S704 - only ever to_html() output


def to_text(text: str | None) -> str:
    """The plain text of a markdown body (for snippets, search, notifications)."""
    return nh3.clean(md.markdown(text or ""), tags=set()).strip()


_MENTION_LINK = re.compile(r'<a href="/people/([a-z0-9.]+)"[^>]*>@\1</a>')


def mentioned_handles(text: str | None) -> list[str]:
    """The distinct @handles that the rendered text links as mentions, in order: exactly what
    readers see as a mention (nothing inside code of any kind)."""
    if not text:
        return []
    seen: dict[str, None] = {}
    for m in _MENTION_LINK.finditer(to_html(text)):
        seen.setdefault(m.group(1), None)
    return list(seen)
