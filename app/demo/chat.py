"""Demo content for the live discussion channels: short conversations in a few communities,
with a thread, a mention, an edit and a message that became a post. Called at the end of
app.demo.organisation, through the chat service (the same rules as real people)."""
from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from app import clock
from app.extensions import db
from app.models import Community, Topic, User
from app.services import chat
from app.services.platform import jobs

# community slug, [(minutes before now, author, text, reply to index or None)]
CONVERSATIONS = [
    ("customer-ideas", [
        (190, "sofia", "Good morning everyone! This channel is for quick questions and ideas — "
                       "the product team reads along.", None),
        (184, "emma", "Morning! Is the new lightweight tent coming in a two-person size?", None),
        (176, "jonas", "Yes: the Ultralight 2 is the two-person one. We are testing the prototype now.", 1),
        (170, "emma", "Great, thanks @{jonas}!", 1),
        (95, "david", "Idea: show the packed size of every tent in the web shop filters. "
                      "I always end up measuring my backpack first.", None),
        (90, "anna", "That is a good one, @{david}. Could you turn it into an idea so people can vote on it?", 4),
        (42, "hanna", "Does anyone know if the rain covers fit the older 45 l backpacks?", None),
        (38, "ines", "They do — the strap clips are the same since 2021.", 6),
        (20, "mo", "Selling my old 3-person tent, barely used. Call me on 06 1234 5678 if you want it.", None),
    ]),
    ("returns-service", [
        (300, "anna", "Reminder: returns over the holidays take a few extra days. We will keep you posted here.", None),
        (120, "carla", "My return label does not print: the PDF is empty. Who can help?", None),
        (115, "bram", "Sorry about that, Carla. I sent you a new label by email just now.", 1),
    ]),
    ("it-helpdesk", [
        (60, "farid", "Heads-up: the VPN gets a new certificate tonight at 22:00. Reconnect once tomorrow morning.", None),
        (55, "sam", "Will the webshop deploy pipeline be affected?", 0),
        (50, "farid", "No, only laptops. The build servers are on the internal network.", 0),
        (12, "noah", "Thanks! **Tip**: the new dashboard login also moves behind the VPN next week.", None),
    ]),
    ("innovation-lab", [
        (240, "daan", "Test results for the recycled ripstop are in: 12% lighter, same tear strength.", None),
        (230, "wout", "Nice. Can we try it for the Ultralight 2 fly sheet?", 0),
        (225, "quinn", "Yes please — and let's document the numbers for the sustainability report.", 0),
    ]),
]


def seed(by_local: dict[str, User]) -> int:
    """Write the demo conversations; returns the number of messages."""
    now = clock.utcnow()
    count = 0
    try:
        for slug, lines in CONVERSATIONS:
            community = db.session.scalar(select(Community).where(Community.slug == slug))
            if community is None:
                continue
            made = []
            for i, (minutes, who, text, reply_to) in enumerate(lines):
                author = by_local.get(who)
                if author is None:
                    continue
                clock.set_now(now - timedelta(minutes=minutes))
                parent = made[reply_to].id if reply_to is not None and reply_to < len(made) else None
                text = text.format(**{local: person.handle for local, person in by_local.items()})
                message, _created = chat.post(author, community.id, text, parent_id=parent,
                                              client_key=f"demo-{slug}-{i}")
                made.append(message)
                count += 1
            if slug == "customer-ideas" and len(made) > 4:
                # the packed-size idea became a post, as Anna suggested
                idea = made[4]
                clock.set_now(now - timedelta(minutes=80))
                topic = db.session.scalar(select(Topic.id).where(Topic.community_id == community.id,
                                                                 Topic.name == "Website and app"))
                title, body = chat.promote_defaults(idea, community)
                chat.promote(by_local["david"], idea.id, "idea", "Show the packed size in the web shop filters",
                             body, [topic] if topic else [])
            if slug == "it-helpdesk" and made:
                clock.set_now(now - timedelta(minutes=58))
                chat.edit(by_local["farid"], made[0].id, made[0].body.replace("22:00", "22:00 (CET)"))
    finally:
        clock.reset()
    jobs.drain(max_rounds=20)
    return count
