"""The demo organisation: loads once, obeys the product rules, and the README's logins work."""
from __future__ import annotations

from sqlalchemy import func, select

from app.extensions import db
from app.models import Community, JoinRequest, Membership, User, UserKind, Visibility
from app.services import access
from app.services.people import accounts


def test_seed_demo_builds_a_believable_organisation(app, runner):
    result = runner.invoke(args=["seed-demo", "--if-empty"])
    assert result.exit_code == 0, result.output
    assert "30 employees, 10 customers, 5 partners, 11 communities" in result.output
    with app.app_context():
        kinds = dict(db.session.execute(select(User.kind, func.count()).group_by(User.kind)).all())
        assert kinds == {UserKind.EMPLOYEE: 30, UserKind.CUSTOMER: 10, UserKind.PARTNER: 5}
        vis = dict(db.session.execute(select(Community.visibility, func.count()).group_by(Community.visibility)).all())
        assert set(vis) == {Visibility.OPEN, Visibility.INTERNAL, Visibility.PRIVATE}
        for community in db.session.scalars(select(Community)):
            assert community.topics, community.slug
            roles = {m.role for m in db.session.scalars(select(Membership).where(Membership.community_id == community.id))}
            assert "manager" in roles, community.slug
        # no external holds a membership of an internal community
        bad = db.session.scalar(
            select(func.count()).select_from(Membership).join(User, User.id == Membership.user_id)
            .join(Community, Community.id == Membership.community_id)
            .where(User.kind != UserKind.EMPLOYEE, Community.visibility == Visibility.INTERNAL))
        assert bad == 0
        assert db.session.scalar(select(func.count()).select_from(JoinRequest)) == 2
        # the README's logins
        from app.demo import DEMO_PASSWORD

        admin = accounts.authenticate("ada@acme.example", DEMO_PASSWORD)
        assert admin.is_admin
        carla = accounts.authenticate("carla@customer.example", DEMO_PASSWORD)
        readable = {c.slug for c in db.session.scalars(select(Community).where(access.readable_clause(carla)))}
        # the three open communities and the private beta she was invited to; nothing internal
        assert readable == {"customer-ideas", "returns-service", "sustainability", "beta-program"}
        assert accounts.authenticate("sofia@acme.example", DEMO_PASSWORD).is_global_manager
        assert accounts.authenticate("pieter@partner.example", DEMO_PASSWORD).kind == UserKind.PARTNER
        # posts of every kind, answered ideas, accepted answers, a merged duplicate, pictures
        from app.models import Attachment, Comment, Notification, Post, StatusChange

        kinds = dict(db.session.execute(select(Post.kind, func.count()).group_by(Post.kind)).all())
        assert set(kinds) == {"idea", "question", "discussion"}
        planned = db.session.scalar(select(Post).where(Post.title == "A repair kit in every tent bag"))
        assert planned.status == "planned" and planned.first_official_response_at is not None
        assert planned.vote_count == 11  # ten voters plus the merged duplicate's one
        duplicate = db.session.scalar(select(Post).where(Post.status == "duplicate"))
        assert duplicate.duplicate_of_id == planned.id
        assert db.session.scalar(select(func.count()).select_from(Post).where(Post.accepted_comment_id.isnot(None))) >= 3
        assert db.session.scalar(select(func.count()).select_from(Comment)) >= 20
        assert db.session.scalar(select(func.count()).select_from(StatusChange)) >= 8
        assert db.session.scalar(select(func.count()).select_from(Attachment)) == 2
        # Carla hears about her idea's progress
        carla_notes = db.session.scalars(select(Notification.kind).where(Notification.user_id == carla.id)).all()
        assert "comment" in carla_notes and "status" in carla_notes
        # the newest questions' authors asked an expert of the topic to answer
        from app.models import AnswerRequest

        assert db.session.scalar(select(func.count()).select_from(AnswerRequest)) >= 2
        # history spread over weeks, not all today
        oldest = db.session.scalar(select(func.min(Post.created_at)))
        newest = db.session.scalar(select(func.max(Post.created_at)))
        assert (newest - oldest).days >= 30
        # trust and safety: guidelines, a held post and open reports wait in the moderation queue
        from app.services import moderation
        from app.services.community import policy

        sofia = accounts.authenticate("sofia@acme.example", DEMO_PASSWORD)
        queue = moderation.queue(sofia)
        assert len(queue.reported) >= 1 and [i.target.obj.title for i in queue.held] == [
            "My tent leaked on the first night"]
        assert policy.current(None) is not None
        assert policy.has_accepted(sofia, None) and not policy.has_accepted(carla, None)
    again = runner.invoke(args=["seed-demo", "--if-empty"])
    assert again.exit_code == 0 and "already has data" in again.output


def test_demo_content_fits_where_it_is(app, runner):
    """Each community's live discussion reads in time order and nobody repeats a line; ideas
    about the web shop sit where customers can see and vote on them, and the IT Helpdesk talks
    about IT."""
    from app.models import ChatMessage, Post, PostKind

    result = runner.invoke(args=["seed-demo"])
    assert result.exit_code == 0, result.output
    with app.app_context():
        for community in db.session.scalars(select(Community)):
            rows = db.session.execute(select(ChatMessage.created_at, ChatMessage.body)
                                      .where(ChatMessage.community_id == community.id)
                                      .order_by(ChatMessage.id)).all()
            times = [when for when, _ in rows]
            assert times == sorted(times), f"{community.slug}: chat out of time order"
            bodies = [body for _, body in rows]
            repeated = {b for b in bodies if bodies.count(b) > 1}
            assert not repeated, f"{community.slug} repeats {sorted(repeated)[:3]}"
        web_shop = list(db.session.execute(
            select(Post.title, Community.slug, Community.visibility).join(Community, Community.id == Post.community_id)
            .where(Post.kind == PostKind.IDEA, func.lower(Post.title).contains("web shop")
                   | func.lower(Post.title).contains("webshop"))).all())
        assert web_shop, "the demo has ideas about the web shop"
        assert all(vis != Visibility.INTERNAL for _, _, vis in web_shop), \
            [(t, s) for t, s, v in web_shop if v == Visibility.INTERNAL][:3]
        helpdesk = db.session.scalar(select(Community).where(Community.slug == "it-helpdesk"))
        titles = db.session.scalars(select(Post.title).where(Post.community_id == helpdesk.id)).all()
        products = ("tent", "backpack", "sleeping bag", "jacket", "boots", "stove", "headlamp")
        assert titles and not [t for t in titles if any(p in t.lower() for p in products)]
        # the chat message reported for sharing a phone number does share one
        from app.models import Report

        reported = db.session.scalars(select(ChatMessage.body).join(Report, Report.target_id == ChatMessage.id)
                                      .where(Report.target_type == "chat")).all()
        assert reported and all("Call me on" in body for body in reported)
