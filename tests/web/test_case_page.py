"""The case page: stepper, deadline, the actions each role may take, scores, evidence, sign-off, history."""

import re
from decimal import Decimal

from states import Stage
from tests.web.helpers import logged_in, password_hash
from workflow import cases, evidence, scores, signoff

PDF = b"%PDF-1.4\n% evidence\n"



def _case(world, code="10001"):
    return world.case_of(world.campaign_obj, code)


def _html(client, case, query="") -> str:
    response = client.get(f"/cases/{case.id}{query}")
    assert response.status_code == 200, response.status_code
    return response.get_data(as_text=True)


def _actions(html: str) -> dict[str, str]:
    """{transition: 'enabled' | 'blocked'} for every action the page offers."""
    return dict(re.findall(r'data-action="(\w+)" data-state="(\w+)"', html))


def _row(html: str, code: str) -> str:
    match = re.search(rf'<tr id="item-{re.escape(code)}".*?</tr>', html, re.S)
    assert match, f"no row for {code}"
    return match.group(0)


def _cell(row: str, name: str) -> str:
    return re.search(rf'<td class="num {name}[^"]*"[^>]*>(.*?)</td>', row, re.S).group(1).strip()


def _english(client):
    client.get("/lang/en")
    return client


def _fill_self(world, case, now):
    officer = world.officers[case.commune.code]
    scores.set_self_assessment(case, "1.1.1", officer, now=now, score=Decimal("1"), explanation="Kế hoạch số 12")
    scores.set_self_assessment(case, "1.1.2", officer, now=now, not_applicable=True, explanation="Không áp dụng")
    scores.set_self_assessment(case, "2.1.1", officer, now=now, score=Decimal("1.75"), explanation="Niêm yết")


# --- stepper and deadline -------------------------------------------------------------------------------

def test_stepper_marks_done_current_and_to_come(app, world):
    html = _html(logged_in(app, world.officers["10001"]), _case(world))
    steps = re.findall(r'data-stage="(\w+)" data-state="(\w+)"', html)
    assert steps == [("planning", "done"), ("self_assessment", "current"), ("appraisal", "todo"),
                     ("survey", "todo"), ("council_meeting", "todo"), ("publication", "todo")]
    assert 'aria-current="step"' in html
    for title in ("Xây dựng kế hoạch", "Tự đánh giá, chấm điểm", "Thẩm định", "Điều tra xã hội học",
                  "Họp Hội đồng đánh giá", "Phê duyệt, công bố"):
        assert title in html


def test_deadline_days_left_as_of_a_day_and_its_reason(app, world):
    client = logged_in(app, world.officers["10001"])
    html = _html(client, _case(world), "?as_of=2023-11-06")
    # Mon 6 Nov -> Fri 10 Nov: four working days left; the plan's date was a working day
    assert 'data-due="2023-11-10" data-left="4" data-kind="stage"' in html
    assert "hạn 10/11/2023: theo kế hoạch" in html
    late = _html(client, _case(world), "?as_of=2023-11-14")
    assert 'data-left="-2"' in late and 'class="badge late"' in late


def test_deadline_on_a_weekend_explains_the_roll_forward(app, make, db):
    campaign = make.campaign("roll-2023", communes=("20001",),
                             dues={"self_assessment": "2023-11-11", "appraisal": "2023-12-15"})  # a Saturday
    case = make.case_of(campaign, "20001")
    make.advance(case, Stage.self_assessment)
    make.officers["20001"].password_hash = password_hash()
    db.session.commit()
    client = logged_in(app, make.officers["20001"])
    html = _html(client, case, "?as_of=2023-11-10")
    assert 'data-due="2023-11-13"' in html and 'data-left="1"' in html
    assert "kế hoạch ghi 11/11/2023, ngày nghỉ cuối tuần" in html and "Điều 148" in html
    english = _html(_english(client), case, "?as_of=2023-11-10")
    assert "due 13/11/2023: plan says 11/11/2023, a weekend; next working day (Civil Code art. 148)" in english


# --- the actions each role may take -----------------------------------------------------------------------

def test_officer_sees_submit_blocked_by_missing_items_then_enabled(app, world, db, now):
    case = _case(world)
    client = logged_in(app, world.officers["10001"])
    html = _html(client, case)
    assert _actions(html) == {"submit": "blocked"}
    blocked = re.search(r'data-action="submit" data-state="blocked".*?</div>', html, re.S).group(0)
    assert "<form" not in blocked and "disabled" in blocked
    assert re.findall(r'<li data-code="([\d.]+)">', blocked) == ["1.1.1", "1.1.2", "2.1.1"]
    # nothing scored yet: the subtotals are empty, not "0,00"
    assert (_cell(_row(html, "1"), "self"), _cell(_row(html, "1"), "appraised")) == ("", "")

    _fill_self(world, case, now)
    db.session.commit()
    html = _html(client, case)
    assert _actions(html) == {"submit": "enabled"}
    form = re.search(r'<form method="post" action="([^"]+)" class="action" data-action="submit".*?</form>',
                     html, re.S)
    assert form.group(1) == f"/cases/{case.id}/transitions/submit"
    assert 'name="csrf_token"' in form.group(0)
    assert f'name="version" value="{case.version}"' in form.group(0)
    assert f'name="next" value="/cases/{case.id}"' in form.group(0)
    assert 'name="reason"' not in form.group(0) and 'name="revision_due"' not in form.group(0)
    # a page read "as of" a day sends the user back to the same view
    assert f'name="next" value="/cases/{case.id}?as_of=2023-11-06"' in _html(client, case, "?as_of=2023-11-06")


def test_secretariat_in_appraisal_gets_return_with_reason_and_date_and_complete(app, world, db, now):
    case = _case(world)
    world.advance(case, Stage.appraisal)
    client = logged_in(app, world.secretariat)
    html = _html(client, case)
    assert _actions(html) == {"return_for_revision": "enabled", "complete_appraisal": "blocked"}
    back = re.search(r'data-action="return_for_revision".*?</form>', html, re.S).group(0)
    assert re.search(r'<textarea[^>]*name="reason"[^>]*required', back)
    assert re.search(r'<input type="date"[^>]*name="revision_due"[^>]*required', back)
    complete = re.search(r'data-action="complete_appraisal" data-state="blocked".*?</div>', html, re.S).group(0)
    assert re.findall(r'<li data-code="([\d.]+)">', complete) == ["1.1.1", "1.1.2", "2.1.1"]

    world.fill_appraisal(case)
    db.session.commit()
    html = _html(client, case)
    assert _actions(html) == {"return_for_revision": "enabled", "complete_appraisal": "enabled"}
    # the head and the admin act as the secretariat; the officer has nothing to do in appraisal
    assert _actions(_html(logged_in(app, world.head), case)) == _actions(html)
    assert _actions(_html(logged_in(app, world.officers["10001"]), case)) == {}


def test_roles_without_a_transition_see_no_action_forms(app, world):
    case = _case(world)
    for user in (world.auditor, world.leader, world.council[1], world.council[0], world.chairs["10001"],
                 world.secretariat):
        html = _html(logged_in(app, user), case)
        expected = {"submit": "blocked"} if user is world.chairs["10001"] else {}
        assert _actions(html) == expected, user.email
        assert "/transitions/" not in html, user.email


def test_many_item_blockers_show_the_count_and_the_first_ones(app, make, db, now):
    tree = [("1", "Lĩnh vực", 12, None, False, [
        ("1.1", "Tiêu chí", 12, None, False,
         [(f"1.1.{i}", f"Tiêu chí thành phần {i}", 1, "self", False, []) for i in range(1, 13)]),
    ])]
    campaign = make.campaign("many-2023", communes=("30001",), criteria_set=make.criteria_set("many", tree))
    case = make.case_of(campaign, "30001")
    cases.fire(case, "open", make.secretariat, now=now)
    make.officers["30001"].password_hash = password_hash()
    db.session.commit()
    html = _html(logged_in(app, make.officers["30001"]), case)
    blocked = re.search(r'data-action="submit" data-state="blocked" data-blockers="12".*?</div>', html, re.S)
    assert blocked, "the action says how many things block it"
    assert len(re.findall(r'<li data-code="1\.1\.\d+">', blocked.group(0))) == 8
    assert 'data-more="4"' in blocked.group(0)


def test_form_links_only_for_users_who_may_use_them_and_only_if_the_page_exists(app, world):
    case = _case(world)
    officer = logged_in(app, world.officers["10001"])
    if "assess.self_assessment" not in app.view_functions:
        assert "link-self-assessment" not in _html(officer, case)
        app.add_url_rule("/cases/<int:case_id>/self-assessment", endpoint="assess.self_assessment",
                         view_func=lambda case_id: "form")
    if "assess.appraisal" not in app.view_functions:
        app.add_url_rule("/cases/<int:case_id>/appraisal", endpoint="assess.appraisal",
                         view_func=lambda case_id: "form")
    html = _html(officer, case)
    assert f'id="link-self-assessment" href="/cases/{case.id}/self-assessment"' in html
    assert "link-appraisal" not in html
    secretariat = logged_in(app, world.secretariat)
    assert "link-" not in _html(secretariat, case)  # not the secretariat's stage yet
    world.advance(case, Stage.appraisal)
    html = _html(secretariat, case)
    assert f'id="link-appraisal" href="/cases/{case.id}/appraisal"' in html
    assert "link-self-assessment" not in html
    assert "link-" not in _html(officer, case) and "link-" not in _html(logged_in(app, world.auditor), case)


# --- scores ---------------------------------------------------------------------------------------------

def test_scores_table_numbers_differences_subtotals_and_na(app, world, db, now):
    case = _case(world)
    _fill_self(world, case, now)
    cases.fire(case, "submit", world.officers["10001"], now=now)
    scores.set_appraisal(case, "1.1.1", world.secretariat, now=now, score=Decimal("0.5"))
    scores.set_appraisal(case, "2.1.1", world.secretariat, now=now, score=Decimal("1.75"))
    scores.set_survey_points(case, "2.2.1", world.secretariat, now=now, points=Decimal("1.25"))
    db.session.commit()
    html = _html(logged_in(app, world.officers["10001"]), case)
    codes = re.findall(r'<tr id="item-([\d.]+)" data-code="[\d.]+" data-depth="(\d)"', html)
    assert codes == [("1", "1"), ("1.1", "2"), ("1.1.1", "3"), ("1.1.2", "3"), ("2", "1"), ("2.1", "2"),
                     ("2.1.1", "3"), ("2.2", "2"), ("2.2.1", "3")]

    lowered = _row(html, "1.1.1")
    assert (_cell(lowered, "max"), _cell(lowered, "self"), _cell(lowered, "appraised")) == ("1,00", "1,00", "0,50")
    assert re.search(r'class="num diff changed down" data-diff="-0.50">-0,50<', lowered)
    same = _row(html, "2.1.1")
    assert 'class="num diff" data-diff="0">0,00<' in same and "changed" not in same
    na = _row(html, "1.1.2")
    assert "data-na" in na and " na" in re.search(r'class="([^"]+)"', na).group(1)
    survey = _row(html, "2.2.1")
    assert _cell(survey, "survey") == "1,25" and _cell(survey, "self") == ""

    area1 = _row(html, "1")  # 1.1.2 is not applicable: its 2 points leave the commune's own maximum
    assert _cell(area1, "max").startswith("3,00") and "1,00" in _cell(area1, "max")
    assert (_cell(area1, "self"), _cell(area1, "appraised")) == ("1,00", "0,50")
    assert _cell(area1, "survey") == ""  # no survey items in area 1
    assert "diff changed down" in area1
    area2 = _row(html, "2")
    assert (_cell(area2, "self"), _cell(area2, "appraised"), _cell(area2, "survey")) == ("1,75", "1,75", "1,25")
    # total 0.5 + 1.75 + 1.25 = 3.50 of an own maximum of 5 (7 minus the 2 not applicable)
    assert re.search(r'id="total-final">3,50/5,00 · <span id="percentage">70,00%</span>', html)
    assert re.search(r'id="self-total">2,75<', html)


# --- evidence -------------------------------------------------------------------------------------------

def test_evidence_list_with_download_links(app, world, db, now):
    case = _case(world)
    officer = world.officers["10001"]
    first = evidence.add_evidence(case, "1.1.1", officer, now=now, file_name="Kế hoạch CCHC.pdf",
                                  data=PDF * 100, media_type="application/pdf", locator="trang 3")
    second = evidence.add_evidence(case, "2.1.1", officer, now=now, file_name="niem-yet.pdf", data=PDF,
                                   media_type=None)
    db.session.commit()
    html = _html(logged_in(app, world.secretariat), case)
    files = re.findall(r'<tr data-evidence="(\d+)">', html)
    assert files == [str(first.id), str(second.id)]
    row = re.search(rf'<tr data-evidence="{first.id}">.*?</tr>', html, re.S).group(0)
    assert f'href="/cases/{case.id}/evidence/{first.id}"' in row and "Kế hoạch CCHC.pdf" in row
    assert "2,0 KB" in row and "trang 3" in row and officer.name in row and "01/11/2023 09:00" in row
    assert re.search(r'href="#evidence-1\.1\.1">1</a>', _row(html, "1.1.1"))
    assert 'id="evidence-2.1.1"' in html


# --- sign-off -------------------------------------------------------------------------------------------

def test_sign_off_panel_shows_signatures_and_quorum(app, world, db, now):
    case = _case(world)
    world.advance(case, Stage.council_meeting)
    cases.fire(case, "approve", world.secretariat, now=now)  # the plan puts 'approve' under sign-off
    chair, member = world.council[0], world.council[1]
    signoff.sign(case, chair, "approve", now=now, comment="Nhất trí kết quả")
    db.session.commit()
    client = _english(logged_in(app, world.secretariat))
    html = _html(client, case)
    panel = re.search(r'<section id="signoff">.*?</section>', html, re.S).group(0)
    assert 'data-status="pending" data-approvals="1" data-needed="2"' in panel
    assert "1 of 2 approvals needed (3 members)" in panel
    assert 'data-chair="yes"' in panel
    assert chair.name in panel and "Nhất trí kết quả" in panel and 'data-decision="approve"' in panel
    assert member.name in re.search(r"Not signed yet: ([^<]+)", panel).group(1)
    # while the council considers it, the approve action is blocked and says why
    assert _actions(html) == {"approve": "blocked"}
    assert "awaiting the council" in re.search(r'data-action="approve".*?</div>', html, re.S).group(0)

    signoff.sign(case, member, "approve", now=now)
    db.session.commit()
    html = _html(client, case)
    panel = re.search(r'<section id="signoff">.*?</section>', html, re.S).group(0)
    assert 'data-status="approved" data-approvals="2" data-needed="2"' in panel
    assert "Not signed yet" not in panel
    assert re.findall(r'data-stage="(\w+)" data-state="current"', html) == ["publication"]


def test_no_sign_off_panel_without_a_sign_off(app, world):
    assert 'id="signoff"' not in _html(logged_in(app, world.officers["10001"]), _case(world))


# --- timeline -------------------------------------------------------------------------------------------

def test_timeline_is_readable_newest_first_with_reasons(app, world, db, now):
    case = _case(world)
    world.advance(case, Stage.appraisal)
    cases.fire(case, "return_for_revision", world.secretariat, now=now, reason="Thiếu tài liệu kiểm chứng 1.1.1",
               revision_due=now.date().replace(day=20))
    db.session.commit()
    client = _english(logged_in(app, world.officers["10001"]))
    html = _html(client, case)
    timeline = re.search(r'<section id="timeline">.*?</section>', html, re.S).group(0)
    seqs = [int(s) for s in re.findall(r'data-seq="(\d+)"', timeline)]
    assert seqs == sorted(seqs, reverse=True) and len(seqs) > 5
    newest = re.search(r"<li data-seq.*?</li>", timeline, re.S).group(0)
    assert 'data-action="case.transition"' in newest
    assert "Stage changed" in newest and "Return for revision" in newest
    assert world.secretariat.name in newest and "Thiếu tài liệu kiểm chứng 1.1.1" in newest
    assert re.search(r"<time [^>]*>01/11/2023 09:00</time>", newest)
    assert "Score changed" in timeline and "self score: – → 1,00" in timeline
    # the page states the revision too
    assert "Thiếu tài liệu kiểm chứng 1.1.1" in re.search(r'<dd id="revision">.*?</dd>', html, re.S).group(0)
    assert "20/11/2023" in re.search(r'<dd id="revision">.*?</dd>', html, re.S).group(0)
    assert 'data-kind="revision"' in html


def test_long_timeline_is_capped_with_show_all(app, world, db, now):
    case = _case(world)
    officer = world.officers["10001"]
    for i in range(60):
        scores.set_self_assessment(case, "1.1.2", officer, now=now, score=Decimal(i % 3), explanation=f"lần {i}")
    db.session.commit()
    client = logged_in(app, officer)
    html = _html(client, case)
    total = int(re.search(r'<h2>[^<]*<small class="muted">\((\d+)\)</small></h2>\s*<ol class="timeline"',
                          html).group(1))
    assert total > 60
    assert len(re.findall(r'<li data-seq=', html)) == 50
    assert f'href="/cases/{case.id}?history=all#timeline"' in html
    full = _html(client, case, "?history=all")
    assert len(re.findall(r'<li data-seq=', full)) == total
    assert 'id="history-all"' not in full


def test_every_viewer_role_gets_the_page(app, world):
    case = _case(world)
    for user in (world.officers["10001"], world.chairs["10001"], world.secretariat, world.head, world.admin,
                 world.leader, world.auditor, *world.council):
        _html(logged_in(app, user), case)
    for user in (world.officers["10002"], world.chairs["10002"]):
        assert logged_in(app, user).get(f"/cases/{case.id}").status_code == 404


def test_the_number_of_queries_does_not_grow_with_files_and_history(app, world, db, now):
    from sqlalchemy import event

    case = _case(world)
    case_id = case.id
    client = logged_in(app, world.secretariat)
    statements = []
    event.listen(db.engine, "before_cursor_execute", lambda *a, **k: statements.append(1))

    def count() -> int:
        with app.app_context():  # a fresh session, as each request has in production
            statements.clear()
            assert client.get(f"/cases/{case_id}").status_code == 200
            return len(statements)

    small = count()
    officer = world.officers["10001"]
    for n in range(12):
        evidence.add_evidence(case, ("1.1.1", "1.1.2", "2.1.1")[n % 3], officer, now=now,
                              file_name=f"tl-{n}.pdf", data=PDF + str(n).encode(), media_type=None)
    _fill_self(world, case, now)
    db.session.commit()
    assert count() == small


# --- reminders ------------------------------------------------------------------------------------------

def _reminder_rows(html: str, table: str) -> list[tuple[str, ...]]:
    block = re.search(rf'<table class="reminders {table}">.*?</table>', html, re.S)
    if block is None:
        return []
    if table == "upcoming":
        return re.findall(r'<tr data-kind="(\w+)" data-level="(\d+)" data-date="([\d-]+)">', block.group(0))
    return re.findall(r'<tr data-kind="(\w+)" data-status="(\w+)">', block.group(0))


def test_reminders_coming_then_sent(app, world, db):
    """Due Fri 10 Nov 2023, reminders [5, 2, 0] working days before: Fri 3, Wed 8, Fri 10 Nov, overdue Mon 13."""
    from workflow import sweep
    from workflow.clock import parse_moment

    case = _case(world)
    client = logged_in(app, world.officers["10001"])
    coming = _reminder_rows(_html(client, case, "?as_of=2023-11-02"), "upcoming")
    assert coming[:4] == [("reminder", "5", "2023-11-03"), ("reminder", "2", "2023-11-08"),
                          ("reminder", "0", "2023-11-10"), ("overdue", "0", "2023-11-13")]
    assert _reminder_rows(_html(client, case), "sent") == []

    sweep.sweep(now=parse_moment("2023-11-08T09:00"))
    db.session.commit()
    html = _html(client, case, "?as_of=2023-11-08")
    sent = _reminder_rows(html, "sent")
    assert sent and {kind for kind, _ in sent} == {"reminder"} and {s for _, s in sent} == {"queued"}
    assert world.officers["10001"].email in html
    # what was sent no longer shows as coming
    assert [r[2] for r in _reminder_rows(html, "upcoming")][:2] == ["2023-11-10", "2023-11-13"]


def test_no_reminders_for_a_completed_stage(app, world, db, now):
    case = _case(world)
    _fill_self(world, case, now)
    evidence.add_evidence(case, "1.1.1", world.officers["10001"], now=now, file_name="a.pdf", data=PDF,
                          media_type="application/pdf")
    evidence.add_evidence(case, "2.1.1", world.officers["10001"], now=now, file_name="b.pdf", data=PDF,
                          media_type="application/pdf")
    cases.fire(case, "submit", world.officers["10001"], now=now)
    db.session.commit()
    html = _html(logged_in(app, world.secretariat), case, "?as_of=2023-11-02")
    stages = set(re.findall(r'data-kind="\w+" data-level="\d+" data-date="[\d-]+">\s*<td>[^<]*</td>\s*<td>[^<]*</td>'
                            r'\s*<td>([\d/]+)</td>', html))
    assert "10/11/2023" not in stages  # the self-assessment due: that stage is done
    assert stages  # the appraisal's own reminders are coming
