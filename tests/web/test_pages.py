import re
from decimal import Decimal

from tests.web.helpers import PASSWORD, login
from tests.web.helpers import csrf_of as _csrf
from workflow import cases, scores


def test_login_needs_the_csrf_token(app, world):
    client = app.test_client()
    response = client.post("/login", data={"email": world.officers["10001"].email, "password": PASSWORD})
    assert response.status_code == 400
    assert "Traceback" not in response.get_data(as_text=True)
    assert client.get("/cases").status_code == 302  # still logged out


def test_login_with_csrf_then_logout(app, world):
    client = app.test_client()
    response = login(client, world.officers["10001"].email.upper())
    assert response.status_code == 302 and response.headers["Location"].endswith("/")
    page = client.get("/cases")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert world.officers["10001"].email in html
    assert client.post("/logout", data={"csrf_token": _csrf(html)}).status_code == 302
    assert client.get("/cases").status_code == 302


def test_wrong_password_refused(app, world):
    client = app.test_client()
    response = login(client, world.officers["10001"].email, "wrong")
    assert response.status_code == 401
    assert client.get("/cases").status_code == 302
    # an unknown e-mail gets the same answer: which accounts exist is not disclosed
    other = login(app.test_client(), "nobody@example.vn", "wrong")
    assert other.status_code == 401
    assert _flash(other) == _flash(response)


def _flash(response) -> str:
    return re.search(r'class="flash error"[^>]*>([^<]+)<', response.get_data(as_text=True)).group(1)


def test_next_parameter_cannot_leave_the_site(app, world):
    client = app.test_client()
    page = client.get("/login?next=https://evil.example/")
    response = client.post("/login?next=https://evil.example/", data={
        "email": world.officers["10001"].email, "password": PASSWORD,
        "csrf_token": _csrf(page.get_data(as_text=True))})
    assert response.headers["Location"] == "/"


def _row_codes(html: str) -> list[str]:
    return re.findall(r"<tr class=\"[^\"]*\">\s*<td>(\d+)</td>", html)


def test_case_list_is_scoped_per_role(app, world):
    officer_a = app.test_client()
    login(officer_a, world.officers["10001"].email)
    html = officer_a.get("/cases").get_data(as_text=True)
    assert _row_codes(html) == ["10001"]
    assert "Xã 10002" not in html

    officer_b = app.test_client()
    login(officer_b, world.officers["10002"].email)
    assert _row_codes(officer_b.get("/cases").get_data(as_text=True)) == ["10002"]

    for user in (world.secretariat, world.council[1], world.auditor):
        client = app.test_client()
        login(client, user.email)
        assert _row_codes(client.get("/cases").get_data(as_text=True)) == ["10001", "10002"], user.email


def test_list_shows_stage_in_vietnamese_and_due_date(app, world):
    client = app.test_client()
    login(client, world.officers["10001"].email)
    html = client.get("/cases?as_of=2023-11-06").get_data(as_text=True)
    assert '<html lang="vi">' in html
    assert "Tự đánh giá, chấm điểm" in html
    assert "10/11/2023" in html
    # Mon 6 Nov -> Fri 10 Nov: four working days left
    assert 'data-left="4"' in html
    # due Fri 10 Nov; as of Tue 14 Nov it is two working days late
    late = client.get("/cases?as_of=2023-11-14").get_data(as_text=True)
    assert 'data-left="-2"' in late and 'class="badge late"' in late


def test_other_communes_case_page_is_404_like_a_missing_one(app, world):
    b = world.case_of(world.campaign_obj, "10002")
    client = app.test_client()
    login(client, world.officers["10001"].email)
    forbidden = client.get(f"/cases/{b.id}")
    missing = client.get("/cases/999999")
    assert forbidden.status_code == missing.status_code == 404
    assert forbidden.get_data(as_text=True) == missing.get_data(as_text=True)
    assert "Traceback" not in forbidden.get_data(as_text=True)


def test_case_page_totals_use_the_decimal_comma(app, world, db, now):
    a = world.case_of(world.campaign_obj, "10001")
    officer = world.officers["10001"]
    for code, score in (("1.1.1", "0.5"), ("1.1.2", "1.25"), ("2.1.1", "2")):
        scores.set_self_assessment(a, code, officer, now=now, score=Decimal(score), explanation="Đã thực hiện")
    cases.fire(a, "submit", officer, now=now)
    for code, score in (("1.1.1", "0.5"), ("1.1.2", "1.12"), ("2.1.1", "1.5")):
        scores.set_appraisal(a, code, world.secretariat, now=now, score=Decimal(score))
    scores.set_survey_points(a, "2.2.1", world.secretariat, now=now, points=Decimal("1.25"))
    db.session.commit()
    client = app.test_client()
    login(client, officer.email)
    page = client.get(f"/cases/{a.id}")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert re.search(r'id="self-total">3,75<', html)
    assert re.search(r'id="total">4,37/7,00 \(62,43%\)<', html)
    assert "Thẩm định" in html
    assert "case.transition" in html  # the audit timeline


def test_english_switch_and_friendly_404(app, world):
    client = app.test_client()
    login(client, world.secretariat.email)
    client.get("/lang/en")
    html = client.get("/cases").get_data(as_text=True)
    assert '<html lang="en">' in html
    missing = client.get("/no-such-page")
    assert missing.status_code == 404
    assert "Back to the start page" in missing.get_data(as_text=True)


def test_server_error_page_has_no_stack_trace(app, world):
    app.config["PROPAGATE_EXCEPTIONS"] = False

    @app.route("/boom")
    def boom():
        raise RuntimeError("secret internals")

    response = app.test_client().get("/boom")
    assert response.status_code == 500
    body = response.get_data(as_text=True)
    assert "secret internals" not in body and "Traceback" not in body and "500" in body


def test_a_lost_database_connection_is_503_with_retry_after_not_500(app, world):
    from sqlalchemy.exc import OperationalError

    app.config["PROPAGATE_EXCEPTIONS"] = False

    @app.route("/db-gone")
    def db_gone():
        raise OperationalError("UPDATE audit_head", {}, Exception("server closed the connection unexpectedly"))

    response = app.test_client().get("/db-gone")
    assert response.status_code == 503 and response.headers["Retry-After"] == "5"
    body = response.get_data(as_text=True)
    assert "server closed" not in body and "audit_head" not in body and "Traceback" not in body
    assert "không có gì bị thay đổi" in body  # Vietnamese first: nothing was changed, try again


def test_login_next_refuses_backslash_and_control_characters(app, world):
    for target in ("/\\evil.example/", "/cases\r\nSet-Cookie: x=1", "/cases\x01"):
        client = app.test_client()
        page = client.get("/login")
        response = client.post("/login", query_string={"next": target}, data={
            "email": world.officers["10001"].email, "password": PASSWORD,
            "csrf_token": _csrf(page.get_data(as_text=True))})
        assert response.status_code == 302
        assert response.headers["Location"] == "/", target


def test_a_case_id_beyond_the_database_integer_is_404_not_500(app, world):
    client = app.test_client()
    login(client, world.secretariat.email)
    for case_id in (2**31, 2**63, 9223372036854775808):
        assert client.get(f"/cases/{case_id}").status_code == 404


def test_the_site_icon_is_served_and_linked(app):
    client = app.test_client()
    with client.get("/favicon.ico") as icon:  # a file response: closed, or its file stays open
        assert icon.status_code == 200 and icon.mimetype == "image/svg+xml" and b"<svg" in icon.data
    login = client.get("/login").get_data(as_text=True)
    assert 'rel="icon" href="/static/favicon.svg"' in login
