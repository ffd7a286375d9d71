"""remediation plans and their items (issue 6, remediation)

Revision ID: 0010
Revises: 0009
"""
import sqlalchemy as sa  # noqa: F401
from alembic import op  # noqa: F401

revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None


def upgrade():
    pass  # filled in by the work on this area; an empty step until then


def downgrade():
    pass
