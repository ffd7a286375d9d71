"""Many open cases, each with its commune officer's API token, built through the real services."""

from __future__ import annotations

from dataclasses import dataclass

from models import db
from workflow import api_tokens, cases
from workflow.clock import utcnow


@dataclass(frozen=True)
class Seat:
    """One commune's case in self-assessment, and the token of the officer who works on it."""

    case_id: int
    commune_code: str
    token: str


def open_cases(make, *, communes: int, key: str = "load") -> list[Seat]:
    """A campaign of ``communes`` cases, all opened (self-assessment), one officer token per case."""
    now = utcnow()
    codes = tuple(f"{50000 + i}" for i in range(communes))
    campaign = make.campaign(key=key, communes=codes)
    db.session.flush()
    seats = []
    for code in codes:
        case = make.case_of(campaign, code)
        cases.fire(case, "open", make.secretariat, now=now)
        _row, raw = api_tokens.create_token(make.officers[code], "load test", now=now)
        seats.append(Seat(case.id, code, raw))
    db.session.commit()
    return seats
