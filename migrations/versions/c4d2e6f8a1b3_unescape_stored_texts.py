"""notifications and audit reasons: stored as characters, not HTML (a data repair)

Before 92115f5, `markup.to_text` returned nh3's HTML-escaped text, so the texts it made were
stored escaped ("R&amp;D") and shown escaped twice: the notifications of idea status changes
("status") and of chat mentions ("chat_mention"), and the reason of the audit entries of idea
status changes. This turns the entities nh3 writes back into characters in those rows only.
A text typed with a literal entity in it ("&amp;" in a title) reads one level less escaped;
that is the rare case, and there is no record to tell the two apart.

Revision ID: c4d2e6f8a1b3
Revises: b3c1e2f4a5d6
Create Date: 2026-12-03 14:30:00.000000

"""
import re

import sqlalchemy as sa
from alembic import op


# revision identifiers, used by Alembic.
revision = 'c4d2e6f8a1b3'
down_revision = 'b3c1e2f4a5d6'
branch_labels = None
depends_on = None

# what nh3 (ammonia's serialiser) writes in text: &amp; &lt; &gt; and a non-breaking space
_ENTITY = re.compile(r"&(amp|lt|gt|quot|nbsp|#39|#x27);")
_CHARS = {"amp": "&", "lt": "<", "gt": ">", "quot": '"', "nbsp": "\u00a0", "#39": "'", "#x27": "'"}


def unescape(text: str) -> str:
    """The characters of a text nh3 escaped (only its entities; any other & stays)."""
    return _ENTITY.sub(lambda m: _CHARS[m.group(1)], text)


def _repair(table: str, column: str, where: sa.ColumnElement, size: int) -> None:
    bind = op.get_bind()
    t = sa.table(table, sa.column("id", sa.Integer), sa.column(column, sa.String))
    rows = bind.execute(sa.select(t.c.id, t.c[column]).where(where(t), t.c[column].like("%&%;%"))).all()
    changed = [{"row_id": i, "text": unescape(text)[:size]} for i, text in rows if unescape(text) != text]
    if changed:
        bind.execute(t.update().where(t.c.id == sa.bindparam("row_id")).values({column: sa.bindparam("text")}),
                     changed)


def upgrade():
    _repair("notifications", "text",
            lambda t: sa.column("kind", sa.String).in_(["status", "chat_mention"]), 300)
    _repair("audit_entries", "reason",
            lambda t: sa.column("action", sa.String) == "idea.status_change", 1000)


def downgrade():
    """Nothing to undo: the texts are now what was typed."""
