"""Benchmark of the busiest pages, in-process on SQLite (issue 3).

Seeds a large community (100,000 posts, 500,000 comments, 5,000 users) with bulk inserts,
then times the community page (first page and the 200th page), a post page with 200 comments
and the home feed through the Flask test client, signed in as a member.

    .venv/bin/python bench/pages.py            # the issue's sizes
    .venv/bin/python bench/pages.py --quick    # a small run
    .venv/bin/python bench/pages.py --requests 300
    .venv/bin/python bench/pages.py --quick --keep   # keep the seeded database afterwards

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
    args = parser.parse_args()
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
    from app.services import posts as posts_service
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

    client = app.test_client()
    with client.session_transaction() as sess:
        sess["_user_id"] = f"{users[0]}:1"
        sess["_fresh"] = True

    pages = {
        "community_first": "/c/big?sort=hot",
        "community_page_200": f"/c/big?sort=new&cursor={cursor}",
        "post_200_comments": f"/p/{target}",
        "home_feed": "/",
    }
    if args.profile:
        import cProfile
        import pstats

        path = pages[args.profile]
        for _ in range(10):
            client.get(path)
        profiler = cProfile.Profile()
        profiler.enable()
        for _ in range(args.requests):
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
        for _ in range(args.requests):
            t, c = time.perf_counter(), time.process_time()
            resp = client.get(path)
            times.append((time.perf_counter() - t) * 1000)
            cpu.append((time.process_time() - c) * 1000)
            assert resp.status_code == 200
        r = results[name] = {"p50_ms": round(statistics.median(times), 2), "p95_ms": round(percentile(times, 95), 2),
                             "cpu_p50_ms": round(statistics.median(cpu), 2), "cpu_p95_ms": round(percentile(cpu, 95), 2)}
        print(f"{name:22s} p50 {r['p50_ms']:7.2f} ms   p95 {r['p95_ms']:7.2f} ms   "
              f"(cpu p50 {r['cpu_p50_ms']:6.2f} ms, p95 {r['cpu_p95_ms']:6.2f} ms)", flush=True)
    worst = max(r["p95_ms"] for r in results.values())
    print(json.dumps({"bench": "pages", "sizes": sizes, "requests": args.requests, "pages": results,
                      "worst_p95_ms": worst, "target_p95_ms": 30, "meets_target": worst < 30,
                      "load_average": [load_before, round(os.getloadavg()[0], 2)]}))


if __name__ == "__main__":
    main()
