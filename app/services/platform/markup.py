"""Markdown to safe HTML: render with markdown-it-py (CommonMark, linear time), then sanitise
with an nh3 allowlist.

markdown-it-py runs in CommonMark mode plus what Kring adds: tables, strikethrough, hard line
breaks (a newline is a <br>), bare http(s) URLs as links (linkify-it, no fuzzy "example.com"
links) and `@handle` mentions of people who exist and are active. Its parser is linear in the
input and bounds nesting (maxNesting), so no crafted text holds a worker for long. Raw HTML is
parsed and left to the sanitiser, which is what makes the output safe: no script, no event
attributes, no style, only http/https/mailto links, and every link gets
rel="nofollow ugc noopener". After it, a paragraph that is nothing but a link to an allowed
video provider becomes an embedded player (built by us from a validated id, never from the
user's HTML).
"""
from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from html import unescape

import nh3
from flask import current_app, has_app_context
from markdown_it import MarkdownIt
from markdown_it.token import Token
from markupsafe import Markup, escape
from sqlalchemy import or_, select

from app import clock
from app.extensions import db
from app.inputs import UNUSABLE, text_problem
from app.models import User

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

MENTION_RE = re.compile(r"(?<![@/.])(?<![^\W_])@([a-z0-9](?:[a-z0-9.]{0,38}[a-z0-9])?)")


def source_problem(text: str, max_chars: int) -> str | None:
    """What is wrong with a text someone typed, as a message for them (None: nothing): too long,
    or a character the text rule refuses (text_problem). Every service that takes text from a
    door other than an HTML form (sockets, JSON, the CLI) asks this; the HTML door already
    removes those characters from every form field (app.setup.KringRequest)."""
    if len(text) > max_chars:
        return f"Use at most {max_chars:,} characters (you wrote {len(text):,})."
    return text_problem(text)


def _parser() -> MarkdownIt:
    parser = MarkdownIt("commonmark", {"breaks": True, "linkify": True, "html": True})
    parser.enable(["table", "strikethrough", "linkify"])
    parser.linkify.set({"fuzzy_link": False, "fuzzy_email": False, "fuzzy_ip": False})
    for schema in ("ftp:", "//", "mailto:"):
        parser.linkify.add(schema, None)  # bare links: only http(s)://, as people paste them
    # Every link target reaches the sanitiser, which drops unsafe ones and keeps the text (as
    # "[x](javascript:...)" -> "x"), instead of markdown-it showing the raw source as text.
    parser.validateLink = lambda url: True
    parser.core.ruler.push("kring_mentions", _mentions_rule)
    return parser


def _mention_tokens(text: str, known: Callable[[str], bool]) -> list[Token] | None:
    """The text split into text and mention-link tokens, or None when it has no known mention."""
    out: list[Token] = []
    pos = 0
    for m in MENTION_RE.finditer(text):
        if not known(m.group(1)):
            continue
        if m.start() > pos:
            piece = Token("text", "", 0)
            piece.content = text[pos:m.start()]
            out.append(piece)
        link = Token("link_open", "a", 1)
        link.attrs = {"href": f"/people/{m.group(1)}"}
        label = Token("text", "", 0)
        label.content = m.group(0)
        out += [link, label, Token("link_close", "a", -1)]
        pos = m.end()
    if not out:
        return None
    if pos < len(text):
        rest = Token("text", "", 0)
        rest.content = text[pos:]
        out.append(rest)
    return out


def _mentions_rule(state) -> None:
    """Core rule: @handles in text outside links and code become links to the profile, for
    the handles state.env["known"] accepts (every well-formed one when it is not given)."""
    known = state.env.get("known") or (lambda handle: True)
    for block in state.tokens:
        if block.type != "inline" or not block.children or "@" not in block.content:
            continue
        children, depth = [], 0
        for token in block.children:
            if token.type == "link_open":
                depth += 1
            elif token.type == "link_close":
                depth -= 1
            if token.type == "text" and depth == 0 and "@" in token.content:
                split = _mention_tokens(token.content, known)
                if split:
                    children += split
                    continue
            children.append(token)
        block.children = children


_PARSER = _parser()


def _candidates(text: str) -> set[str]:
    return {m.group(1) for m in MENTION_RE.finditer(text)} if "@" in text else set()


def _existing_handles(handles: Iterable[str]) -> set[str]:
    """Which of `handles` name a real, active person (mentions link only to them). Outside an
    application context (no database) every well-formed handle counts."""
    handles = set(handles)
    if not handles:
        return handles

    if not has_app_context():
        return handles

    found: set[str] = set()
    ordered = sorted(handles)
    for i in range(0, len(ordered), 500):
        found.update(db.session.scalars(select(User.handle).where(
            User.handle.in_(ordered[i:i + 500]),
            or_(User.suspended_until.is_(None), User.suspended_until <= clock.utcnow()))))
    return found


def _markdown(text: str) -> str:
    known = _existing_handles(_candidates(text))
    return _PARSER.render(text, {"known": known.__contains__})


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
    if not has_app_context():
        return ()
    return tuple(current_app.config.get("KRING_VIDEO_PROVIDERS", ()))


def _storable(text: str) -> str:
    """Lone surrogates (which no encoder accepts) become U+FFFD before rendering; services refuse
    them through source_problem, this only keeps rendering total."""
    return text.encode("utf-8", "replace").decode("utf-8") if UNUSABLE.search(text) else text


# --- public API ---------------------------------------------------------------------------

def to_html(text: str | None, *, embeds: bool = False) -> str:
    """Sanitised HTML for the markdown `text` (a plain str to store, or mark safe)."""
    if not text:
        return ""
    html = _clean(_markdown(_storable(text)))
    return _embed_videos(html, _providers()) if embeds else html


def render(text: str | None) -> Markup:
    """Jinja filter: markdown to sanitised HTML, marked safe only after nh3 cleaned it."""
    return Markup(to_html(text))  # noqa: S704 - nh3 output is the safe form


def stored(html: str | None) -> Markup:
    """Jinja filter for HTML that to_html() produced and the database stored."""
    return Markup(html or "")  # noqa: S704 - only ever to_html() output


def to_text(text: str | None) -> str:
    """The plain text of a markdown body (for snippets, notifications, titles): characters, not
    HTML, so "R&D" stays "R&D". It is escaped once, where it is shown (Jinja's autoescape,
    textContent in the browser); never mark it safe."""
    if not text:
        return ""
    stripped = nh3.clean(_PARSER.render(_storable(text), {"known": lambda handle: False}), tags=set())
    return unescape(stripped).strip()


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
