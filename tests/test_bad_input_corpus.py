"""A corpus of crafted input against every door of the app: no 500, ever.

HTML and JSON: every route of app.url_map, by every method it accepts, signed in as an admin
(who reaches everything) and as a customer, in the proof world (real ids, so the forms are
reached). A first plain request per route records which form fields and query parameters the
view reads (the request class is swapped for one that notes every key asked for); then every
recorded field gets every bad value class, one request per class (NUL, other control
characters, a lone surrogate, 2^64, -1, 200 KB, runs of "[" and "*", emoji with RTL marks,
empty, a field sent twice), and every POST route gets bad JSON bodies. The markdown renderer is
watched: no request hands it more than the longest text any field accepts, so the work a
crafted request causes stays bounded (bench/bad_input.py prints the slowest requests).

Sockets: every registered client event gets bad payloads and answers an error ack; a
bystander's socket stays connected and the sender's socket keeps working.
"""
from __future__ import annotations

import re
from urllib.parse import quote

import pytest
from werkzeug.routing import IntegerConverter

from app.services import inputs, markup
from app.setup import CleanMultiDict, KringRequest
from tests import proof_world
from tests.conftest import csrf_token, login

SURROGATE = "\ud800"
BAD_VALUES = {
    "nul": "a\x00b",
    "control": "a\x01\x08\x0b\x1b[31m\x7fb",
    "surrogate": SURROGATE,  # in a form or query string: the bytes %ED%A0%80 (not UTF-8)
    "int_2_64": str(2**64),
    "minus_one": "-1",
    "huge": "word " * 40_000,  # 200 KB
    "brackets": "[" * 10_000,
    "stars": "*" * 10_000,
    "emoji_rtl": "\U0001F600 \u202eevil\u202c \u200fשלום\u200f \U0001F44D\U0001F3FD",
    "empty": "",
}
BAD_JSON = [b"[1,2,3]", b'{"body": 5}', b'{"body": 1e999999}', b"[" * 100_000 + b"]" * 100_000,
            b'{"body": "\\ud800"}', b'{"body": "a\\u0000b"}', b"{not json", b'{"id": 18446744073709551616}',
            b'{"body": {"body": {"body": []}}}', b'"just a string"', b"\xff\xfe"]
LONGEST_TEXT = 50_000  # the longest text any field accepts (a guideline's body)
SKIP = {"static", "chat.socketio_path"}
LAST = re.compile(r"signout|delete|remove|close|leave|disable|suspend|revoke|unaccept|restore")


class _Recording(CleanMultiDict):
    """CleanMultiDict that notes every key a view asks for (into _Recording.seen)."""

    seen: set[str] = set()

    def get(self, key, default=None, type=None):  # noqa: A002 - MultiDict's signature
        _Recording.seen.add(key)
        return super().get(key, default, type)

    def getlist(self, key, type=None):  # noqa: A002
        _Recording.seen.add(key)
        return super().getlist(key, type)

    def __getitem__(self, key):
        _Recording.seen.add(key)
        return super().__getitem__(key)

    def __contains__(self, key):
        _Recording.seen.add(key)
        return super().__contains__(key)


class _RecordingRequest(KringRequest):
    parameter_storage_class = _Recording


def _encode(pairs: list[tuple[str, str]]) -> str:
    """application/x-www-form-urlencoded, with a lone surrogate sent as the bytes a browser
    cannot send but a crafted request can (%ED%A0%80)."""
    return "&".join(f"{quote(k)}={quote(v, safe='') if SURROGATE not in v else v.replace(SURROGATE, '%ED%A0%80')}"
                    for k, v in pairs)


def _path(rule, world, persona_user) -> str | None:
    place = world.places["open"]
    member = place.people["member"]
    values = {"slug": place.slug, "topic_slug": place.topic_slug, "post_id": place.post_id,
              "comment_id": place.comment_id, "message_id": place.message_id,
              "attachment_id": place.attachment_id, "target_type": "post", "target_id": place.post_id,
              "user_id": member.id, "handle": member.handle, "variant": "thumb", "table_id": "activity"}
    filled = {}
    for arg in rule.arguments:
        if arg in values:
            filled[arg] = values[arg]
        elif isinstance(rule._converters[arg], IntegerConverter):
            filled[arg] = 1
        else:
            filled[arg] = "x"
    try:
        return rule.build(filled, append_unknown=False)[1]
    except Exception:  # noqa: BLE001 - a rule we cannot build is not reachable either
        return None


def _routes(app, world, user):
    found = []
    for rule in app.url_map.iter_rules():
        if rule.endpoint in SKIP:
            continue
        path = _path(rule, world, user)
        if path is None:
            continue
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            found.append((method, path, rule.endpoint))
    return sorted(found, key=lambda r: (bool(LAST.search(r[2])), r[2], r[0]))


@pytest.fixture
def watched_renderer(monkeypatch):
    """The lengths of the texts handed to the markdown renderer during the test."""
    lengths: list[tuple[int, str]] = []
    original = markup._markdown

    def watched(text, *args, **kwargs):
        lengths.append((len(text), text[:40]))
        return original(text, *args, **kwargs)

    monkeypatch.setattr(markup, "_markdown", watched)
    return lengths


def _sweep(app, client, user, world, token):
    """Yield (method, path, what, response) for the whole corpus on every route."""
    for method, path, endpoint in _routes(app, world, user):
        login(client, user)  # a route that signs out or bumps the session cannot end the sweep
        _Recording.seen = set()
        data = _encode([("csrf_token", token)]) if method != "GET" else None
        probe = client.open(path, method=method, data=data, content_type="application/x-www-form-urlencoded")
        yield method, path, "probe", probe
        fields = sorted(_Recording.seen - {"csrf_token", "_method"}) or ["q", "body", "id"]
        for name, value in [*BAD_VALUES.items(), ("twice", None)]:
            login(client, user)
            pairs = [(f, v) for f in fields for v in (["1", "\x00"] if value is None else [value])]
            if method == "GET":
                response = client.open(path + "?" + _encode(pairs), method="GET")
            else:
                response = client.open(path, method=method, data=_encode([("csrf_token", token), *pairs]),
                                       content_type="application/x-www-form-urlencoded")
            yield method, path, name, response
        if method == "POST":
            for body in BAD_JSON:
                login(client, user)
                response = client.post(path, data=body, content_type="application/json",
                                       headers={"X-CSRFToken": token, "Accept": "application/json"})
                yield method, path, f"json {body[:20]!r}", response


@pytest.mark.parametrize("persona", ["admin", "customer"])
def test_no_route_answers_500_to_the_bad_input_corpus(app, make, persona, watched_renderer):
    world = proof_world.build(app, make)
    user = world.people[persona]
    app.request_class = _RecordingRequest
    client = app.test_client()
    login(client, user)
    token = csrf_token(client)
    failures, checked, fields_seen = [], 0, set()
    for method, path, what, response in _sweep(app, client, user, world, token):
        checked += 1
        if what == "probe":
            fields_seen |= _Recording.seen
        if response.status_code >= 500:
            failures.append(f"{method} {path} [{what}] -> {response.status_code}")
    assert not failures, "\n".join(failures[:40])
    assert checked > 1500
    # the views' own fields were found and fed (not only the fallback names)
    assert {"body", "title", "display_name", "parent_id", "target_id", "q", "name", "description"} <= fields_seen
    longest = max(watched_renderer, default=(0, ""))
    assert longest[0] <= LONGEST_TEXT, f"the renderer got {longest[0]:,} characters ({longest[1]!r}...)"


@pytest.mark.parametrize("body", BAD_JSON)
def test_every_json_body_is_checked_once_with_a_reason(app, make, body):
    """A malformed body to the JSON endpoint, or to any other POST route, answers 400 with the
    reason (the app-wide check), before the view runs."""
    client = app.test_client()
    login(client, make.user())
    token = csrf_token(client)
    well_formed = body in (b'{"body": 5}', b'{"body": {"body": {"body": []}}}')  # objects; only /api/preview minds
    for path in ("/api/preview",) if well_formed else ("/api/preview", "/follow", "/c/no-such/join"):
        response = client.post(path, data=body, content_type="application/json", headers={"X-CSRFToken": token})
        assert response.status_code == 400, (path, body[:30], response.data[:200])
        assert response.get_json()["errors"]["body"], (path, body[:30])


def test_form_text_is_cleaned_and_ids_are_bounded(app, make):
    """What a person notices: a name with a NUL or an escape sequence is saved without them; a
    reply to a comment id beyond 2^63 is refused with the field's reason, not a 500."""
    from app.extensions import db
    from app.models import User

    world = proof_world.build(app, make)
    member = world.places["open"].people["member"]
    client = app.test_client()
    login(client, member)
    token = csrf_token(client)
    response = client.post("/profile", data=_encode([("csrf_token", token), ("display_name", "Mel\x00 \x1b[31mRed"),
                                                     ("bio", "line\x0bone\nline two\t.")]),
                           content_type="application/x-www-form-urlencoded")
    assert response.status_code in (200, 302)
    with app.app_context():
        person = db.session.get(User, member.id)
        assert person.display_name == "Mel [31mRed" and person.bio == "lineone\nline two\t."
    post_id = world.places["open"].post_id
    response = client.post(f"/p/{post_id}/comments", data={"csrf_token": token, "body": "A reply", "parent_id": str(2**64)})
    assert response.status_code == 400 and "not on this post" in response.get_data(as_text=True)
    response = client.post("/follow", data={"csrf_token": token, "target_type": "post", "target_id": str(2**64)})
    assert response.status_code == 400 and "Say what to follow" in response.get_data(as_text=True)


def test_the_shared_rules():
    assert inputs.as_id("42", "x") == 42 and inputs.optional_id("", "x") is None
    for bad in (str(2**63), "0", "-1", "1e5", "²", True, 1.5, None, "9" * 5000):
        with pytest.raises(inputs.ValidationError):
            inputs.as_id(bad, "x")
        assert inputs.id_or_none(bad) is None
    assert inputs.strip_unusable("a\x00\x01b\tc\nd\r\ud800") == "ab\tc\nd\r"
    for text in ("a\x00", "\ud800", "\x1b[0m", "\x7f" * 0 + "\x0c"):
        assert markup.text_problem(text)
    assert markup.text_problem("tab\tnew\nline\r\U0001F600\u202e") is None


# --- sockets ------------------------------------------------------------------------------

ORIGIN = {"Origin": "http://127.0.0.1:5000"}
SOCKET_BAD = [SURROGATE + "x", "a\x00b", "\x1b[2J", 2**64, -(2**64), -1, 1.5, True, None, [], {"x": 1},
              "[" * 3_000, "*" * 3_000, "x" * 200_000, BAD_VALUES["emoji_rtl"], ""]
SOCKET_KEYS = ("room", "body", "key", "id", "parent_id", "before", "after", "have", "typing", "thread")


def _nested(depth: int):
    value: list = []
    for _ in range(depth):
        value = [value]
    return value


def test_every_socket_event_answers_bad_payloads_with_an_error_ack(app, make):
    from app.extensions import socketio

    world = proof_world.build(app, make)
    place = world.places["open"]
    room = f"community:{place.community_id}"
    sender, bystander = place.people["member"], place.people["moderator"]

    def connect(user):
        client = app.test_client()
        login(client, user)
        return socketio.test_client(app, flask_test_client=client, headers=ORIGIN, auth={"rooms": {room: None}})

    sock, other = connect(sender), connect(bystander)
    events = sorted(name for name in socketio.server.handlers["/"] if name not in ("connect", "disconnect", "*"))
    assert {"chat.send", "chat.edit", "join", "typing"} <= set(events)
    answered = 0
    for event in [*events, "no.such.event"]:
        for args in (("just a string",), ([1, 2],), (5,), (None,), ({"a": 1}, {"b": 2}), (_nested(400),)):
            ack = sock.emit(event, *args, callback=True)
            assert isinstance(ack, dict) and ack["ok"] is False and ack.get("code") != "server_error", (event, args[:1], ack)
            answered += 1
        for key in SOCKET_KEYS:
            for value in SOCKET_BAD:
                payload = {"room": room, "key": f"k{answered:08d}", "body": "fine", "id": place.message_id, key: value}
                ack = sock.emit(event, payload, callback=True)
                answered += 1
                assert isinstance(ack, dict) and "ok" in ack, (event, key, repr(value)[:40], ack)
                assert ack.get("code") != "server_error", (event, key, repr(value)[:40], ack)
                definitely_bad = (isinstance(value, int) and not isinstance(value, bool) and abs(value) > inputs.MAX_ID) or (
                    isinstance(value, str) and markup.text_problem(value))
                if definitely_bad:
                    assert ack["ok"] is False, (event, key, repr(value)[:40], ack)
        assert sock.is_connected() and other.is_connected(), event
    assert answered > 500
    other.get_received()
    ack = sock.emit("chat.send", {"room": room, "body": "Still here", "key": "after-the-corpus"}, callback=True)
    assert ack["ok"], ack
    assert any(e["name"] == "chat.message" and e["args"][0]["body"] == "Still here" for e in other.get_received())
