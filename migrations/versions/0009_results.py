"""commune predecessors and published result snapshots (issue 6, results and publication)

Revision ID: 0009
Revises: 0008
"""
import sqlalchemy as sa
from alembic import op

revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


# plain CREATE TABLE / CREATE INDEX: no batch recreate of any other table
def upgrade():
    op.create_table(
        'commune_mergers',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('commune_id', sa.Integer(), nullable=False),
        sa.Column('predecessor_id', sa.Integer(), nullable=False),
        sa.Column('merged_on', sa.Date(), nullable=False),
        sa.Column('recorded_by_id', sa.Integer(), nullable=True),
        sa.Column('recorded_at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['commune_id'], ['communes.id'], name=op.f('fk_commune_mergers_commune_id_communes')),
        sa.ForeignKeyConstraint(['predecessor_id'], ['communes.id'],
                                name=op.f('fk_commune_mergers_predecessor_id_communes')),
        sa.ForeignKeyConstraint(['recorded_by_id'], ['users.id'], name=op.f('fk_commune_mergers_recorded_by_id_users')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_commune_mergers')),
        sa.UniqueConstraint('commune_id', 'predecessor_id', name=op.f('uq_commune_mergers_commune_id_predecessor_id')),
    )
    op.create_index(op.f('ix_commune_mergers_commune_id'), 'commune_mergers', ['commune_id'], unique=False)
    op.create_table(
        'result_snapshots',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('campaign_id', sa.Integer(), nullable=False),
        sa.Column('version', sa.Integer(), nullable=False),
        sa.Column('trigger', sa.String(length=20), nullable=False),
        sa.Column('case_id', sa.Integer(), nullable=True),
        sa.Column('payload', sa.Text(), nullable=False),
        sa.Column('sha256', sa.String(length=64), nullable=False),
        sa.Column('diff', sa.JSON(), nullable=True),
        sa.Column('published_by_id', sa.Integer(), nullable=True),
        sa.Column('published_at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['campaign_id'], ['campaigns.id'], name=op.f('fk_result_snapshots_campaign_id_campaigns')),
        sa.ForeignKeyConstraint(['case_id'], ['cases.id'], name=op.f('fk_result_snapshots_case_id_cases')),
        sa.ForeignKeyConstraint(['published_by_id'], ['users.id'],
                                name=op.f('fk_result_snapshots_published_by_id_users')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_result_snapshots')),
        sa.UniqueConstraint('campaign_id', 'version', name=op.f('uq_result_snapshots_campaign_id_version')),
    )


def downgrade():
    op.drop_table('result_snapshots')
    op.drop_index(op.f('ix_commune_mergers_commune_id'), table_name='commune_mergers')
    op.drop_table('commune_mergers')
