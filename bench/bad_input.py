"""Benchmark of the bad-input corpus (issue 13): the sweep of tests/platform/test_bad_input_corpus.py
(every route and method, every field the view reads, every bad value class, bad JSON bodies)
through the Flask test client on a fresh SQLite file, timed request by request.

    .venv/bin/python bench/bad_input.py            # admin and customer
    .venv/bin/python bench/bad_input.py --quick    # the customer only
    .venv/bin/python bench/bad_input.py --top 20   # list the 20 slowest requests

Prints the slowest requests (wall and CPU milliseconds), the figures per bad value class and
any 500; the last line is a JSON object. Target: every request under 1 s (CPU) on the project's
2-core machine; the tests never assert times, this is where they are watched. Memory: the
process's peak RSS once the world is built (the baseline), at the end, and the largest rise of
the peak caused by one request (what one bad request can make the worker grab).
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="only the customer")
    parser.add_argument("--top", type=int, default=10, help="how many of the slowest requests to list")
    args = parser.parse_args()

    from app import create_app
    from app.extensions import db
    from config import TestConfig
    from tests import proof_world
    from tests.conftest import Factory, csrf_token, login
    from tests.corpus import RecordingRequest, sweep

    personas = ["customer"] if args.quick else ["admin", "customer"]
    timings: list[tuple[float, float, str]] = []
    errors: list[str] = []
    per_class: dict[str, list[float]] = defaultdict(list)
    load_before = round(os.getloadavg()[0], 2)
    rss_mb = lambda: resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # noqa: E731 - KiB on Linux
    baseline_mb, worst_rise = None, (0.0, "")
    for persona in personas:
        with tempfile.TemporaryDirectory() as tmp:
            tmp_path = Path(tmp)
            app = create_app(TestConfig, SQLALCHEMY_DATABASE_URI=f"sqlite:///{tmp_path / 'kring.db'}",
                             INSTANCE_DIR=tmp_path, UPLOAD_DIR=tmp_path / "uploads",
                             MAIL_OUTBOX_DIR=tmp_path / "outbox", SERVER_NAME=None)
            with app.app_context():
                db.create_all()
            world = proof_world.build(app, Factory(app))
            proof_world.sync_search(app)
            user = world.people[persona]
            app.request_class = RecordingRequest
            client = app.test_client()
            login(client, user)
            token = csrf_token(client)
            runs = sweep(app, client, user, world, token)
            if baseline_mb is None:
                baseline_mb = rss_mb()
            while True:
                peak = rss_mb()
                wall, cpu = time.perf_counter(), time.process_time()
                try:
                    method, path, what, response = next(runs)
                except StopIteration:
                    break
                wall, cpu = (time.perf_counter() - wall) * 1000, (time.process_time() - cpu) * 1000
                label = f"{persona} {method} {path} [{what}] -> {response.status_code}"
                if rss_mb() - peak > worst_rise[0]:
                    worst_rise = (rss_mb() - peak, label)
                timings.append((wall, cpu, label))
                per_class[what.split(" ")[0]].append(cpu)
                if response.status_code >= 500:
                    errors.append(label)
            with app.app_context():
                db.engine.dispose()
            live = app.extensions.get("kring_live")
            if live is not None:
                live.stop()
        print(f"{persona}: {len(timings)} requests so far", file=sys.stderr)
    timings.sort(reverse=True)
    print(f"slowest {args.top} requests (wall ms, cpu ms):")
    for wall, cpu, label in timings[:args.top]:
        print(f"  {wall:8.1f} {cpu:8.1f}  {label}")
    print("per bad value class (cpu ms): p50 / max")
    for name, values in sorted(per_class.items()):
        print(f"  {name:12} {statistics.median(values):7.1f} / {max(values):7.1f}  ({len(values)} requests)")
    for label in errors:
        print("500:", label)
    print(f"peak RSS: {baseline_mb:.0f} MB after building the world, {rss_mb():.0f} MB at the end; "
          f"largest rise by one request {worst_rise[0]:.1f} MB ({worst_rise[1] or 'none'})")
    cpus = [cpu for _w, cpu, _l in timings]
    print(json.dumps({"bench": "bad_input", "personas": personas, "requests": len(timings),
                      "errors_500": len(errors), "over_1s_cpu": sum(1 for c in cpus if c > 1000),
                      "cpu_p50_ms": round(statistics.median(cpus), 1), "cpu_max_ms": round(max(cpus), 1),
                      "wall_max_ms": round(timings[0][0], 1), "slowest": timings[0][2],
                      "rss_baseline_mb": round(baseline_mb, 1), "rss_peak_mb": round(rss_mb(), 1),
                      "rss_max_rise_one_request_mb": round(worst_rise[0], 1), "rss_max_rise_request": worst_rise[1],
                      "load_average": [load_before, round(os.getloadavg()[0], 2)]}))


if __name__ == "__main__":
    main()
