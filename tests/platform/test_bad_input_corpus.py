"""A corpus of crafted input against every door of the app: no 500, ever.

HTML and JSON: every route of app.url_map, by every method it accepts, signed in as an admin
(who reaches everything) and as a customer, in the proof world (real ids, so the forms are
reached). A first plain request per route records which form fields and query parameters the
view reads (the request class is swapped for one that notes every key asked for); then every
recorded field gets every bad value class, one request per class (NUL with other control
characters, a lone surrogate, 2^64, -1, 200 KB (three fields at a time; 4 KB in a query
string, gunicorn's request-line limit), runs of "[" and "*" 10,000 long, emoji with RTL marks,
empty, a field sent twice); routes the person cannot reach, and every route for the customer
(whose forms are a subset of the admin's), get a sample of the classes (control characters,
a lone surrogate, 2^64, 200 KB); every
POST route gets four of the bad JSON bodies in turn. The markdown renderer is
watched: no request hands it more than the longest text any field accepts, so the work a
crafted request causes stays bounded (bench/bad_input.py prints the slowest requests).

Sockets: every registered client event gets bad payloads and answers an error ack; a
bystander's socket stays connected and the sender's socket keeps working.
"""
from __future__ import annotations

import pytest

from app import inputs
from app.services.platform import markup
from tests import proof_world
from tests.conftest import csrf_token, login
from tests.corpus import BAD_JSON, BAD_VALUES, LONGEST_TEXT, SURROGATE, Recording, RecordingRequest, encode, sweep


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


@pytest.mark.parametrize("persona", ["admin", "customer"])
def test_no_route_answers_500_to_the_bad_input_corpus(app, make, persona, watched_renderer):
    world = proof_world.build(app, make)
    proof_world.sync_search(app)
    user = world.people[persona]
    app.request_class = RecordingRequest
    client = app.test_client()
    login(client, user)
    token = csrf_token(client)
    failures, checked, fields_seen = [], 0, set()
    for method, path, what, response in sweep(app, client, user, world, token, full=persona == "admin"):
        checked += 1
        if what == "probe":
            fields_seen |= Recording.seen
        if response.status_code >= 500:
            failures.append(f"{method} {path} [{what}] -> {response.status_code}")
    assert not failures, "\n".join(failures[:40])
    assert checked > (1000 if persona == "admin" else 600)
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
    response = client.post("/profile", data=encode([("csrf_token", token), ("display_name", "Mel\x00 \x1b[31mRed"),
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


def test_a_body_without_files_is_bounded_before_it_is_parsed(app, make):
    """A 2 MB urlencoded form or JSON body answers 413 (Werkzeug would read and parse it whole);
    uploads keep their own, larger limit (multipart)."""
    client = app.test_client()
    login(client, make.user())
    token = csrf_token(client)
    big = "x" * (2 * 1024 * 1024)
    response = client.post("/follow", data=encode([("csrf_token", token), ("target_type", big)]),
                           content_type="application/x-www-form-urlencoded")
    assert response.status_code == 413
    response = client.post("/api/preview", data=b'{"body": "' + big.encode() + b'"}', content_type="application/json",
                           headers={"X-CSRFToken": token})
    assert response.status_code == 413


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
    from app.live.manager import state_of

    world = proof_world.build(app, make)
    place = world.places["open"]
    room = f"community:{place.community_id}"
    sender, bystander = place.people["member"], place.people["moderator"]

    def connect(user):
        client = app.test_client()
        login(client, user)
        return socketio.test_client(app, flask_test_client=client, headers=ORIGIN, auth={"rooms": {room: None}})

    sock, other = connect(sender), connect(bystander)
    state_of(app).limits_on = False  # the corpus sends hundreds of events at once; tests/chat_live/test_live_sockets checks the limits
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
    rejoined = sock.emit("join", {"room": room}, callback=True)  # the corpus' "leave" events left it
    assert rejoined["ok"], rejoined
    other.get_received()
    ack = sock.emit("chat.send", {"room": room, "body": "Still here", "key": "after-the-corpus"}, callback=True)
    assert ack["ok"], ack
    assert any(e["name"] == "chat.message" and e["args"][0]["id"] == ack["message"]["id"] for e in other.get_received())


def test_bad_room_cursors_at_connect_are_refused_with_a_reason(app, make):
    """The connect payload's cursors: too large, wrong types or unusable text refuse that room
    with a reason (never "something went wrong"); the connection itself is made."""
    from app.extensions import socketio

    community = make.community("open")
    client = app.test_client()
    login(client, make.user("employee"))
    rooms = {f"community:{community.id}": 2**64, f"post:{2**64}": 0, "lobby\x00": 0, SURROGATE: None,
             f"community:{community.id} ": {"after": 2**64, "have": [2**64, "x"]}}
    sock = socketio.test_client(app, flask_test_client=client, headers=ORIGIN, auth={"rooms": rooms})
    assert sock.is_connected()
    from tests.conftest import socket_received

    refused = [e["args"][0] for e in socket_received(sock) if e["name"] == "room.refused"]
    assert len(refused) == len(rooms)
    assert all("wrong on our side" not in r["error"] for r in refused), refused
