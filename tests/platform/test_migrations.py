"""The committed migrations build exactly the schema the models describe (SQLite and, with
TEST_DATABASE_URL, PostgreSQL in a schema of its own)."""
from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask_migrate import downgrade, upgrade
from sqlalchemy import create_engine, text

from app import create_app
from app.extensions import db
from config import TestConfig
from tests.conftest import _pg_url

SCHEMA = "kring_migration_check"



@pytest.fixture(params=["sqlite", "postgresql"])
def migrated_url(request, tmp_path):
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'migrated.db'}"
        return
    base = _pg_url()
    if not base:
        pytest.skip("PostgreSQL pass only (set TEST_DATABASE_URL)")
    admin = create_engine(base)
    with admin.begin() as conn:
        conn.execute(text(f"DROP SCHEMA IF EXISTS {SCHEMA} CASCADE"))
        conn.execute(text(f"CREATE SCHEMA {SCHEMA}"))
    yield f"{base}?options=-csearch_path%3D{SCHEMA}"
    with admin.begin() as conn:
        conn.execute(text(f"DROP SCHEMA IF EXISTS {SCHEMA} CASCADE"))
    admin.dispose()


def test_migrations_match_the_models_and_downgrade_cleanly(migrated_url, tmp_path):
    app = create_app(TestConfig, SQLALCHEMY_DATABASE_URI=migrated_url, INSTANCE_DIR=tmp_path)
    with app.app_context():
        upgrade()
        with db.engine.connect() as conn:
            diff = compare_metadata(MigrationContext.configure(
                conn, opts={"compare_type": True, "render_as_batch": True}), db.metadata)
        assert diff == [], f"models and migrations differ: {diff}"
        downgrade(revision="base")
        with db.engine.connect() as conn:
            names = set(db.inspect(conn).get_table_names()) - {"alembic_version"}
        assert names == set()
        db.engine.dispose()


def test_the_data_repair_turns_stored_escaped_texts_into_characters(migrated_url, tmp_path):
    """Rows stored escaped by the old `markup.to_text` (status and chat-mention notifications,
    status-change audit reasons) read as typed after the upgrade; other kinds, and an "&" that
    is not an entity, are left as they are."""
    from flask_migrate import stamp

    from app.models import AuditEntry, Notification, User

    app = create_app(TestConfig, SQLALCHEMY_DATABASE_URI=migrated_url, INSTANCE_DIR=tmp_path)
    with app.app_context():
        upgrade()
        person = User(email="ana@example.com", display_name="Ana", handle="ana", kind="employee", password_hash="x")
        db.session.add(person)
        db.session.flush()
        stored = {
            "status": "Planned: R&amp;D day — &lt;soon&gt; &amp; cheap, A&B stays",
            "chat_mention": "Ana mentioned you: “fish &amp; chips”",
            "comment": "Ana commented on “R&amp;D”",  # another kind: not touched
        }
        rows = {kind: Notification(user_id=person.id, kind=kind, text=text) for kind, text in stored.items()}
        entry = AuditEntry(actor_id=person.id, action="idea.status_change", target_type="post", target_id=1,
                           reason="Done &amp; dusted")
        db.session.add_all([*rows.values(), entry])
        db.session.commit()
        ids, entry_id = {kind: row.id for kind, row in rows.items()}, entry.id
        db.session.remove()  # no snapshot held across the upgrade
        stamp(revision="b3c1e2f4a5d6")
        upgrade()
        texts = {kind: db.session.get(Notification, i).text for kind, i in ids.items()}
        assert texts == {"status": "Planned: R&D day — <soon> & cheap, A&B stays",
                         "chat_mention": "Ana mentioned you: “fish & chips”",
                         "comment": "Ana commented on “R&amp;D”"}
        assert db.session.get(AuditEntry, entry_id).reason == "Done & dusted"
        db.session.remove()
        downgrade(revision="base")
        db.engine.dispose()
