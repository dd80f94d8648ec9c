"""Bulk seeding helpers shared by the benchmarks: plain INSERTs in large batches, no services
(the services are what the benchmarks measure, not what they use to build data)."""
from __future__ import annotations

import random
import time
from datetime import datetime, timedelta

from sqlalchemy import insert
from werkzeug.security import generate_password_hash

from app.extensions import db
from app.models import Comment, Community, Membership, Post, Topic, User, post_topics
from app.services.content.posts import hot_score

WORDS = ("tent backpack returns parcel delivery packaging recycled warranty repair zipper waterproof "
         "jacket boots trail camping stove sleeping bag size colour price discount webshop app order "
         "invoice customer service quality fabric seam strap buckle lightweight durable sustainable").split()


def sentence(rng: random.Random, n: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(n)).capitalize() + "."


def batched(rows, size=5000):
    batch = []
    for row in rows:
        batch.append(row)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


def insert_all(model, rows, size=5000) -> int:
    n = 0
    for batch in batched(rows, size):
        db.session.execute(insert(model), batch)
        n += len(batch)
    db.session.commit()
    return n


def seed_people(n_users: int, rng: random.Random) -> list[int]:
    pw = generate_password_hash("bench-password-1", method="pbkdf2:sha256:1000")
    now = datetime(2026, 1, 1)
    kinds = ["employee"] * 8 + ["customer", "partner"]
    insert_all(User, ({"email": f"user{i}@acme.example", "password_hash": pw, "display_name": f"User {i}",
                       "handle": f"user{i}", "kind": kinds[i % 10], "is_admin": False, "is_global_manager": False,
                       "is_management": False, "session_version": 1, "created_at": now,
                       "email_verified_at": now} for i in range(1, n_users + 1)))
    return list(range(1, n_users + 1))


def seed_community(name: str, slug: str, n_topics: int) -> tuple[int, list[int]]:
    db.session.execute(insert(Community), [{"name": name, "slug": slug, "description": "Benchmark community",
                                            "visibility": "open", "allow_external_experts": False,
                                            "created_at": datetime(2026, 1, 1)}])
    db.session.commit()
    cid = db.session.query(Community.id).filter_by(slug=slug).scalar()
    insert_all(Topic, ({"community_id": cid, "name": f"Topic {i}", "slug": f"topic-{i}", "description": "",
                        "created_at": datetime(2026, 1, 1)} for i in range(n_topics)))
    topics = [t for (t,) in db.session.query(Topic.id).filter_by(community_id=cid)]
    return cid, topics


def seed_members(community_id: int, user_ids: list[int]) -> None:
    insert_all(Membership, ({"community_id": community_id, "user_id": u, "role": "member",
                             "created_at": datetime(2026, 1, 1)} for u in user_ids))


def seed_posts(community_id: int, topics: list[int], user_ids: list[int], n_posts: int, rng: random.Random,
               *, words: int = 40, start: datetime = datetime(2025, 1, 1)) -> list[int]:
    kinds = ["idea", "question", "discussion"]
    statuses = ["new", "under_review", "planned", "in_progress", "done", "declined"]
    first = (db.session.query(db.func.max(Post.id)).scalar() or 0) + 1

    def rows():
        for i in range(n_posts):
            created = start + timedelta(minutes=5 * i)
            kind = kinds[i % 3]
            votes = rng.randint(0, 60) if kind == "idea" else 0
            body = sentence(rng, words)
            yield {"community_id": community_id, "author_id": rng.choice(user_ids), "kind": kind,
                   "title": sentence(rng, 7)[:190], "body": body, "body_html": f"<p>{body}</p>",
                   "status": rng.choice(statuses) if kind == "idea" else None, "vote_count": votes,
                   "comment_count": 0, "view_count": 0, "hot": hot_score(votes, 0, created),
                   "created_at": created, "last_activity_at": created}

    insert_all(Post, rows())
    ids = list(range(first, first + n_posts))
    insert_all(post_topics, ({"post_id": pid, "topic_id": rng.choice(topics)} for pid in ids), size=20000)
    return ids


def seed_comments(post_ids: list[int], user_ids: list[int], n_comments: int, rng: random.Random,
                  *, per_post: dict[int, int] | None = None) -> None:
    """n_comments spread over post_ids, plus exactly per_post[pid] on the given posts."""
    counts: dict[int, int] = {}
    base = datetime(2025, 6, 1)

    def rows():
        fixed = per_post or {}
        for pid, k in fixed.items():
            for j in range(k):
                counts[pid] = counts.get(pid, 0) + 1
                body = sentence(rng, 25)
                yield {"post_id": pid, "author_id": rng.choice(user_ids), "body": body, "body_html": f"<p>{body}</p>",
                       "like_count": rng.randint(0, 5), "created_at": base + timedelta(seconds=j)}
        for i in range(n_comments - sum(fixed.values())):
            pid = rng.choice(post_ids)
            counts[pid] = counts.get(pid, 0) + 1
            body = sentence(rng, 25)
            yield {"post_id": pid, "author_id": rng.choice(user_ids), "body": body, "body_html": f"<p>{body}</p>",
                   "like_count": 0, "created_at": base + timedelta(seconds=i)}

    insert_all(Comment, rows(), size=20000)
    from sqlalchemy import bindparam, update

    stmt = update(Post).where(Post.id == bindparam("pid")).values(comment_count=bindparam("n"))
    for batch in batched(({"pid": p, "n": n} for p, n in counts.items()), 20000):
        db.session.connection().execute(stmt, batch, execution_options={"synchronize_session": False})
    db.session.commit()


class Timer:
    def __init__(self, label: str):
        self.label = label

    def __enter__(self):
        self.t = time.perf_counter()
        return self

    def __exit__(self, *exc):
        self.seconds = time.perf_counter() - self.t
        print(f"  {self.label}: {self.seconds:.1f} s", flush=True)
