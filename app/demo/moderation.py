"""The demo's trust and safety: global guidelines the employees have accepted (customers and
partners accept them on their next post), watched words in Customer Ideas (legal threats are
held for review, follower-selling spam is blocked), a held customer post, open reports in the
queue, one spam comment already hidden, and an internal note. Called at the end of
app.demo.organisation, through the same services the social team uses, so the audit log has a history.
"""
from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from app import clock
from app.extensions import db
from app.models import ChatMessage, Comment, Community, Post, Topic, User, UserKind
from app.services import moderation
from app.services.community import policy
from app.services.content import comments, posts, premoderation

GUIDELINES = """\
## How we talk with each other on Kring

Kring is where our colleagues, customers and partners meet. Keep it a place people like to come back to.

1. **Be kind and assume good intent.** Disagree with ideas, never with people.
2. **Keep confidential things inside.** Prices, contracts, unreleased products and anything marked
   *confidential* belong in internal communities only. Never post someone's personal data.
3. **Stay on topic** and search before you post: vote for an existing idea instead of repeating it.
4. **No advertising** and no links you were paid to share.
5. **Official answers come from the experts and community managers** and are marked as such.

Moderators may hide, move or edit posts that break these guidelines, always with a reason you can see.
Questions about them? Ask the social team in *Returns & Service* or write to sofia.
"""


def seed(by_local: dict[str, User]) -> None:
    now = clock.utcnow()
    sofia, anna = by_local["sofia"], by_local["anna"]
    ideas = db.session.scalar(select(Community).where(Community.slug == "customer-ideas"))
    try:
        # the guidelines: employees accepted them; customers and partners accept on their next post
        clock.set_now(now - timedelta(days=30))
        policy.save(sofia, GUIDELINES, material=True, note="First version")
        for person in by_local.values():
            if person.kind == UserKind.EMPLOYEE:
                policy.accept(person, None, commit=False)
        db.session.commit()

        clock.set_now(now - timedelta(days=20))
        premoderation.save_settings(sofia, None, hold_first_posts=0,
                                    confidential_words="Project Nordlicht\nprice list 2027")
        premoderation.add_rule(anna, ideas.slug, r"\b(lawyer|lawsuit|sue you)\b", "hold", is_regex=True)
        premoderation.add_rule(anna, ideas.slug, "buy followers", "block",
                               "Advertising is not allowed here (guideline 4).")

        target = db.session.scalar(select(Post).where(Post.community_id == ideas.id, Post.held_at.is_(None),
                                                      Post.duplicate_of_id.is_(None)).order_by(Post.id))
        clock.set_now(now - timedelta(days=2))
        moderation.add_note(anna, target.id, "Checked with Legal: we can promise this for the 2027 range, "
                                              "not earlier. Jonas answers officially this week.")

        # a customer's angry post with a legal threat waits for review
        clock.set_now(now - timedelta(hours=5))
        ivan = by_local["ivan"]
        policy.accept(ivan, None)
        topic = db.session.scalar(select(Topic.id).where(Topic.community_id == ideas.id,
                                                         Topic.name == "Product features"))
        posts.create(ivan, ideas.slug, "discussion", "My tent leaked on the first night",
                     "The seams let water in during light rain. I want a full refund or I will ask my lawyer.",
                     [topic])

        # a spam comment, reported twice and hidden; two reports still open
        clock.set_now(now - timedelta(hours=4))
        policy.accept(by_local["mo"], None)
        spam = comments.add(by_local["mo"], target.id, "Great idea! Cheap camping gear at www.example.com/deals")
        clock.set_now(now - timedelta(hours=3, minutes=30))
        moderation.report(by_local["carla"], "comment", spam.id, "spam", "An advert for another shop.")
        moderation.report(by_local["david"], "comment", spam.id, "spam")
        clock.set_now(now - timedelta(hours=3))
        moderation.act(anna, "comment", spam.id, "hide", "Advertising (guideline 4)")

        clock.set_now(now - timedelta(hours=2))
        rude = db.session.scalar(select(Comment).join(Post, Post.id == Comment.post_id).join(
            User, User.id == Comment.author_id).where(
            Post.community_id == ideas.id, User.kind == UserKind.CUSTOMER,
            Comment.author_id != by_local["emma"].id, Comment.hidden_at.is_(None), Comment.held_at.is_(None),
            Comment.deleted_at.is_(None)).order_by(Comment.id.desc()))
        if rude is not None:
            moderation.report(by_local["emma"], "comment", rude.id, "off_topic",
                              "This is about delivery, not about this idea.")
        message = db.session.scalar(select(ChatMessage).where(ChatMessage.community_id == ideas.id,
                                                              ChatMessage.author_id != by_local["finn"].id,
                                                              ChatMessage.body.contains("Call me on"))
                                    .order_by(ChatMessage.id))
        if message is not None:
            moderation.report(by_local["finn"], "chat", message.id, "other", "I think this shares a private phone number.")
    finally:
        clock.reset()
