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
