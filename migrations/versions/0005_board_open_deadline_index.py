"""deadlines: index of open deadlines by (stage, due, case_id, kind, round) for the case board

A board column lists a stage's cases with the earliest due first; with this index it reads the open
deadlines of that stage in due order and stops after the page (a further page of 50 cards out of
10,000 cases reads about 70 index entries instead of sorting the whole column). kind and round make
it cover the "is another open deadline binding instead" check.

Revision ID: 0005
Revises: 0004
"""
import sqlalchemy as sa
from alembic import op

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('deadlines', schema=None) as batch_op:
        batch_op.create_index('ix_deadlines_open_stage_due', ['stage', 'due', 'case_id', 'kind', 'round'],
                              unique=False, postgresql_where=sa.text('completed_at IS NULL'),
                              sqlite_where=sa.text('completed_at IS NULL'))


def downgrade():
    with op.batch_alter_table('deadlines', schema=None) as batch_op:
        batch_op.drop_index('ix_deadlines_open_stage_due', postgresql_where=sa.text('completed_at IS NULL'),
                            sqlite_where=sa.text('completed_at IS NULL'))
