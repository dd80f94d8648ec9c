"""Live discussion benchmark (issue 6): Kring beside a bare python-socketio server, one run.

Both servers run the same way, in their own process: gunicorn with one threaded worker
(gthread, async mode "threading", WebSockets through simple-websocket) — Kring with its
production command line (`gunicorn -c gunicorn.conf.py wsgi:app` on SQLite, with
KRING_WORKER_THREAD=0 as in the README's scale-out setup, where `flask worker` processes run
jobs and the search indexer; BENCH_WORKER_THREAD=1 keeps them in the web process), the
baseline with `bench/_bare_live.py` (no auth, no database: join one room, broadcast, ack).

The same client load drives each, from one more process:
  1. 500 WebSocket clients connect to each server (Kring: signed-in session cookies of 500
     members, the community room named in the connect auth payload, so the server authorizes
     and joins it)
  2. steady: 10 messages per second, each from a different client, through the full path
     (Kring: re-authentication, rate limit, access, store in SQLite, broadcast, ack)
  3. burst: 200 messages at once, from 200 clients
The servers take turns, one at a time, in rounds (default 2: bare then Kring, then Kring then
bare; each round 10 s of steady load and a burst of 200), so that whatever else the shared
2-core machine does at the time falls on both alike; the figures are over all rounds.
and measures, per phase, the delivery latency of every (message, client) pair from the moment
the sender wrote the message (p50/p99), deliveries per second, and lost and duplicated
deliveries (every client, the sender included, must get every acknowledged message once).

Client method: one asyncio process with a minimal WebSocket + Engine.IO v4 / Socket.IO v5
client (asyncio.Protocol, frames parsed straight from the buffer, no thread per connection),
so 500 connections fit beside the server on 2 cores; it answers pings, sends events with ack
ids and times every chat.message frame it receives. The CPU each process used is reported.

    .venv/bin/python bench/live.py            # 500 clients, 20 s at 10 msg/s, bursts of 200
    .venv/bin/python bench/live.py --quick    # 100 clients, 5 s, bursts of 50

Prints progress and the figures; the last line is a JSON object. Target: Kring's p99 within
1.3x of the bare server's, and its deliveries/s at least 70% of the bare server's.
"""
from __future__ import annotations

import argparse
import asyncio
import base64
import itertools
import json
import os
import random
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
SECRET = "bench-live-secret"
HOST = "127.0.0.1"


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    k = max(0, min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1))))
    return ordered[k]


# --- the load: a lean Socket.IO client over asyncio + wsproto ----------------------------------

@dataclass
class Phase:
    name: str
    sent: dict[str, float] = field(default_factory=dict)    # key -> when the sender wrote it
    acked: set[str] = field(default_factory=set)
    refused: list[str] = field(default_factory=list)
    got: dict[str, list[int]] = field(default_factory=dict)  # key -> client indexes that got it
    latencies: list[float] = field(default_factory=list)
    last_delivery: float = 0.0
    trace: list = field(default_factory=list)


class Load:
    def __init__(self) -> None:
        self.phase: Phase | None = None
        self.last_packet = time.perf_counter()

    def delivered(self, client: int, key: str, now: float) -> None:
        phase = self.phase
        if phase is None or key not in phase.sent:
            return
        phase.got.setdefault(key, []).append(client)
        phase.latencies.append(now - phase.sent[key])
        phase.last_delivery = now
        if os.environ.get("BENCH_TRACE"):
            phase.trace.append((phase.sent[key], now - phase.sent[key]))


class Client(asyncio.Protocol):
    """One Socket.IO connection over a minimal WebSocket client (RFC 6455): the handshake, then
    frames parsed straight from the buffer (server frames are unmasked; ours carry a zero mask),
    Engine.IO pings answered, Socket.IO events sent with ack ids, chat.message frames timed."""

    def __init__(self, index: int, port: int, cookie: str | None, auth: dict | None, load: Load) -> None:
        self.index, self.port, self.cookie, self.auth, self.load = index, port, cookie, auth, load
        self.acks: dict[int, asyncio.Future] = {}
        self.ack_ids = itertools.count(1)
        self.connected: asyncio.Future | None = None
        self.buffer = bytearray()
        self.fragments: list[bytes] = []
        self.upgraded = False
        self.transport = None

    async def open(self) -> None:
        loop = asyncio.get_running_loop()
        self.connected = loop.create_future()
        await loop.create_connection(lambda: self, HOST, self.port)
        await asyncio.wait_for(self.connected, 30)

    def connection_made(self, transport) -> None:
        self.transport = transport
        key = base64.b64encode(os.urandom(16)).decode()
        lines = ["GET /socket.io/?EIO=4&transport=websocket HTTP/1.1", f"Host: {HOST}:{self.port}",
                 "Upgrade: websocket", "Connection: Upgrade", f"Sec-WebSocket-Key: {key}",
                 "Sec-WebSocket-Version: 13", f"Origin: http://{HOST}:{self.port}"]
        if self.cookie:
            lines.append(f"Cookie: {self.cookie}")
        transport.write(("\r\n".join(lines) + "\r\n\r\n").encode())

    def connection_lost(self, exc) -> None:
        if self.connected and not self.connected.done():
            self.connected.set_exception(ConnectionError(f"client {self.index} closed"))

    def data_received(self, data: bytes) -> None:
        buf = self.buffer
        buf += data
        if not self.upgraded:
            end = buf.find(b"\r\n\r\n")
            if end < 0:
                return
            if not buf.startswith(b"HTTP/1.1 101"):
                self.connected.set_exception(ConnectionError(f"client {self.index}: {bytes(buf[:200])!r}"))
                self.transport.close()
                return
            del buf[:end + 4]
            self.upgraded = True
        pos = 0
        size = len(buf)
        while size - pos >= 2:
            b0, b1 = buf[pos], buf[pos + 1]
            length = b1 & 0x7F
            head = 2
            if length == 126:
                if size - pos < 4:
                    break
                length = int.from_bytes(buf[pos + 2:pos + 4], "big")
                head = 4
            elif length == 127:
                if size - pos < 10:
                    break
                length = int.from_bytes(buf[pos + 2:pos + 10], "big")
                head = 10
            if size - pos < head + length:
                break
            payload = bytes(buf[pos + head:pos + head + length])
            pos += head + length
            opcode = b0 & 0x0F
            if opcode == 0x9:  # ping: pong with the same payload
                self._frame(0xA, payload)
            elif opcode == 0x8:
                self.transport.close()
                return
            elif opcode in (0x1, 0x0):
                self.fragments.append(payload)
                if b0 & 0x80:
                    text = b"".join(self.fragments).decode()
                    self.fragments = []
                    self._packet(text)
        del buf[:pos]

    def _frame(self, opcode: int, payload: bytes) -> None:
        n = len(payload)
        if n < 126:
            head = bytes((0x80 | opcode, 0x80 | n))
        elif n < 65536:
            head = bytes((0x80 | opcode, 0x80 | 126)) + n.to_bytes(2, "big")
        else:
            head = bytes((0x80 | opcode, 0x80 | 127)) + n.to_bytes(8, "big")
        self.transport.write(head + b"\x00\x00\x00\x00" + payload)  # a zero mask leaves the payload as is

    def _send_text(self, text: str) -> None:
        self._frame(0x1, text.encode())

    def _packet(self, text: str) -> None:
        now = time.perf_counter()
        self.load.last_packet = now
        kind = text[:1]
        if kind == "4":
            sub = text[1:2]
            if sub == "2":
                if text.startswith('42["chat.message"'):
                    data = json.loads(text[2:])[1]
                    self.load.delivered(self.index, data.get("key"), now)
                elif text.startswith('42["live.batch"'):  # Kring: a room's events committed together
                    for event, data in json.loads(text[2:])[1]["events"]:
                        if event == "chat.message":
                            self.load.delivered(self.index, data.get("key"), now)
            elif sub == "3":
                body = text[2:]
                digits = len(body) - len(body.lstrip("0123456789"))
                future = self.acks.pop(int(body[:digits]), None)
                if future and not future.done():
                    future.set_result(json.loads(body[digits:])[0])
            elif sub == "0":
                if not self.connected.done():
                    self.connected.set_result(True)
            elif sub == "4":
                if not self.connected.done():
                    self.connected.set_exception(ConnectionError(f"client {self.index}: {text}"))
        elif kind == "2":
            self._send_text("3")  # pong
        elif kind == "0":
            self._send_text("40" + json.dumps(self.auth or {}))

    def call(self, event: str, data: dict) -> asyncio.Future:
        ack = next(self.ack_ids)
        future = asyncio.get_running_loop().create_future()
        self.acks[ack] = future
        self._send_text(f"42{ack}" + json.dumps([event, data]))
        return future

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()


def _cpu(pid: int) -> float:
    """CPU seconds (user + system) a process used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@dataclass
class Target:
    """One server under load: its clients, what they measured, and its worker process."""

    name: str
    port: int
    pid: int
    cookies: list
    auth: dict | None
    load: Load = field(default_factory=Load)
    clients: list = field(default_factory=list)
    phases: dict = field(default_factory=dict)  # "steady"/"burst" -> [Phase per round]
    cpu: dict = field(default_factory=dict)     # same keys -> [(server s, client s)]
    connect_seconds: float = 0.0


async def _connect(target: Target) -> None:
    target.clients = [Client(i, target.port, target.cookies[i], target.auth, target.load)
                      for i in range(len(target.cookies))]
    started = time.perf_counter()
    for start in range(0, len(target.clients), 25):
        await asyncio.gather(*(c.open() for c in target.clients[start:start + 25]))
    target.connect_seconds = time.perf_counter() - started
    print(f"    {target.name}: {len(target.clients)} clients connected in {target.connect_seconds:.1f} s", flush=True)
    await _quiet(target.load, 1.0, 120)


async def _send(phase: Phase, client: Client, n: int) -> None:
    key = f"{phase.name}-{n:05d}-{client.index}"
    phase.sent[key] = time.perf_counter()
    future = client.call("chat.send", {"room": "community:1", "body": f"bench message {n}", "key": key})
    try:
        ack = await asyncio.wait_for(future, 60)
    except TimeoutError:
        phase.refused.append(f"{key}: no ack")
        return
    if ack.get("ok"):
        phase.acked.add(key)
    else:
        phase.refused.append(f"{key}: {ack}")


async def _phase(target: Target, kind: str, round_no: int, rate: float, seconds: float, burst: int) -> None:
    phase = Phase(f"{kind}{round_no}")
    target.load.phase = phase
    order = list(range(len(target.clients)))
    random.Random(round_no).shuffle(order)
    cpu = (_cpu(target.pid), time.process_time())
    if kind == "steady":  # `rate` messages per second, each from the next client
        tasks = []
        t0 = time.perf_counter()
        for n in range(int(rate * seconds)):
            delay = t0 + n / rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(_send(phase, target.clients[order[n % len(order)]], n)))
    else:  # `burst` messages at once, from as many clients
        tasks = [asyncio.create_task(_send(phase, target.clients[order[n % len(order)]], n)) for n in range(burst)]
    await asyncio.gather(*tasks)
    await _drain(target.load, phase, len(target.clients))
    target.phases.setdefault(kind, []).append(phase)
    target.cpu.setdefault(kind, []).append((_cpu(target.pid) - cpu[0], time.process_time() - cpu[1]))
    target.load.phase = None


async def run_round(target: Target, round_no: int, rate: float, seconds: float, burst: int) -> None:
    """Connect the target's clients, run a steady phase and a burst, disconnect."""
    target.load = Load()
    await _connect(target)
    for kind in ("steady", "burst"):
        await _phase(target, kind, round_no, rate, seconds, burst)
        _trace(target.phases[kind][-1], target.name)
        await _quiet(target.load, 0.5, 10)
    for c in target.clients:
        c.close()
    await asyncio.sleep(0.5)


def summarise(target: Target) -> dict:
    out = {"connect_seconds": round(target.connect_seconds, 2)}
    for kind, phases in target.phases.items():
        merged = Phase(kind)
        for phase in phases:
            merged.sent.update(phase.sent)
            merged.acked |= phase.acked
            merged.refused += phase.refused
            merged.latencies += phase.latencies
            merged.got.update(phase.got)
        figures = _figures(merged, len(target.cookies))
        # deliveries per second: over the time the phases took, summed
        spans = [max(p.last_delivery - min(p.sent.values()), 1e-9) for p in phases if p.sent]
        figures["deliveries_per_s"] = round(figures["deliveries"] / sum(spans)) if spans else 0
        figures["seconds"] = round(sum(spans), 2)
        figures["server_cpu_s"] = round(sum(c[0] for c in target.cpu[kind]), 2)
        figures["client_cpu_s"] = round(sum(c[1] for c in target.cpu[kind]), 2)
        figures["rounds"] = [{"p50_ms": round(percentile(p.latencies, 50) * 1000, 1),
                              "p99_ms": round(percentile(p.latencies, 99) * 1000, 1),
                              "deliveries_per_s": round(sum(len(v) for v in p.got.values())
                                                        / max(p.last_delivery - min(p.sent.values()), 1e-9))}
                             for p in phases if p.sent]
        out[kind] = figures
    return out


async def _quiet(load: Load, quiet: float, limit: float) -> None:
    """Wait until no packet arrived for `quiet` seconds (presence fan-out after connecting)."""
    end = time.perf_counter() + limit
    while time.perf_counter() < end and time.perf_counter() - load.last_packet < quiet:
        await asyncio.sleep(0.1)


async def _drain(load: Load, phase: Phase, n_clients: int, limit: float = 30.0) -> None:
    end = time.perf_counter() + limit
    expected = len(phase.acked) * n_clients
    while time.perf_counter() < end:
        if sum(len(set(v)) for k, v in phase.got.items() if k in phase.acked) >= expected:
            break
        await asyncio.sleep(0.05)
    await asyncio.sleep(0.3)  # late duplicates would land now


def _trace(phase: Phase, name: str = "") -> None:
    if not phase.trace:
        return
    t0 = min(t for t, _ in phase.trace)
    slots: dict[int, list[float]] = {}
    for t, lat in phase.trace:
        slots.setdefault(int((t - t0) // 1), []).append(lat)
    print(f"    {name} {phase.name} by second sent: " + " ".join(
        f"{k}:{percentile(v, 50) * 1000:.0f}/{percentile(v, 99) * 1000:.0f}" for k, v in sorted(slots.items())), flush=True)


def _figures(phase: Phase, n_clients: int) -> dict:
    deliveries = sum(len(v) for v in phase.got.values())
    unique = sum(len(set(v)) for v in phase.got.values())
    expected = len(phase.acked) * n_clients
    first = min(phase.sent.values()) if phase.sent else 0.0
    span = max(phase.last_delivery - first, 1e-9)
    return {
        "messages": len(phase.sent), "acked": len(phase.acked), "refused": len(phase.refused),
        "deliveries": deliveries, "expected": expected,
        "lost": expected - sum(len(set(v)) for k, v in phase.got.items() if k in phase.acked),
        "duplicated": deliveries - unique,
        "p50_ms": round(percentile(phase.latencies, 50) * 1000, 1),
        "p99_ms": round(percentile(phase.latencies, 99) * 1000, 1),
        "max_ms": round(max(phase.latencies, default=float("nan")) * 1000, 1),
        "deliveries_per_s": round(deliveries / span),
        "seconds": round(span, 2),
        "refusals": phase.refused[:3],
    }


# --- the servers ---------------------------------------------------------------------------

def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def _wait_up(url: str, proc: subprocess.Popen, log: Path) -> None:
    end = time.time() + 60
    while time.time() < end:
        if proc.poll() is not None:
            raise SystemExit(f"server exited:\n{log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(url, timeout=1):
                return
        except OSError as exc:
            if getattr(exc, "code", None):  # an HTTP error answer: it is up
                return
            time.sleep(0.2)
    raise SystemExit(f"server did not start:\n{log.read_text()[-3000:]}")


def _start(cmd: list[str], env: dict, port: int, tmp: Path, name: str, probe: str) -> subprocess.Popen:
    log = tmp / f"{name}.log"
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=open(log, "wb"), stderr=subprocess.STDOUT,  # noqa: SIM115
                            start_new_session=True)
    _wait_up(f"http://{HOST}:{port}{probe}", proc, log)
    return proc


def _worker_pid(proc: subprocess.Popen) -> int:
    """The gunicorn worker (the process that serves) of the arbiter `proc`."""
    children = Path(f"/proc/{proc.pid}/task/{proc.pid}/children").read_text().split()
    return int(children[0]) if children else proc.pid


def _stop(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=15)
    except (ProcessLookupError, subprocess.TimeoutExpired):
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def _server_env(threads: int) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KRING_", "DATABASE_URL", "REDIS_URL"))}
    env.update({"HOST": HOST, "KRING_THREADS": str(threads), "KRING_ACCESS_LOG": "off", "PYTHONUNBUFFERED": "1"})
    return env


def _seed(tmp: Path, n_users: int) -> list[str]:
    """500 members of one open community (bulk inserts); returns their session cookies."""
    import random as _random

    from app import create_app
    from app.extensions import db
    from bench._seed import seed_community, seed_members, seed_people
    from config import Config

    app = create_app(Config, SQLALCHEMY_DATABASE_URI=f"sqlite:///{tmp / 'live.db'}", INSTANCE_DIR=tmp,
                     SECRET_KEY=SECRET, MAIL_BACKEND="memory", KRING_WORKER_THREAD=False)
    with app.app_context():
        db.create_all()
        users = seed_people(n_users, _random.Random(3))
        community, _topics = seed_community("Live Bench", "live-bench", 0)
        assert community == 1, "the bench community must be community:1"
        seed_members(community, users)
    from flask_login.utils import _create_identifier

    with app.test_request_context(environ_base={"REMOTE_ADDR": HOST}):
        ident = _create_identifier()  # what sign-in stores: the session then stays as it is
    serializer = app.session_interface.get_signing_serializer(app)
    name = app.config["SESSION_COOKIE_NAME"]
    return [f"{name}={serializer.dumps({'_user_id': f'{u}:1', '_fresh': True, '_id': ident})}" for u in users]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="100 clients, 5 s of 10 msg/s, a burst of 50")
    parser.add_argument("--clients", type=int)
    parser.add_argument("--seconds", type=float)
    parser.add_argument("--rate", type=float, default=10.0)
    parser.add_argument("--burst", type=int)
    parser.add_argument("--rounds", type=int, default=2,
                        help="alternate the two servers this many times (default 2: each gets seconds/2 of steady "
                             "load and a burst per round)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder (database, server logs)")
    args = parser.parse_args()
    clients = args.clients or (100 if args.quick else 500)
    seconds = args.seconds or (5.0 if args.quick else 20.0)
    burst = args.burst or (50 if args.quick else 200)
    threads = clients + 100

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, max(soft, 4 * clients + 256)), hard))
    tmp = Path(tempfile.mkdtemp(prefix="kring-live-bench-"))
    print(f"Live benchmark: {clients} clients per server, {args.rate:g} msg/s for {seconds:g} s and a burst of "
          f"{burst} per round, {args.rounds} round(s) alternating the servers ({tmp})", flush=True)
    cookies = _seed(tmp, clients)
    gunicorn = str(Path(sys.executable).parent / "gunicorn")

    def start_bare() -> tuple[subprocess.Popen, int]:
        """The baseline: bare python-socketio, same async mode, same server, same load."""
        port = _free_port()
        proc = _start([gunicorn, "-w", "1", "-k", "gthread", "--threads", str(threads), "-b", f"{HOST}:{port}",
                       "--log-level", "warning", "bench._bare_live:app"], _server_env(threads), port, tmp, "bare",
                      "/socket.io/?EIO=4&transport=polling")
        return proc, port

    def start_kring() -> tuple[subprocess.Popen, int]:
        """Kring: the production command line on SQLite, the full path."""
        port = _free_port()
        env = _server_env(threads)
        env.update({"PORT": str(port), "DATABASE_URL": f"sqlite:///{tmp / 'live.db'}", "SECRET_KEY": SECRET,
                    "KRING_INSTANCE_PATH": str(tmp), "KRING_ALLOWED_ORIGINS": f"http://{HOST}:{port}",
                    "KRING_MAIL_BACKEND": "log", "KRING_WORKER_THREAD": os.environ.get("BENCH_WORKER_THREAD", "0")})
        return _start([gunicorn, "-c", "gunicorn.conf.py", "wsgi:app"], env, port, tmp, "kring", "/signin"), port

    targets = {"bare": Target("bare", 0, 0, [None] * clients, None),
               "kring": Target("kring", 0, 0, cookies, {"rooms": {"community:1": None}})}
    starters = {"bare": start_bare, "kring": start_kring}
    for r in range(args.rounds):
        for name in (("bare", "kring") if r % 2 == 0 else ("kring", "bare")):
            proc, port = starters[name]()
            try:
                target = targets[name]
                target.port, target.pid = port, _worker_pid(proc)
                print(f"  round {r + 1}, {name}:", flush=True)
                asyncio.run(run_round(target, r, args.rate, seconds / args.rounds, burst))
            finally:
                _stop(proc)
    results = {name: summarise(target) for name, target in targets.items()}

    print()
    print(f"{'':8} {'phase':7} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8} {'deliv/s':>9} {'lost':>6} {'dup':>5} "
          f"{'acked':>6} {'srv cpu':>8} {'cli cpu':>8}")
    for server in ("bare", "kring"):
        for phase in ("steady", "burst"):
            r = results[server][phase]
            print(f"{server:8} {phase:7} {r['p50_ms']:>8} {r['p99_ms']:>8} {r['max_ms']:>8} {r['deliveries_per_s']:>9} "
                  f"{r['lost']:>6} {r['duplicated']:>5} {r['acked']:>6} {r['server_cpu_s']:>7}s {r['client_cpu_s']:>7}s")
    ratios = {}
    for phase in ("steady", "burst"):
        b, k = results["bare"][phase], results["kring"][phase]
        ratios[phase] = {"p99_ratio": round(k["p99_ms"] / b["p99_ms"], 2) if b["p99_ms"] else None,
                         "deliveries_per_s_ratio": round(k["deliveries_per_s"] / b["deliveries_per_s"], 2)
                         if b["deliveries_per_s"] else None}
    print(f"\nKring / bare: steady p99 x{ratios['steady']['p99_ratio']}, burst p99 x{ratios['burst']['p99_ratio']}, "
          f"burst deliveries/s {ratios['burst']['deliveries_per_s_ratio']:.0%} (targets: p99 <= 1.3x, deliveries/s >= 70%)")
    ok = (results["kring"]["steady"]["lost"] == 0 and results["kring"]["burst"]["lost"] == 0
          and results["kring"]["steady"]["duplicated"] == 0 and results["kring"]["burst"]["duplicated"] == 0)
    if not args.keep:
        shutil.rmtree(tmp, ignore_errors=True)
    print(json.dumps({"bench": "live", "clients": clients, "rate": args.rate, "seconds": seconds, "burst": burst,
                      "rounds": args.rounds, "load_average": os.getloadavg(),
                      "method": "gunicorn gthread 1 worker (threading); one asyncio process of minimal WebSocket clients",
                      "bare": results["bare"], "kring": results["kring"], "ratio": ratios, "nothing_lost": ok}))


if __name__ == "__main__":
    main()
