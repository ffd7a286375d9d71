"""survey groups, forms and answers (issue 6, survey)

Revision ID: 0008
Revises: 0007
"""
import sqlalchemy as sa  # noqa: F401
from alembic import op  # noqa: F401

revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade():
    pass  # filled in by the work on this area; an empty step until then


def downgrade():
    pass
