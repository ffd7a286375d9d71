"""login_failures: failed log-ins per account and client address, for throttling and lockout (issue 8)

Revision ID: 0011
Revises: 0010
"""
import sqlalchemy as sa
from alembic import op

revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None


# plain CREATE TABLE / CREATE INDEX: no batch recreate of any other table
def upgrade():
    op.create_table(
        'login_failures',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('account', sa.String(length=254), nullable=False),
        sa.Column('address', sa.String(length=64), nullable=False),
        sa.Column('failed_at', sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_login_failures')),
    )
    op.create_index('ix_login_failures_account_failed_at', 'login_failures', ['account', 'failed_at'], unique=False)
    op.create_index('ix_login_failures_address_failed_at', 'login_failures', ['address', 'failed_at'], unique=False)
    op.create_index('ix_login_failures_failed_at', 'login_failures', ['failed_at'], unique=False)


def downgrade():
    op.drop_index('ix_login_failures_failed_at', table_name='login_failures')
    op.drop_index('ix_login_failures_address_failed_at', table_name='login_failures')
    op.drop_index('ix_login_failures_account_failed_at', table_name='login_failures')
    op.drop_table('login_failures')
