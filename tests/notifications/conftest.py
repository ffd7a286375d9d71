"""A real SMTP server (aiosmtpd) on 127.0.0.1 and helpers to read what it received."""

from __future__ import annotations

import datetime as dt
import email
import email.policy
import socket
import threading
from email.message import EmailMessage

import pytest
from aiosmtpd.controller import Controller

from tests.conftest import NOW


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Collector:
    """aiosmtpd handler: keeps every accepted message; ``fail_with`` makes it answer an error instead."""

    def __init__(self):
        self.messages: list[EmailMessage] = []
        self.envelopes = []
        self.fail_with: str | None = None
        self.refuse_sender: str | None = None
        self.refuse_recipient: str | None = None
        self.refused = 0
        self.lock = threading.Lock()

    async def handle_MAIL(self, server, session, envelope, address, mail_options):
        if self.refuse_sender:
            return self.refuse_sender
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 OK"

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if self.refuse_recipient:
            return self.refuse_recipient
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(rcpt_options)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        with self.lock:
            if self.fail_with:
                self.refused += 1
                return self.fail_with
            self.envelopes.append(envelope)
            self.messages.append(email.message_from_bytes(envelope.content, policy=email.policy.default))
        return "250 2.0.0 Ok: queued as TEST"


class SMTPServer:
    def __init__(self):
        self.port = free_port()
        self.handler = Collector()
        self.controller: Controller | None = None

    def start(self):
        self.controller = Controller(self.handler, hostname="127.0.0.1", port=self.port)
        self.controller.start()

    def stop(self):
        if self.controller is not None:
            self.controller.stop()
            self.controller = None

    @property
    def messages(self) -> list[EmailMessage]:
        return self.handler.messages


@pytest.fixture
def smtp(app):
    """A running SMTP server; the app is pointed at it (and really sends, despite TESTING)."""
    server = SMTPServer()
    server.start()
    app.config.update(MAIL_SERVER="127.0.0.1", MAIL_PORT=server.port, MAIL_SUPPRESS_SEND=False,
                      MAIL_TIMEOUT=5, PUBLIC_BASE_URL="https://cchc.example.vn")
    yield server
    server.stop()


def facts_for(case, *, due=dt.date(2023, 11, 10), working_days_left=3, days_late=0, missing=None,
              explanation="Hạn theo Kế hoạch: 10/11/2023"):
    return {
        "due": due, "plan_due": due, "explanation": explanation, "working_days_left": working_days_left,
        "days_late": days_late, "missing": missing if missing is not None else [],
        "stage": case.stage, "commune_name": case.commune.name, "campaign_key": case.campaign.key,
        "case_id": case.id,
    }


def queue(case, recipient, *, key, kind="reminder", level=0, scheduled_for=NOW, now=NOW, deadline=None,
          **facts):
    from notifications import outbox

    return outbox.enqueue(key=key, kind=kind, case=case, deadline=deadline, level=level, recipient=recipient,
                          scheduled_for=scheduled_for, now=now, facts=facts_for(case, **facts))
