"""Extensions, created unbound; ``create_app`` binds them with ``init_app``."""

from flask_migrate import Migrate
from sqlalchemy import event

from models import db

migrate = Migrate()


def _sqlite_pragmas(dbapi_connection, _record):
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=15000")
    cursor.close()


def init_db(app) -> None:
    """Bind SQLAlchemy and Alembic; SQLite gets foreign keys, WAL and a busy timeout."""
    db.init_app(app)
    migrate.init_app(app, db, directory=str(app.config["MIGRATIONS_DIR"]))
    with app.app_context():
        engine = db.engine
        if engine.dialect.name == "sqlite":
            event.listen(engine, "connect", _sqlite_pragmas)
