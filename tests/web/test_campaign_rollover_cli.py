"""`flask campaign next` and the page that does the same: show the proposed plan, load it, refuse clearly."""

from __future__ import annotations

import re

import pytest
import yaml
from sqlalchemy import func, select

from config import ROOT
from models import AuditEvent, Campaign, Case, User
from states import Role
from tests.web.helpers import csrf_of, logged_in, password_hash
from workflow import plans
from workflow.criteria_sets import load_criteria_file

PLAN_FILE = ROOT / "examples" / "plan-nui-thanh-2023.yaml"
CRITERIA_FILE = ROOT / "examples" / "criteria-quang-dien-xa-2019.json"


@pytest.fixture
def source(db, now):
    load_criteria_file(CRITERIA_FILE, actor=None, now=now)
    campaign = plans.load_plan_file(PLAN_FILE, actor=None, now=now).campaign
    db.session.commit()
    return campaign


@pytest.fixture
def cli(app):
    runner = app.test_cli_runner()
    return lambda *args, input=None: runner.invoke(args=list(args), input=input)


def _user(db, role: Role) -> User:
    return next(u for u in db.session.scalars(select(User).order_by(User.id)) if role in u.roles)


def _counts(db) -> tuple:
    return tuple(db.session.scalar(select(func.count()).select_from(m)) for m in (Campaign, Case, AuditEvent))


def test_next_shows_the_plan_and_opens_the_campaign(cli, source, db):
    head = _user(db, Role.secretariat_head)
    result = cli("campaign", "next", "--from", "nui-thanh-2023", "--key", "nui-thanh-2024", "--year", "2024",
                 "--yes", "--actor", head.email, "--now", "2024-01-15T09:00")
    assert result.exit_code == 0, result.output
    assert "stages.self_assessment.due: 2023-11-10 -> 2024-11-11" in result.output
    assert "key: nui-thanh-2024" in result.output
    assert result.output.strip().endswith("campaign nui-thanh-2024 opened from nui-thanh-2023: 17 case(s); "
                                          "0 open remediation item(s) carried forward")
    new = db.session.scalar(select(Campaign).where(Campaign.key == "nui-thanh-2024"))
    assert new.previous_campaign_id == source.id and new.due_for("appraisal").raw == "2024-12-16"


def test_next_asks_first_and_a_no_writes_nothing(cli, source, db):
    head = _user(db, Role.secretariat_head)
    counts = _counts(db)
    result = cli("campaign", "next", "--from", "nui-thanh-2023", "--key", "nui-thanh-2024", "--year", "2024",
                 "--actor", head.email, input="n\n")
    assert result.exit_code == 1 and "nothing loaded" in result.output
    assert _counts(db) == counts


@pytest.mark.parametrize(("args", "message"), [
    (("--key", "nui-thanh-2023", "--year", "2024"), "a campaign with key nui-thanh-2023 already exists"),
    (("--key", "nui-thanh-2024", "--year", "2023"), "the new year must come after 2023"),
    (("--key", "nui-thanh-2024",), "give --key and --year"),
])
def test_next_refusals_are_one_line_and_write_nothing(cli, source, db, args, message):
    head = _user(db, Role.secretariat_head)
    counts = _counts(db)
    result = cli("campaign", "next", "--from", "nui-thanh-2023", *args, "--yes", "--actor", head.email)
    assert result.exit_code != 0 and message in result.output, result.output
    assert "Traceback" not in result.output
    assert _counts(db) == counts


def test_next_is_refused_to_a_commune_officer(cli, source, db):
    officer = _user(db, Role.commune_officer)
    result = cli("campaign", "next", "--from", "nui-thanh-2023", "--key", "nui-thanh-2024", "--year", "2024",
                 "--yes", "--actor", officer.email)
    assert result.exit_code == 1 and "Only the secretariat" in result.output


def test_write_then_load_an_edited_plan(cli, source, db, tmp_path):
    head = _user(db, Role.secretariat_head)
    path = tmp_path / "plan-2024.yaml"
    written = cli("campaign", "next", "--from", "nui-thanh-2023", "--key", "nui-thanh-2024", "--year", "2024",
                  "--write", str(path), "--actor", head.email)
    assert written.exit_code == 0 and "nothing loaded" in written.output
    assert db.session.scalar(select(Campaign).where(Campaign.key == "nui-thanh-2024")) is None
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    data["campaign"]["title"] = "Kế hoạch năm 2024 (đã sửa)"
    data["campaign"]["reference"] = "15/QĐ-UBND ngày 10/01/2024"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    loaded = cli("campaign", "next", "--from", "nui-thanh-2023", "--plan", str(path), "--yes",
                 "--actor", head.email)
    assert loaded.exit_code == 0, loaded.output
    new = db.session.scalar(select(Campaign).where(Campaign.key == "nui-thanh-2024"))
    assert new.title == "Kế hoạch năm 2024 (đã sửa)" and new.reference.startswith("15/QĐ-UBND")


def test_the_page_proposes_then_loads_the_edited_plan(app, source, db):
    head = _user(db, Role.secretariat_head)
    head.password_hash = password_hash()
    db.session.commit()
    client = logged_in(app, head)
    form = client.get("/campaigns/nui-thanh-2023/next")
    assert form.status_code == 200 and 'value="nui-thanh-2024"' in form.get_data(as_text=True)
    bad_year = client.get("/campaigns/nui-thanh-2023/next?new_key=nui-thanh-2024&year=hai-nghin")
    assert bad_year.status_code == 422 and 'data-error="year"' in bad_year.get_data(as_text=True)
    assert client.get("/campaigns/no-such/next").status_code == 404
    page = client.get("/campaigns/nui-thanh-2023/next?new_key=nui-thanh-2024&year=2024&title=")
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert 'data-path="stages.self_assessment.due" data-after="2024-11-11"' in html
    assert "<td>10/11/2024</td>" in html and "<td>11/11/2024</td>" in html  # dates as dd/mm/yyyy
    assert "chuyển sang ngày làm việc tiếp theo (Điều 148 BLDS 2015)" in html  # the reason, in Vietnamese
    download = client.get("/campaigns/nui-thanh-2023/next/plan.yaml?new_key=nui-thanh-2024&year=2024")
    assert download.headers["Content-Disposition"] == 'attachment; filename="plan-nui-thanh-2024.yaml"'
    plan_text = download.get_data(as_text=True)
    assert yaml.safe_load(plan_text)["stages"]["appraisal"]["due"] == "2024-12-16"

    # a broken edit is refused with its place in the file; nothing is written
    counts = _counts(db)
    action = re.search(r'id="rollover-load" action="([^"]+)"', html).group(1).replace("&amp;", "&")
    bad = client.post(action, data={"csrf_token": csrf_of(html),
                                    "plan": plan_text.replace("due: '2024-12-16'", "due: '2024-12-32'", 1)})
    assert bad.status_code == 422 and 'data-path="stages.appraisal.due"' in bad.get_data(as_text=True)
    typo = client.post(action, data={"csrf_token": csrf_of(html), "plan": plan_text + "remiders: {}\n"})
    assert 'data-path="remiders"' in typo.get_data(as_text=True)
    assert "khóa cấp cao nhất không hợp lệ (các khối của kế hoạch là: " in typo.get_data(as_text=True)
    assert _counts(db) == counts
    taken = client.post(action, data={"csrf_token": csrf_of(html),
                                      "plan": plan_text.replace("key: nui-thanh-2024", "key: nui-thanh-2023")})
    assert taken.status_code == 422
    assert "đã có đợt đánh giá mã nui-thanh-2023 (năm 2023); hãy chọn mã khác" in taken.get_data(as_text=True)
    assert _counts(db) == counts

    done = client.post(action, data={"csrf_token": csrf_of(html), "plan": plan_text})
    assert done.status_code == 303 and done.headers["Location"].endswith("/dashboard?campaign=nui-thanh-2024")
    assert db.session.scalar(select(func.count(Case.id)).join(Campaign).where(Campaign.key == "nui-thanh-2024")) == 17
    missing_csrf = client.post(action, data={"plan": plan_text})
    assert missing_csrf.status_code == 400


def test_the_page_is_refused_to_the_authority_leader_and_officers(app, source, db):
    counts = _counts(db)
    for role in (Role.commune_officer, Role.authority_leader):
        user = _user(db, role)
        user.password_hash = password_hash()
        db.session.commit()
        client = logged_in(app, user)
        assert client.get("/campaigns/nui-thanh-2023/next").status_code == 403
        token = csrf_of(client.get("/account").get_data(as_text=True))
        response = client.post("/campaigns/nui-thanh-2023/next?new_key=nui-thanh-2024&year=2024",
                               data={"csrf_token": token, "plan": "campaign: {key: nui-thanh-2024}"})
        assert response.status_code == 403
    assert _counts(db) == counts
