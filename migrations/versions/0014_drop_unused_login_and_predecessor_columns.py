"""users.failed_logins, users.locked_until and commune_predecessors dropped: nothing used them

Log-in throttling keeps its failures in ``login_failures`` (0011), shared by every worker, and mergers of
communes are ``commune_mergers`` (0009); the first schema's columns and table were never read or written
since, and suggested a lockout or a merger record that is not there.

Revision ID: 0014
Revises: 0013
"""
import sqlalchemy as sa
from alembic import op

revision = '0014'
down_revision = '0013'
branch_labels = None
depends_on = None


def upgrade():
    op.drop_table('commune_predecessors')
    # SQLite 3.35+ drops a plain column in place: no batch copy of users (which many tables reference)
    op.execute("ALTER TABLE users DROP COLUMN failed_logins")
    op.execute("ALTER TABLE users DROP COLUMN locked_until")


def downgrade():
    op.add_column('users', sa.Column('locked_until', sa.DateTime(timezone=True), nullable=True))
    op.add_column('users', sa.Column('failed_logins', sa.Integer(), nullable=False, server_default='0'))
    op.create_table(
        'commune_predecessors',
        sa.Column('commune_id', sa.Integer(), nullable=False),
        sa.Column('predecessor_id', sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(['commune_id'], ['communes.id'], name=op.f('fk_commune_predecessors_commune_id_communes')),
        sa.ForeignKeyConstraint(['predecessor_id'], ['communes.id'],
                                name=op.f('fk_commune_predecessors_predecessor_id_communes')),
        sa.PrimaryKeyConstraint('commune_id', 'predecessor_id', name=op.f('pk_commune_predecessors')),
    )
