"""The demo organisation: loads once, obeys the product rules, and the README's logins work."""
from __future__ import annotations

from sqlalchemy import func, select

from app.extensions import db
from app.models import Community, JoinRequest, Membership, User, UserKind, Visibility
from app.services import access, accounts


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
    again = runner.invoke(args=["seed-demo", "--if-empty"])
    assert again.exit_code == 0 and "already has data" in again.output
