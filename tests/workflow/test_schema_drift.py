"""The migrations and the models describe the same schema (tables, columns, indexes, foreign keys)."""

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from models import db as models_db


def test_migrated_schema_matches_the_models(app, db):
    with db.engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": False})
        diff = compare_metadata(context, models_db.metadata)
    assert diff == [], "models and migrations disagree; write a migration:\n" + "\n".join(map(str, diff))
