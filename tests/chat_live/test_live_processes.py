"""Nothing lost, across real processes: connections are cut and the server is killed and
restarted mid-conversation, and every acknowledged message reaches each client exactly once;
with Redis, two server processes share rooms, presence and control (sign-out, removal).

These start `python wsgi.py` in subprocesses on free ports (SQLite file shared), and talk to
them with python-socketio clients."""
from __future__ import annotations

import threading
import time
import uuid

import pytest

from app import events
from app.extensions import db
from app.models import ChatMessage, Community, User, Visibility
from app.services import chat
from app.services.community import communities
from app.services.people import accounts
from tests.conftest import REDIS_URL, Factory
from tests.live_servers import LiveClient, Server, make_app, session_cookie, wait_for


@pytest.fixture
def servers():
    started: list[Server] = []
    clients: list[LiveClient] = []
    yield started, clients
    for server in started:
        server.kill()
    for client in clients:
        client.close()


def _one_server_with_alice_and_bob(tmp_path, servers):
    """A fresh database with Alice (employee) and Bob (customer) and an open community, and one
    server process on it: returns (app, server, alice, bob, the community's room)."""
    db_path = tmp_path / "live.db"
    app = make_app(db_path)
    make = Factory(app)
    alice, bob = make.user("employee", name="Alice"), make.user("customer", name="Bob")
    room = f"community:{make.community('open').id}"
    server = Server(tmp_path, db_path)
    servers[0].append(server)
    return app, server, alice, bob, room


def test_every_acknowledged_message_arrives_exactly_once_through_cuts_and_a_restart(tmp_path, servers):
    clients = servers[1]
    app, server, alice, bob, room = _one_server_with_alice_and_bob(tmp_path, servers)
    a = LiveClient(server, session_cookie(app, alice), room)
    b = LiveClient(server, session_cookie(app, bob), room)
    clients += [a, b]

    acked: list[int] = []
    for i in range(36):
        if i in (6, 20):
            b.cut()  # Bob's network drops; he reconnects and names the last id he has
        if i == 12:
            server.kill()  # the server crashes mid-conversation ...
            server.start()  # ... and comes back on the same port and database
        if i == 27:
            a.cut()
            b.cut()
        acked.append(a.send_until_acked(f"message {i}", key=f"k-{i:03d}-{uuid.uuid4().hex[:8]}"))

    assert len(set(acked)) == 36
    wait_for(lambda: b.has_all(acked) and a.has_all(acked), timeout=20, what="every acknowledged message")
    time.sleep(0.3)  # a late duplicate would show up now
    assert b.duplicates() == {} and a.duplicates() == {}
    assert sorted(b.received) == sorted(acked) == sorted(a.received)
    assert b.connects >= 4 and a.connects >= 3  # the cuts and the restart really happened
    with app.app_context():
        assert db.session.query(ChatMessage).count() == 36


def test_a_retried_send_after_a_crash_is_stored_once(tmp_path, servers):
    """The server stores a message and dies before the ack: the client's retry with the same key
    is answered with the stored message, nothing is stored twice, and others get it once."""
    started, clients = servers
    db_path = tmp_path / "live.db"
    app = make_app(db_path)
    make = Factory(app)
    alice, bob = make.user("employee"), make.user("employee")
    community = make.community("open")
    room = f"community:{community.id}"
    with app.app_context():
        from app.services import chat

        stored, _ = chat.post(db.session.get(User, alice.id), community.id, "stored, never acked", client_key="lost-ack-0001")
        stored_id = stored.id
    server = Server(tmp_path, db_path)
    started.append(server)
    b = LiveClient(server, session_cookie(app, bob), room)
    a = LiveClient(server, session_cookie(app, alice), room)
    clients += [a, b]
    ack = a.call("chat.send", {"room": room, "body": "stored, never acked", "key": "lost-ack-0001"})
    assert ack["ok"] and ack["duplicate"] and ack["message"]["id"] == stored_id
    time.sleep(0.3)
    assert b.received.count(stored_id) == 1  # from the replay at connect, not again for the retry
    with app.app_context():
        assert db.session.query(ChatMessage).count() == 1


def _forget_redis_keys(pattern: str) -> None:
    import redis

    server = redis.Redis.from_url(REDIS_URL)
    for key in server.scan_iter(pattern):
        server.delete(key)


@pytest.mark.skipif(not REDIS_URL, reason="needs Redis (set TEST_REDIS_URL)")
def test_two_processes_share_rooms_presence_and_control_through_redis(tmp_path, servers, request):
    started, clients = servers
    channel = f"kring-test-{uuid.uuid4().hex[:10]}"
    request.addfinalizer(lambda: _forget_redis_keys(f"kring:{channel}:*"))
    db_path = tmp_path / "live.db"
    # the test process acts like the CLI or a job worker: its emits travel through Redis too
    app = make_app(db_path, REDIS_URL=REDIS_URL, KRING_SOCKETIO_CHANNEL=channel)
    make = Factory(app)
    alice, bob, carol = make.user("employee", name="Alice"), make.user("employee", name="Bob"), make.user("customer", name="Carol")
    manager = make.user("employee", name="Mona")
    open_c = make.community("open")
    private = make.community("private", manager=manager)
    make.member(private, alice)
    make.member(private, carol)
    common = {"REDIS_URL": REDIS_URL, "KRING_SOCKETIO_CHANNEL": channel, "KRING_LIVE_PRESENCE_TTL": "3"}
    one = Server(tmp_path, db_path, KRING_WORKER_THREAD="1", **common)
    two = Server(tmp_path, db_path, KRING_WORKER_THREAD="0", **common)
    started += [one, two]
    room, private_room = f"community:{open_c.id}", f"community:{private.id}"

    a = LiveClient(one, session_cookie(app, alice), room)
    b = LiveClient(two, session_cookie(app, bob), room)
    clients += [a, b]
    # presence is shared: Bob, connected to the other process, sees Alice
    wait_for(lambda: any(p["user"]["id"] == alice.id for p in b.named("presence.joined"))
             or any(p["id"] == alice.id for s in b.named("presence.state") for p in s["people"]),
             what="Alice in Bob's presence list")
    assert {p["id"] for p in b.call("presence", {"room": room})["presence"]["people"]} == {alice.id, bob.id}

    # a message sent through one process reaches a client of the other, and back
    first = a.send_until_acked("hello from process one", key="two-proc-0001")
    wait_for(lambda: b.has_all([first]), what="the message on process two")
    second = b.send_until_acked("hello from process two", key="two-proc-0002")
    wait_for(lambda: a.has_all([second]), what="the reply on process one")
    # messages stored together (a burst) go out as one live.batch through Redis; both processes
    # deliver each message once (these sockets reconnected with a cursor, so inside their replay
    # fence the batch is sent event by event)
    with app.app_context():
        with events.held() as collected:
            burst = [chat.post(db.session.get(User, alice.id), open_c.id, f"burst {i}", client_key=f"two-proc-b{i}")[0].id
                     for i in range(3)]
        events.send_all(collected)
    wait_for(lambda: a.has_all(burst) and b.has_all(burst), what="the burst on both processes")
    assert a.duplicates() == {} and b.duplicates() == {}
    assert b.call("typing", {"room": room, "typing": True})["ok"]
    wait_for(lambda: a.named("typing"), what="typing across processes")

    # removal from a private community, decided outside both servers, takes effect on process two
    c = LiveClient(two, session_cookie(app, carol), private_room)
    a2 = LiveClient(one, session_cookie(app, alice), private_room)
    clients += [c, a2]
    before = a2.send_until_acked("members only", key="two-proc-0003")
    wait_for(lambda: c.has_all([before]), what="Carol in the private room")
    with app.app_context():
        communities.remove_member(db.session.get(User, manager.id), private.slug, carol.id)
    # the commit returned only once both processes acted: no waiting here
    assert c.call("presence", {"room": private_room}).get("code") == "not_in_room"
    after = a2.send_until_acked("after Carol left", key="two-proc-0004")
    time.sleep(0.5)
    assert after not in c.received

    # suspension, decided outside both servers, disconnects Bob's socket on process two
    with app.app_context():
        admin = make.admin()
        accounts.suspend(db.session.get(User, admin.id), db.session.get(User, bob.id), None, "Test")
    wait_for(lambda: not b.sio.connected, what="Bob disconnected")

    # a crashed process's presence expires: process two's clients hear Alice left
    watcher = LiveClient(two, session_cookie(app, carol), room)
    clients.append(watcher)
    one.kill()
    wait_for(lambda: any(p["user_id"] == alice.id for p in watcher.named("presence.left")), timeout=15,
             what="Alice's presence to expire after process one crashed")

    # a community made private outside both servers: when the commit returns, the customer's
    # socket on the live process is out of its room (process one's entry has not expired yet:
    # the commit waits for it at most KRING_LIVE_CONTROL_WAIT)
    assert watcher.call("presence", {"room": room})["ok"]
    with app.app_context():
        db.session.get(Community, open_c.id).visibility = Visibility.PRIVATE
        db.session.commit()
    assert watcher.call("presence", {"room": room}).get("code") == "not_in_room"


def test_a_long_polling_client_that_missed_hundreds_of_messages_connects_and_gets_each_once(tmp_path, servers):
    """python-socketio over long-polling only (no WebSocket): the connect is acknowledged before
    the replay, and the replay of 300 missed messages, the presence list and the refusal of a
    room it may not read all arrive, each message exactly once."""
    started, clients = servers
    db_path = tmp_path / "live.db"
    app = make_app(db_path)
    make = Factory(app)
    alice, bob = make.user("employee", name="Alice"), make.user("customer", name="Bob")
    community, internal = make.community("open"), make.community("internal")
    room = f"community:{community.id}"
    with app.app_context():
        author = db.session.get(User, alice.id)
        seen = chat.post(author, community.id, "the last one Bob saw", client_key="poll-seen-0001")[0].id
        missed = [chat.post(author, community.id, f"missed {i}", client_key=f"poll-miss-{i:04d}")[0].id
                  for i in range(300)]
    server = Server(tmp_path, db_path)
    started.append(server)
    b = LiveClient(server, session_cookie(app, bob), room, transports=["polling"], after=seen,
                   extra_rooms={f"community:{internal.id}": 0})
    clients.append(b)
    assert b.sio.connected and b.sio.transport() == "polling"
    wait_for(lambda: b.has_all(missed), timeout=30, what="the 300 missed messages")
    wait_for(lambda: b.named("presence.state") and b.named("room.refused"), what="presence and the refusal")
    # and the connection works both ways afterwards: a new message arrives live, once
    fresh = LiveClient(server, session_cookie(app, alice), room, after=missed[-1])
    clients.append(fresh)
    new = fresh.send_until_acked("after the replay", key="poll-new-0001")
    wait_for(lambda: b.has_all([new]), what="a live message after the replay")
    time.sleep(0.3)  # a late duplicate would show up now
    assert b.duplicates() == {} and sorted(b.received) == sorted([*missed, new])
    assert [s["room"] for s in b.named("presence.state")] == [room]
    assert [r["room"] for r in b.named("room.refused")] == [f"community:{internal.id}"]


def test_a_long_polling_client_in_a_busy_room_gets_every_event_however_many_queue_up(tmp_path, servers):
    """Between two polls of a long-polling client, 40 messages are committed in its room, one
    by one (40 separate events, not one replay). The next poll must not carry more packets
    than python-engineio's client decodes (16): the client stays connected and gets each
    message once, in order."""
    clients = servers[1]
    app, server, alice, bob, room = _one_server_with_alice_and_bob(tmp_path, servers)
    b = LiveClient(server, session_cookie(app, bob), room, transports=["polling"])
    clients.append(b)
    wait_for(lambda: b.named("presence.state"), what="Bob in the room")
    gate = threading.Event()
    gate.set()
    eio = b.sio.eio
    real_request = eio._send_request

    def gated(method, url, *args, **kwargs):
        if method == "GET":
            assert gate.wait(60), "the gate stayed closed"
        return real_request(method, url, *args, **kwargs)

    eio._send_request = gated
    a = LiveClient(server, session_cookie(app, alice), room)
    clients.append(a)
    gate.clear()  # Bob's next poll waits: what is sent meanwhile queues up on the server
    sent = [a.send_until_acked(f"busy {i}", key=f"busy-{i:04d}") for i in range(40)]
    gate.set()
    wait_for(lambda: b.has_all(sent), timeout=30, what="the 40 messages sent between two polls")
    assert b.sio.connected and b.connects == 1  # never cut off, no reconnect (no replay) needed
    assert b.duplicates() == {}
    with b.lock:
        assert [i for i in b.received if i in set(sent)] == sent  # in the order they were sent
