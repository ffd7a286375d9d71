"""A real gunicorn server on 127.0.0.1 for the reliability tests, and a small HTTP client for it.

The server runs the production settings (``CCHC_ENV=production``) on the test's database, with its own
evidence store under the test's tmp_path; nothing here listens beyond 127.0.0.1.
"""

from __future__ import annotations

import http.client
import http.cookies
import json
import os
import secrets
import subprocess
import sys
import time
import urllib.parse
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from config import ROOT
from tests.notifications.conftest import free_port

GUNICORN = Path(sys.executable).with_name("gunicorn")


@dataclass
class Server:
    """A running gunicorn: its address, process, log and evidence store."""

    host: str
    port: int
    proc: subprocess.Popen
    log: Path
    evidence_dir: Path
    application_name: str

    def output(self) -> str:
        return self.log.read_text("utf-8", "replace")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def server_env(database_url: str, evidence_dir: Path, application_name: str) -> dict:
    """Production settings on the test's database (PostgreSQL sessions named for pg_stat_activity)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SCHEDULER_", "OUTBOX_", "MAIL_", "CCHC_"))}
    url = database_url
    if url.startswith("postgresql"):
        url += ("&" if "?" in url else "?") + f"application_name={application_name}"
    env.update({"CCHC_ENV": "production", "DATABASE_URL": url, "SECRET_KEY": secrets.token_hex(16),
                "EVIDENCE_DIR": str(evidence_dir), "SCHEDULER_IN_WEB": "false", "MAIL_SERVER": "127.0.0.1",
                "MAIL_PORT": "9", "PYTHONUNBUFFERED": "1"})
    return env


def start_gunicorn(database_url: str, tmp_path: Path, *, workers: int = 4, threads: int = 8,
                   name: str = "web", preexec_fn=None, timeout: float = 90,
                   evidence_dir: Path | None = None) -> Server:
    """``gunicorn 'wsgi:create_app()'`` with ``workers`` x ``threads`` (gthread); waits until it answers."""
    if not GUNICORN.exists():
        raise RuntimeError(f"gunicorn is not installed next to {sys.executable}: pip install -e '.[test]'")
    port = free_port()
    evidence = evidence_dir or tmp_path / f"{name}-evidence"
    log = tmp_path / f"{name}.log"
    application_name = f"h7-{name}-{uuid.uuid4().hex[:8]}"
    with open(log, "ab") as out:
        proc = subprocess.Popen(
            [str(GUNICORN), "--bind", f"127.0.0.1:{port}", "--workers", str(workers), "--worker-class", "gthread",
             "--threads", str(threads), "--timeout", "120", "--graceful-timeout", "5", "--backlog", "512",
             # the app is built once and forked: safe, create_app opens no database connection
             "--preload", "wsgi:create_app()"],
            cwd=ROOT, env=server_env(database_url, evidence, application_name), stdout=out,
            stderr=subprocess.STDOUT, preexec_fn=preexec_fn)
    server = Server("127.0.0.1", port, proc, log, evidence, application_name)
    deadline = time.monotonic() + timeout
    while True:
        if proc.poll() is not None:
            raise AssertionError(f"gunicorn exited ({proc.returncode}):\n{server.output()[-3000:]}")
        try:
            if call(server, "GET", "/api/v1/openapi.json", timeout=5).status == 200:
                return server
        except OSError:
            pass
        if time.monotonic() > deadline:
            server.stop()
            raise AssertionError(f"gunicorn did not answer within {timeout} s:\n{server.output()[-3000:]}")
        time.sleep(0.2)


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    body: bytes
    seconds: float = 0.0
    extra: dict = field(default_factory=dict)

    def json(self):
        return json.loads(self.body)

    @property
    def etag(self) -> str | None:
        return self.headers.get("etag")


def call(server: Server, method: str, path: str, *, token: str | None = None, headers: dict | None = None,
         body: bytes | None = None, json_body=None, timeout: float = 120) -> Reply:
    """One HTTP request on a new connection; the reply with how long it took."""
    sent = dict(headers or {})
    if token:
        sent["Authorization"] = f"Bearer {token}"
    if json_body is not None:
        body = json.dumps(json_body).encode("utf-8")
        sent["Content-Type"] = "application/json"
    conn = http.client.HTTPConnection(server.host, server.port, timeout=timeout)
    started = time.perf_counter()
    try:
        conn.request(method, path, body=body, headers=sent)
        response = conn.getresponse()
        data = response.read()
        return Reply(response.status, {k.lower(): v for k, v in response.getheaders()}, data,
                     time.perf_counter() - started)
    finally:
        conn.close()


def multipart(fields: dict[str, str], file_field: str, file_name: str, data: bytes,
              media_type: str) -> tuple[bytes, str]:
    """A multipart/form-data body and its Content-Type."""
    boundary = "h7-" + uuid.uuid4().hex
    parts = []
    for name, value in fields.items():
        parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode())
    parts.append((f'--{boundary}\r\nContent-Disposition: form-data; name="{file_field}"; filename="{file_name}"\r\n'
                  f"Content-Type: {media_type}\r\n\r\n").encode() + data + b"\r\n")
    parts.append(f"--{boundary}--\r\n".encode())
    return b"".join(parts), f"multipart/form-data; boundary={boundary}"


def pdf(label: str, size: int = 0) -> bytes:
    """A small PDF-looking file (the checks read the magic bytes), unique per ``label``, padded to ``size``."""
    data = b"%PDF-1.4\n% " + label.encode("utf-8") + b"\n"
    return data + b"0" * max(size - len(data), 0)


class Browser:
    """A cookie-keeping client for the pages (the session cookie is Secure in production: kept anyway,
    since the test talks plain HTTP on 127.0.0.1)."""

    def __init__(self, server: Server):
        self.server = server
        self.cookies: dict[str, str] = {}

    def request(self, method: str, path: str, **kwargs) -> Reply:
        headers = dict(kwargs.pop("headers", None) or {})
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        reply = call(self.server, method, path, headers=headers, **kwargs)
        for name, value in _set_cookies(reply):
            self.cookies[name] = value
        return reply

    def form(self, path: str, fields: dict[str, str]) -> Reply:
        body = urllib.parse.urlencode(fields).encode()
        return self.request("POST", path, body=body, headers={"Content-Type": "application/x-www-form-urlencoded"})


def _set_cookies(reply: Reply):
    # http.client folds repeated headers into one; a session cookie is all the pages set here
    raw = reply.headers.get("set-cookie")
    if raw:
        jar = http.cookies.SimpleCookie()
        jar.load(raw)
        for name, morsel in jar.items():
            yield name, morsel.value
