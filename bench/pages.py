"""Benchmark of the busiest pages, in-process on SQLite (issue 3).

Seeds a large community (100,000 posts, 500,000 comments, 5,000 users) with bulk inserts,
then times the community page (first page and the 200th page), a post page with 200 comments
and the home feed through the Flask test client, signed in as a member. The timing runs in a
fresh process started like the server (create_app, then ready_to_serve as in wsgi.py), so it
carries none of the seeding's objects.

    .venv/bin/python bench/pages.py            # the issue's sizes
    .venv/bin/python bench/pages.py --quick    # a small run
    .venv/bin/python bench/pages.py --requests 300
    .venv/bin/python bench/pages.py --quick --keep   # keep the seeded database afterwards
    .venv/bin/python bench/pages.py --profile post_200_comments   # cProfile of one page
    BENCH_GC_STATS=1 .venv/bin/python bench/pages.py  # also count the full garbage collections

Prints progress, then the figures; the last line is a JSON object. Target: every p95 < 30 ms.
Besides wall-clock p50/p95 it reports the CPU time the process spent per request (cpu_p50_ms,
cpu_p95_ms) and the load average before and after: on a shared machine the wall-clock figures
also measure the neighbours, the CPU figures much less so.
"""
from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._seed import Timer, seed_comments, seed_community, seed_members, seed_people, seed_posts  # noqa: E402


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    k = max(0, min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1))))
    return ordered[k]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="5,000 posts, 20,000 comments, 500 users")
    parser.add_argument("--requests", type=int, default=200, help="timed requests per page (default 200)")
    parser.add_argument("--keep", action="store_true", help="keep the seeded database (else removed at the end)")
    parser.add_argument("--profile", metavar="PAGE", help="print a cProfile of PAGE (e.g. community_first) and stop")
    parser.add_argument("--measure", help=argparse.SUPPRESS)  # internal: the timing process
    args = parser.parse_args()
    if args.measure:
        measure(json.loads(args.measure))
        return
    tmp = Path(tempfile.mkdtemp(prefix="kring-bench-"))
    try:
        run(args, tmp)
    finally:
        if not args.keep:
            shutil.rmtree(tmp, ignore_errors=True)  # the full size leaves ~700 MB otherwise


def run(args, tmp: Path) -> None:
    sizes = ({"posts": 5_000, "comments": 20_000, "users": 500} if args.quick
             else {"posts": 100_000, "comments": 500_000, "users": 5_000})

    from app import create_app
    from app.extensions import db
    from app.models import Post
    from app.services.content import posts as posts_service
    from config import Config

    app = create_app(Config, SQLALCHEMY_DATABASE_URI=f"sqlite:///{tmp / 'bench.db'}", INSTANCE_DIR=tmp,
                     UPLOAD_DIR=tmp / "uploads", MAIL_BACKEND="memory", KRING_WORKER_THREAD=False,
                     RATELIMIT_ENABLED=False, SECRET_KEY="bench", WTF_CSRF_ENABLED=False)
    rng = random.Random(7)
    print(f"Seeding {sizes} into {tmp} ...", flush=True)
    with app.app_context():
        db.create_all()
        with Timer("people"):
            users = seed_people(sizes["users"], rng)
        with Timer("communities and members"):
            big, topics = seed_community("Customer Ideas", "big", 12)
            seed_members(big, users)
            others = [seed_community(f"Small {i}", f"small-{i}", 4) for i in range(5)]
            for cid, _t in others:
                seed_members(cid, users[: len(users) // 3])
        with Timer("posts"):
            post_ids = seed_posts(big, topics, users, sizes["posts"], rng)
            for cid, ts in others:
                post_ids_small = seed_posts(cid, ts, users, sizes["posts"] // 50, rng)
        target = post_ids[len(post_ids) // 2]
        with Timer("comments"):
            seed_comments(post_ids + post_ids_small, users, sizes["comments"], rng, per_post={target: 200})
        with Timer("analyze"):
            db.session.execute(db.text("ANALYZE"))
            db.session.commit()
        # The cursor of the 200th page of "new" (20 posts a page).
        acc_viewer = db.session.get(__import__("app.models", fromlist=["User"]).User, users[0])
        from app.services import access

        acc = access.access_to(acc_viewer, db.session.get(__import__("app.models", fromlist=["Community"]).Community, big))
        cursor = None
        for _ in range(199):
            cursor = posts_service.community_page(acc_viewer, acc, sort="new", cursor=cursor).next_cursor
        assert cursor, "not enough posts for a 200th page"
        assert db.session.get(Post, target).comment_count >= 200

    pages = {
        "community_first": "/c/big?sort=hot",
        "community_page_200": f"/c/big?sort=new&cursor={cursor}",
        "post_200_comments": f"/p/{target}",
        "home_feed": "/",
    }
    with app.app_context():
        db.session.remove()
        db.engine.dispose()
    # The pages are timed in a fresh process, as a server would serve them: it did not seed the
    # data, so it holds none of the seeding's objects (whose garbage collection would otherwise
    # land on the timed requests).
    spec = {"tmp": str(tmp), "user_id": users[0], "pages": pages, "requests": args.requests,
            "profile": args.profile}
    child = subprocess.run([sys.executable, __file__, "--measure", json.dumps(spec)], capture_output=True,
                           text=True, check=False)
    sys.stdout.write(child.stdout)
    if child.returncode != 0:
        sys.stderr.write(child.stderr)
        raise SystemExit(child.returncode)
    if args.profile:
        return
    results = json.loads(child.stdout.strip().splitlines()[-1])
    worst = max(r["p95_ms"] for r in results["pages"].values())
    print(json.dumps({"bench": "pages", "sizes": sizes, "requests": args.requests, "pages": results["pages"],
                      "worst_p95_ms": worst, "target_p95_ms": 30, "meets_target": worst < 30,
                      "load_average": results["load_average"]}))


def measure(spec: dict) -> None:
    """Time every page in this (fresh) process, started like the server (wsgi.py); print a line
    per page, then a JSON line."""
    from app import create_app, ready_to_serve
    from config import Config

    tmp = Path(spec["tmp"])
    app = create_app(Config, SQLALCHEMY_DATABASE_URI=f"sqlite:///{tmp / 'bench.db'}", INSTANCE_DIR=tmp,
                     UPLOAD_DIR=tmp / "uploads", MAIL_BACKEND="memory", KRING_WORKER_THREAD=False,
                     RATELIMIT_ENABLED=False, SECRET_KEY="bench", WTF_CSRF_ENABLED=False)
    ready_to_serve()  # as wsgi.py does before serving
    gc_pauses: list[float] = []
    if os.environ.get("BENCH_GC_STATS"):
        import gc

        started = {}

        def on_gc(phase, info):
            if phase == "start":
                started["t"] = time.perf_counter()
            elif info["generation"] == 2:
                gc_pauses.append((time.perf_counter() - started["t"]) * 1000)
        gc.callbacks.append(on_gc)
    client = app.test_client()
    with client.session_transaction() as sess:
        sess["_user_id"] = f"{spec['user_id']}:1"
        sess["_fresh"] = True
    pages, requests = spec["pages"], spec["requests"]
    if spec.get("profile"):
        import cProfile
        import pstats

        path = pages[spec["profile"]]
        for _ in range(10):
            client.get(path)
        profiler = cProfile.Profile()
        profiler.enable()
        for _ in range(requests):
            client.get(path)
        profiler.disable()
        pstats.Stats(profiler).sort_stats("cumulative").print_stats(45)
        pstats.Stats(profiler).sort_stats("tottime").print_stats(25)
        return
    results = {}
    load_before = round(os.getloadavg()[0], 2)
    for name, path in pages.items():
        for _ in range(10):  # warm up
            resp = client.get(path)
            assert resp.status_code == 200, (path, resp.status_code)
        times, cpu = [], []
        for _ in range(requests):
            t, c = time.perf_counter(), time.process_time()
            resp = client.get(path)
            times.append((time.perf_counter() - t) * 1000)
            cpu.append((time.process_time() - c) * 1000)
            assert resp.status_code == 200
        r = results[name] = {"p50_ms": round(statistics.median(times), 2), "p95_ms": round(percentile(times, 95), 2),
                             "cpu_p50_ms": round(statistics.median(cpu), 2), "cpu_p95_ms": round(percentile(cpu, 95), 2)}
        if gc_pauses:
            print(f"  full collections: {len(gc_pauses)}, longest {max(gc_pauses):.1f} ms", flush=True)
            gc_pauses.clear()
        print(f"{name:22s} p50 {r['p50_ms']:7.2f} ms   p95 {r['p95_ms']:7.2f} ms   "
              f"(cpu p50 {r['cpu_p50_ms']:6.2f} ms, p95 {r['cpu_p95_ms']:6.2f} ms)", flush=True)
    print(json.dumps({"pages": results, "load_average": [load_before, round(os.getloadavg()[0], 2)]}))

if __name__ == "__main__":
    main()
