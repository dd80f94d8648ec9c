"""Proof (issue 7): an XSS corpus through every place user text is shown: post titles and
bodies, comments, profile fields (name, job title, story), chat messages, community names and
descriptions, search snippets with highlights (and the query itself), and notifications.

Each page is parsed and checked: no <script> carrying user data, no on*= attribute at all, no
javascript:/data:/vbscript: URL, no iframe/object/embed/base except the video players we build.
tests/browser/test_xss_browser.py loads the same pages in headless Chromium.
"""
from __future__ import annotations

from datetime import timedelta
from html.parser import HTMLParser

from app import clock
from app.extensions import db

TEMPLATE = "{{ config }} {% print 7*7 %}"
# Every payload sets window.__xss (and opens a dialog) if it ever runs.
RUN = "window.__xss=1;alert(1)"
CORPUS = [
    f"<script>{RUN}</script>",
    f'<img src=x onerror="{RUN}">',
    f'<svg onload="{RUN}"><script>{RUN}</script></svg>',
    f'<svg><a xlink:href="javascript:{RUN}"><text y="20">svg link</text></a></svg>',
    f"[click me](javascript:{RUN})",
    f"[click me](JaVaScRiPt:{RUN})",
    f"[click me](<javascript:{RUN}>)",
    "[data link](data:text/html;base64,PHNjcmlwdD53aW5kb3cuX194c3M9MTwvc2NyaXB0Pg==)",
    f'![pic](x" onerror="{RUN})',
    f'<a href="javascript&#58;{RUN}">entity link</a>',
    f'" onmouseover="{RUN}" x="',
    f"' onfocus='{RUN}' autofocus x='",
    f"</textarea><script>{RUN}</script>",
    f"</title><script>{RUN}</script>",
    f'<iframe src="javascript:{RUN}"></iframe>',
    f"<math><mtext><table><mglyph><style><img src=x onerror={RUN}>",
    f"<details open ontoggle={RUN}>x</details>",
    f'<a href="https://ok.example" style="x:expression({RUN})">styled</a>',
    f'https://www.youtube.com/watch?v=aaaaaaaaaaa"><script>{RUN}</script>',
    f"[x](https://ok.example \"title\" onmouseover=\"{RUN}\")",
    TEMPLATE,
]
WORD = "xsswordq"  # in every text, so search finds all of them
ALLOWED_FRAMES = ("https://www.youtube-nocookie.com/", "https://player.vimeo.com/")
URL_ATTRS = {"href", "src", "action", "formaction", "xlink:href", "poster", "srcdoc", "data", "background"}


class _Checker(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.problems: list[str] = []
        self._in_script = False

    def handle_starttag(self, tag, attrs):
        for name, value in attrs:
            value = (value or "").strip()
            if name.startswith("on"):
                self.problems.append(f"<{tag} {name}={value!r}>")
            if name in URL_ATTRS:
                scheme = "".join(value.lower().split()).split(":", 1)[0] if ":" in value else ""
                if scheme in {"javascript", "data", "vbscript"}:
                    self.problems.append(f"<{tag} {name}={value!r}>")
            if name == "style" and "expression" in value.lower():
                self.problems.append(f"<{tag} style={value!r}>")
        src = dict(attrs).get("src") or ""
        if tag == "script":
            self._in_script = True
            if not src.startswith("/static/"):
                self.problems.append(f"<script src={src!r}>")
        if tag in {"iframe", "frame"} and not src.startswith(ALLOWED_FRAMES):
            self.problems.append(f"<{tag} src={src!r}>")
        if tag in {"object", "embed", "base", "applet"}:
            self.problems.append(f"<{tag}>")
        if tag == "meta" and (dict(attrs).get("http-equiv") or "").lower() == "refresh":
            self.problems.append("<meta http-equiv=refresh>")

    def handle_endtag(self, tag):
        if tag == "script":
            self._in_script = False

    def handle_data(self, data):
        if self._in_script and data.strip():
            self.problems.append(f"inline script: {data[:80]!r}")


def html_problems(html: str) -> list[str]:
    checker = _Checker()
    checker.feed(html)
    checker.close()
    return checker.problems


def seed(app, make) -> dict:
    """Put the corpus everywhere; return the ids, people and the pages that show it."""
    from app.models import Community, Topic, User
    from app.services import chat, search
    from app.services.community import communities as comm
    from app.services.content import comments, posts
    from app.services.people import people
    from app.services.platform import jobs

    author = make.user("employee", name="Xena Author")
    victim = make.user("employee", name="Vic Victim")
    admin = make.admin(name="Xavier Admin")
    community = make.community("open", manager=author, name="Xss Proof", slug="xss-proof", topics=("Xss Topic",))
    make.member(community, victim)
    out = {"author": author, "victim": victim, "admin": admin, "posts": [], "messages": [], "people": [],
           "communities": []}
    with app.app_context():
        me = db.session.get(User, author.id)
        staff = db.session.get(User, admin.id)
        for old in (me, staff):  # not new accounts: the new-account link limit does not apply
            old.created_at = clock.utcnow() - timedelta(days=60)
        db.session.commit()
        victim_handle = db.session.get(User, victim.id).handle
        topic_id = db.session.query(Topic.id).filter_by(community_id=community.id).scalar()
        for i, payload in enumerate(CORPUS):
            p = posts.create(me, community.slug, "idea" if i % 2 else "discussion", f"{WORD} {payload}"[:200],
                             f"{WORD} {payload}\n\n@{victim_handle} {payload}", [topic_id])
            comments.add(me, p.id, f"{WORD} {payload}")
            message, _ = chat.post(me, community.id, f"{WORD} {payload} @{victim_handle}")
            out["posts"].append(p.id)
            out["messages"].append(message.id)
        for i, payload in enumerate(CORPUS):
            person = make.user("employee", name=f"Person {i}")
            user = db.session.get(User, person.id)
            people.update_profile(user, display_name=f"{WORD} {payload}"[:80], job_title=f"{WORD} {payload}"[:100],
                                  bio=f"{WORD} {payload}")
            out["people"].append(user.handle)
        for i, payload in enumerate(CORPUS[:8]):
            c = comm.create(staff, f"{WORD} {payload}"[:80], f"{WORD} {payload}", "open", f"xss-{i}")
            out["communities"].append(c.slug)
        jobs.drain()
        jobs.drain()
        search.sync()
        assert db.session.query(Community).count() >= 9
    return out


def pages(world) -> list[str]:
    """Every page that shows the corpus."""
    urls = ["/", "/feed", "/communities", "/people", "/notifications", "/c/xss-proof", "/c/xss-proof/chat",
            "/c/xss-proof/t/xss-topic", "/c/xss-proof/members", f"/search?q={WORD}", f"/search?q={WORD}&type=comment",
            f"/search?q={WORD}&type=person", "/search?q=%3Cscript%3Ewindow.__xss%3D1%3C%2Fscript%3E",
            "/search?q=%22+onmouseover%3D%22window.__xss%3D1", "/experts"]
    urls += [f"/p/{pid}" for pid in world["posts"]]
    urls += [f"/c/xss-proof/chat/{mid}" for mid in world["messages"][:6]]
    urls += [f"/people/{handle}" for handle in world["people"]]
    urls += [f"/c/{slug}" for slug in world["communities"]]
    return urls


def test_the_corpus_is_inert_in_every_page_that_shows_it(app, make):
    from tests.conftest import login

    world = seed(app, make)
    failures = []
    for who in ("victim", "author", "admin"):
        client = app.test_client()
        login(client, world[who])
        for url in pages(world) + ([f"/p/{world['posts'][0]}/edit", "/c/xss-0/manage"] if who == "admin" else []):
            resp = client.get(url)
            if resp.status_code != 200:
                failures.append(f"{who} GET {url}: {resp.status_code}")
                continue
            html = resp.get_data(as_text=True)
            failures += [f"{who} GET {url}: {p}" for p in html_problems(html)]
            if url.startswith(("/p/", "/search?q=xss", "/people/", "/c/xss-proof/chat")) and WORD not in html:
                failures.append(f"{who} GET {url}: the corpus is not on the page (nothing was tested)")
            if "test-secret-key" in html or "SECRET_KEY" in html:
                failures.append(f"{who} GET {url}: a template expression was evaluated")
    assert not failures, "\n".join(failures)
    client = app.test_client()
    login(client, world["victim"])
    template_post = client.get(f"/p/{world['posts'][CORPUS.index(TEMPLATE)]}").get_data(as_text=True)
    assert "{{ config }}" in template_post  # shown as typed, never evaluated


def test_the_victim_was_notified_and_the_notification_text_is_escaped(app, make):
    from app.models import Notification
    from tests.conftest import login

    world = seed(app, make)
    with app.app_context():
        texts = [n.text for n in db.session.query(Notification).filter_by(user_id=world["victim"].id)]
    assert any("<script>" in t for t in texts)  # the stored text is raw; the page escapes it
    client = app.test_client()
    login(client, world["victim"])
    html = client.get("/notifications").get_data(as_text=True)
    assert "&lt;script&gt;" in html and html_problems(html) == []


def test_the_checker_catches_what_it_is_meant_to_catch():
    """The checker is the proof's ruler: make sure it sees each kind of breach."""
    assert html_problems('<p onclick="x()">a</p>')
    assert html_problems('<a href=" JavaScript:alert(1)">a</a>')
    assert html_problems('<a href="data:text/html,x">a</a>')
    assert html_problems("<script>alert(1)</script>")
    assert html_problems('<iframe src="https://evil.example/"></iframe>')
    assert not html_problems('<script src="/static/js/kring.js" defer></script><a href="/p/1">ok</a>')
    assert not html_problems('<iframe src="https://www.youtube-nocookie.com/embed/aaaaaaaaaaa"></iframe>')
