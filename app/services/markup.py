"""Markdown to safe HTML: render with markdown-it-py, then sanitise with an nh3 allowlist.

markdown-it-py is a CommonMark parser that runs in linear time on any input (runs of `[`,
emphasis, backticks or HTML blocks that made Python-Markdown take seconds or crash), so no
single post can hold a worker. It has no safe mode of its own here (raw HTML is passed on),
so the sanitiser is what makes the output safe: no script, no event attributes, no style, only
http/https/mailto links, and every link gets rel="nofollow ugc noopener". Kring adds three
things: `@handle` mentions of people who exist become links to their profile (not inside code
or links), bare http(s) URLs become links, and after sanitising, a paragraph that is nothing
but a link to an allowed video provider becomes an embedded player (built by us from a
validated id, never from the user's HTML). GitHub-style tables and ~~strikethrough~~ are on,
and a single newline is a line break, as people type in a chat box.
"""
from __future__ import annotations

import re
from collections.abc import Callable, Iterable

import nh3
from linkify_it import LinkifyIt
from markdown_it import MarkdownIt
from markdown_it.token import Token
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


_MENTION = re.compile(MENTION_RE)


def _existing_handles(candidates: set[str]) -> set[str]:
    """Which of these handles belong to a person (one query); none outside an app context."""
    from flask import has_app_context
    from sqlalchemy import select

    from app.extensions import db
    from app.models import User

    if not candidates or not has_app_context():
        return set()
    return set(db.session.scalars(select(User.handle).where(User.handle.in_(sorted(candidates)))))


def _mention_rule(known: Callable[[set[str]], set[str]]):
    """A core rule after inline parsing: `@handle` in plain text (not in code, not inside a
    link) of a person who exists becomes a link to their profile; anything else stays text."""

    def rule(state) -> None:
        inlines = [t for t in state.tokens if t.type == "inline" and t.children]
        wanted = {m.group(1) for t in inlines for c in t.children if c.type == "text"
                  for m in _MENTION.finditer(c.content)}
        if not wanted:
            return
        real = known(wanted)
        if not real:
            return
        for token in inlines:
            out: list[Token] = []
            depth = 0
            for child in token.children:
                if child.type == "link_open":
                    depth += 1
                elif child.type == "link_close":
                    depth -= 1
                if child.type != "text" or depth or "@" not in child.content:
                    out.append(child)
                    continue
                out.extend(_split_mentions(child, real))
            token.children = out

    return rule


def _split_mentions(child: Token, real: set[str]) -> Iterable[Token]:
    text, pos = child.content, 0
    for m in _MENTION.finditer(text):
        if m.group(1) not in real:
            continue
        if m.start() > pos:
            yield _text(text[pos:m.start()], child)
        link = Token("link_open", "a", 1)
        link.attrs = {"href": f"/people/{m.group(1)}"}
        yield link
        yield _text(m.group(0), child)
        yield Token("link_close", "a", -1)
        pos = m.end()
    if pos == 0:
        yield child
    elif pos < len(text):
        yield _text(text[pos:], child)


def _text(content: str, like: Token) -> Token:
    token = Token("text", "", 0)
    token.content, token.level = content, like.level
    return token

def source_problem(text: str, max_chars: int) -> str | None:
    """What is wrong with a text someone typed, as a message for them (None: nothing): too long,
    or a NUL character, which no database stores. Every service that takes text asks this."""
    if len(text) > max_chars:
        return f"Use at most {max_chars:,} characters (you wrote {len(text):,})."
    if "\x00" in text:
        return "The text contains a character that cannot be stored."
    return None


def _parser(known: Callable[[set[str]], set[str]]) -> MarkdownIt:
    parser = MarkdownIt("commonmark", {"html": True, "linkify": True, "breaks": True})
    parser.enable(["table", "strikethrough", "linkify"])
    linkify = LinkifyIt(options={"fuzzy_link": False, "fuzzy_email": False, "fuzzy_ip": False})
    for schema in ("ftp:", "//", "mailto:"):
        linkify.add(schema, None)  # bare links: only http(s)://, as people paste them
    parser.linkify = linkify
    # Every link target reaches the sanitiser, which drops unsafe ones and keeps the text (as
    # "[x](javascript:...)" -> "x"), instead of markdown-it showing the raw source as text.
    parser.validateLink = lambda url: True
    parser.core.ruler.push("kring_mentions", _mention_rule(known))
    return parser


_PARSER = _parser(_existing_handles)


def _markdown(text: str) -> str:
    return _PARSER.render(text)

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
    return nh3.clean(_markdown(text or ""), tags=set()).strip()


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
