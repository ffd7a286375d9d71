"""remediation plans and their items (issue 6, remediation)

Revision ID: 0010
Revises: 0009
"""
import sqlalchemy as sa
from alembic import op

revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None


# plain CREATE TABLE / CREATE INDEX: no batch recreate of any other table
def upgrade():
    op.create_table(
        'remediation_plans',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('case_id', sa.Integer(), nullable=False),
        sa.Column('status', sa.String(length=20), nullable=False),
        sa.Column('version', sa.Integer(), nullable=False),
        sa.Column('return_reason', sa.Text(), nullable=True),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('submitted_at', sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(['case_id'], ['cases.id'], ondelete='CASCADE',
                                name=op.f('fk_remediation_plans_case_id_cases')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_remediation_plans')),
        sa.UniqueConstraint('case_id', name=op.f('uq_remediation_plans_case_id')),
    )
    op.create_table(
        'remediation_items',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('plan_id', sa.Integer(), nullable=False),
        sa.Column('position', sa.Integer(), nullable=False),
        sa.Column('code', sa.String(length=30), nullable=False),
        sa.Column('title_vi', sa.Text(), nullable=False),
        sa.Column('max_points', sa.Integer(), nullable=False),
        sa.Column('obtained', sa.Integer(), nullable=False),
        sa.Column('lost', sa.Integer(), nullable=False),
        sa.Column('cause', sa.Text(), nullable=True),
        sa.Column('responsible', sa.String(length=200), nullable=True),
        sa.Column('action', sa.Text(), nullable=True),
        sa.Column('due', sa.Date(), nullable=True),
        sa.Column('status', sa.String(length=10), nullable=False),
        sa.Column('done_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('carried_from_id', sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(['plan_id'], ['remediation_plans.id'], ondelete='CASCADE',
                                name=op.f('fk_remediation_items_plan_id_remediation_plans')),
        sa.ForeignKeyConstraint(['carried_from_id'], ['remediation_items.id'], ondelete='SET NULL',
                                name=op.f('fk_remediation_items_carried_from_id_remediation_items')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_remediation_items')),
    )
    op.create_index(op.f('ix_remediation_items_plan_id'), 'remediation_items', ['plan_id'], unique=False)
    op.create_index(op.f('ix_remediation_items_carried_from_id'), 'remediation_items', ['carried_from_id'],
                    unique=False)


def downgrade():
    op.drop_index(op.f('ix_remediation_items_carried_from_id'), table_name='remediation_items')
    op.drop_index(op.f('ix_remediation_items_plan_id'), table_name='remediation_items')
    op.drop_table('remediation_items')
    op.drop_table('remediation_plans')
