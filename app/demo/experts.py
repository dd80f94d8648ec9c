"""The demo's experts: most topics get their experts (employees, and partners in the partner
network), one topic keeps none (Release notes, in the beta programme), a few questions and
ideas wait past their answer time, and the escalation runs once so the managers find their
needs-attention notifications waiting. Called at the end of app.demo.organisation.

Assignments are made through the experts service as the community's managers would, with the
clock moved back: the experts were in place before the demo's posts, so the metrics have a
history to show.
"""
from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select, update

from app import clock
from app.extensions import db
from app.models import Community, Topic, User
from app.services.content import comments, posts
from app.services.experts import experts
from app.services.platform import jobs

# community slug -> {topic name: [(expert, note)]}; Release notes stays without an expert
EXPERTS = {
    "customer-ideas": {
        "Product features": [("jonas", "develops the tent range"), ("daan", "materials and durability")],
        "Website and app": [("sam", "builds the webshop")],
        "Delivery": [("hugo", "plans our transport routes")],
        "Sustainability": [("quinn", "")],
    },
    "returns-service": {
        "Returns": [("bram", "owns the returns process"), ("ines", "")],
        "Warranty": [("ines", "handles warranty claims")],
        "Repairs": [("olivia", "runs the repair desk")],
    },
    "sustainability": {
        "Packaging": [("pablo", "designed our recycled parcels")],
        "Materials": [("daan", "")],
        "Circularity": [("quinn", "take-back and Second Life range")],
    },
    "partner-network": {
        "Onboarding": [("lars", "")],
        "Co-marketing": [("sara", "Nordic Retail Group's marketing lead")],
        "Logistics integration": [("pieter", "Bakker Logistics' integration"), ("ben", "")],
    },
    "beta-program": {
        "Beta feedback": [("wout", "runs the lab tests")],
    },
    "logistics-hub": {
        "Warehousing": [("ben", "")],
        "Transport": [("hugo", "")],
        "Packaging": [("pablo", "")],
    },
    "marketing-brand": {
        "Campaigns": [("zoe", "")],
        "Social media": [("kim", "")],
        "Brand guidelines": [("chloe", "")],
    },
    "it-helpdesk": {
        "Laptops": [("farid", "")],
        "Access and accounts": [("ada", "")],
        "Software requests": [("sam", "")],
    },
    "people-culture": {
        "Onboarding": [("eva", "")],
        "Learning": [("vera", "mentoring programme")],
        "Wellbeing": [("eva", "")],
    },
    "innovation-lab": {
        "Materials": [("daan", ""), ("wout", "")],
        "Prototypes": [("jonas", "")],
        "Patents": [("daan", "")],
    },
    "sales-excellence": {
        "Key accounts": [("greta", "")],
        "Pricing": [("yara", "")],
        "Tenders": [("greta", "")],
    },
}

# Questions and ideas still waiting: (community, topic, kind, author, title, body, days ago,
# comments as (author, text, hours after posting))
WAITING = [
    ("returns-service", "Repairs", "question", "hanna", "Do you repair zips on sleeping bags?",
     "The zip of my sleeping bag came off its track. Can your repair desk fix it, and what does it cost?", 5,
     [("emma", "I had mine done last year, it took about two weeks.", 20)]),
    ("logistics-hub", "Transport", "question", "umar", "Which carrier takes pallets to Belgium on Fridays?",
     "We have a retail order of six pallets for Antwerp. Who can take them on a Friday?", 4, []),
    ("beta-program", "Release notes", "question", "david", "When do the release notes for the new prototype come?",
     "We got a new prototype tent this week. Are there notes on what changed since the first one?", 3, []),
]


def seed(by_local: dict[str, User]) -> str:
    """Assign the demo's experts, add waiting items, set one community's answer time, and run
    the escalation once. Returns a one-line summary."""
    now = clock.utcnow()
    # the topics existed before their first posts (the demo's history starts 40 days back)
    db.session.execute(update(Topic).values(created_at=now - timedelta(days=60)))
    db.session.commit()
    managers = {c.slug: c for c in db.session.scalars(select(Community))}
    count = 0
    try:
        clock.set_now(now - timedelta(days=50))
        for slug, topics in EXPERTS.items():
            topic_slugs = {t.name: t.slug for t in managers[slug].topics}
            for topic_name, people in topics.items():
                for local, note in people:
                    experts.assign(by_local["sofia"], slug, topic_slugs[topic_name], by_local[local], note)
                    count += 1
        # some history: Olivia handed the Returns topic over to Bram and Inês a month ago
        clock.set_now(now - timedelta(days=55))
        returns = {t.name: t.slug for t in managers["returns-service"].topics}["Returns"]
        row = experts.assign(by_local["anna"], "returns-service", returns, by_local["olivia"], "before the new process")
        clock.set_now(now - timedelta(days=30))
        experts.remove(by_local["anna"], "returns-service", returns, row.id)
        for slug, topic_name, kind, author, title, body, days, thread in WAITING:
            moment = now - timedelta(days=days, hours=2)
            clock.set_now(moment)
            topic = db.session.scalar(select(Topic).where(Topic.community_id == managers[slug].id,
                                                          Topic.name == topic_name))
            post = posts.create(by_local[author], slug, kind, title, body, [topic.id])
            for who, text, hours in thread:
                clock.set_now(moment + timedelta(hours=hours))
                comments.add(by_local[who], post.id, text)
    finally:
        clock.reset()
    experts.set_escalation_hours(by_local["farid"], "it-helpdesk", 24)  # the helpdesk answers within a day
    jobs.drain(max_rounds=50)
    run = experts.escalate()
    return f"{count} experts on {sum(len(t) for t in EXPERTS.values())} topics; {run}"
