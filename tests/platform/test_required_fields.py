"""Every field the server requires is marked required in the form, before anyone submits it:
the `required` attribute (or, for a group of checkboxes, the group), `aria-required`, and a
visible marker in its label or legend.

"What the server requires" is read from the server itself: every form on every page is
submitted empty, and the fields that come back with an error are the required ones."""
from __future__ import annotations

import re
from html.parser import HTMLParser

from app.extensions import db
from app.models import Community, Topic, User
from app.services import search
from app.services.content import comments, posts
from tests.conftest import login

VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}
CONTROLS = {"input", "textarea", "select"}
SKIP_TYPES = {"hidden", "submit", "button", "reset", "image"}


class _Forms(HTMLParser):
    """The post forms of a page: action, controls (with their wrapper), and which controls sit
    in an element marked as having an error (aria-invalid or a `has-error` wrapper)."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.forms, self.invalid, self.marked_labels = [], set(), set()
        self._stack, self._form = [], None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        classes = (a.get("class") or "").split()
        node = {"tag": tag, "classes": classes, "marker": False, "attrs": a}
        if "required-mark" in classes:
            for parent in self._stack:
                parent["marker"] = True
                if parent["tag"] == "label" and parent["attrs"].get("for"):
                    self.marked_labels.add(parent["attrs"]["for"])
        if tag == "form" and (a.get("method") or "").lower() == "post":
            self._form = {"action": a.get("action"), "enctype": a.get("enctype"), "controls": [], "hidden": {}}
            self.forms.append(self._form)
        if tag in CONTROLS and a.get("name") and self._form is not None:
            if tag == "input" and (a.get("type") or "text") in SKIP_TYPES:
                if (a.get("type") == "hidden") and a.get("name") != "pending":
                    self._form["hidden"][a["name"]] = a.get("value", "")
            else:
                wrapper = next((n for n in reversed(self._stack) if {"field", "field-check"} & set(n["classes"])
                                or n["tag"] == "fieldset"), None)
                self._form["controls"].append({"tag": tag, "attrs": a, "wrapper": wrapper,
                                               "group": next((n for n in reversed(self._stack)
                                                              if n["tag"] == "fieldset"), None)})
        if tag in CONTROLS and a.get("name"):
            if a.get("aria-invalid") == "true" or any("has-error" in n["classes"] for n in self._stack):
                self.invalid.add(a["name"])
        if tag not in VOID:
            self._stack.append(node)

    def handle_endtag(self, tag):
        if tag == "form":
            self._form = None
        for i in range(len(self._stack) - 1, -1, -1):
            if self._stack[i]["tag"] == tag:
                del self._stack[i:]
                break


def _parse(html: str) -> _Forms:
    parser = _Forms()
    parser.feed(html)
    return parser


def _problems(form: dict, required: set[str], marked_labels: set[str]) -> list[str]:
    """What is missing for each required name in `form`."""
    found = []
    for name in sorted(required):
        controls = [c for c in form["controls"] if c["attrs"]["name"] == name]
        if not controls:
            continue  # an error about a field this form does not show (another form's)
        kind = controls[0]["attrs"].get("type")
        if kind == "checkbox" and controls[0]["group"] is not None:  # a group: "choose at least one"
            group = controls[0]["group"]
            if group is None or "is-required" not in group["classes"] or not group["marker"]:
                found.append(f"{name}: the group is not marked required")
            continue
        for c in controls[:1] if kind == "radio" else controls:
            attrs = c["attrs"]
            if "required" not in attrs:
                found.append(f"{name}: no required attribute")
            if attrs.get("aria-required") != "true":
                found.append(f"{name}: no aria-required")
            if kind == "radio":
                marked = c["group"] is not None and c["group"]["marker"]
            else:
                marked = attrs.get("id") in marked_labels
            if not marked:
                found.append(f"{name}: no visible marker")
    return found


def _world(app, make):
    admin = make.admin()
    with app.app_context():
        community = make.community("open", manager=admin, topics=("Returns",))
        c = db.session.get(Community, community.id)
        topic = db.session.scalar(db.select(Topic).where(Topic.community_id == c.id))
        me = db.session.get(User, admin.id)
        post = posts.create(me, c.slug, "question", "Where is my parcel?", "Tracking says nothing.", [topic.id])
        comment = comments.add(me, post.id, "Any news?")
        saved = search.save_search(me, "parcel") if hasattr(search, "save_search") else None
        values = {"slug": c.slug, "topic_slug": topic.slug, "post_id": post.id, "comment_id": comment.id,
                  "target_type": "post", "target_id": post.id, "handle": me.handle if hasattr(me, "handle") else None,
                  "user_id": me.id, "saved_id": getattr(saved, "id", None)}
    return admin, values


def _pages(app, values):
    """Every GET page whose arguments the world can fill (once each)."""
    urls = []
    with app.test_request_context():
        from flask import url_for

        for rule in app.url_map.iter_rules():
            if "GET" not in rule.methods or rule.endpoint == "static" or rule.rule.startswith("/api/"):
                continue
            if any(values.get(arg) is None for arg in rule.arguments):
                continue
            urls.append(url_for(rule.endpoint, **{arg: values[arg] for arg in rule.arguments}))
    return sorted(set(urls))


def _submit_empty(client, page_url: str, form: dict):
    data = dict(form["hidden"])
    action = form["action"] or page_url
    return client.post(action, data=data, content_type="multipart/form-data" if form["enctype"] else None,
                       headers={"Accept": "text/html"})


def _walk(client, urls, *, relogin=None, skip=()):
    problems, checked = [], 0
    for url in urls:
        page = client.get(url)
        if page.status_code != 200 or "text/html" not in page.content_type:
            continue
        parsed = _parse(page.get_data(as_text=True))
        for form in parsed.forms:
            action = form["action"] or url
            if not form["controls"] or any(re.search(s, action) for s in skip):
                continue
            response = _submit_empty(client, url, form)
            required = _parse(response.get_data(as_text=True)).invalid if response.status_code == 400 else set()
            checked += bool(required)
            problems += [f"{url} -> {action}: {p}" for p in _problems(form, required, parsed.marked_labels)]
            if relogin:
                relogin()
    return problems, checked


# Forms whose empty submit would end the walk or the session (they have no required text).
SKIP = (r"/signout", r"/account/close", r"/sessions", r"/delete", r"/leave", r"/data",
        r"/roles$")  # unticking every role of oneself is refused, but no field is required there


def test_every_required_field_is_marked_for_a_signed_in_person(app, make):
    admin, values = _world(app, make)
    client = app.test_client()
    login(client, admin)
    problems, checked = _walk(client, _pages(app, values), relogin=lambda: login(client, admin), skip=SKIP)
    assert checked >= 10, "the walk found too few forms with required fields"
    assert problems == [], "\n".join(problems)


def test_every_required_field_is_marked_for_a_visitor(app, make):
    problems, checked = _walk(app.test_client(), ["/signin", "/signup", "/forgot"])
    assert checked >= 2  # sign-in answers one message for the whole form
    assert problems == [], "\n".join(problems)
