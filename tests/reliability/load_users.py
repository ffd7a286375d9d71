"""Virtual commune officers for the deadline-day load test: each works one case at a time over the API.

A user takes the next case from the shared queue, reads it (ETag), saves its self scores and uploads
evidence for the sub-criteria that need it (unless the case had them already), submits, and takes the
next case, until time is up.
Every reply is logged with its latency; what the server accepted is kept to check against the database.
"""

from __future__ import annotations

import hashlib
import queue
import random
import threading
import time
from dataclasses import dataclass, field
from decimal import Decimal

from .load_data import EVIDENCE_ITEMS, SELF_ITEMS, Seat
from .load_server import Server, call, multipart, pdf


@dataclass
class Ledger:
    """What every user saw: each reply's (operation, status, seconds), and what the server accepted."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    replies: list[tuple[str, int, float]] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    saves: dict[tuple[int, str], Decimal] = field(default_factory=dict)   # last accepted self score
    save_count: int = 0
    evidence: dict[int, tuple[int, str, str]] = field(default_factory=dict)  # id -> (case, code, sha256)
    submits: list[int] = field(default_factory=list)
    unexpected: list[str] = field(default_factory=list)

    def note(self, op: str, reply, expected: int, case_id: int) -> bool:
        with self.lock:
            self.replies.append((op, reply.status, reply.seconds))
            if reply.status != expected:
                self.unexpected.append(f"{op} case {case_id}: {reply.status} {reply.body[:300]!r}")
        return reply.status == expected


def _score(rng: random.Random, maximum: int) -> Decimal:
    quarters = maximum * 4
    return Decimal(rng.randint(0, quarters)) / 4


def work(server: Server, seats: queue.Queue, stop_at: float, ledger: Ledger, rng: random.Random) -> None:
    """One user's session: case after case until ``stop_at`` (a request under way is finished)."""
    while time.monotonic() < stop_at:
        try:
            seat: Seat = seats.get_nowait()
        except queue.Empty:
            return
        try:
            _one_case(server, seat, stop_at, ledger, rng)
        except Exception as exc:  # noqa: BLE001 - a client-side failure (timeout, reset) is a finding
            with ledger.lock:
                ledger.errors.append(f"case {seat.case_id}: {type(exc).__name__}: {exc}")


def _one_case(server: Server, seat: Seat, stop_at: float, ledger: Ledger, rng: random.Random) -> None:
    base = f"/api/v1/cases/{seat.case_id}"
    reply = call(server, "GET", base, token=seat.token)
    if not ledger.note("read", reply, 200, seat.case_id):
        return
    etag = reply.etag
    for code, maximum in SELF_ITEMS.items() if not seat.scored else ():
        if time.monotonic() >= stop_at:
            return
        value = _score(rng, maximum)
        reply = call(server, "PATCH", f"{base}/scores/{code}", token=seat.token, headers={"If-Match": etag},
                     json_body={"self_score": str(value), "explanation": f"Đã thực hiện ({code})"})
        if not ledger.note("save", reply, 200, seat.case_id):
            return
        with ledger.lock:
            ledger.saves[(seat.case_id, code)] = value
            ledger.save_count += 1
        etag = reply.etag
    for code in EVIDENCE_ITEMS if not seat.evidenced else ():
        if time.monotonic() >= stop_at:
            return
        data = pdf(f"case {seat.case_id} item {code} {rng.random()}", size=rng.randint(2_000, 60_000))
        body, content_type = multipart({"code": code, "locator": "trang 1"}, "file", f"minh-chung-{code}.pdf",
                                       data, "application/pdf")
        reply = call(server, "POST", f"{base}/evidence", token=seat.token,
                     headers={"If-Match": etag, "Content-Type": content_type}, body=body)
        if not ledger.note("upload", reply, 201, seat.case_id):
            return
        with ledger.lock:
            ledger.evidence[reply.json()["id"]] = (seat.case_id, code, hashlib.sha256(data).hexdigest())
        etag = reply.etag
    if time.monotonic() >= stop_at:
        return
    reply = call(server, "POST", f"{base}/transitions/submit", token=seat.token, headers={"If-Match": etag},
                 json_body={})
    if ledger.note("submit", reply, 200, seat.case_id) and reply.json()["fired"]:
        with ledger.lock:
            ledger.submits.append(seat.case_id)


def percentile(sorted_values: list[float], p: float) -> float:
    """Nearest-rank percentile of already sorted values."""
    if not sorted_values:
        return float("nan")
    rank = max(1, min(len(sorted_values), round(p / 100 * len(sorted_values) + 0.5)))
    return sorted_values[rank - 1]


def summary(ledger: Ledger, elapsed: float, users: int, cases: int) -> str:
    """The figures of a run, one line per operation, latencies in milliseconds."""
    lines = [f"{users} users, {cases} cases, {elapsed:.1f} s: {len(ledger.replies)} requests, "
             f"{len(ledger.replies) / elapsed:.1f} req/s; {ledger.save_count} saves, {len(ledger.evidence)} uploads, "
             f"{len(ledger.submits)} submits"]
    for op in ("all", "read", "save", "upload", "submit"):
        times = sorted(s for o, _st, s in ledger.replies if op in ("all", o))
        if times:
            lines.append(f"  {op:7s} n={len(times):6d} p50={percentile(times, 50) * 1000:7.0f} "
                         f"p95={percentile(times, 95) * 1000:7.0f} p99={percentile(times, 99) * 1000:7.0f} ms")
    return "\n".join(lines)
