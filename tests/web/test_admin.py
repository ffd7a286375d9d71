"""The administration pages: admin-only access, accounts, communes, file loads, schedule preview, start."""

from __future__ import annotations

import datetime as dt
import html as html_lib
import io
import json
import re

import pytest
import yaml
from sqlalchemy import func, select

from config import ROOT
from models import (
    AuditEvent,
    Authority,
    Campaign,
    Case,
    Commune,
    CriteriaItem,
    CriteriaSet,
    Deadline,
    User,
    UserRole,
)
from states import Role, Stage
from tests.web.helpers import PASSWORD, csrf_of, logged_in, login
from workflow import reminders
from workflow.clock import LOCAL_TZ
from workflow.criteria_sets import load_criteria_file
from workflow.schemas.common import PlanLoader

CRITERIA_FILE = ROOT / "examples" / "criteria-quang-dien-xa-2019.json"
PLAN_FILE = ROOT / "examples" / "plan-nui-thanh-2023.yaml"


def _token(client) -> str:
    return csrf_of(client.get("/cases").get_data(as_text=True))


def _post(client, url: str, data: dict | None = None, **kwargs):
    return client.post(url, data={**(data or {}), "csrf_token": _token(client)}, **kwargs)


def _text(response) -> str:
    return response.get_data(as_text=True)


def _errors_for(html: str, field: str) -> list[str]:
    return re.findall(rf'data-error-for="{field}">([^<]+)<', html)


def _user(db, email: str) -> User | None:
    return db.session.scalar(select(User).where(User.email == email))


def _count(db, model) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


def _routes(world) -> list[tuple[str, str]]:
    user_id, commune_id = world.officers["10001"].id, world.officers["10001"].commune_id
    key = world.campaign_obj.key
    return [
        ("GET", "/admin"), ("GET", "/admin/users"), ("GET", "/admin/users/new"), ("POST", "/admin/users/new"),
        ("GET", f"/admin/users/{user_id}"), ("POST", f"/admin/users/{user_id}"),
        ("POST", f"/admin/users/{user_id}/active"), ("POST", f"/admin/users/{user_id}/password"),
        ("GET", "/admin/communes"), ("GET", "/admin/communes/new"), ("POST", "/admin/communes/new"),
        ("GET", f"/admin/communes/{commune_id}"), ("POST", f"/admin/communes/{commune_id}"),
        ("GET", "/admin/criteria"), ("POST", "/admin/criteria"), ("GET", "/admin/plans"), ("POST", "/admin/plans"),
        ("GET", "/admin/campaigns"), ("GET", f"/admin/campaigns/{key}"),
        ("GET", f"/admin/campaigns/{key}/start"), ("POST", f"/admin/campaigns/{key}/start"),
    ]


NON_ADMINS = {
    "secretariat": lambda w: w.secretariat,
    "secretariat_head": lambda w: w.head,
    "authority_leader": lambda w: w.leader,
    "commune_officer": lambda w: w.officers["10001"],
    "commune_chair": lambda w: w.chairs["10002"],
    "council_chair": lambda w: w.council[0],
    "council_member": lambda w: w.council[1],
    "auditor": lambda w: w.auditor,
}


def _admin_rule_urls(app) -> set[str]:
    return {rule.rule for rule in app.url_map.iter_rules() if rule.endpoint.startswith("admin.")}


def test_the_route_list_covers_every_admin_route(app, world):
    listed = {re.sub(r"/\d+", "/<int:id>", url).replace(world.campaign_obj.key, "<key>")
              for _, url in _routes(world)}
    rules = {re.sub(r"<int:\w+>", "<int:id>", r) for r in _admin_rule_urls(app)}
    assert rules == listed


@pytest.mark.parametrize("role", sorted(NON_ADMINS))
def test_every_admin_route_is_403_for_a_non_admin(app, world, db, role):
    client = logged_in(app, NON_ADMINS[role](world))
    token = _token(client)
    seq_before = _count(db, AuditEvent)
    for method, url in _routes(world):
        if method == "GET":
            response = client.get(url)
        else:
            response = client.post(url, data={"csrf_token": token, "confirm": "yes", "active": "0",
                                              "password": "mot-mat-khau-rat-dai", "roles": ["admin"],
                                              "name": "x", "code": "99999", "authority": "x"})
        assert response.status_code == 403, (role, method, url)
        assert "Traceback" not in _text(response)
    assert _count(db, AuditEvent) == seq_before
    assert world.officers["10001"].check_password(PASSWORD)


def test_anonymous_visitors_are_sent_to_log_in(app, world):
    response = app.test_client().get("/admin/users")
    assert response.status_code == 302 and "/login" in response.headers["Location"]


def test_a_deactivated_admin_is_refused(app, world, db):
    client = logged_in(app, world.admin)
    world.admin.active = False
    db.session.commit()
    assert client.get("/admin").status_code in (302, 403)


def test_the_start_page_counts_and_links(app, world):
    client = logged_in(app, world.admin)
    html = _text(client.get("/admin"))
    total_users = _count(world.db, User)
    assert re.search(rf'data-count="users">\s*<strong>{total_users}</strong>', html)
    assert re.search(r'data-count="communes">\s*<strong>2</strong>', html)
    for url in ("/admin/users", "/admin/communes", "/admin/criteria", "/admin/plans", "/admin/campaigns"):
        assert f'href="{url}"' in html


# --- users ---------------------------------------------------------------------------------------


def test_users_list_search_role_and_commune_filters(app, world):
    client = logged_in(app, world.admin)
    html = _text(client.get("/admin/users?q=officer"))
    assert set(re.findall(r'data-user="([^"]+)"', html)) == {world.officers["10001"].email,
                                                             world.officers["10002"].email}
    commune_id = world.officers["10002"].commune_id
    html = _text(client.get(f"/admin/users?role=commune_chair&commune={commune_id}"))
    assert re.findall(r'data-user="([^"]+)"', html) == [world.chairs["10002"].email]


def test_users_list_is_paginated(app, world):
    for i in range(30):
        world.user(f"extra{i:02d}@example.vn", Role.auditor)
    world.db.session.commit()
    client = logged_in(app, world.admin)
    first = _text(client.get("/admin/users"))
    second = _text(client.get("/admin/users?page=2"))
    assert len(re.findall(r'data-user="', first)) == 25
    assert 'data-pages="2"' in first and 'rel="next"' in first
    assert len(re.findall(r'data-user="', second)) == _count(world.db, User) - 25


def test_create_an_officer_needs_a_commune_and_keeps_what_was_typed(app, world, db):
    client = logged_in(app, world.admin)
    form = {"email": "moi@example.vn", "name": "Cán bộ Mới", "locale": "vi", "roles": ["commune_officer"],
            "commune_id": ""}
    response = _post(client, "/admin/users/new", form)
    assert response.status_code == 422
    html = _text(response)
    assert len(_errors_for(html, "commune_id")) == 1
    assert 'value="moi@example.vn"' in html and 'value="Cán bộ Mới"' in html
    assert re.search(r'value="commune_officer" checked', html)
    assert _user(db, "moi@example.vn") is None

    commune_id = world.officers["10001"].commune_id
    response = _post(client, "/admin/users/new", {**form, "commune_id": str(commune_id)})
    assert response.status_code == 303
    user = _user(db, "moi@example.vn")
    assert user.roles == {Role.commune_officer} and user.commune_id == commune_id
    assert response.headers["Location"].endswith(f"/admin/users/{user.id}")


def test_create_an_auditor_without_a_commune(app, world, db):
    client = logged_in(app, world.admin)
    response = _post(client, "/admin/users/new", {"email": "thanhtra@example.vn", "name": "Thanh tra",
                                                  "locale": "en", "roles": ["auditor"], "commune_id": "",
                                                  "password": "thanh-tra-2023"})
    assert response.status_code == 303
    user = _user(db, "thanhtra@example.vn")
    assert user.commune_id is None and user.locale == "en"
    assert login(app.test_client(), "thanhtra@example.vn", "thanh-tra-2023").status_code == 302


def test_a_duplicate_email_is_refused_beside_the_field(app, world, db):
    client = logged_in(app, world.admin)
    users_before = _count(db, User)
    response = _post(client, "/admin/users/new", {"email": world.auditor.email.upper(), "name": "Trùng",
                                                  "locale": "vi", "roles": ["auditor"]})
    assert response.status_code == 422
    html = _text(response)
    [message] = _errors_for(html, "email")
    assert re.search(r'id="email"[^>]*aria-invalid="true"', html)
    assert "Trùng" in html
    assert _errors_for(html, "name") == [] and _count(db, User) == users_before


def _all_audit_json(db) -> str:
    rows = db.session.execute(select(AuditEvent.before, AuditEvent.after, AuditEvent.subject)).all()
    return json.dumps([list(r) for r in rows], ensure_ascii=False)


def test_a_roles_edit_is_audited_without_any_password_hash(app, world, db):
    client = logged_in(app, world.admin)
    target = world.council[1]
    response = _post(client, f"/admin/users/{target.id}", {"name": target.name, "locale": "vi",
                                                            "roles": ["council_member", "auditor"],
                                                            "commune_id": ""})
    assert response.status_code == 303
    db.session.expire_all()
    assert target.roles == {Role.council_member, Role.auditor}
    [event] = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "user.updated",
                                                          AuditEvent.subject == target.email)).all()
    assert event.before == {"roles": ["council_member"]}
    assert event.after == {"roles": ["auditor", "council_member"]}
    assert event.actor == world.admin.email and event.case_id is None
    dumped = _all_audit_json(db)
    for user in db.session.scalars(select(User).where(User.password_hash.is_not(None))):
        assert user.password_hash not in dumped
    assert "pbkdf2" not in dumped and "scrypt" not in dumped


def test_a_roles_edit_keeps_the_form_on_a_commune_problem(app, world, db):
    client = logged_in(app, world.admin)
    target = world.auditor
    response = _post(client, f"/admin/users/{target.id}", {"name": "Tên mới", "locale": "vi",
                                                            "roles": ["commune_chair"], "commune_id": ""})
    assert response.status_code == 422
    html = _text(response)
    assert len(_errors_for(html, "commune_id")) == 1 and 'value="Tên mới"' in html
    db.session.expire_all()
    assert target.roles == {Role.auditor} and target.name != "Tên mới"


def test_a_new_password_works_for_login_and_is_audited_without_it(app, world, db, caplog):
    client = logged_in(app, world.admin)
    target = world.officers["10002"]
    url = f"/admin/users/{target.id}/password"
    short = _post(client, url, {"password": "ngắn"})
    assert short.status_code == 422 and len(_errors_for(_text(short), "password")) == 1
    new = "mật-khẩu-mới-2023"
    response = _post(client, url, {"password": new})
    assert response.status_code == 303
    assert login(app.test_client(), target.email, new).status_code == 302
    assert login(app.test_client(), target.email, PASSWORD).status_code == 401
    [event] = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "user.password_set")).all()
    assert event.subject == target.email and event.after == {"password_changed": True}
    dumped = _all_audit_json(db)
    assert new not in dumped and "ngắn" not in dumped
    db.session.refresh(target)
    assert target.password_hash not in dumped
    assert new not in caplog.text
    assert new not in _text(client.get(f"/admin/users/{target.id}"))


def test_the_last_admin_cannot_be_deactivated_nor_deactivate_themself(app, world, db):
    client = logged_in(app, world.admin)
    url = f"/admin/users/{world.admin.id}/active"
    response = _post(client, url, {"active": "0"})
    assert response.status_code == 422 and len(_errors_for(_text(response), "active")) == 1
    response = _post(client, f"/admin/users/{world.admin.id}", {"name": world.admin.name, "locale": "vi",
                                                                 "roles": ["auditor"]})
    assert response.status_code == 422 and len(_errors_for(_text(response), "roles")) == 1
    db.session.expire_all()
    assert world.admin.active and Role.admin in world.admin.roles

    # a second admin may deactivate the first only while another active admin remains
    second = world.user("admin2@example.vn", Role.admin, password=PASSWORD)
    db.session.commit()
    other = logged_in(app, second)
    assert _post(other, url, {"active": "0"}).status_code == 303
    db.session.expire_all()
    assert not world.admin.active
    assert login(app.test_client(), world.admin.email).status_code == 401
    # now ``second`` is the last active admin: nobody can take that away
    response = _post(other, f"/admin/users/{second.id}/active", {"active": "0"})
    assert response.status_code == 422
    assert _post(other, url, {"active": "1"}).status_code == 303
    db.session.expire_all()
    assert world.admin.active
    actions = db.session.scalars(select(AuditEvent.action).where(AuditEvent.subject == world.admin.email)
                                 .order_by(AuditEvent.seq)).all()
    assert actions == ["user.deactivated", "user.activated"]


def test_deactivating_a_user_stops_their_login(app, world, db):
    client = logged_in(app, world.admin)
    target = world.secretariat
    assert _post(client, f"/admin/users/{target.id}/active", {"active": "0"}).status_code == 303
    assert login(app.test_client(), target.email).status_code == 401
    html = _text(client.get("/admin/users?status=inactive"))
    assert re.findall(r'data-user="([^"]+)"', html) == [target.email]


# --- communes ------------------------------------------------------------------------------------


def test_commune_create_and_edit(app, world, db):
    client = logged_in(app, world.admin)
    authority = world.campaign_obj.authority.name
    response = _post(client, "/admin/communes/new", {"code": "20400", "name": "Xã Tam Hải",
                                                     "authority": authority, "email": "", "phone": "0235 123",
                                                     "address": ""})
    assert response.status_code == 303
    commune = db.session.scalar(select(Commune).where(Commune.code == "20400"))
    assert commune.name == "Xã Tam Hải" and commune.authority.name == authority and commune.phone == "0235 123"
    assert 'data-commune="20400"' in _text(client.get("/admin/communes?q=hải"))

    taken = _post(client, "/admin/communes/new", {"code": "10001", "name": "Trùng mã", "authority": authority})
    assert taken.status_code == 422
    assert len(_errors_for(_text(taken), "code")) == 1 and 'value="Trùng mã"' in _text(taken)
    assert _count(db, Commune) == 3

    response = _post(client, f"/admin/communes/{commune.id}", {"code": "20400", "name": "Xã Tam Hải (sửa)",
                                                               "authority": "UBND tỉnh Quảng Nam",
                                                               "phone": "0235 123"})
    assert response.status_code == 303
    db.session.expire_all()
    assert commune.name == "Xã Tam Hải (sửa)" and commune.authority.name == "UBND tỉnh Quảng Nam"
    assert db.session.scalar(select(Authority).where(Authority.name == "UBND tỉnh Quảng Nam")) is not None
    events = {e.action: e for e in db.session.scalars(select(AuditEvent).where(
        AuditEvent.action.in_(["commune.created", "commune.updated", "authority.created"])))}
    assert events["commune.updated"].before == {"authority": authority, "name": "Xã Tam Hải"}
    assert events["commune.updated"].after == {"authority": "UBND tỉnh Quảng Nam", "name": "Xã Tam Hải (sửa)"}
    assert events["commune.created"].subject == "20400"
    assert events["authority.created"].subject == "UBND tỉnh Quảng Nam"


# --- criteria sets and plan files ----------------------------------------------------------------


def _upload(client, url: str, content: bytes, filename: str):
    return client.post(url, data={"csrf_token": _token(client), "file": (io.BytesIO(content), filename)},
                       content_type="multipart/form-data")


def _problem_paths(html: str) -> list[str]:
    return [html_lib.unescape(p) for p in re.findall(r'<tr data-path="([^"]*)"', html)]


def test_a_good_criteria_file_creates_the_set(app, world, db):
    client = logged_in(app, world.admin)
    response = _upload(client, "/admin/criteria", CRITERIA_FILE.read_bytes(), "criteria.json")
    assert response.status_code == 303
    html = _text(client.get(response.headers["Location"]))
    assert 'data-created="1"' in html and 'data-label="quang-dien-xa-2019' in html
    cs = db.session.scalar(select(CriteriaSet).where(CriteriaSet.key == "quang-dien-xa-2019"))
    assert cs is not None and cs.version == 1
    assert db.session.scalar(select(AuditEvent.actor).where(AuditEvent.action == "criteria.loaded")) == \
        world.admin.email
    # the same file again: unchanged, no new version
    again = _upload(client, "/admin/criteria", CRITERIA_FILE.read_bytes(), "criteria.json")
    assert 'data-created="0"' in _text(client.get(again.headers["Location"]))
    assert _count(db, CriteriaSet) == 2  # the factory's set and this one


def test_a_bad_criteria_file_lists_problems_by_path_and_creates_nothing(app, world, db):
    data = json.loads(CRITERIA_FILE.read_text(encoding="utf-8"))
    data["items"][0]["max_points"] = "nhiều"
    del data["year"]
    client = logged_in(app, world.admin)
    sets_before, items_before = _count(db, CriteriaSet), _count(db, CriteriaItem)
    response = _upload(client, "/admin/criteria", json.dumps(data, ensure_ascii=False).encode(), "bad.json")
    assert response.status_code == 422
    paths = _problem_paths(_text(response))
    assert "year" in paths and "items[0].max_points" in paths
    assert (_count(db, CriteriaSet), _count(db, CriteriaItem)) == (sets_before, items_before)


def test_criteria_syntax_errors_show_their_line_and_other_files_are_refused(app, world, db):
    client = logged_in(app, world.admin)
    response = _upload(client, "/admin/criteria", b'{\n  "id": "x",\n  "year": 2019,,\n}', "broken.json")
    assert response.status_code == 422
    assert _problem_paths(_text(response)) == ["line 3, column 16"]
    wrong = _upload(client, "/admin/criteria", b"id,year\n", "criteria.csv")
    assert wrong.status_code == 422 and 'id="upload-refusal"' in _text(wrong)
    binary = _upload(client, "/admin/criteria", b"\x89PNG\x00\x00", "criteria.json")
    assert binary.status_code == 422 and 'id="upload-refusal"' in _text(binary)
    empty = client.post("/admin/criteria", data={"csrf_token": _token(client)})
    assert empty.status_code == 422 and 'id="upload-refusal"' in _text(empty)


def test_an_upload_over_the_size_limit_is_refused(app, world, db):
    app.config["ADMIN_UPLOAD_MAX_BYTES"] = 1024
    client = logged_in(app, world.admin)
    response = _upload(client, "/admin/plans", b"# " + b"x" * 2000 + b"\n", "plan.yaml")
    assert response.status_code == 422 and 'id="upload-refusal"' in _text(response)


@pytest.fixture
def criteria(world, db, now):
    load_criteria_file(CRITERIA_FILE, actor=None, now=now)
    db.session.commit()


TABLES = (Authority, Campaign, Case, Commune, User, UserRole, AuditEvent, Deadline)


def _counts(db) -> dict[str, int]:
    return {m.__name__: _count(db, m) for m in TABLES}


def test_a_good_plan_file_creates_the_campaign_and_reports_it(app, world, db, criteria):
    client = logged_in(app, world.admin)
    response = _upload(client, "/admin/plans", PLAN_FILE.read_bytes(), "plan-nui-thanh-2023.yaml")
    assert response.status_code == 303
    html = _text(client.get(response.headers["Location"]))
    assert 'data-campaign="nui-thanh-2023"' in html and 'data-changed="1"' in html
    assert re.search(r'data-kind="case">.*?data-created="17"', html, re.S)
    campaign = db.session.scalar(select(Campaign).where(Campaign.key == "nui-thanh-2023"))
    assert _count(db, Case) == 2 + 17
    assert campaign.plan_sha256 is not None
    # loading it again changes nothing
    again = _upload(client, "/admin/plans", PLAN_FILE.read_bytes(), "plan-nui-thanh-2023.yaml")
    assert 'data-changed="0"' in _text(client.get(again.headers["Location"]))
    assert _count(db, Case) == 19


def test_a_bad_plan_file_shows_the_field_path_and_changes_nothing(app, world, db, criteria):
    data = yaml.load(PLAN_FILE.read_text(encoding="utf-8"), Loader=yaml.BaseLoader)
    data["communes"][3]["officers"][0]["email"] = "không-phải-email"
    data["stages"]["appraisal"]["due"] = "2023-02-30"
    client = logged_in(app, world.admin)
    before = _counts(db)
    response = _upload(client, "/admin/plans", yaml.safe_dump(data, allow_unicode=True).encode(), "plan.yml")
    assert response.status_code == 422
    html = _text(response)
    paths = _problem_paths(html)
    assert "communes[3].officers[0].email" in paths and "stages.appraisal.due" in paths
    assert 'id="problems"' in html
    assert _counts(db) == before


def test_a_plan_with_a_yaml_error_shows_its_line(app, world, db, criteria):
    client = logged_in(app, world.admin)
    before = _counts(db)
    response = _upload(client, "/admin/plans", b"campaign:\n  key: x\n  year: [2023\ncommunes: []\n", "plan.yaml")
    assert response.status_code == 422
    [path] = _problem_paths(_text(response))
    assert path.startswith("line ")
    assert _counts(db) == before


def _problems(html: str) -> dict[str, tuple[str, str]]:
    """Each problem row by its path: (the place as the page shows it, the message)."""
    rows = re.findall(r'<tr data-path="([^"]*)"><td><code>(.*?)</code></td><td>(.*?)</td></tr>', html, re.S)
    return {html_lib.unescape(path): (html_lib.unescape(place), html_lib.unescape(message))
            for path, place, message in rows}


def _bad_plan() -> bytes:
    data = yaml.load(PLAN_FILE.read_text(encoding="utf-8"), Loader=PlanLoader)
    data["remiders"] = {"overdue_notice": False}
    data["campaign"]["year"] = "hai nghìn"
    data["communes"][0]["code"] = 20341
    del data["communes"][1]["name"]
    data["stages"]["appraisal"]["due"] = "2023-02-30"
    data["council"]["quorum"] = "zero"
    return yaml.safe_dump(data, allow_unicode=True).encode()


def test_a_bad_plan_is_explained_in_the_readers_language(app, world, db, criteria):
    client = logged_in(app, world.admin)
    html = _text(_upload(client, "/admin/plans", _bad_plan(), "plan.yaml"))
    vi = _problems(html)
    assert vi["remiders"][1].startswith("khóa cấp cao nhất không hợp lệ (các khối của kế hoạch là: campaign, ")
    assert vi["campaign.year"][1] == "không phải số nguyên"
    assert vi["communes[0].code"][1].startswith('hãy viết mã trong dấu ngoặc kép ("20341")')
    assert vi["communes[1].name"][1] == "bắt buộc"
    assert vi["stages.appraisal.due"][1] == "không phải ngày (YYYY-MM-DD) hoặc tháng (YYYY-MM): '2023-02-30'"
    assert vi["council.quorum"][1].startswith("số phiếu tối thiểu không hợp lệ: 'zero'")
    assert all(place == path for path, (place, _) in vi.items())  # field paths are shown as written
    messages = " ".join(message for _, message in vi.values())
    for english in ("unknown top-level key", "write the code as quoted", "not a whole number", "required",
                    "not a date", "not a quorum"):
        assert english not in messages

    client.get("/lang/en")
    en = _problems(_text(_upload(client, "/admin/plans", _bad_plan(), "plan.yaml")))
    assert en.keys() == vi.keys()
    assert en["remiders"][1].startswith("unknown top-level key (the plan's blocks are: campaign, ")
    assert en["campaign.year"][1] == "not a whole number"
    assert en["communes[0].code"][1].startswith('write the code as quoted text ("20341")')
    assert en["communes[1].name"][1] == "required"
    assert en["stages.appraisal.due"][1] == "not a date (YYYY-MM-DD) or month (YYYY-MM): '2023-02-30'"


def test_a_bad_criteria_file_is_explained_in_the_readers_language(app, world, db):
    data = json.loads(CRITERIA_FILE.read_text(encoding="utf-8"))
    data["id"] = "Quang Dien"
    data["items"][0]["max_points"] = "nhiều"
    data["items"][1]["children"][0]["method"] = "guess"
    del data["year"]
    content = json.dumps(data, ensure_ascii=False).encode()
    client = logged_in(app, world.admin)
    vi = _problems(_text(_upload(client, "/admin/criteria", content, "criteria.json")))
    assert vi["id"][1] == "chỉ dùng chữ thường, chữ số, '.', '_' hoặc '-' (ví dụ quang-dien-xa-2019)"
    assert vi["year"][1] == "bắt buộc"
    assert vi["items[0].max_points"][1] == "không phải là số: 'nhiều'"
    assert vi["items[1].children[0].method"][1] == "phải là một trong: self, survey"

    client.get("/lang/en")
    en = _problems(_text(_upload(client, "/admin/criteria", content, "criteria.json")))
    assert en["id"][1] == "lower-case letters, digits, '.', '_' or '-' (like quang-dien-xa-2019)"
    assert en["year"][1] == "required"
    assert en["items[0].max_points"][1] == "not a number: 'nhiều'"
    assert en["items[1].children[0].method"][1] == "must be one of: self, survey"


SYNTAX_ERRORS = [  # (page, file, content, its place, Vietnamese, English)
    ("/admin/criteria", "broken.json", b'{\n  "id": "x",\n  "year": 2019,,\n}', "line 3, column 16",
     ("dòng 3, cột 16", "lỗi cú pháp JSON: cần một tên khóa trong dấu ngoặc kép"),
     ("line 3, column 16", 'JSON error: a key in double quotes ("key") is expected here')),
    ("/admin/criteria", "broken.json", b'{"id": "x" "year": 2019}', "line 1, column 12",
     ("dòng 1, cột 12", "lỗi cú pháp JSON: thiếu dấu phẩy (,) giữa hai mục"),
     ("line 1, column 12", "JSON error: a comma (,) is missing between two entries")),
    ("/admin/plans", "plan.yaml", b"campaign:\n  key: x\n  year: [2023\ncommunes: []\n", "line 4, column 9",
     ("dòng 4, cột 9", "lỗi cú pháp YAML: danh sách mở bằng [ chưa được đóng bằng ]"),
     ("line 4, column 9", "YAML error: a list opened with [ is not closed with ]")),
    ("/admin/plans", "plan.yaml", b"campaign:\n\tkey: x\n", "line 2, column 1",
     ("dòng 2, cột 1", "lỗi cú pháp YAML: có ký tự tab: YAML chỉ thụt lề bằng dấu cách"),
     ("line 2, column 1", "YAML error: a tab character: YAML indents with spaces only")),
    ("/admin/plans", "plan.yaml", b"campaign:\n  title: *quan trong*\n", "line 2, column 10",
     ("dòng 2, cột 10", "lỗi cú pháp YAML: không chấp nhận bí danh (*quan) và khóa gộp"),
     ("line 2, column 10", "YAML error: aliases (*quan) and merge keys")),
    ("/admin/plans", "plan.yaml", b"campaign:\n  title: Tam Xu\xe2n\n", "byte 25",
     ("byte thứ 25", "tệp không phải văn bản UTF-8"), ("byte 25", "the file is not UTF-8 text")),
    ("/admin/plans", "plan.yaml", b"- campaign\n- communes\n", "(top level)",
     ("(cấp cao nhất)", "cần dạng khóa: giá trị, gồm campaign, communes, ..."),
     ("(top level)", "expected a mapping with campaign, communes, ...")),
]


@pytest.mark.parametrize("url, name, content, path, vi, en", SYNTAX_ERRORS,
                         ids=["json comma", "json missing comma", "yaml list", "yaml tab", "yaml alias",
                              "not utf-8", "not a mapping"])
def test_a_file_that_does_not_parse_is_explained_in_the_readers_language(app, world, db, criteria, url, name,
                                                                         content, path, vi, en):
    client = logged_in(app, world.admin)
    response = _upload(client, url, content, name)
    assert response.status_code == 422
    [(shown, message)] = _problems(_text(response)).values()
    assert _problem_paths(_text(response)) == [path]  # the row's key stays the file's place, in English
    assert shown == vi[0] and message.startswith(vi[1])
    client.get("/lang/en")
    [(shown, message)] = _problems(_text(_upload(client, url, content, name))).values()
    assert shown == en[0] and message.startswith(en[1])


# --- campaigns -----------------------------------------------------------------------------------


def test_campaign_list_shows_stage_counts(app, world):
    client = logged_in(app, world.admin)
    html = _text(client.get("/admin/campaigns"))
    row = re.search(r'<tr data-campaign="tiny-2023">(.*?)</tr>', html, re.S).group(1)
    assert re.search(r'data-stage="planning">1<', row) and re.search(r'data-stage="self_assessment">1<', row)
    assert re.search(r"data-total>2<", row)


ROW = re.compile(r'<tr class="notice [a-z]+" data-date="([^"]+)" data-commune="([^"]+)" data-stage="([^"]+)"\s+'
                 r'data-kind="([^"]+)" data-level="(\d+)" data-recipients="([^"]*)"')


def _schedule_rows(client, url: str) -> list[tuple]:
    rows, page = [], 1
    while True:
        html = _text(client.get(f"{url}&page={page}"))
        rows.extend(ROW.findall(html))
        if 'rel="next"' not in html:
            return rows
        page += 1


def _as_of(day: str) -> dt.datetime:
    return dt.datetime.combine(dt.date.fromisoformat(day), dt.time(23, 59), LOCAL_TZ).astimezone(dt.UTC)


def test_schedule_preview_rows_equal_the_reminder_schedule(app, world, db):
    campaign = world.campaign_obj
    app.config["ADMIN_SCHEDULE_PER_PAGE"] = 15
    client = logged_in(app, world.admin)
    shown = _schedule_rows(client, f"/admin/campaigns/{campaign.key}?as_of=2023-10-20")
    expected = [(n.day.isoformat(), n.commune_code, n.stage, n.kind, str(n.level),
                 " ".join(u.email for u in n.recipients))
                for n in reminders.schedule(campaign, now=_as_of("2023-10-20"))]
    assert len(expected) > 30  # three pages or more
    assert shown == expected
    html = _text(client.get(f"/admin/campaigns/{campaign.key}?as_of=2023-10-20"))
    assert re.search(r"<td>\d\d/\d\d/2023<br>", html)  # dates dd/mm/yyyy
    # the notices of stages a case has not reached are marked as planned, as many as the schedule has
    planned = sum(1 for n in reminders.schedule(campaign, now=_as_of("2023-10-20"))[:15] if n.deadline_id is None)
    assert html.count("data-planned") == planned and planned > 0 and "dự kiến" in html


def test_schedule_preview_filters_by_commune_and_kind(app, world, db):
    campaign = world.campaign_obj
    client = logged_in(app, world.admin)
    shown = _schedule_rows(client, f"/admin/campaigns/{campaign.key}?as_of=2023-10-20&commune=10002&kind=reminder")
    expected = [n for n in reminders.schedule(campaign, now=_as_of("2023-10-20"))
                if n.commune_code == "10002" and n.kind == "reminder"]
    assert shown and len(shown) == len(expected)
    assert {(r[1], r[3]) for r in shown} == {("10002", "reminder")}


def test_starting_a_campaign_asks_first_then_opens_the_waiting_cases(app, world, db):
    campaign = world.campaign_obj
    client = logged_in(app, world.admin)
    page = _text(client.get(f"/admin/campaigns/{campaign.key}"))
    assert 'id="start-link"' in page
    confirm = _text(client.get(f"/admin/campaigns/{campaign.key}/start"))
    assert 'id="start-confirm-button"' in confirm and 'name="confirm" value="yes"' in confirm
    # without the confirmation field nothing happens
    unconfirmed = _post(client, f"/admin/campaigns/{campaign.key}/start")
    assert unconfirmed.status_code == 303 and unconfirmed.headers["Location"].endswith("/start")
    waiting = world.case_of(campaign, "10002")
    assert waiting.stage == Stage.planning.value

    response = _post(client, f"/admin/campaigns/{campaign.key}/start", {"confirm": "yes"})
    assert response.status_code == 303
    db.session.expire_all()
    assert {c.stage for c in db.session.scalars(select(Case))} == {Stage.self_assessment.value}
    opened = db.session.scalars(select(AuditEvent).where(AuditEvent.case_id == waiting.id,
                                                         AuditEvent.actor == world.admin.email)).all()
    assert opened
    again = _text(client.get(f"/admin/campaigns/{campaign.key}/start"))
    assert 'id="nothing-to-start"' in again and 'id="start-confirm-button"' not in again
    assert 'id="start-link"' not in _text(client.get(f"/admin/campaigns/{campaign.key}"))


def test_an_unknown_campaign_user_or_commune_is_404(app, world):
    client = logged_in(app, world.admin)
    for url in ("/admin/campaigns/nope", "/admin/campaigns/nope/start", "/admin/users/999999",
                "/admin/communes/999999"):
        response = client.get(url)
        assert response.status_code == 404 and "Traceback" not in _text(response)
