"""users.commune_id indexed: the sweep and the notices read a batch's communes' users (issue 7)

Revision ID: 0012
Revises: 0011
"""
from alembic import op

revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None


def upgrade():
    op.create_index(op.f('ix_users_commune_id'), 'users', ['commune_id'], unique=False)


def downgrade():
    op.drop_index(op.f('ix_users_commune_id'), table_name='users')
