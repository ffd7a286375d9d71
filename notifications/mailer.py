"""Flask-Mail with what delivery needs: a socket timeout and the SMTP server's answer to DATA."""

from __future__ import annotations

import smtplib

from flask import current_app
from flask_mail import Connection, Mail, Message


class _RecordingSMTP(smtplib.SMTP):
    """Keeps the server's answer to DATA ("250 2.0.0 Ok: queued as ...") as proof of hand-over."""

    last_data_response: str | None = None

    def data(self, msg):
        code, resp = super().data(msg)
        self.last_data_response = f"{code} {resp.decode('utf-8', 'replace') if isinstance(resp, bytes) else resp}"
        return code, resp


class _RecordingSMTP_SSL(smtplib.SMTP_SSL):
    last_data_response: str | None = None

    def data(self, msg):
        code, resp = super().data(msg)
        self.last_data_response = f"{code} {resp.decode('utf-8', 'replace') if isinstance(resp, bytes) else resp}"
        return code, resp


class TimedConnection(Connection):
    """One SMTP session for many messages; ``send`` returns the server's answer."""

    def __init__(self, mail, timeout: float) -> None:
        super().__init__(mail)
        self.timeout = timeout

    def configure_host(self):
        cls = _RecordingSMTP_SSL if self.mail.use_ssl else _RecordingSMTP
        host = cls(self.mail.server, self.mail.port, timeout=self.timeout)
        host.set_debuglevel(int(self.mail.debug))
        if self.mail.use_tls:
            host.starttls()
        if self.mail.username and self.mail.password:
            host.login(self.mail.username, self.mail.password)
        return host

    def send(self, message: Message, envelope_from=None) -> str:
        super().send(message, envelope_from)
        if self.host is None:
            return "suppressed (MAIL_SUPPRESS_SEND)"
        return getattr(self.host, "last_data_response", None) or "250"

    def send_bytes(self, envelope_from: str, recipients: list[str], data: bytes) -> str:
        """Send an already composed message (notifications.mime); the server's answer to DATA."""
        if self.host is None:
            return "suppressed (MAIL_SUPPRESS_SEND)"
        self.host.sendmail(envelope_from, recipients, data)
        answer = getattr(self.host, "last_data_response", None) or "250"
        self.num_emails += 1
        if self.num_emails == self.mail.max_emails:  # MAIL_MAX_EMAILS per session, as Flask-Mail does
            self.num_emails = 0
            self.host.quit()
            self.host = self.configure_host()
        return answer

    def close(self) -> None:
        """Close the session, quietly if the server has already gone."""
        if self.host is not None:
            try:
                self.host.quit()
            except (smtplib.SMTPException, OSError):
                self.host.close()
            self.host = None

    def __exit__(self, exc_type, exc_value, tb) -> None:
        self.close()


class TimedMail(Mail):
    """``connect()`` re-reads the MAIL_* settings and applies MAIL_TIMEOUT to the socket."""

    def connect(self) -> TimedConnection:
        app = current_app
        if "mail" not in app.extensions:
            raise RuntimeError("Flask-Mail is not initialised on this app")
        state = self.init_mail(app.config, app.debug, app.testing)
        return TimedConnection(state, timeout=float(app.config.get("MAIL_TIMEOUT", 10)))
