"""Flask-Mail with what delivery needs: a socket timeout, the SMTP server's answer to DATA, and a batch
sent over one session, pipelined (RFC 2920) when the server offers PIPELINING."""

from __future__ import annotations

import re
import smtplib
from collections.abc import Iterable, Iterator
from functools import lru_cache

from flask import current_app
from flask_mail import Connection, Mail, Message


class _BatchSMTP:
    """What a session of many messages needs from smtplib.SMTP (mixed into it and into SMTP_SSL).

    Keeps the server's answer to DATA ("250 2.0.0 Ok: queued as ...") as proof of hand-over, and quotes
    each envelope address once a batch: smtplib's mail() and rcpt() parse it on every call (~25 µs).
    """

    last_data_response: str | None = None

    def data(self, msg):
        code, resp = super().data(msg)
        self.last_data_response = f"{code} {resp.decode('utf-8', 'replace') if isinstance(resp, bytes) else resp}"
        return code, resp

    def mail(self, sender, options=()):
        if any(option.lower() == "smtputf8" for option in options):
            return super().mail(sender, options)  # it switches the command encoding, or refuses
        self.putcmd("mail", f"FROM:{_quoteaddr(sender)}{_options(self, options)}")
        return self.getreply()

    def rcpt(self, recip, options=()):
        self.putcmd("rcpt", f"TO:{_quoteaddr(recip)}{_options(self, options)}")
        return self.getreply()


def _options(host: smtplib.SMTP, options) -> str:
    """ESMTP parameters as smtplib writes them (dropped if the server did not answer EHLO)."""
    return " " + " ".join(options) if options and host.does_esmtp else ""


class _RecordingSMTP(_BatchSMTP, smtplib.SMTP):
    pass


class _RecordingSMTP_SSL(_BatchSMTP, smtplib.SMTP_SSL):
    pass


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

    def send_all(self, envelope_from: str,
                 messages: Iterable[tuple[list[str], bytes]]) -> Iterator[str | Exception]:
        """Send composed messages in order; yield, for each, the server's answer to DATA or what refused it.

        One result per message, in order. A 421 answer ends the session: the generator stops after
        yielding it, and the messages not yet answered were not sent. A broken session (OSError, e.g.
        SMTPServerDisconnected or a timeout) is raised: the message after the last one yielded may or may
        not have reached the server, and sending it again is the caller's choice (its Message-ID is stable).
        With PIPELINING offered, each message's MAIL, RCPT and DATA go out in one write together with the
        previous message's content, so a message costs one round trip instead of four.
        """
        if self.host is None:
            for _ in messages:
                yield "suppressed (MAIL_SUPPRESS_SEND)"
            return
        try:
            self.host.ehlo_or_helo_if_needed()
            pipelining = self.host.has_extn("pipelining")
        except smtplib.SMTPHeloError:
            pipelining = False  # sendmail raises it again, message by message, as it always did
        if not pipelining:
            yield from self._one_by_one(envelope_from, messages)
            return
        messages = list(messages)
        size = self.mail.max_emails or len(messages) or 1  # MAIL_MAX_EMAILS per session, as Flask-Mail does
        for start in range(0, len(messages), size):
            if start:
                self.host.quit()
                self.host = self.configure_host()
                self.host.ehlo_or_helo_if_needed()
            finished = yield from _pipelined(self.host, envelope_from, messages[start:start + size])
            if not finished:
                return

    def _one_by_one(self, envelope_from, messages) -> Iterator[str | Exception]:
        """smtplib's sendmail, command after command, for a server without PIPELINING."""
        for recipients, data in messages:
            try:
                answer = self.send_bytes(envelope_from, recipients, data)
            except smtplib.SMTPResponseException as exc:
                yield exc
                if exc.smtp_code == 421:
                    return
            except smtplib.SMTPRecipientsRefused as exc:
                yield exc
                if any(code == 421 for code, _ in exc.recipients.values()):
                    return  # smtplib has closed the session
            except OSError:  # the session broke (every other SMTPException is an OSError too)
                raise
            except Exception as exc:  # noqa: BLE001 - a message smtplib cannot put into commands
                yield exc
            else:
                yield answer

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


_LEADING_DOT = re.compile(rb"(?m)^\.")
_quoteaddr = lru_cache(maxsize=4096)(smtplib.quoteaddr)


def _command(line: str) -> bytes:
    """One SMTP command line, refused as smtplib's putcmd refuses it (a line break, non-ASCII)."""
    if "\r" in line or "\n" in line:
        raise ValueError("command and arguments contain prohibited newline characters")
    return (line + "\r\n").encode("ascii")


def _dot_stuffed(data: bytes) -> bytes:
    """The DATA content as smtplib's data() sends it: leading dots doubled, ended by CRLF.CRLF."""
    data = _LEADING_DOT.sub(b"..", data)
    return data + (b".\r\n" if data.endswith(b"\r\n") else b"\r\n.\r\n")


def _pipelined(host: smtplib.SMTP, envelope_from: str, messages: list[tuple[list[str], bytes]]):
    """RFC 2920 over smtplib's socket: returns False if a 421 ended the session.

    Each write holds the previous message's content (the one "command" RFC 2920 lets open a group)
    and this message's [RSET,] MAIL, RCPT..., DATA; the replies are then read in that order. Refusals
    stay per message: a refused sender or recipient fails that message only (RSET, then the next),
    exactly as smtplib.sendmail would have failed it.
    """
    size_option = host.does_esmtp and host.has_extn("size")
    carried = b""          # the previous message's content, accepted with 354, not yet sent
    rset = False           # the previous transaction failed: reset it first
    for recipients, data in messages:
        try:
            group = [_command(f"mail FROM:{_quoteaddr(envelope_from)}"
                              + (f" size={len(data)}" if size_option else ""))]
            group += [_command(f"rcpt TO:{_quoteaddr(rcpt)}") for rcpt in recipients]
        except ValueError as exc:  # nothing of this message is sent
            if carried:
                host.send(carried)
                carried = b""
                result, ended = _content_reply(host)
                yield result
                if ended:
                    return False
            yield exc
            continue
        host.send(b"".join([carried, b"rset\r\n" if rset else b"", *group, b"data\r\n"]))
        if carried:
            carried = b""
            result, ended = _content_reply(host)
            yield result
            if ended:
                return False
        if rset:
            rset = False
            code, resp = host.getreply()
            if code == 421:
                host.close()
                yield smtplib.SMTPResponseException(code, resp)
                return False
        code, resp = host.getreply()
        if code != 250:
            failure = smtplib.SMTPSenderRefused(code, resp, envelope_from)
            if code == 421:
                host.close()
                yield failure
                return False
        else:
            failure = None
        refusals = {}
        for rcpt in recipients:
            code, resp = host.getreply()
            if code not in (250, 251):
                refusals[rcpt] = (code, resp)
            if code == 421:
                host.close()
                yield failure or smtplib.SMTPRecipientsRefused(refusals)
                return False
        if failure is None and len(refusals) == len(recipients):
            failure = smtplib.SMTPRecipientsRefused(refusals)
        code, resp = host.getreply()
        if code == 354 and failure is None:
            carried = _dot_stuffed(data)
            continue
        if code == 354:  # a server that took DATA without a valid sender or recipient: end it, empty
            host.send(b".\r\n")
            host.getreply()
        elif code == 421:
            host.close()
            yield failure or smtplib.SMTPDataError(code, resp)
            return False
        yield failure or smtplib.SMTPDataError(code, resp)
        rset = True
    if carried:
        host.send(carried)
        result, ended = _content_reply(host)
        yield result
        if ended:
            return False
    return True


def _content_reply(host: smtplib.SMTP) -> tuple[str | Exception, bool]:
    """The server's answer to a message's content ("250 ..." or the refusal); True if a 421 ended the session."""
    code, resp = host.getreply()
    if code == 250:
        return f"{code} {resp.decode('utf-8', 'replace')}", False
    if code == 421:
        host.close()
    return smtplib.SMTPDataError(code, resp), code == 421
