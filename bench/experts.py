"""Benchmark of the experts feature, in-process on SQLite (issue 4).

Seeds a large community (100,000 posts, 500,000 comments, 5,000 users, 12 topics with three
experts each, plus five small communities) with bulk inserts, then times:

- the escalation run (`experts.escalate()`): the first run after the data appeared, a second
  run that finds nothing new, and a run after a day of no change;
- pages through the Flask test client: the needs-attention queue (a manager of the big
  community, and staff across everything), the expert finder (plain and with a free-text
  search), a community's experts page (metrics over 90 days and over all time), a topic's
  experts page (suggestions, history, metrics) and a post page (expert badges). The metrics
  cache (EXPERTS_METRICS_CACHE_SECONDS, 5 minutes by default) is off: these are the times of
  the computation a page does once per cache period.

    .venv/bin/python bench/experts.py            # the issue's sizes
    .venv/bin/python bench/experts.py --quick    # a small run

Prints progress, then the figures; the last line is a JSON object.
"""
from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._seed import (  # noqa: E402
    Timer,
    insert_all,
    seed_comments,
    seed_community,
    seed_members,
    seed_people,
    seed_posts,
)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    k = max(0, min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1))))
    return ordered[k]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="5,000 posts, 20,000 comments, 500 users")
    parser.add_argument("--requests", type=int, default=30, help="timed requests per page (default 30)")
    args = parser.parse_args()
    sizes = ({"posts": 5_000, "comments": 20_000, "users": 500} if args.quick
             else {"posts": 100_000, "comments": 500_000, "users": 5_000})

    from sqlalchemy import func, select, update

    from app import clock, create_app
    from app.extensions import db
    from app.models import Escalation, ExpertAssignment, Membership, Post, Topic, User
    from app.services.experts import experts
    from config import Config

    tmp = Path(tempfile.mkdtemp(prefix="kring-bench-experts-"))
    app = create_app(Config, SQLALCHEMY_DATABASE_URI=f"sqlite:///{tmp / 'bench.db'}", INSTANCE_DIR=tmp,
                     UPLOAD_DIR=tmp / "uploads", MAIL_BACKEND="memory", KRING_WORKER_THREAD=False,
                     RATELIMIT_ENABLED=False, SECRET_KEY="bench", WTF_CSRF_ENABLED=False,
                     EXPERTS_METRICS_CACHE_SECONDS=0)  # time the computation, not the cache
    rng = random.Random(11)
    start = datetime(2025, 1, 1)
    print(f"Seeding {sizes} into {tmp} ...", flush=True)
    with app.app_context():
        db.create_all()
        with Timer("people"):
            users = seed_people(sizes["users"], rng)
            employees = [u for u in users if u % 10 not in (8, 9)]
            db.session.execute(update(User).where(User.id == users[1]).values(is_global_manager=True))
            db.session.commit()
        with Timer("communities, members, experts"):
            big, topics = seed_community("Customer Ideas", "big", 12)
            seed_members(big, users)
            manager = employees[2]
            db.session.execute(update(Membership).where(Membership.community_id == big, Membership.user_id == manager)
                               .values(role="manager"))
            others = [seed_community(f"Small {i}", f"small-{i}", 4) for i in range(5)]
            for cid, _t in others:
                seed_members(cid, users[: len(users) // 3])
            pool = employees[10:]
            insert_all(ExpertAssignment, ({"topic_id": t, "user_id": pool[(i * 3 + k) % len(pool)],
                                           "note": f"owns topic {i}", "assigned_by_id": manager,
                                           "assigned_at": start - timedelta(days=30)}
                                          for i, t in enumerate(topics[:-1]) for k in range(3)))  # last: none
            db.session.commit()
        with Timer("posts"):
            post_ids = seed_posts(big, topics, users, sizes["posts"], rng, start=start)
            small_ids = []
            for cid, ts in others:
                small_ids += seed_posts(cid, ts, users, sizes["posts"] // 50, rng, start=start)
        target = post_ids[len(post_ids) // 2]
        with Timer("comments"):
            seed_comments(post_ids + small_ids, users, sizes["comments"], rng, per_post={target: 50})
        with Timer("analyze"):
            db.session.execute(db.text("ANALYZE"))
            db.session.commit()
        last = db.session.scalar(select(func.max(Post.created_at)))
        now = last + timedelta(days=3)
        clock.set_now(now)
        runs = {}
        for label in ("escalate_first", "escalate_second"):
            t = time.perf_counter()
            result = experts.escalate()
            runs[label] = {"seconds": round(time.perf_counter() - t, 3), "result": str(result)}
            print(f"  {label}: {runs[label]['seconds']:.2f} s  ({result})", flush=True)
        clock.set_now(now + timedelta(days=1))
        t = time.perf_counter()
        result = experts.escalate()
        runs["escalate_next_day"] = {"seconds": round(time.perf_counter() - t, 3), "result": str(result)}
        print(f"  escalate_next_day: {runs['escalate_next_day']['seconds']:.2f} s  ({result})", flush=True)
        escalations = db.session.scalar(select(func.count()).select_from(Escalation))
        topic_slug = db.session.scalar(select(Topic.slug).where(Topic.id == topics[0]))
        staff = users[1]

    def client_for(user_id: int):
        client = app.test_client()
        with client.session_transaction() as sess:
            sess["_user_id"] = f"{user_id}:1"
            sess["_fresh"] = True
        return client

    pages = {
        "attention_manager": (manager, "/experts/attention"),
        "attention_staff": (staff, "/experts/attention"),
        "finder": (employees[5], "/experts"),
        "finder_search": (employees[5], "/experts?q=topic+3"),
        "community_experts_90d": (manager, "/c/big/experts"),
        "community_experts_all": (manager, "/c/big/experts?period=all"),
        "topic_experts": (manager, f"/c/big/t/{topic_slug}/experts"),
        "post_page": (employees[5], f"/p/{target}"),
    }
    results = {}
    try:
        for name, (user_id, path) in pages.items():
            client = client_for(user_id)
            n = max(3, args.requests // 5) if name in {"community_experts_all"} else args.requests
            for _ in range(3):  # warm up
                resp = client.get(path)
                assert resp.status_code == 200, (path, resp.status_code)
            times = []
            for _ in range(n):
                t = time.perf_counter()
                resp = client.get(path)
                times.append((time.perf_counter() - t) * 1000)
                assert resp.status_code == 200
            results[name] = {"p50_ms": round(statistics.median(times), 1), "p95_ms": round(percentile(times, 95), 1),
                             "requests": n}
            print(f"{name:24s} p50 {results[name]['p50_ms']:8.1f} ms   p95 {results[name]['p95_ms']:8.1f} ms",
                  flush=True)
    finally:
        clock.reset()
    print(json.dumps({"bench": "experts", "sizes": sizes, "escalations": escalations, "runs": runs,
                      "pages": results}))


if __name__ == "__main__":
    main()
