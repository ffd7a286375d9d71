"""communes.name_key: the name's Vietnamese sort key, so tables sort communes alphabetically in SQL

Code-point order put "Tam Hòa" before "Tam Hải" and "Tam Mỹ Tây" before "Tam Mỹ Đông". The key
(models.collation.sort_key) compares byte by byte: collation "C" on PostgreSQL, SQLite's default binary.
Existing communes get their key here; new and renamed ones from the model.

Revision ID: 0015
Revises: 0014
"""
import sqlalchemy as sa
from alembic import op

from models.collation import sort_key

revision = '0015'
down_revision = '0014'
branch_labels = None
depends_on = None


def upgrade():
    postgresql = op.get_bind().dialect.name == "postgresql"
    if postgresql:
        op.add_column('communes', sa.Column('name_key', sa.Text(collation='C'), nullable=True))
    else:
        # SQLite adds a NOT NULL column in place only with a default: no batch copy of communes (which many
        # tables reference); every row gets its real key below
        op.execute("ALTER TABLE communes ADD COLUMN name_key TEXT NOT NULL DEFAULT ''")
    communes = sa.table('communes', sa.column('id', sa.Integer()), sa.column('name', sa.String()),
                        sa.column('name_key', sa.Text()))
    keys = [{"commune_id": commune_id, "key": sort_key(name)}
            for commune_id, name in op.get_bind().execute(sa.select(communes.c.id, communes.c.name))]
    if keys:
        op.get_bind().execute(communes.update().where(communes.c.id == sa.bindparam('commune_id'))
                              .values(name_key=sa.bindparam('key')), keys)
    if postgresql:
        op.alter_column('communes', 'name_key', nullable=False)


def downgrade():
    # SQLite 3.35+ drops a plain column in place (as 0014)
    op.execute("ALTER TABLE communes DROP COLUMN name_key")
