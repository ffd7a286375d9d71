"""commune predecessors and published result snapshots (issue 6, results and publication)

Revision ID: 0009
Revises: 0008
"""
import sqlalchemy as sa  # noqa: F401
from alembic import op  # noqa: F401

revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade():
    pass  # filled in by the work on this area; an empty step until then


def downgrade():
    pass
