"""pending uploads: attachments kept from a refused form, claimed by a token

Revision ID: b3c1d2e4f5a6
Revises: 7a55877cb930
Create Date: 2026-12-01 10:00:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'b3c1d2e4f5a6'
down_revision = '7a55877cb930'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('attachments', schema=None) as batch_op:
        batch_op.add_column(sa.Column('pending_token', sa.String(length=64), nullable=True))
        batch_op.create_index(batch_op.f('ix_attachments_pending_token'), ['pending_token'], unique=True)


def downgrade():
    with op.batch_alter_table('attachments', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_attachments_pending_token'))
        batch_op.drop_column('pending_token')
