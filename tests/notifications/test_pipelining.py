"""A batch over one SMTP session, with and without PIPELINING (RFC 2920) offered by the server.

Every outcome stays per message: a refused recipient or a refused message fails that message only, a 421
ends the session and leaves the rest for the next run, a dropped session is re-opened once and each
message still arrives once.
"""

from __future__ import annotations

import datetime as dt
import re
import smtplib

import pytest
from sqlalchemy import select

from models import AuditEvent, OutboxMessage
from notifications import delivery
from tests.conftest import NOW
from tests.notifications.conftest import Collector, SMTPServer, queue
from workflow import audit

KEY = re.compile(rb"^X-CCHC-Outbox-Key: (.*)\r$", re.M)


class Server(Collector):
    """The tests' collector, offering PIPELINING or not, refusing chosen recipients and messages."""

    def __init__(self, pipelining: bool):
        super().__init__()
        self.pipelining = pipelining
        self.refuse_rcpt: dict[str, str] = {}      # address -> answer to its RCPT
        self.refuse_data: dict[str, str] = {}      # outbox key -> answer to its content
        self.drop_at: str | None = None            # outbox key whose content closes the session, once
        self.sessions = 0

    async def handle_EHLO(self, server, session, envelope, hostname, responses):
        session.host_name = hostname
        self.sessions += 1
        if self.pipelining:
            responses.insert(-1, "250-PIPELINING")
        return responses

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address in self.refuse_rcpt:
            return self.refuse_rcpt[address]
        return await super().handle_RCPT(server, session, envelope, address, rcpt_options)

    async def handle_DATA(self, server, session, envelope):
        key = KEY.search(envelope.content).group(1).decode()
        if key == self.drop_at:
            self.drop_at = None
            server.transport.close()  # gone before answering: the client cannot know it arrived
            return "250 OK"
        if key in self.refuse_data:
            return self.refuse_data[key]
        return await super().handle_DATA(server, session, envelope)


@pytest.fixture(params=[True, False], ids=["pipelining", "one-by-one"])
def server(request, app):
    smtp = SMTPServer()
    smtp.handler = Server(pipelining=request.param)
    smtp.start()
    app.config.update(MAIL_SERVER="127.0.0.1", MAIL_PORT=smtp.port, MAIL_SUPPRESS_SEND=False, MAIL_TIMEOUT=5,
                      PUBLIC_BASE_URL="https://cchc.example.vn")
    yield smtp
    smtp.stop()


@pytest.fixture
def batch(make, db):
    """Five messages of one case, to five different people, queued in this order (keys m0..m4)."""
    campaign = make.campaign()
    case = make.case_of(campaign, "10001")
    people = [make.officers["10001"], make.chairs["10001"], make.secretariat, make.head, make.leader]
    for i, person in enumerate(people):
        queue(case, person, key=f"m{i}")
    db.session.commit()
    return people


@pytest.fixture
def writes(monkeypatch):
    """How many times the client wrote to the socket (smtplib.SMTP.send)."""
    count = [0]
    original = smtplib.SMTP.send

    def send(self, s):
        count[0] += 1
        return original(self, s)

    monkeypatch.setattr(smtplib.SMTP, "send", send)
    return count


def _status(db) -> dict[str, tuple[str, int]]:
    db.session.expire_all()
    return {r.key: (r.status, r.attempts) for r in db.session.scalars(select(OutboxMessage))}


def _received(server) -> list[str]:
    return [m["X-CCHC-Outbox-Key"] for m in server.messages]


def _events(db, action) -> list[str]:
    return [e.after["key"] for e in db.session.scalars(
        select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.seq))]


def test_a_batch_arrives_whole_in_order_with_its_message_ids(app, db, batch, server, writes):
    report = delivery.deliver(now=NOW)

    assert (report.claimed, report.sent) == (5, 5)
    assert _received(server) == ["m0", "m1", "m2", "m3", "m4"]
    assert [m["To"] for m in server.messages] == [p.email for p in batch]
    sender = app.config["MAIL_DEFAULT_SENDER"]
    address = sender if isinstance(sender, str) else sender[1]
    assert [m["Message-ID"] for m in server.messages] == [delivery.message_id(f"m{i}", address) for i in range(5)]
    assert server.handler.sessions == 1
    assert _events(db, "notification.sent") == ["m0", "m1", "m2", "m3", "m4"]
    assert all(r.smtp_response.startswith("250") and "queued as TEST" in r.smtp_response
               for r in db.session.scalars(select(OutboxMessage)))
    # pipelined: one write per message (its commands with the previous content) and the last content;
    # one by one: MAIL, RCPT, DATA and the content, each its own write
    per_message = writes[0] / 5
    assert per_message < 2 if server.handler.pipelining else per_message >= 4
    assert audit.verify().ok


def test_a_refused_recipient_mid_batch_fails_that_message_only(db, batch, server):
    server.handler.refuse_rcpt[batch[2].email] = "550 5.1.1 No such user"

    report = delivery.deliver(now=NOW)

    assert (report.sent, report.failed, report.retrying) == (4, 1, 0)
    assert _received(server) == ["m0", "m1", "m3", "m4"]
    status = _status(db)
    assert status["m2"] == ("failed", 1)
    assert all(status[k] == ("sent", 1) for k in ("m0", "m1", "m3", "m4"))
    row = db.session.scalar(select(OutboxMessage).where(OutboxMessage.key == "m2"))
    assert "No such user" in row.last_error and batch[2].email in row.last_error
    assert _events(db, "notification.sent") == ["m0", "m1", "m3", "m4"]
    assert _events(db, "notification.failed") == ["m2"]
    assert audit.verify().ok


def test_a_recipient_refused_for_now_is_retried_alone(db, batch, server):
    server.handler.refuse_rcpt[batch[0].email] = "450 4.2.1 Mailbox busy"
    server.handler.refuse_rcpt[batch[4].email] = "450 4.2.1 Mailbox busy"

    report = delivery.deliver(now=NOW)
    assert (report.sent, report.failed, report.retrying) == (3, 0, 2)
    assert _received(server) == ["m1", "m2", "m3"]

    server.handler.refuse_rcpt.clear()
    assert delivery.deliver(now=NOW + dt.timedelta(minutes=1)).sent == 2
    assert _received(server) == ["m1", "m2", "m3", "m0", "m4"]
    assert _status(db)["m0"] == ("sent", 2)


def test_a_refused_message_mid_batch_fails_alone(db, batch, server):
    server.handler.refuse_data["m1"] = "554 5.7.1 Message rejected"
    server.handler.refuse_data["m3"] = "451 4.3.0 Try again later"

    report = delivery.deliver(now=NOW)

    assert (report.sent, report.failed, report.retrying) == (3, 1, 1)
    assert _received(server) == ["m0", "m2", "m4"]
    status = _status(db)
    assert status["m1"] == ("failed", 1) and status["m3"] == ("queued", 1)
    assert _events(db, "notification.failed") == ["m1"]


def test_a_421_ends_the_session_and_the_rest_wait_for_the_next_run(db, batch, server):
    server.handler.refuse_rcpt[batch[2].email] = "421 4.3.2 Shutting down"

    report = delivery.deliver(now=NOW)

    assert (report.sent, report.failed, report.retrying) == (2, 0, 3)
    assert _received(server) == ["m0", "m1"]
    status = _status(db)
    assert all(status[k] == ("queued", 1) for k in ("m2", "m3", "m4"))

    server.handler.refuse_rcpt.clear()
    assert delivery.deliver(now=NOW + dt.timedelta(minutes=1)).sent == 3
    assert _received(server) == ["m0", "m1", "m2", "m3", "m4"]
    assert _events(db, "notification.sent") == ["m0", "m1", "m2", "m3", "m4"]


def test_a_session_dropped_mid_batch_is_reopened_once_and_each_message_arrives_once(db, batch, server):
    server.handler.drop_at = "m2"

    report = delivery.deliver(now=NOW)

    assert (report.sent, report.failed, report.retrying) == (5, 0, 0)
    assert _received(server) == ["m0", "m1", "m2", "m3", "m4"]
    assert _events(db, "notification.sent") == ["m0", "m1", "m2", "m3", "m4"]
    assert all(status == ("sent", 1) for status in _status(db).values())


def test_mail_max_emails_still_opens_a_new_session_every_n_messages(app, db, batch, server):
    app.config["MAIL_MAX_EMAILS"] = 2

    assert delivery.deliver(now=NOW).sent == 5

    assert _received(server) == ["m0", "m1", "m2", "m3", "m4"]
    assert server.handler.sessions == 3
