"""deadlines.next_notice_at: when the reminder sweep must next look at an open deadline

Revision ID: 0003
Revises: 0002
"""
import sqlalchemy as sa
from alembic import op

revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('deadlines', schema=None) as batch_op:
        batch_op.add_column(sa.Column('next_notice_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.create_index('ix_deadlines_next_notice_at', ['next_notice_at'], unique=False,
                              postgresql_where=sa.text('completed_at IS NULL'),
                              sqlite_where=sa.text('completed_at IS NULL'))


def downgrade():
    with op.batch_alter_table('deadlines', schema=None) as batch_op:
        batch_op.drop_index('ix_deadlines_next_notice_at', postgresql_where=sa.text('completed_at IS NULL'),
                            sqlite_where=sa.text('completed_at IS NULL'))
        batch_op.drop_column('next_notice_at')
