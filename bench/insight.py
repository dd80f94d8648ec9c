"""Benchmark of the management dashboards (issue 8), on SQLite and on PostgreSQL.

Seeds one year of activity with bulk inserts: 5,000 people (80% employees in 12 departments,
customers, partners; a third never act, the others with a long-tailed activity), 50 communities
of very different sizes with 5 topics each (70% of them with experts), and 1,000,000 events:
80,000 posts (questions, ideas, discussions; official answers, accepted answers, idea status
changes, a few deletions), 400,000 comments (replies, deletions), 250,000 votes, 200,000 chat
messages, 15,000 searches, the idea status changes that the draw gives (about 48,000) and comment
likes for the rest, denser towards the present. Then runs the rollup job once (as the worker would), and times the organisation
dashboard page (GET /insight, the default 12 weeks, signed in as an admin) through the Flask
test client; also the 52-week view, one community's dashboard and a CSV export.

    .venv/bin/python bench/insight.py              # the issue's sizes, SQLite then PostgreSQL
    .venv/bin/python bench/insight.py --quick      # 50,000 events, 500 people
    .venv/bin/python bench/insight.py --sqlite-only

PostgreSQL: a database of its own (kring_insight_bench) is created on KRING_BENCH_PG_URL
(default postgresql://postgres@127.0.0.1:5432/postgres) and dropped at the end.
Prints progress and figures; the last line is a JSON object. Target: p95 < 500 ms.
"""
from __future__ import annotations

import argparse
import bisect
import itertools
import json
import math
import os
import random
import shutil
import statistics
import sys
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._seed import Timer, batched, insert_all, sentence  # noqa: E402

TARGET_MS = 500
PG_DB = "kring_insight_bench"
QUERIES = [f"{a} {b}" for a in ("tent", "warranty", "return", "repair", "size", "invoice", "stock", "vpn",
                                "holiday", "pricing") for b in ("policy", "label", "chart", "form", "guide", "status",
                                                                  "parts", "time", "code", "list")]


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    k = max(0, min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1))))
    return ordered[k]


class Weighted:
    """Fast weighted choice from a fixed population."""

    def __init__(self, items, weights, rng):
        self.items, self.rng = list(items), rng
        self.cum = list(itertools.accumulate(weights))
        self.total = self.cum[-1]

    def pick(self):
        return self.items[bisect.bisect(self.cum, self.rng.random() * self.total)]


def seed(sizes: dict, now: datetime) -> dict:
    """Fill the (empty) database of the current app; returns counts."""
    from sqlalchemy import bindparam, update

    from app.extensions import db
    from app.models import (
        ChatMessage,
        Comment,
        CommentLike,
        Community,
        Department,
        Escalation,
        ExpertAssignment,
        Membership,
        Post,
        SearchLog,
        StatusChange,
        Topic,
        User,
        Vote,
        post_topics,
    )
    from app.services.content.posts import hot_score

    rng = random.Random(8)
    start = now - timedelta(days=365)
    span = (now - start).total_seconds()
    n_users, n_comm = sizes["users"], sizes["communities"]

    def moment(u: float | None = None) -> datetime:
        """A time in the year, denser towards the present (density grows linearly)."""
        return start + timedelta(seconds=span * math.sqrt(rng.random() if u is None else u))

    counts = {}
    with Timer("people, departments, communities, topics, members, experts"):
        insert_all(Department, ({"name": f"Department {i + 1}", "created_at": start} for i in range(12)))
        kinds = rng.choices(["employee", "customer", "partner"], weights=[80, 15, 5], k=n_users)
        joined = [start - timedelta(days=rng.randint(1, 400)) if rng.random() < 0.6 else moment() for _ in range(n_users)]
        users = [{"email": f"user{i}@example.org", "password_hash": "x", "display_name": f"User {i}",
                  "handle": f"user{i}", "kind": kinds[i - 1], "is_admin": i == 1, "is_global_manager": False,
                  "is_management": i == 2, "session_version": 1, "created_at": joined[i - 1],
                  "email_verified_at": joined[i - 1],
                  "department_id": (i % 12) + 1 if kinds[i - 1] == "employee" else None}
                 for i in range(1, n_users + 1)]
        users[0]["kind"] = users[1]["kind"] = "employee"
        insert_all(User, users)
        ranks = list(range(1, n_users + 1))
        rng.shuffle(ranks)
        weight = [0.0 if rng.random() < 0.33 else 1 / (r ** 0.9) for r in ranks]
        weight[0] = 0.0
        actors = [u for u in range(1, n_users + 1) if weight[u - 1] > 0]
        by_weight = Weighted(actors, [weight[u - 1] for u in actors], rng)
        visibility = ["open", "internal", "open", "private", "internal"]
        insert_all(Community, ({"name": f"Community {c}", "slug": f"community-{c}", "description": "",
                                "visibility": visibility[c % 5], "allow_external_experts": False,
                                "created_at": start - timedelta(days=30)} for c in range(1, n_comm + 1)))
        insert_all(Topic, ({"community_id": c, "name": f"Topic {t}", "slug": f"topic-{t}", "description": "",
                            "created_at": start - timedelta(days=30)}
                           for c in range(1, n_comm + 1) for t in range(1, 6)))
        comm_pick = Weighted(range(1, n_comm + 1), [1 / (c ** 0.7) for c in range(1, n_comm + 1)], rng)
        member_of: dict[int, list[int]] = {}
        members: dict[int, list[int]] = {c: [] for c in range(1, n_comm + 1)}
        rows = []
        for u in range(1, n_users + 1):
            mine = set()
            for _ in range(1 + min(12, int(rng.expovariate(1 / 4)))):
                c = comm_pick.pick()
                if visibility[c % 5] == "internal" and kinds[u - 1] != "employee":
                    continue
                mine.add(c)
            member_of[u] = sorted(mine) or [2]
            for c in member_of[u]:
                members[c].append(u)
                rows.append({"community_id": c, "user_id": u, "role": "member",
                             "created_at": max(joined[u - 1], start - timedelta(days=30)) + timedelta(hours=rng.randint(1, 300))})
        insert_all(Membership, rows)
        staff = {c: [u for u in members[c] if kinds[u - 1] == "employee"][:2] for c in members}
        for c, people in staff.items():
            db.session.execute(update(Membership).where(Membership.community_id == c, Membership.user_id.in_(people))
                               .values(role="manager"))
        experts: dict[int, list[int]] = {}
        rows = []
        for c in range(1, n_comm + 1):
            pool = [u for u in members[c] if kinds[u - 1] == "employee"] or [3]
            for t in range(1, 6):
                topic = (c - 1) * 5 + t
                if rng.random() < 0.7:
                    experts[topic] = rng.sample(pool, k=min(len(pool), rng.randint(1, 2)))
                    rows += [{"topic_id": topic, "user_id": u, "note": "", "assigned_at": start - timedelta(days=10)}
                             for u in experts[topic]]
        insert_all(ExpertAssignment, rows)
        counts["memberships"] = sum(len(v) for v in members.values())

    n_posts = sizes["posts"]
    # ids grow with time, as in a real database: draw the times first, then number in order
    times = sorted(moment() for _ in range(n_posts))
    post_time, post_comm, post_kind, post_author = [], [], [], []
    official_comments = []   # (time, post, author)
    changes, escalations = [], []
    with Timer(f"{n_posts:,} posts, status changes, escalations"):
        def post_rows():
            for p, drawn in enumerate(times, start=1):
                author = by_weight.pick()
                c = rng.choice(member_of[author])
                when = max(drawn, joined[author - 1] + timedelta(hours=1))
                if when >= now:
                    when = now - timedelta(minutes=rng.randint(5, 600))
                external = kinds[author - 1] != "employee"
                kind = rng.choices(["idea", "question", "discussion"], weights=[45, 45, 10] if external else [30, 35, 35])[0]
                topic = (c - 1) * 5 + rng.randint(1, 5)
                post_time.append(when)
                post_comm.append(c)
                post_kind.append(kind)
                post_author.append(author)
                status, first_official = ("new" if kind == "idea" else None), None
                answered = None
                if kind != "discussion" and rng.random() < 0.8:
                    responders = [u for u in experts.get(topic, []) + staff[c] if u != author] or [1]
                    wait = timedelta(hours=min(24 * 30, rng.lognormvariate(math.log(16), 1.0)))
                    answered = when + wait
                    if answered < now:
                        if kind == "question":
                            official_comments.append((answered, p, rng.choice(responders)))
                        else:
                            steps = ["under_review"] + rng.choice([[], ["planned"], ["planned", "in_progress", "done"],
                                                                   ["declined"], ["planned", "done"]])
                            at, previous = answered, "new"
                            for step in steps:
                                if at >= now:
                                    break
                                changes.append({"post_id": p, "from_status": previous, "to_status": step,
                                                "response": "Official response.", "response_html": "<p>Official response.</p>",
                                                "actor_id": rng.choice(responders), "created_at": at})
                                status, previous = step, step
                                at += timedelta(days=rng.expovariate(1 / 9))
                            first_official = answered
                    else:
                        answered = None
                if kind != "discussion" and when + timedelta(hours=48) < now and (answered is None or
                                                                                 answered > when + timedelta(hours=48)):
                    escalations.append({"post_id": p, "community_id": c, "posted_at": when,
                                        "due_at": when + timedelta(hours=48),
                                        "escalated_at": when + timedelta(hours=48, minutes=5), "notified": 1,
                                        "resolved_at": answered})
                body = sentence(rng, 20)
                yield {"community_id": c, "author_id": author, "kind": kind, "title": sentence(rng, 6)[:190],
                       "body": body, "body_html": f"<p>{body}</p>", "status": status, "vote_count": 0,
                       "comment_count": 0, "view_count": rng.randint(0, 300), "hot": hot_score(0, 0, when),
                       "created_at": when, "last_activity_at": when, "first_official_response_at": first_official,
                       "deleted_at": now - timedelta(days=1) if rng.random() < 0.01 else None}

        insert_all(Post, post_rows())
        insert_all(post_topics, ({"post_id": p, "topic_id": (post_comm[p - 1] - 1) * 5 + rng.randint(1, 5)}
                                 for p in range(1, n_posts + 1)), size=20000)
        changes.sort(key=lambda r: r["created_at"])
        insert_all(StatusChange, changes)
        escalations.sort(key=lambda r: r["posted_at"])
        insert_all(Escalation, escalations)
        counts.update(posts=n_posts, status_changes=len(changes), escalations=len(escalations))

    n_comments = sizes["comments"]
    with Timer(f"{n_comments:,} comments"):
        drafts = [(when, p, author, True) for when, p, author in official_comments]
        while len(drafts) < n_comments:
            p = rng.randint(1, n_posts)
            when = post_time[p - 1] + timedelta(hours=rng.expovariate(1 / 20))
            if when < now:
                drafts.append((when, p, by_weight.pick(), False))
        drafts.sort(key=lambda d: d[0])
        comment_time = [d[0] for d in drafts]
        accepted = []
        last_on_post: dict[int, int] = {}

        def comment_rows():
            for cid, (when, p, author, official) in enumerate(drafts, start=1):
                parent = last_on_post.get(p) if not official and rng.random() < 0.2 else None
                last_on_post[p] = cid
                if official and rng.random() < 0.4:
                    accepted.append({"pid": p, "cid": cid})
                body = "Official answer." if official else sentence(rng, 12)
                yield {"post_id": p, "author_id": author, "body": body, "body_html": f"<p>{body}</p>",
                       "like_count": 0, "created_at": when, "parent_id": parent,
                       "deleted_at": now - timedelta(days=2) if not official and rng.random() < 0.02 else None}

        insert_all(Comment, comment_rows(), size=20000)
        drafts.clear()
        stmt = update(Post).where(Post.id == bindparam("pid")).values(accepted_comment_id=bindparam("cid"))
        for batch in batched(accepted, 20000):
            db.session.connection().execute(stmt, batch, execution_options={"synchronize_session": False})
        db.session.commit()
        counts["comments"] = n_comments

    # comment likes make up the rest of the events (the status changes depend on the draw)
    likes = max(0, sizes["events"] - sum(counts[k] for k in ("posts", "comments", "status_changes"))
                - sizes["votes"] - sizes["chats"] - sizes["searches"])
    with Timer(f"{sizes['votes']:,} votes, {sizes['chats']:,} chat messages, {likes:,} likes, searches"):
        ideas = [p for p in range(1, n_posts + 1) if post_kind[p - 1] == "idea"]
        seen = set()

        votes = []
        while len(votes) < sizes["votes"]:
            p, u = rng.choice(ideas), by_weight.pick()
            when = post_time[p - 1] + timedelta(hours=rng.expovariate(1 / 48))
            if (p, u) in seen or when >= now:
                continue
            seen.add((p, u))
            votes.append({"post_id": p, "user_id": u, "created_at": when})
        votes.sort(key=lambda r: r["created_at"])
        insert_all(Vote, votes, size=20000)
        del votes
        seen.clear()

        def chat_rows():
            for drawn in sorted(moment() for _ in range(sizes["chats"])):
                author = by_weight.pick()
                text = sentence(rng, 8)
                yield {"community_id": rng.choice(member_of[author]), "author_id": author, "body": text,
                       "body_html": f"<p>{text}</p>", "reply_count": 0, "created_at": max(drawn, joined[author - 1]),
                       "deleted_at": None}

        insert_all(ChatMessage, chat_rows(), size=20000)

        def like_rows():
            while len(seen) < likes:
                cid, u = rng.randint(1, n_comments), by_weight.pick()
                when = comment_time[cid - 1] + timedelta(hours=rng.expovariate(1 / 10))
                if (cid, u) in seen or when >= now:
                    continue
                seen.add((cid, u))
                yield {"comment_id": cid, "user_id": u, "created_at": when}

        insert_all(CommentLike, like_rows(), size=20000)
        query_pick = Weighted(QUERIES, [1 / (i + 1) for i in range(len(QUERIES))], rng)
        insert_all(SearchLog, ({"user_id": rng.randint(1, n_users), "query": (q := query_pick.pick()),
                                "result_count": 0 if sum(map(ord, q)) % 7 == 0 or rng.random() < 0.05 else rng.randint(1, 40),
                                "filters": {}, "created_at": when}
                               for when in sorted(moment() for _ in range(sizes["searches"]))))
        counts.update(votes=sizes["votes"], chats=sizes["chats"], likes=likes, searches=sizes["searches"])

    with Timer("post counters"):
        from sqlalchemy import func, select

        for column, key in ((Post.comment_count, Comment.post_id), (Post.vote_count, Vote.post_id)):
            sub = select(func.count()).where(key == Post.id).correlate(Post).scalar_subquery()
            db.session.execute(update(Post).values({column: sub}).execution_options(synchronize_session=False))
        db.session.commit()
    counts["events"] = sum(counts[k] for k in ("posts", "comments", "votes", "chats", "likes", "status_changes", "searches"))
    return counts


def measure(app, requests: int, label: str) -> dict:
    """Run the rollup, then time the pages. Returns the figures."""
    from app.extensions import db
    from app.services import insight

    out = {}
    with app.app_context():
        db.session.execute(db.text("ANALYZE"))  # planner statistics of the fresh data
        db.session.commit()
        t = time.perf_counter()
        run = insight.rollup(full=True)
        out["rollup_every_week_s"] = round(time.perf_counter() - t, 1)
        print(f"  {run}", flush=True)
        t = time.perf_counter()
        run = insight.rollup()  # what the job does every 5 minutes: the current week
        out["rollup_current_week_s"] = round(time.perf_counter() - t, 2)
        print(f"  {run}", flush=True)
        db.session.execute(db.text("ANALYZE"))
        db.session.commit()
    client = app.test_client()
    with client.session_transaction() as sess:
        sess["_user_id"] = "1:1"
        sess["_fresh"] = True
    pages = {"organisation_12_weeks": ("/insight", requests),
             "organisation_52_weeks": ("/insight?period=52w", max(5, requests // 3)),
             "community_12_weeks": ("/c/community-1/insight", max(5, requests // 3)),
             "csv_export": ("/insight/communities.csv", max(5, requests // 3))}
    for name, (path, n) in pages.items():
        for _ in range(3):
            resp = client.get(path)
            assert resp.status_code == 200, (path, resp.status_code, resp.get_data(as_text=True)[:500])
        times = []
        for _ in range(n):
            t = time.perf_counter()
            resp = client.get(path)
            times.append((time.perf_counter() - t) * 1000)
            assert resp.status_code == 200
        out[name] = {"p50_ms": round(statistics.median(times), 1), "p95_ms": round(percentile(times, 95), 1),
                     "requests": n}
        print(f"  {label:10s} {name:24s} p50 {out[name]['p50_ms']:7.1f} ms   p95 {out[name]['p95_ms']:7.1f} ms",
              flush=True)
    return out


def make_app(url: str, tmp: Path):
    from app import create_app
    from config import Config

    return create_app(Config, SQLALCHEMY_DATABASE_URI=url, INSTANCE_DIR=tmp, UPLOAD_DIR=tmp / "uploads",
                      MAIL_BACKEND="memory", KRING_WORKER_THREAD=False, RATELIMIT_ENABLED=False, SECRET_KEY="bench",
                      WTF_CSRF_ENABLED=False)


def run_sqlite(sizes, now, requests) -> dict:
    from app.extensions import db

    tmp = Path(tempfile.mkdtemp(prefix="kring-bench-insight-"))
    app = make_app(f"sqlite:///{tmp / 'bench.db'}", tmp)
    print(f"SQLite: seeding into {tmp} ...", flush=True)
    try:
        with app.app_context():
            db.create_all()
            counts = seed(sizes, now)
        result = measure(app, requests, "sqlite")
        result["events"] = counts["events"]
        return result
    finally:
        with app.app_context():
            db.session.remove()
            db.engine.dispose()
        shutil.rmtree(tmp, ignore_errors=True)


def run_postgres(sizes, now, requests) -> dict | None:
    from sqlalchemy import create_engine, text

    from app.extensions import db

    admin_url = os.environ.get("KRING_BENCH_PG_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
    admin_url = admin_url.replace("postgresql://", "postgresql+psycopg://", 1)
    try:
        admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f"DROP DATABASE IF EXISTS {PG_DB}"))
            conn.execute(text(f"CREATE DATABASE {PG_DB}"))
    except Exception as exc:  # noqa: BLE001 - PostgreSQL is optional for a local run
        print(f"PostgreSQL: skipped ({exc.__class__.__name__}: {exc})", flush=True)
        return None
    url = admin_url.rsplit("/", 1)[0] + f"/{PG_DB}"
    tmp = Path(tempfile.mkdtemp(prefix="kring-bench-insight-pg-"))
    app = make_app(url, tmp)
    print(f"PostgreSQL: seeding into {PG_DB} ...", flush=True)
    try:
        with app.app_context():
            db.create_all()
            counts = seed(sizes, now)
        result = measure(app, requests, "postgres")
        result["events"] = counts["events"]
        return result
    finally:
        with app.app_context():
            db.session.remove()
            db.engine.dispose()
        with admin.connect() as conn:
            conn.execute(text(f"DROP DATABASE IF EXISTS {PG_DB}"))
        admin.dispose()
        shutil.rmtree(tmp, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="about 50,000 events, 500 people, 10 communities")
    parser.add_argument("--requests", type=int, default=40, help="timed requests of the main page (default 40)")
    parser.add_argument("--sqlite-only", action="store_true")
    args = parser.parse_args()
    sizes = ({"users": 500, "communities": 10, "posts": 4_000, "comments": 20_000, "votes": 12_500, "chats": 10_000,
              "searches": 750, "events": 50_000} if args.quick else
             {"users": 5_000, "communities": 50, "posts": 80_000, "comments": 400_000, "votes": 250_000,
              "chats": 200_000, "searches": 15_000, "events": 1_000_000})
    now = datetime.utcnow().replace(microsecond=0)  # noqa: DTZ003 - naive UTC, like app.clock
    started = time.perf_counter()
    results = {"sqlite": run_sqlite(sizes, now, args.requests)}
    if not args.sqlite_only:
        results["postgresql"] = run_postgres(sizes, now, args.requests)
    worst = max(r["organisation_12_weeks"]["p95_ms"] for r in results.values() if r)
    print(json.dumps({"bench": "insight", "sizes": sizes, "events": results["sqlite"]["events"], "results": results,
                      "worst_organisation_p95_ms": worst, "target_p95_ms": TARGET_MS, "meets_target": worst < TARGET_MS,
                      "seconds": round(time.perf_counter() - started)}))


if __name__ == "__main__":
    main()
