"""survey settings, issued batches, returned forms and their answers (issue 6, survey)

Revision ID: 0008
Revises: 0007
"""
import sqlalchemy as sa
from alembic import op

revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


# plain CREATE TABLE / CREATE INDEX: no batch recreate of any other table
def upgrade():
    op.create_table(
        'survey_settings',
        sa.Column('campaign_id', sa.Integer(), nullable=False),
        sa.Column('option_weights', sa.JSON(), nullable=False),
        sa.Column('group_weights', sa.JSON(), nullable=True),
        sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('updated_by_id', sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(['campaign_id'], ['campaigns.id'], ondelete='CASCADE',
                                name=op.f('fk_survey_settings_campaign_id_campaigns')),
        sa.ForeignKeyConstraint(['updated_by_id'], ['users.id'],
                                name=op.f('fk_survey_settings_updated_by_id_users')),
        sa.PrimaryKeyConstraint('campaign_id', name=op.f('pk_survey_settings')),
    )
    op.create_table(
        'survey_issues',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('campaign_id', sa.Integer(), nullable=False),
        sa.Column('commune_id', sa.Integer(), nullable=False),
        sa.Column('group', sa.String(length=40), nullable=False),
        sa.Column('count', sa.Integer(), nullable=False),
        sa.Column('surveyor', sa.String(length=200), nullable=True),
        sa.Column('mode', sa.String(length=20), nullable=False),
        sa.Column('recorded_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('recorded_by_id', sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(['campaign_id'], ['campaigns.id'], ondelete='CASCADE',
                                name=op.f('fk_survey_issues_campaign_id_campaigns')),
        sa.ForeignKeyConstraint(['commune_id'], ['communes.id'], name=op.f('fk_survey_issues_commune_id_communes')),
        sa.ForeignKeyConstraint(['recorded_by_id'], ['users.id'], name=op.f('fk_survey_issues_recorded_by_id_users')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_survey_issues')),
    )
    op.create_index('ix_survey_issues_campaign_commune', 'survey_issues', ['campaign_id', 'commune_id'],
                    unique=False)
    op.create_table(
        'survey_forms',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('campaign_id', sa.Integer(), nullable=False),
        sa.Column('commune_id', sa.Integer(), nullable=False),
        sa.Column('group', sa.String(length=40), nullable=False),
        sa.Column('number', sa.String(length=40), nullable=False),
        sa.Column('surveyor', sa.String(length=200), nullable=True),
        sa.Column('mode', sa.String(length=20), nullable=False),
        sa.Column('recorded_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('recorded_by_id', sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(['campaign_id'], ['campaigns.id'], ondelete='CASCADE',
                                name=op.f('fk_survey_forms_campaign_id_campaigns')),
        sa.ForeignKeyConstraint(['commune_id'], ['communes.id'], name=op.f('fk_survey_forms_commune_id_communes')),
        sa.ForeignKeyConstraint(['recorded_by_id'], ['users.id'], name=op.f('fk_survey_forms_recorded_by_id_users')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_survey_forms')),
        sa.UniqueConstraint('campaign_id', 'commune_id', 'group', 'number',
                            name=op.f('uq_survey_forms_campaign_id_commune_id_group_number')),
    )
    op.create_table(
        'survey_answers',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('form_id', sa.Integer(), nullable=False),
        sa.Column('code', sa.String(length=30), nullable=False),
        sa.Column('option', sa.String(length=1), nullable=True),
        sa.Column('state', sa.String(length=10), nullable=False),
        sa.ForeignKeyConstraint(['form_id'], ['survey_forms.id'], ondelete='CASCADE',
                                name=op.f('fk_survey_answers_form_id_survey_forms')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_survey_answers')),
        sa.UniqueConstraint('form_id', 'code', name=op.f('uq_survey_answers_form_id_code')),
    )


def downgrade():
    op.drop_table('survey_answers')
    op.drop_table('survey_forms')
    op.drop_index('ix_survey_issues_campaign_commune', table_name='survey_issues')
    op.drop_table('survey_issues')
    op.drop_table('survey_settings')
