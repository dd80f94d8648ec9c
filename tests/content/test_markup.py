"""Markdown to safe HTML (app.services.platform.markup): an XSS corpus and a fuzzer through to_html, mentions
only outside code, and video embeds only for allowed providers from a validated id."""
from __future__ import annotations

import re
from html.parser import HTMLParser

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.services.platform import markup

REL = "nofollow ugc noopener"
BAD_SCHEMES = ("javascript:", "data:", "vbscript:")
URL_ATTRIBUTES = {"href", "src", "srcset", "action", "formaction", "background", "poster", "data",
                  "xlink:href", "cite", "longdesc"}
EMBED_SRC = re.compile(r"^https://(www\.youtube-nocookie\.com/embed/[A-Za-z0-9_-]{11}|player\.vimeo\.com/video/\d{4,12})$")
C0_AND_SPACE = "".join(chr(i) for i in range(0x21))


class _Tags(HTMLParser):
    """Every start tag with its attributes, entities decoded as a browser would."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, list[tuple[str, str | None]]]] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, attrs))

    handle_startendtag = handle_starttag


def _as_browser_reads_url(value: str) -> str:
    """The URL string a browser parses: tabs and newlines removed, C0 controls and spaces
    trimmed at both ends (WHATWG URL), lower-cased for the scheme comparison."""
    return re.sub(r"[\t\n\r]", "", value).strip(C0_AND_SPACE).lower()


def assert_safe(html: str) -> None:
    """The invariants of sanitised output, checked on the markup and on the parsed tags."""
    lowered = html.lower()
    for tag in ("<script", "<style", "<svg", "<math", "<object", "<embed", "<form", "<base", "<meta",
                "<link", "<frame", "<input", "<button", "<textarea", "<details"):
        assert tag not in lowered, (tag, html)
    for raw_tag in re.findall(r"<[^>]+>", html):
        without_values = re.sub(r'"[^"]*"', '""', raw_tag)
        assert not re.search(r"\son[a-z]*\s*=", without_values, re.I), html
        assert not re.search(r"\sstyle\s*=", without_values, re.I), html
    parser = _Tags()
    parser.feed(html)
    parser.close()
    for tag, attrs in parser.tags:
        names = dict(attrs)
        assert tag in markup.ALLOWED_TAGS | {"div", "iframe"}, (tag, html)
        for name, value in attrs:
            assert not name.startswith("on") and name != "style", (name, html)
            if name in URL_ATTRIBUTES and value is not None:
                url = _as_browser_reads_url(value)
                # the scheme is what a browser acts on: "https://x/javascript:" is a harmless path
                scheme = url.split("/", 1)[0] if ":" in url.split("/", 1)[0] else ""
                assert not any(scheme.startswith(bad) for bad in BAD_SCHEMES), (name, value, html)
        if tag == "a":
            assert names.get("rel") == REL, html
            assert set(names) <= {"href", "title", "rel"}, html
        if tag == "iframe":
            assert EMBED_SRC.match(names.get("src") or ""), html
            assert "sandbox" in names and "allow-top-navigation" not in (names["sandbox"] or ""), html
        if tag == "div":
            assert names == {"class": "video-embed"}, html


XSS = [
    # script and style elements, in many spellings
    "<script>alert(1)</script>",
    "<SCRIPT SRC=https://evil.example/x.js></SCRIPT>",
    "<<script>script>alert(1)<</script>/script>",
    "<scr<script>ipt>alert(1)</script>",
    "<style>body{display:none}</style>",
    "<div style=\"background:url(javascript:alert(1))\">x</div>",
    # event attributes
    "<img src=x onerror=alert(1)>",
    "<IMG SRC=x OnErRoR=alert(1)>",
    "<p onclick=\"alert(1)\">hi</p>",
    "<a href=\"https://ok.example\" onmouseover=alert(1)>x</a>",
    "<details open ontoggle=alert(1)>x</details>",
    "<body onload=alert(1)>",
    "![x](https://ok.example/a.png \"t\" onerror=\"alert(1)\")",
    "[click](https://ok.example \"title\" onmouseover=alert(1))",
    # javascript:, data:, vbscript: URLs in links and images
    "[x](javascript:alert(1))",
    "[x](  javascript:alert(1))",
    "[x](JaVaScRiPt:alert(1))",
    "[x](<javascript:alert(1)>)",
    "[x](\x01javascript:alert(1))",
    "[x](java\nscript:alert(1))",
    "[x](java\tscript:alert(1))",
    "[x](&#106;avascript:alert(1))",
    "[x](&#x6A;avascript:alert(1))",
    "[x](javas&#99;ript:alert(1))",
    "[x](java&#9;script:alert(1))",
    "[x](java&#x0A;script:alert(1))",
    "[x](javascript&colon;alert(1))",
    "[x](javascript&#58;alert(1))",
    "[x](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)",
    "[x](vbscript:msgbox(1))",
    "[x][1]\n\n[1]: javascript:alert(1)",
    "[x][r]\n\n[r]: <javascript:alert(1)> \"t\"",
    "![y](javascript:alert(1))",
    "![y](data:image/svg+xml;base64,PHN2ZyBvbmxvYWQ9YWxlcnQoMSk+)",
    "[![img](https://ok.example/i.png)](javascript:alert(1))",
    "<a href=\"javascript:alert(1)\">a</a>",
    "<a href=' javascript:alert(1)'>a</a>",
    "<a href=\"&#x6A;avascript:alert(1)\">a</a>",
    "<a href=\"javascript&colon;alert(1)\">a</a>",
    "<a href=\"java\nscript:alert(1)\">a</a>",
    "<a href=\"\x0bjavascript:alert(1)\">a</a>",
    "<a href=\"data:text/html,<script>alert(1)</script>\">a</a>",
    "<a href='vbscript:msgbox(1)'>a</a>",
    "<IMG SRC=JaVaScRiPt:alert('XSS')>",
    "<img src=\"jav&#x09;ascript:alert(1)\">",
    "<img srcset=\"javascript:alert(1) 1x\" src=\"https://ok.example/a.png\">",
    "<table background=javascript:alert(1)><tr><td>x</td></tr></table>",
    # autolinks
    "<javascript:alert(1)>",
    "<JAVASCRIPT:alert(1)>",
    "<data:text/html,alert(1)>",
    "<vbscript:msgbox(1)>",
    "javascript:alert(1)",
    # SVG, MathML, frames, objects, forms, base, meta
    "<svg onload=alert(1)><circle/></svg>",
    "<svg><a xlink:href=javascript:alert(1)><text>x</text></a></svg>",
    "<svg><script>alert(1)</script></svg>",
    "<math><mtext><table><mglyph><style><img src=x onerror=alert(1)>",
    "<iframe src=https://evil.example></iframe>",
    "<iframe src=\"https://www.youtube-nocookie.com/embed/dQw4w9WgXcQ\" onload=alert(1)></iframe>",
    "<iframe srcdoc=\"<script>alert(1)</script>\"></iframe>",
    "<object data=javascript:alert(1)>",
    "<embed src=javascript:alert(1)>",
    "<form action=javascript:alert(1)><button formaction=javascript:alert(1)>x</button></form>",
    "<base href=javascript:alert(1)//>",
    "<meta http-equiv=refresh content='0;url=javascript:alert(1)'>",
    "<link rel=stylesheet href=https://evil.example/x.css>",
    # comments and parser confusion
    "<!-- <script>alert(1)</script> -->",
    "<!--><img src=x onerror=alert(1)>-->",
    "<noscript><p title=\"</noscript><img src=x onerror=alert(1)>\">",
    "<div class=\"video-embed\"><iframe src=\"https://evil.example\"></iframe></div>",
    # attribute break-outs through things we build (mentions, bare URLs, embeds)
    "@bob\"onmouseover=alert(1)",
    "https://ok.example/\"onmouseover=\"alert(1)",
    "https://www.youtube.com/watch?v=dQw4w9WgXcQ\"><script>alert(1)</script>",
    "https://www.youtube.com/watch?v=dQw4w9WgXcQ&x=\"onload=alert(1)",
    "[v](https://youtu.be/dQw4w9WgXcQ \"x\" onload=alert(1))",
    "<a href=\"https://www.youtube.com/watch?v=dQw4w9WgXcQ\" onclick=alert(1)>v</a>",
]


def _unsafe_cases(texts, render) -> list[str]:
    failures = []
    for text in texts:
        html = render(text)
        try:
            assert_safe(html)
        except AssertionError:
            failures.append(f"{text!r} -> {html!r}")
    return failures


def test_xss_corpus_is_neutralised(ctx):
    assert _unsafe_cases(XSS, lambda t: markup.to_html(t, embeds=True)) == []
    assert _unsafe_cases(XSS, lambda t: str(markup.render(t))) == []


@pytest.mark.parametrize("html", [
    '<p><script>alert(1)</script></p>',
    '<img src="x" onerror="alert(1)">',
    '<a href="https://ok.example">no rel</a>',
    f'<a href=" java&#x09;script:alert(1)" rel="{REL}">x</a>',
    '<img src="data:image/png;base64,AAAA">',
    '<iframe src="https://evil.example/embed/x"></iframe>',
    '<p style="color:red">x</p>',
])
def test_the_checker_itself_catches_unsafe_html(html):
    with pytest.raises(AssertionError):
        assert_safe(html)


@pytest.mark.parametrize("text", [
    "[x](javascript:alert(1))", "[x](  javascript:alert(1))", "[x](&#106;avascript:alert(1))",
    "<javascript:alert(1)>", "[x](data:text/html,hi)", "[x](vbscript:msgbox(1))",
])
def test_dangerous_links_keep_their_text_but_lose_the_url(ctx, text):
    html = markup.to_html(text)
    assert "javascript" not in html.lower() or "href" not in html
    assert "alert" not in html or "href" not in html


def test_safe_links_and_images_survive_with_rel(ctx):
    html = markup.to_html("[docs](https://docs.example/a?b=1&c=2) <https://auto.example> "
                          "mail: <mailto:help@acme.example> ![logo](https://img.example/l.png) "
                          "![chart](/files/7/full)")
    assert f'<a href="https://docs.example/a?b=1&amp;c=2" rel="{REL}">docs</a>' in html
    assert f'href="https://auto.example" rel="{REL}"' in html
    assert 'href="mailto:help@acme.example"' in html
    assert '<img alt="logo">' in html  # remote images lose their source: no tracking pixels
    assert '<img src="/files/7/full" alt="chart">' in html  # attachments of this site stay (markdown-it: src first)
    assert_safe(html)


def test_plain_text_that_looks_like_html_is_escaped_or_dropped(ctx):
    html = markup.to_html("5 < 6 and <IMG SRC=JaVaScRiPt:alert('XSS')> & so on")
    assert "&lt;" in html and "<img" not in html.lower()
    assert markup.to_text("<b>bold</b> <script>x()</script>text") == "bold text"


@pytest.mark.parametrize("text", ["R&D", "5 < 6 > 4", 'say "hi"', "it's", "a & b < c"])
def test_plain_text_is_characters_not_html(ctx, text):
    """to_text feeds notifications and titles, which the page escapes: it must not escape too."""
    assert markup.to_text(text) == text


# --- a fuzzer over the same invariants ----------------------------------------------------

FRAGMENTS = [
    "<", ">", "\"", "'", "`", "(", ")", "[", "]", "!", "&", "#", ";", ":", "=", "/", " ", "\n", "\t",
    "&#106;", "&#x3a;", "&colon;", "&lt;", "javascript", "JaVaScRiPt", "java\tscript", "data", "vbscript",
    "alert(1)", "<script>", "</script>", "<img", "<a", "<svg", "<iframe", "<style>", "<!--", "-->",
    " src=", " href=", " onerror=", " onload=", " style=", "x", "@bob", "@ann.lee", "https://ok.example/",
    "https://www.youtube.com/watch?v=dQw4w9WgXcQ", "https://vimeo.com/123456789", "https://youtu.be/",
    "[x](", "![y](", "```\n", "    ", "**", "_", "|a|b|\n|-|-|\n", "<a href=", "<div class=\"video-embed\">",
]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.sampled_from(FRAGMENTS), max_size=30).map("".join))
def test_fuzzed_markdown_stays_safe(ctx, text):
    assert_safe(markup.to_html(text, embeds=True))


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.text(max_size=200))
def test_arbitrary_text_stays_safe(ctx, text):
    assert_safe(markup.to_html(text, embeds=True))


# --- mentions -----------------------------------------------------------------------------

@pytest.fixture
def people(ctx, make):
    """People whose handles the mention tests use (mentions link only existing, active people)."""
    from app.extensions import db

    for handle in ("anna.bakker", "ben", "bob"):
        person = make.user()
        db.session.get(type(person), person.id).handle = handle
    db.session.commit()


def test_mentions_of_nobody_or_of_a_suspended_person_stay_text(people, make):
    from datetime import datetime, timedelta

    from app.extensions import db
    from app.models import User

    assert "/people/" not in markup.to_html("@carla and @nobody.here")
    ben = db.session.scalar(db.select(User).where(User.handle == "ben"))
    ben.suspended_until = datetime(2999, 1, 1) + timedelta(0)
    db.session.commit()
    assert "/people/ben" not in markup.to_html("@ben")
    assert "/people/bob" in markup.to_html("@bob")
    ben.suspended_until = datetime(2000, 1, 1)  # a suspension that has ended
    db.session.commit()
    assert "/people/ben" in markup.to_html("@ben")


def test_mentions_become_profile_links_outside_code_only(people):
    text = ("Thanks @anna.bakker and @ben!\n\nNot `@carol` in code,\n\n```\n@dave in a fence\n```\n\n"
            "    @erin indented\n\nnor mail@example.com or https://x.example/@frank")
    html = markup.to_html(text)
    assert f'<a href="/people/anna.bakker" rel="{REL}">@anna.bakker</a>' in html
    assert f'<a href="/people/ben" rel="{REL}">@ben</a>' in html
    links = re.findall(r'href="(/people/[^"]*)"', html)
    assert links == ["/people/anna.bakker", "/people/ben"]
    assert "<code>@carol</code>" in html and "@dave in a fence" in html
    assert markup.mentioned_handles("`@carol` @ben\n\n```\n@dave\n```\n\n@ben @anna.bakker")  # CommonMark: a fence opens a line == ["ben", "anna.bakker"]


def test_an_emphasised_mention_is_one_link(people):
    html = markup.to_html("Ask **@ben** or _@anna.bakker_ about https://x.example/a")
    assert f'<strong><a href="/people/ben" rel="{REL}">@ben</a></strong>' in html
    assert f'<em><a href="/people/anna.bakker" rel="{REL}">@anna.bakker</a></em>' in html
    assert re.findall(r'href="([^"]*)"', html) == ["/people/ben", "/people/anna.bakker", "https://x.example/a"]


def test_a_mention_cannot_break_out_of_its_link(people):
    html = markup.to_html('@bob"><script>alert(1)</script> @bob\'onclick=x')
    assert re.findall(r'href="([^"]*)"', html) == ["/people/bob", "/people/bob"]
    assert_safe(html)


# --- video embeds -------------------------------------------------------------------------

def _iframes(html: str) -> list[str]:
    return re.findall(r'<iframe src="([^"]*)"', html)


@pytest.mark.parametrize("url,player", [
    ("https://www.youtube.com/watch?v=dQw4w9WgXcQ", "https://www.youtube-nocookie.com/embed/dQw4w9WgXcQ"),
    ("https://youtube.com/watch?feature=share&v=dQw4w9WgXcQ", "https://www.youtube-nocookie.com/embed/dQw4w9WgXcQ"),
    ("https://m.youtube.com/watch?v=dQw4w9WgXcQ&t=42", "https://www.youtube-nocookie.com/embed/dQw4w9WgXcQ"),
    ("https://youtu.be/dQw4w9WgXcQ?t=42", "https://www.youtube-nocookie.com/embed/dQw4w9WgXcQ"),
    ("https://vimeo.com/123456789", "https://player.vimeo.com/video/123456789"),
    ("[Our launch video](https://vimeo.com/123456789)", "https://player.vimeo.com/video/123456789"),
])
def test_a_lone_link_to_an_allowed_provider_becomes_a_sandboxed_player(ctx, url, player):
    html = markup.to_html(url, embeds=True)
    assert _iframes(html) == [player]
    assert 'sandbox="allow-scripts allow-same-origin allow-presentation"' in html
    assert f'rel="{REL}"' in html  # the original link stays under the player
    assert_safe(html)


NOT_PLAYERS = [
    "https://www.youtube.com.evil.example/watch?v=dQw4w9WgXcQ",
    "https://evil.example/watch?v=dQw4w9WgXcQ",
    "https://evil.example/?u=https://youtu.be/dQw4w9WgXcQ",
    "https://www.youtube.com/watch?v=dQw4w9WgXc",  # 10 characters: not an id
    "https://www.youtube.com/watch?v=dQw4w9WgXcQ\"><script>alert(1)</script>",
    "https://www.youtube.com/embed/dQw4w9WgXcQ\" onload=\"alert(1)",
    "https://vimeo.com/abc",
    "https://vimeo.com/123456789/../../evil",
    "http://dailymotion.com/video/x7tgad0",
    "Watch https://youtu.be/dQw4w9WgXcQ with us",  # not alone in its paragraph
    "<p>https://youtu.be/dQw4w9WgXcQ</p>",
    "<iframe src=\"https://www.youtube-nocookie.com/embed/dQw4w9WgXcQ\"></iframe>",
    "`https://youtu.be/dQw4w9WgXcQ`",
]


def test_no_player_for_anything_else(ctx):
    rendered = {text: markup.to_html(text, embeds=True) for text in NOT_PLAYERS}
    assert [text for text, html in rendered.items() if "<iframe" in html] == []
    assert _unsafe_cases(NOT_PLAYERS, rendered.get) == []


def test_players_only_for_configured_providers_and_only_when_asked(app):
    text = "https://youtu.be/dQw4w9WgXcQ\n\nhttps://vimeo.com/123456789"
    with app.app_context():
        assert len(_iframes(markup.to_html(text, embeds=True))) == 2
        assert _iframes(markup.to_html(text)) == []  # comments in previews of titles etc.
        assert "<iframe" not in str(markup.render(text))
        app.config["KRING_VIDEO_PROVIDERS"] = ["vimeo"]
        assert _iframes(markup.to_html(text, embeds=True)) == ["https://player.vimeo.com/video/123456789"]
        app.config["KRING_VIDEO_PROVIDERS"] = []
        assert _iframes(markup.to_html(text, embeds=True)) == []
    assert _iframes(markup.to_html(text, embeds=True)) == []  # no app, no providers


def test_embed_url_builds_the_player_from_the_id_only():
    assert markup.embed_url("https://youtu.be/dQw4w9WgXcQ?list=<x>", ["youtube"]) == \
        "https://www.youtube-nocookie.com/embed/dQw4w9WgXcQ"
    assert markup.embed_url("https://youtu.be/dQw4w9WgXcQ", ["vimeo"]) is None
    assert markup.embed_url("javascript:alert(1)//https://youtu.be/dQw4w9WgXcQ", ["youtube"]) is None


# --- crafted input: linear-time rendering -------------------------------------------------

BOMBS = ["[", "![", "*", "_", "`", "<div>", ">", "**a", "[a](", "<", "&#", "- ", "~~", "|"]


@pytest.mark.parametrize("piece", BOMBS)
@pytest.mark.parametrize("size", [4_000, 100_000])
def test_pathological_runs_render_without_error(ctx, piece, size):
    """The worst cases are rendered in the suite itself: a super-linear parser (Python-Markdown
    took 82 s for 12,000 '[') would hang it, one that recurses would raise."""
    text = piece * (size // len(piece))
    html = markup.to_html(text, embeds=True)
    assert isinstance(html, str)
    assert_safe(html)


def test_nested_lists_and_quotes_render(ctx):
    nested = "".join("  " * i + "- x\n" for i in range(3_000))
    assert "<li>" in markup.to_html(nested)
    assert markup.to_html("> " * 50_000 + "deep")


def test_unstorable_characters_render_and_are_refused():
    assert markup.to_html("a\ud800b\x00c")
    assert markup.source_problem("a\x00", 100) and markup.source_problem("a\udfff", 100)
    assert markup.source_problem("fine", 100) is None


def test_only_http_and_https_bare_links_are_linked(ctx):
    html = markup.to_html("see //evil.example/x ftp://a.example mailto:a@b.example www.c.example https://ok.example")
    assert re.findall(r'href="([^"]*)"', html) == ["https://ok.example"]
