"""A thousand cases in self-assessment, quickly: rows added in bulk, one flush per kind of row.

Building them through the services (``cases.fire('open')`` and ``api_tokens.create_token`` one by one)
takes about 90 s for 1,000 cases on a shared machine; this is the setup of the load test, not what it
measures, so the rows are added directly: communes, officers, cases already in self-assessment, one API
token per officer (stored hashed, as the service stores it), and, for some cases, self scores and
evidence already filled in, so that even a short run reaches every kind of write, up to the submit.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass
from pathlib import Path

from models import ApiToken, Case, Commune, Evidence, Score, User, db
from states import Role, Stage
from workflow import api_tokens
from workflow.clock import utcnow

from .load_server import pdf

SELF_ITEMS = {"1.1.1": 1, "1.1.2": 2, "2.1.1": 2}   # the factory's tiny tree: self-assessed, their maxima
EVIDENCE_ITEMS = ("1.1.1", "2.1.1")
PREFILLED_FILE = pdf("prefilled evidence", 4096)


@dataclass(frozen=True)
class Seat:
    """One commune's case, its officer's API token, and how far the officer had got before the run."""

    case_id: int
    commune_code: str
    token: str
    scored: bool     # self scores saved already
    evidenced: bool  # evidence uploaded already


def open_cases(make, *, communes: int, evidence_dir: Path, key: str = "load") -> tuple[list[Seat], dict]:
    """``communes`` cases in self-assessment; a third untouched, a third scored, a third ready to submit.

    Returns the seats and the prefilled self scores {(case_id, code): points}. The prefilled evidence
    file is written into ``evidence_dir`` (the server's store) under its SHA-256, as the service does.
    """
    now = utcnow()
    campaign = make.campaign(key=key, communes=())
    items = {item.code: item for item in campaign.criteria_set.leaves()}
    authority = campaign.authority
    codes = [f"{50000 + i}" for i in range(communes)]
    rows = [Commune(code=code, name=f"Xã {code}", authority=authority) for code in codes]
    db.session.add_all(rows)
    db.session.flush()
    officers = [_officer(commune, key) for commune in rows]
    db.session.add_all(officers)
    case_rows = [Case(campaign=campaign, commune=commune, stage=Stage.self_assessment.value, created_at=now,
                      updated_at=now) for commune in rows]
    db.session.add_all(case_rows)
    raws = [api_tokens.PREFIX + hashlib.sha256(f"{key}-{code}".encode()).hexdigest() for code in codes]
    db.session.flush()
    db.session.add_all(ApiToken(user_id=officer.id, name="load test", token_sha256=api_tokens.digest(raw),
                                created_at=now) for officer, raw in zip(officers, raws, strict=True))

    sha256 = hashlib.sha256(PREFILLED_FILE).hexdigest()
    target = evidence_dir / sha256[:2] / sha256[2:4] / sha256
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(PREFILLED_FILE)
    prefilled: dict[tuple[int, str], object] = {}
    seats = []
    for i, (case, officer, raw) in enumerate(zip(case_rows, officers, raws, strict=True)):
        scored, evidenced = i % 3 >= 1, i % 3 == 2
        if scored:
            for code, maximum in SELF_ITEMS.items():
                db.session.add(Score(case_id=case.id, item_id=items[code].id, self_score=maximum,
                                     explanation="Đã thực hiện", updated_at=now, updated_by_id=officer.id))
                prefilled[(case.id, code)] = maximum
        if evidenced:
            for code in EVIDENCE_ITEMS:
                db.session.add(Evidence(case_id=case.id, item_id=items[code].id, file_name="minh-chung.pdf",
                                        sha256=sha256, size=len(PREFILLED_FILE), media_type="application/pdf",
                                        uploaded_by_id=officer.id, uploaded_at=now - dt.timedelta(hours=1)))
        seats.append(Seat(case.id, case.commune.code, raw, scored, evidenced))
    db.session.commit()
    return seats, prefilled


def _officer(commune: Commune, key: str) -> User:
    user = User(email=f"officer{commune.code}@{key}.example.vn", name=f"officer{commune.code}", commune=commune)
    user.grant(Role.commune_officer)
    return user
