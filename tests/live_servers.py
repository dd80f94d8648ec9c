"""Real Kring server processes and python-socketio clients for the live tests that need real
concurrency: connections that are cut, a server that is killed and restarted, two processes
sharing rooms through Redis. Every wait is bounded."""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections import Counter
from pathlib import Path

import socketio

from app import create_app
from app.extensions import db
from config import TestConfig

ROOT = Path(__file__).resolve().parent.parent
SECRET = "live-process-test-secret"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(predicate, timeout: float = 15.0, step: float = 0.05, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(step)
    raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")


def make_app(db_path: Path, **overrides):
    """An app on the shared SQLite file (the servers use it too), for seeding and for server
    code that acts from outside the servers (like the CLI or a job would)."""
    app = create_app(TestConfig, SQLALCHEMY_DATABASE_URI=f"sqlite:///{db_path}", INSTANCE_DIR=db_path.parent,
                     SECRET_KEY=SECRET, **overrides)
    with app.app_context():
        db.create_all()
    return app


def session_cookie(app, user) -> str:
    """The signed session cookie a browser of `user` would have after signing in."""
    serializer = app.session_interface.get_signing_serializer(app)
    value = serializer.dumps({"_user_id": f"{user.id}:{user.session_version}", "_fresh": True})
    return f"{app.config['SESSION_COOKIE_NAME']}={value}"


class Server:
    """`python wsgi.py` (what `make run` starts) on a free port, in its own process."""

    def __init__(self, tmp: Path, db_path: Path, port: int | None = None, command: list[str] | None = None,
                 **env) -> None:
        self.command = command or [sys.executable, "wsgi.py"]
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.tmp = tmp
        self.db_path = db_path
        self.extra = env
        self.proc: subprocess.Popen | None = None
        self.start()

    def start(self) -> None:
        instance = self.tmp / f"instance-{self.port}"
        instance.mkdir(exist_ok=True)
        env = {k: v for k, v in os.environ.items() if not k.startswith(("KRING_", "DATABASE_URL", "REDIS_URL"))}
        env.update({
            "HOST": "127.0.0.1", "PORT": str(self.port), "KRING_INSTANCE_PATH": str(instance),
            "DATABASE_URL": f"sqlite:///{self.db_path}", "SECRET_KEY": SECRET,
            "KRING_ALLOWED_ORIGINS": self.url, "KRING_MAIL_BACKEND": "log", "KRING_LIVE_RATELIMIT": "0",
            "KRING_JOB_POLL_SECONDS": "0.2", "PYTHONUNBUFFERED": "1",
        })
        env.update({k: str(v) for k, v in self.extra.items()})
        self.log = open(self.tmp / f"server-{self.port}.log", "ab")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(self.command, cwd=ROOT, env=env, stdout=self.log,
                                     stderr=subprocess.STDOUT, start_new_session=True)
        wait_for(self._up, timeout=30, step=0.1, what=f"the server on port {self.port}")

    def _up(self) -> bool:
        if self.proc.poll() is not None:
            raise AssertionError(f"the server on {self.port} exited: {self.output()[-3000:]}")
        try:
            with urllib.request.urlopen(self.url + "/signin", timeout=1) as response:
                return response.status == 200
        except OSError:
            return False

    def output(self) -> str:
        return (self.tmp / f"server-{self.port}.log").read_text(errors="replace")

    def kill(self) -> None:
        """Kill it hard (SIGKILL), as a crash would: no goodbye to anyone."""
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)
        if not self.log.closed:
            self.log.close()

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=10)
        if not self.log.closed:
            self.log.close()


class LiveClient:
    """A person's client: connects with the session cookie, names its room with the last id it
    has (and its recent ids) on every (re)connect, records every chat.message it receives, and
    sends with an idempotency key until it gets the ack."""

    def __init__(self, server: Server, cookie: str, room: str, *, transports=("websocket",),
                 after: int = 0, extra_rooms: dict | None = None) -> None:
        self.server = server
        self.transports = list(transports)
        self.after = after  # the last id the client had before its first connect
        self.extra_rooms = dict(extra_rooms or {})
        self.cookie = cookie
        self.room = room
        self.lock = threading.Lock()
        self.received: list[int] = []
        self.events: list[tuple[str, dict]] = []
        self.connects = 0
        self.sio = socketio.Client(reconnection=True, reconnection_delay=0.1, reconnection_delay_max=0.5,
                                   randomization_factor=0)
        self.handlers = {"chat.message": self._on_message}
        for name in ("presence.state", "presence.joined", "presence.left", "typing", "room.refused",
                     "replay.truncated"):
            self.handlers[name] = self._recorder(name)
        self.sio.on("connect", self._on_connect)
        self.sio.on("live.batch", self._on_batch)
        for name, handler in self.handlers.items():
            self.sio.on(name, handler)
        self.connect()

    def connect(self) -> None:
        headers = {"Cookie": self.cookie}
        if "websocket" not in self.transports:
            headers["Origin"] = self.server.url  # websocket-client sends it by itself, requests does not
        self.sio.connect(self.server.url, headers=headers,
                         auth=self._auth, transports=self.transports, wait_timeout=10)

    def _auth(self) -> dict:
        with self.lock:
            recent = self.received[-100:]
            return {"rooms": {self.room: {"after": max(self.received, default=self.after), "have": recent},
                              **self.extra_rooms}}

    def _on_connect(self) -> None:
        self.connects += 1

    def _on_message(self, message: dict) -> None:
        with self.lock:
            self.received.append(message["id"])

    def _on_batch(self, batch: dict) -> None:
        for event, data in batch["events"]:  # each as if it had come on its own
            if event in self.handlers:
                self.handlers[event](data)

    def _recorder(self, name: str):
        def record(data):
            with self.lock:
                self.events.append((name, data))
        return record

    def named(self, name: str) -> list[dict]:
        with self.lock:
            return [data for event, data in self.events if event == name]

    def duplicates(self) -> dict[int, int]:
        with self.lock:
            return {i: n for i, n in Counter(self.received).items() if n > 1}

    def has_all(self, ids) -> bool:
        with self.lock:
            return set(ids) <= set(self.received)

    def call(self, event: str, data: dict, timeout: float = 5):
        return self.sio.call(event, data, timeout=timeout)

    def send_until_acked(self, body: str, key: str, deadline: float = 30.0) -> int:
        """chat.send, retried with the same key until acknowledged. Returns the stored id."""
        end = time.monotonic() + deadline
        while time.monotonic() < end:
            try:
                ack = self.sio.call("chat.send", {"room": self.room, "body": body, "key": key}, timeout=3)
            except (socketio.exceptions.TimeoutError, socketio.exceptions.BadNamespaceError,
                    socketio.exceptions.SocketIOError):
                time.sleep(0.1)
                continue
            if ack and ack.get("ok"):
                return ack["message"]["id"]
            raise AssertionError(f"refused: {ack}")
        raise AssertionError(f"no ack for {key} within {deadline} s")

    def cut(self) -> None:
        """Cut the network under the connection (no close handshake): the client notices the
        broken transport and reconnects by itself."""
        ws = getattr(self.sio.eio, "ws", None)
        if ws is not None and ws.sock is not None:
            try:
                ws.sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def close(self) -> None:
        self.sio.reconnection = False
        try:
            self.sio.eio.disconnect(abort=True)
            self.sio.disconnect()
        except Exception:  # noqa: BLE001 - already gone
            pass
