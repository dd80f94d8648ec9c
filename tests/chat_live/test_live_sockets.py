"""Socket.IO events through the real handlers (Flask-SocketIO's test client): rooms only after
access allows them, acks only after storing, replay on connect, presence and typing, and every
kind of bad input answered with an error ack without breaking anyone's connection."""
from __future__ import annotations

import pytest

from app.extensions import db, socketio
from app.live import limits
from app.live.manager import state_of
from app.models import ChatMessage, User
from tests.conftest import ORIGIN, login, socket_received


def names(sock) -> list[str]:
    return [e["name"] for e in socket_received(sock)]


def events_named(sock, name: str) -> list[dict]:
    return [e["args"][0] for e in socket_received(sock) if e["name"] == name]


def test_rooms_named_at_connect_are_joined_only_when_access_allows(app, make, connect):
    customer = make.user("customer")
    open_c, internal = make.community("open"), make.community("internal")
    sock = connect(customer, {f"community:{open_c.id}": None, f"community:{internal.id}": 0, "lobby": 0,
                              f"post:{99999}": 0})
    received = socket_received(sock)
    refused = {e["args"][0]["room"] for e in received if e["name"] == "room.refused"}
    assert refused == {f"community:{internal.id}", "lobby", "post:99999"}
    joined = [e["args"][0]["room"] for e in received if e["name"] == "presence.state"]
    assert joined == [f"community:{open_c.id}"]
    ack = sock.emit("join", {"room": f"community:{internal.id}"}, callback=True)
    assert ack == {"ok": False, "code": "not_found", "error": "No such community."}


def test_a_message_is_acknowledged_after_it_is_stored_and_reaches_the_room(app, make, connect):
    alice, bob, carol = make.user("employee"), make.user("employee"), make.user("employee")
    c = make.community("open")
    room = f"community:{c.id}"
    a, b = connect(alice, {room: None}), connect(bob, {room: None})
    outsider = connect(carol)  # connected, but not in the room
    a.get_received(), b.get_received()
    ack = a.emit("chat.send", {"room": room, "body": "Hello *room*", "key": "hello-0001"}, callback=True)
    assert ack["ok"] and not ack["duplicate"]
    with app.app_context():
        assert db.session.get(ChatMessage, ack["message"]["id"]).body == "Hello *room*"
    got = events_named(b, "chat.message")
    assert [m["id"] for m in got] == [ack["message"]["id"]] and "<em>room</em>" in got[0]["body_html"]
    assert [m["id"] for m in events_named(a, "chat.message")] == [ack["message"]["id"]]  # the author's tab too
    assert "chat.message" not in names(outsider)
    again = a.emit("chat.send", {"room": room, "body": "Hello *room*", "key": "hello-0001"}, callback=True)
    assert again["ok"] and again["duplicate"] and again["message"]["id"] == ack["message"]["id"]
    assert "chat.message" not in names(b)  # a retry is not broadcast again


def test_edit_delete_history_and_thread_over_the_socket(app, make, connect):
    alice, bob = make.user("employee"), make.user("employee")
    c = make.community("open")
    room = f"community:{c.id}"
    a, b = connect(alice, {room: None}), connect(bob, {room: None})
    root = a.emit("chat.send", {"room": room, "body": "root", "key": "root-0001"}, callback=True)["message"]
    reply = b.emit("chat.send", {"room": room, "body": "reply", "key": "reply-0001", "parent_id": root["id"]},
                   callback=True)["message"]
    assert reply["parent_id"] == root["id"]
    assert b.emit("chat.edit", {"id": root["id"], "body": "mine now"}, callback=True)["code"] == "forbidden"
    edited = a.emit("chat.edit", {"id": root["id"], "body": "root, edited"}, callback=True)
    assert edited["ok"] and edited["message"]["edited_at"]
    history = b.emit("chat.history", {"room": room}, callback=True)
    assert [m["id"] for m in history["messages"]] == [root["id"]] and history["older"] is None
    thread = b.emit("chat.thread", {"id": reply["id"]}, callback=True)
    assert thread["root"]["id"] == root["id"] and [m["id"] for m in thread["replies"]] == [reply["id"]]
    b.get_received()
    deleted = a.emit("chat.delete", {"id": root["id"]}, callback=True)
    assert deleted["ok"] and deleted["message"]["deleted"]
    assert events_named(b, "chat.updated")[-1]["body_html"] == ""


@pytest.mark.parametrize("event, args, code", [
    ("chat.send", ("just a string",), "bad_request"),
    ("chat.send", ([1, 2],), "bad_request"),
    ("chat.send", ({"room": "community:1"}, {"extra": 1}), "bad_request"),
    ("chat.send", ({"room": "lobby", "body": "x", "key": "abcdefgh"},), "bad_request"),
    ("chat.send", ({"room": "COMMUNITY", "body": "x", "key": "abcdefgh"},), "bad_request"),
    ("chat.send", ({"room": "{room}", "body": "x"},), "bad_request"),  # no key
    ("chat.send", ({"room": "{room}", "body": "", "key": "abcdefgh"},), "invalid"),
    ("chat.send", ({"room": "{room}", "body": "x" * 30_000, "key": "abcdefgh"},), "too_large"),
    ("chat.send", ({"room": "{room}", "body": "x", "key": "abcdefgh", "parent_id": "seven"},), "invalid"),
    ("chat.edit", ({"id": "1", "body": "x"},), "not_found"),
    ("chat.delete", ({"id": 10**30},), "invalid"),  # beyond a 64-bit id: the guard names the field
    ("chat.thread", ({"id": None},), "not_found"),
    ("join", ({"room": "community:1", "after": "yesterday"},), "bad_request"),
    ("typing", ({"room": "{room}", "typing": "yes"},), "bad_request"),
    ("leave", ({"room": "user:1"},), "not_in_room"),
    ("chat.launch_rockets", ({"now": True},), "unknown_event"),
])
def test_bad_input_gets_an_error_ack_and_the_connection_lives_on(app, make, connect, event, args, code):
    alice, bob = make.user("employee"), make.user("employee")
    c = make.community("open")
    room = f"community:{c.id}"
    a, b = connect(alice, {room: None}), connect(bob, {room: None})
    args = tuple({k: (v.replace("{room}", room) if isinstance(v, str) else v) for k, v in arg.items()}
                 if isinstance(arg, dict) else arg for arg in args)
    ack = a.emit(event, *args, callback=True)
    assert ack["ok"] is False and ack["code"] == code, ack
    assert ack["error"]
    # neither this connection nor anyone else's is broken
    assert a.is_connected() and b.is_connected()
    assert a.emit("chat.send", {"room": room, "body": "still here", "key": "still-0001"}, callback=True)["ok"]


def test_events_for_rooms_the_sender_is_not_in_are_refused(app, make, connect):
    alice = make.user("employee")
    c, other = make.community("open"), make.community("open")
    a = connect(alice, {f"community:{c.id}": None})
    ack = a.emit("chat.send", {"room": f"community:{other.id}", "body": "x", "key": "abcdefgh"}, callback=True)
    assert ack["code"] == "not_in_room"
    assert a.emit("typing", {"room": f"community:{other.id}"}, callback=True)["code"] == "not_in_room"
    assert a.emit("presence", {"room": f"community:{other.id}"}, callback=True)["code"] == "not_in_room"
    assert a.emit("leave", {"room": f"community:{other.id}"}, callback=True)["code"] == "not_in_room"
    assert a.emit("join", {"room": f"community:{other.id}"}, callback=True)["ok"]
    assert a.emit("chat.send", {"room": f"community:{other.id}", "body": "x", "key": "abcdefgh"}, callback=True)["ok"]
    assert a.emit("leave", {"room": f"community:{other.id}"}, callback=True)["ok"]
    ack = a.emit("chat.send", {"room": f"community:{other.id}", "body": "y", "key": "abcdefgi"}, callback=True)
    assert ack["code"] == "not_in_room"


def test_rate_limits_answer_with_when_to_try_again(app, make, connect, monkeypatch):
    monkeypatch.setattr(limits.time, "time", lambda: 1_000_000.0)  # one fixed window
    alice, bob = make.user("employee"), make.user("employee")
    c = make.community("open")
    room = f"community:{c.id}"
    a, b = connect(alice, {room: None}), connect(bob, {room: None})
    acks = [a.emit("typing", {"room": room, "typing": True}, callback=True) for _ in range(21)]
    assert all(x["ok"] for x in acks[:20])
    assert acks[20]["code"] == "rate_limited" and acks[20]["retry_after"] >= 1 and "Try again" in acks[20]["error"]
    assert b.emit("typing", {"room": room, "typing": True}, callback=True)["ok"]  # counted per person
    state_of(app).limits_on = False
    assert a.emit("typing", {"room": room, "typing": True}, callback=True)["ok"]


def test_a_reconnecting_client_gets_what_it_missed_once(app, make, connect):
    alice, bob = make.user("employee"), make.user("employee")
    c = make.community("open")
    room = f"community:{c.id}"
    a, b = connect(alice, {room: None}), connect(bob, {room: 0})
    first = a.emit("chat.send", {"room": room, "body": "first", "key": "first-0001"}, callback=True)["message"]["id"]
    b.disconnect()
    missed = [a.emit("chat.send", {"room": room, "body": f"m{i}", "key": f"missed-{i:04d}"}, callback=True)["message"]["id"]
              for i in range(3)]
    b2 = connect(bob, {room: {"after": first, "have": [first]}})
    assert [m["id"] for m in events_named(b2, "chat.message")] == missed


def test_the_replay_fence_delivers_a_racing_message_once(app):
    state = state_of(app)
    state.fence_open("sid-1", "community:1")
    message = {"id": 7}
    assert state.fence_skips("chat.message", message, "community:1") == []  # live first: delivered
    assert state.fence_claim("sid-1", "community:1", "chat.message", message) is False  # replay skips it
    assert state.fence_claim("sid-1", "community:1", "chat.message", {"id": 8}) is True  # replay first
    assert state.fence_skips("chat.message", {"id": 8}, "community:1") == ["sid-1"]  # live skips it
    assert state.fence_skips("typing", {"id": 8}, "community:1") == []  # only message events are fenced


def test_events_committed_together_reach_each_socket_as_one_batch_in_order(app, make, connect):
    from app import events
    from app.services import chat

    alice, bob = make.user("employee"), make.user("employee")
    c = make.community("open")
    room = f"community:{c.id}"
    a, b = connect(alice, {room: None}), connect(bob, {room: None})
    a.get_received(), b.get_received()
    with app.app_context():
        with events.held() as collected:  # what app.live.guard does for writes handled at once
            sent = [chat.post(db.session.get(User, alice.id), c.id, f"burst {i}", client_key=f"burst-{i:04d}")[0].id
                    for i in range(3)]
        events.send_all(collected)
    received = b.get_received()
    assert [e["name"] for e in received] == ["live.batch"]  # one frame, not three
    batch = received[0]["args"][0]
    assert batch["room"] == room
    assert [(name, data["id"]) for name, data in batch["events"]] == [("chat.message", i) for i in sent]
    with app.app_context():
        events.send_all([("chat.message", {"room": room, "id": 999}, room)])
    assert names(b) == ["chat.message"]  # a lone event stays itself


def test_a_batch_is_sent_event_by_event_while_a_replay_fence_is_open(app, make, connect):
    from app import events
    from app.services import chat

    alice, bob = make.user("employee"), make.user("employee")
    c = make.community("open")
    room = f"community:{c.id}"
    a = connect(alice, {room: None})
    b = connect(bob, {room: 0})  # a reconnect with a cursor: replay, and a fence for a while
    a.get_received(), b.get_received()
    with app.app_context():
        with events.held() as collected:
            sent = [chat.post(db.session.get(User, alice.id), c.id, f"racing {i}", client_key=f"racing-{i:04d}")[0].id
                    for i in range(2)]
        events.send_all(collected)
    assert [m["id"] for m in events_named(b, "chat.message")] == sent
    assert [m["id"] for m in events_named(a, "chat.message")] == sent
    state = state_of(app)
    sid = next(iter(state.fences[room]))
    assert state.fence_claim(sid, room, "chat.message", {"id": sent[0]}) is False  # the fence saw them


def test_presence_and_typing(app, make, connect):
    alice, bob = make.user("employee", name="Alice"), make.user("employee", name="Bob")
    c = make.community("open")
    room = f"community:{c.id}"
    a = connect(alice, {room: None})
    a.get_received()
    b1 = connect(bob, {room: None})
    state = events_named(b1, "presence.state")[0]
    assert state["count"] == 2 and {p["name"] for p in state["people"]} == {"Alice", "Bob"}
    assert [e["user"]["name"] for e in events_named(a, "presence.joined")] == ["Bob"]
    b2 = connect(bob, {room: None})  # a second tab: nobody hears "joined" again
    assert events_named(a, "presence.joined") == []
    b1.disconnect()
    assert events_named(a, "presence.left") == []  # Bob is still here in his other tab
    assert b2.emit("typing", {"room": room, "typing": True}, callback=True)["ok"]
    typing = events_named(a, "typing")
    assert typing == [{"room": room, "user": {"id": bob.id, "name": "Bob"}, "typing": True, "thread": None}]
    assert events_named(b2, "typing") == []  # not echoed to the sender
    b2.disconnect()
    assert [e["user_id"] for e in events_named(a, "presence.left")] == [bob.id]
    ack = a.emit("presence", {"room": room}, callback=True)
    assert ack["presence"]["count"] == 1


def test_a_person_removed_from_a_private_community_leaves_its_rooms_at_once(app, make, connect):
    from app.services.community import communities
    from app.services.content import posts

    manager, alice, bob = make.user("employee"), make.user("employee"), make.user("employee")
    c = make.community("private", manager=manager)
    make.member(c, alice)
    make.member(c, bob)
    with app.app_context():
        post_id = posts.create(db.session.get(User, alice.id), c.slug, "discussion", "Secret plans", "x").id
    room, post_room = f"community:{c.id}", f"post:{post_id}"
    a = connect(alice, {room: None})
    b = connect(bob, {room: None, post_room: None})
    with app.app_context():
        communities.remove_member(db.session.get(User, manager.id), c.slug, bob.id)
    b.get_received()
    assert a.emit("chat.send", {"room": room, "body": "after Bob left", "key": "left-0001"}, callback=True)["ok"]
    assert "chat.message" not in names(b)
    assert b.emit("chat.send", {"room": room, "body": "x", "key": "left-0002"}, callback=True)["code"] == "not_in_room"
    assert b.emit("presence", {"room": post_room}, callback=True)["code"] == "not_in_room"
    assert b.is_connected()  # still connected for the rest (notifications)


def test_a_stale_session_is_refused_on_the_next_event(app, make, connect):
    alice = make.user("employee")
    c = make.community("open")
    a = connect(alice, {f"community:{c.id}": None})
    with app.app_context():  # the version moves on unseen by the narrowing at commit (a bulk UPDATE)
        from sqlalchemy import update

        db.session.execute(update(User).where(User.id == alice.id).values(session_version=User.session_version + 1))
        db.session.commit()
    assert a.is_connected()
    ack = a.emit("chat.send", {"room": f"community:{c.id}", "body": "x", "key": "stale-0001"}, callback=True)
    assert ack["code"] == "unauthorized"
    assert not a.is_connected()


def test_signing_out_ends_that_browsers_sockets_only(app, make):
    from tests.conftest import post as post_form

    alice = make.user("employee")
    laptop, phone = app.test_client(), app.test_client()
    login(laptop, alice)
    login(phone, alice)
    laptop.get("/")  # the browser gets its live-session token with its first page
    phone.get("/")
    on_laptop = socketio.test_client(app, flask_test_client=laptop, headers=ORIGIN)
    on_phone = socketio.test_client(app, flask_test_client=phone, headers=ORIGIN)
    assert on_laptop.is_connected() and on_phone.is_connected()
    post_form(laptop, "/signout")
    assert not on_laptop.is_connected()
    assert on_phone.is_connected()


def test_services_reach_the_pages_that_show_them(app, make, connect):
    from app.services.content import comments, ideas, posts
    from app.services.platform import jobs

    manager, alice, bob = make.user("employee"), make.user("employee"), make.user("employee")
    c = make.community("open", manager=manager)
    with app.app_context():
        idea_id = posts.create(db.session.get(User, alice.id), c.slug, "idea", "Night hikes club", "Who is in?").id
    community_page = connect(bob, {f"community:{c.id}": None})
    post_page = connect(bob, {f"post:{idea_id}": 0})
    alice_tab = connect(alice)
    for sock in (community_page, post_page, alice_tab):
        sock.get_received()
    with app.app_context():
        posts.create(db.session.get(User, alice.id), c.slug, "discussion", "Another thing", "x")
        comment_id = comments.add(db.session.get(User, bob.id), idea_id, f"Me! @{alice.handle}").id
        ideas.toggle_vote(db.session.get(User, bob.id), idea_id)
        ideas.change_status(db.session.get(User, manager.id), idea_id, "under_review", "Looking into it.")
        jobs.drain()
    assert names(community_page).count("post.created") == 1
    got = socket_received(post_page)
    kinds = [e["name"] for e in got]
    assert {"comment.added", "idea.voted", "idea.status_changed"} <= set(kinds)
    assert next(e["args"][0] for e in got if e["name"] == "comment.added")["comment_id"] == comment_id
    notes = events_named(alice_tab, "notification.created")
    assert notes and notes[-1]["unread"] >= 1 and f"/notifications/{notes[-1]['notification']['id']}/open" == \
        notes[-1]["notification"]["open_url"]


def test_the_minutely_recheck_drops_what_a_person_may_no_longer_see(app, make, connect):
    from sqlalchemy import update

    from app.models import Community, Visibility

    alice, bob = make.user("employee"), make.user("customer")
    c = make.community("open")
    a = connect(alice, {f"community:{c.id}": None})
    b = connect(bob, {f"community:{c.id}": None})
    with app.app_context():  # bulk UPDATEs are not seen by the narrowing at commit (app.events)
        db.session.execute(update(User).where(User.id == alice.id).values(session_version=User.session_version + 1))
        db.session.execute(update(Community).where(Community.id == c.id).values(visibility=Visibility.PRIVATE))
        db.session.commit()
    assert a.is_connected()
    state_of(app).recheck()
    assert not a.is_connected()
    assert b.is_connected()
    assert b.emit("presence", {"room": f"community:{c.id}"}, callback=True)["code"] == "not_in_room"


def test_presence_entries_of_a_crashed_process_expire():
    from app.live.presence import MemoryPresence

    store = MemoryPresence(ttl=0.0)
    assert store.add("community:1", 7, "sid-a") is True
    assert store.add("community:1", 7, "sid-b") is True  # the first entry had expired already
    store.ttl = 60
    assert store.add("community:1", 8, "sid-c") is True
    assert store.remove("community:1", 8, "sid-c") is True
    assert store.purge() == {"community:1": {7}}
    assert store.users("community:1") == []
