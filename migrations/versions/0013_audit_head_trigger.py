"""audit_head follows audit_events: a trigger moves the chain head on with every appended event (issue 7)

The head (last seq and hash) was written by the application after each append, one more statement per
event on every transition's path. The database now keeps it: each inserted event moves the head to its
own seq and hash, in the same statement, so the head can no longer disagree with the last event.

Revision ID: 0013
Revises: 0012
"""
from alembic import op

revision = '0013'
down_revision = '0012'
branch_labels = None
depends_on = None


def upgrade():
    if op.get_bind().dialect.name == "postgresql":
        op.execute("""
            CREATE FUNCTION audit_events_move_head() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                UPDATE audit_head SET seq = NEW.seq, last_hash = NEW.hash WHERE id = 1 AND seq < NEW.seq;
                RETURN NULL;
            END $$;
        """)
        op.execute("CREATE TRIGGER audit_events_move_head AFTER INSERT ON audit_events "
                   "FOR EACH ROW EXECUTE FUNCTION audit_events_move_head()")
    else:
        op.execute("CREATE TRIGGER audit_events_move_head AFTER INSERT ON audit_events BEGIN "
                   "UPDATE audit_head SET seq = NEW.seq, last_hash = NEW.hash WHERE id = 1 AND seq < NEW.seq; END")


def downgrade():
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS audit_events_move_head ON audit_events")
        op.execute("DROP FUNCTION IF EXISTS audit_events_move_head()")
    else:
        op.execute("DROP TRIGGER IF EXISTS audit_events_move_head")
