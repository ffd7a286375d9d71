"""Delivery: claim queued e-mails, send them over one SMTP session, record the outcome.

Three short steps so that no transaction is open while we talk to the SMTP server:

1. claim (one transaction, committed before sending): due rows get ``attempts + 1`` and
   ``next_attempt_at = now + lease``, so no other process picks them up while we hold them.
   PostgreSQL selects them with ``FOR UPDATE SKIP LOCKED``; SQLite serialises writers anyway.
   If this process dies mid-batch, its rows become due again when the lease runs out
   (``OUTBOX_CLAIM_LEASE`` seconds, else long enough for a whole batch of SMTP timeouts).
2. send, outside any transaction, over one connection (``mail.connect()``).
3. record (a new transaction): sent rows get ``sent_at`` and the SMTP answer plus an audit
   event ``notification.sent``, the proof that the commune was warned; failures back off
   exponentially and become ``failed`` (audit ``notification.failed``) after the last attempt.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import smtplib
import socket
from dataclasses import dataclass, field

from flask import current_app
from sqlalchemy import bindparam, select, update

from models import Case, OutboxMessage, db
from workflow import audit

from . import mail, mime

MAX_ATTEMPTS = 6          # 1 try + 5 retries after 1, 2, 4, 8, 16 minutes
BACKOFF_BASE = dt.timedelta(minutes=1)


def default_owner() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def backoff(attempts: int, base: dt.timedelta = BACKOFF_BASE) -> dt.timedelta:
    """Wait after the ``attempts``-th failed try: 1, 2, 4, 8, 16 ... minutes."""
    return base * (2 ** max(attempts - 1, 0))


@dataclass
class Outcome:
    id: int
    ok: bool
    detail: str        # the SMTP answer, or the error
    permanent: bool = False


@dataclass
class DeliveryReport:
    claimed: int = 0
    sent: int = 0
    retrying: int = 0
    failed: int = 0
    owner: str = ""
    errors: list[str] = field(default_factory=list)

    def describe(self) -> str:
        return (f"{self.claimed} claimed, {self.sent} sent, {self.retrying} to retry, "
                f"{self.failed} failed for good")


@dataclass(frozen=True)
class _Claimed:
    """What sending needs, copied out of the session so step 2 touches no ORM state."""

    id: int
    recipient: str
    subject: str
    body_text: str
    body_html: str | None
    ics: str | None
    key: str


def _lease(batch: int) -> dt.timedelta:
    """How long a claim keeps other processes off a row (OUTBOX_CLAIM_LEASE seconds, if set)."""
    fixed = current_app.config.get("OUTBOX_CLAIM_LEASE") or os.environ.get("OUTBOX_CLAIM_LEASE")
    if fixed:
        return dt.timedelta(seconds=float(fixed))
    # long enough for a whole batch of timeouts, so a slow but live sender keeps its claim
    timeout = float(current_app.config.get("MAIL_TIMEOUT", 10))
    return max(dt.timedelta(minutes=10), dt.timedelta(seconds=2 * batch * timeout))


def message_id(key: str, sender: str | None) -> str:
    """A Message-ID derived from the outbox key: a message re-sent after a crash keeps its identity."""
    domain = (sender or "").rpartition("@")[2].strip(" >") or "cchc-workflow.invalid"
    return f"<{hashlib.sha256(key.encode('utf-8')).hexdigest()[:40]}@{domain}>"


def claim(*, now: dt.datetime, batch: int) -> list[_Claimed]:
    """Step 1: take up to ``batch`` due messages for this process and commit the claim."""
    due = (OutboxMessage.status == "queued", OutboxMessage.next_attempt_at <= now)
    lease_until = now + _lease(batch)
    dialect = db.session.get_bind().dialect.name
    if dialect == "postgresql":
        ids = db.session.scalars(
            select(OutboxMessage.id).where(*due).order_by(OutboxMessage.next_attempt_at, OutboxMessage.id)
            .limit(batch).with_for_update(skip_locked=True)).all()
        pick = OutboxMessage.id.in_(ids) if ids else None
    else:
        pick = OutboxMessage.id.in_(
            select(OutboxMessage.id).where(*due).order_by(OutboxMessage.next_attempt_at, OutboxMessage.id)
            .limit(batch).scalar_subquery())
    claimed_ids: list[int] = []
    if pick is not None:
        # the WHERE repeats "due", so a row another process claimed meanwhile is not taken twice
        claimed_ids = list(db.session.scalars(
            update(OutboxMessage).where(pick, *due)
            .values(attempts=OutboxMessage.attempts + 1, next_attempt_at=lease_until)
            .returning(OutboxMessage.id)
            .execution_options(synchronize_session=False)))
    rows = []
    if claimed_ids:
        rows = db.session.execute(
            select(OutboxMessage.id, OutboxMessage.recipient, OutboxMessage.subject, OutboxMessage.body_text,
                   OutboxMessage.body_html, OutboxMessage.ics, OutboxMessage.key)
            .where(OutboxMessage.id.in_(claimed_ids)).order_by(OutboxMessage.id)).all()
    db.session.commit()
    return [_Claimed(*row) for row in rows]


def _compose(item: _Claimed, sender) -> bytes:
    """The message's bytes (notifications.mime), its Message-ID derived from the outbox key."""
    address = sender if isinstance(sender, str) else (sender or ("", ""))[1]
    return mime.compose(sender=sender, recipient=item.recipient, subject=item.subject, text=item.body_text,
                        html=item.body_html, ics=item.ics, message_id=message_id(item.key, address),
                        extra_headers={"X-CCHC-Outbox-Key": item.key[:200]})


def _is_permanent(exc: Exception) -> bool:
    """A refused recipient or message (5xx) will not get better by retrying.

    A refused sender, a failed login or a 5xx greeting are our configuration's fault: they stay
    transient, so the messages go out once the settings are fixed.
    """
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        return all(code >= 500 for code, _ in exc.recipients.values())
    if isinstance(exc, smtplib.SMTPDataError):
        return exc.smtp_code >= 500
    return False


def _describe(exc: Exception) -> str:
    if isinstance(exc, smtplib.SMTPResponseException):
        msg = exc.smtp_error.decode("utf-8", "replace") if isinstance(exc.smtp_error, bytes) else exc.smtp_error
        return f"{exc.smtp_code} {msg}"
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        return "; ".join(f"{rcpt}: {code} {msg.decode('utf-8', 'replace') if isinstance(msg, bytes) else msg}"
                         for rcpt, (code, msg) in exc.recipients.items())
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


def send(items: list[_Claimed]) -> list[Outcome]:
    """Step 2: send over one SMTP session; reconnect once if the server drops us mid-batch.

    The outcomes come in the items' order. A message that cannot be composed fails for good; the rest go
    through ``TimedConnection.send_all`` (pipelined when the server offers it), one answer each.
    """
    outcomes: dict[int, Outcome] = {}
    pending = list(items)
    reconnects = 1
    while pending:
        try:
            connection = mail.connect()
            connection.__enter__()
        except (smtplib.SMTPException, OSError) as exc:
            outcomes.update((i.id, Outcome(i.id, False, f"connect: {_describe(exc)}")) for i in pending)
            break
        try:
            sender = connection.mail.default_sender  # the settings as this session read them
            envelope_from = mime.address(sender) if sender else ""
            ready: list[tuple[_Claimed, list[str], bytes]] = []
            for item in pending:
                try:
                    if not sender:
                        raise ValueError("no sender: set MAIL_DEFAULT_SENDER")
                    ready.append((item, [mime.address(item.recipient)], _compose(item, sender)))
                except Exception as exc:  # noqa: BLE001 - a message we cannot compose will not improve
                    outcomes[item.id] = Outcome(item.id, False, _describe(exc), permanent=True)
            answered = 0
            try:
                for result in connection.send_all(envelope_from, ((rcpts, data) for _, rcpts, data in ready)):
                    item = ready[answered][0]
                    answered += 1
                    if isinstance(result, str):
                        outcomes[item.id] = Outcome(item.id, True, result)
                    elif isinstance(result, smtplib.SMTPResponseException | smtplib.SMTPRecipientsRefused):
                        outcomes[item.id] = Outcome(item.id, False, _describe(result), _is_permanent(result))
                    else:  # refused before it was sent (an address smtplib would not put in a command)
                        outcomes[item.id] = Outcome(item.id, False, _describe(result), permanent=True)
            except (smtplib.SMTPException, OSError) as exc:  # the session broke (disconnected, timed out)
                pending = [item for item, _, _ in ready[answered:]]
                if reconnects > 0:
                    reconnects -= 1
                    continue  # open a new session and send the unanswered ones again
                outcomes.update((i.id, Outcome(i.id, False, _describe(exc))) for i in pending)
                break
            # a 421 ended the session early: the unanswered messages wait for the next run
            last = outcomes[ready[answered - 1][0].id].detail if answered else "421"
            outcomes.update((item.id, Outcome(item.id, False, last)) for item, _, _ in ready[answered:])
            pending = []
        finally:
            connection.close()
    return [outcomes[i.id] for i in items]


_OUTBOX = OutboxMessage.__table__
_BY_ID = _OUTBOX.c.id == bindparam("b_id")
# one statement per kind of outcome, executed once for the batch's rows (executemany)
_MARK_SENT = update(_OUTBOX).where(_BY_ID).values(status="sent", sent_at=bindparam("b_now"),
                                                  smtp_response=bindparam("b_detail"), last_error=None)
_MARK_FAILED = update(_OUTBOX).where(_BY_ID).values(status="failed", last_error=bindparam("b_detail"))
_MARK_RETRY = update(_OUTBOX).where(_BY_ID).values(last_error=bindparam("b_detail"),
                                                   next_attempt_at=bindparam("b_next"))


def record(outcomes: list[Outcome], *, now: dt.datetime, owner: str, report: DeliveryReport,
           max_attempts: int = MAX_ATTEMPTS) -> None:
    """Step 3: write each outcome and its audit event, in one new transaction."""
    # the batch's rows (the columns the outcome needs, not the bodies) and their cases in two queries;
    # the rows updated with one executemany per kind of outcome (bench/engine.py delivery)
    rows = {r.id: r for r in db.session.execute(
        select(OutboxMessage.id, OutboxMessage.key, OutboxMessage.recipient, OutboxMessage.kind,
               OutboxMessage.level, OutboxMessage.stage, OutboxMessage.deadline_id, OutboxMessage.attempts,
               OutboxMessage.case_id, OutboxMessage.status)
        .where(OutboxMessage.id.in_([o.id for o in outcomes])))} if outcomes else {}
    case_ids = {r.case_id for r in rows.values() if r.case_id is not None}
    campaigns = dict(db.session.execute(select(Case.id, Case.campaign_id).where(Case.id.in_(case_ids))).all()) \
        if case_ids else {}
    events: list[audit.Entry] = []  # appended to the chain in outcome order, in one insert
    sent, failed, retrying = [], [], []
    for outcome in outcomes:
        row = rows.get(outcome.id)
        if row is None or row.status != "queued":
            continue
        case_id = row.case_id if row.case_id in campaigns else None
        facts = {"key": row.key, "recipients": [row.recipient], "kind": row.kind, "level": row.level,
                 "stage": row.stage, "deadline_id": row.deadline_id, "attempt": row.attempts, "by": owner}
        if outcome.ok:
            sent.append({"b_id": row.id, "b_now": now, "b_detail": outcome.detail})
            events.append(audit.Entry("notification.sent", campaigns.get(case_id), case_id, row.kind,
                                      after={**facts, "smtp": outcome.detail}))
            report.sent += 1
        elif outcome.permanent or row.attempts >= max_attempts:
            failed.append({"b_id": row.id, "b_detail": outcome.detail})
            events.append(audit.Entry("notification.failed", campaigns.get(case_id), case_id, row.kind,
                                      after={**facts, "error": outcome.detail}))
            report.failed += 1
            report.errors.append(f"{row.recipient}: {outcome.detail}")
        else:
            retrying.append({"b_id": row.id, "b_detail": outcome.detail, "b_next": now + backoff(row.attempts)})
            report.retrying += 1
    for statement, params in ((_MARK_SENT, sent), (_MARK_FAILED, failed), (_MARK_RETRY, retrying)):
        if params:
            db.session.execute(statement, params)
    audit.record_many(events, actor=None, now=now)
    db.session.commit()


def deliver(*, now: dt.datetime, batch: int = 200, owner: str | None = None,
            max_attempts: int | None = None) -> DeliveryReport:
    """Send what is due at ``now`` (at most ``batch`` messages); commits its own transactions."""
    owner = owner or default_owner()
    max_attempts = max_attempts or int(current_app.config.get("OUTBOX_MAX_ATTEMPTS", MAX_ATTEMPTS))
    report = DeliveryReport(owner=owner)
    db.session.commit()  # start from a clean transaction: the claim must commit on its own
    items = claim(now=now, batch=batch)
    report.claimed = len(items)
    if not items:
        return report
    outcomes = send(items)
    record(outcomes, now=now, owner=owner, report=report, max_attempts=max_attempts)
    return report
