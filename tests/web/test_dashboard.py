"""The campaign dashboard: hand-counted buckets for six crafted cases on a fixed day, the board links,
the same overdue counts as the board, and who may see it."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from sqlalchemy import select

from models import Case, Deadline
from states import Stage
from tests.web.helpers import logged_in
from workflow import board, cases
from workflow import dashboard as dash

AS_OF = "2023-12-06"  # a Wednesday
# 2023 dues of the factory plan: self-assessment 10/11, survey 05/12, council 10/12 (a Sunday: 11/12),
# appraisal and publication 15/12. On 06/12 with "due soon" = 5 working days, due soon means due by 13/12.
EXPECTED = {  # stage: (on track, due soon, overdue, done, no deadline, not reached)
    "planning": (0, 0, 0, 5, 1, 0),
    "self_assessment": (0, 1, 1, 3, 0, 1),  # 20002 overdue; 20006 due soon on its revision deadline (08/12)
    "appraisal": (1, 0, 0, 2, 0, 3),
    "survey": (0, 0, 1, 1, 0, 4),
    "council_meeting": (0, 1, 0, 0, 0, 5),
    "publication": (0, 0, 0, 0, 0, 6),
}


@pytest.fixture
def crafted(world, make, db, now):
    """Six communes: 20001 not opened, 20002 self-assessing, 20003 in appraisal, 20004 at the council,
    20005 in the survey, 20006 returned for revision with a revision deadline of 08/12/2023."""
    campaign = make.campaign(key="dash-2023", communes=tuple(f"2000{i}" for i in range(1, 7)))
    for code, stage in (("20002", Stage.self_assessment), ("20003", Stage.appraisal),
                        ("20004", Stage.council_meeting), ("20005", Stage.survey), ("20006", Stage.appraisal)):
        make.advance(make.case_of(campaign, code), stage)
    cases.fire(make.case_of(campaign, "20006"), "return_for_revision", make.secretariat, now=now,
               reason="Bổ sung tài liệu kiểm chứng", revision_due=dt.date(2023, 12, 8))
    from tests.web.helpers import password_hash

    for user in (make.secretariat, make.head, make.leader, make.auditor, make.admin, *make.council,
                 *make.officers.values()):
        user.password_hash = password_hash()
    db.session.commit()
    return campaign


def _counts(line) -> tuple:
    return tuple(line.counts[b] for b in dash.BUCKETS)


def test_counts_per_stage_and_bucket_on_a_fixed_day(crafted, db):
    today = dt.date.fromisoformat(AS_OF)
    built = dash.build(crafted, dt.datetime(2023, 12, 6, 10, 0, tzinfo=dt.UTC), 5)
    assert built.today == today and built.soon_until == dt.date(2023, 12, 13) and built.total == 6
    assert {line.stage: _counts(line) for line in built.lines} == EXPECTED
    line = {line.stage: line for line in built.lines}["council_meeting"]
    assert (line.plan_due, line.rolled.date) == (dt.date(2023, 12, 10), dt.date(2023, 12, 11))
    # the board counts the same overdue cases
    _, late = board.stage_counts(crafted, board.BoardFilter(today=today))
    assert {s: n for s, n in late.items() if n} == {"self_assessment": 1, "survey": 1}
    # a wider window turns the appraisal case (due 15/12: 7 working days left) due soon
    wide = dash.build(crafted, dt.datetime(2023, 12, 6, 10, 0, tzinfo=dt.UTC), 7)
    assert _counts(wide.lines[2])[:2] == (0, 1)
    # a stage whose deadline was completed while the case stays in it (as a publication would) is done
    appraisal = db.session.scalar(select(Deadline).join(Case).where(
        Case.campaign_id == crafted.id, Deadline.stage == "appraisal", Deadline.completed_at.is_(None)))
    appraisal.completed_at = dt.datetime(2023, 12, 1, tzinfo=dt.UTC)
    db.session.flush()
    again = dash.build(crafted, dt.datetime(2023, 12, 6, 10, 0, tzinfo=dt.UTC), 5)
    assert _counts(again.lines[2]) == (0, 0, 0, 3, 0, 3)


def _cells(html: str, stage: str) -> dict[str, str]:
    row = re.search(rf'<tr data-stage="{stage}">(.*?)</tr>', html, re.S).group(1)
    return {m[0]: m[1] for m in re.findall(r'data-bucket="(\w+)" data-count="\d+">\s*(.*?)\s*</td>', row, re.S)}


def test_the_page_shows_the_counts_and_links_them_to_the_board(app, crafted, make):
    client = logged_in(app, make.secretariat)
    response = client.get(f"/dashboard?campaign=dash-2023&as_of={AS_OF}&due_soon=5")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    for stage, expected in EXPECTED.items():
        counts = re.findall(rf'<tr data-stage="{stage}">.*?</tr>', html, re.S)[0]
        assert [int(n) for n in re.findall(r'data-count="(\d+)"', counts)] == list(expected), stage
    cells = _cells(html, "self_assessment")
    overdue = re.search(r'href="([^"]+)"', cells["overdue"]).group(1).replace("&amp;", "&")
    assert overdue.startswith("/board?") and "stage=self_assessment" in overdue and "overdue=1" in overdue
    assert f"as_of={AS_OF}" in overdue and "campaign=dash-2023" in overdue
    # the link leads to the board showing that one overdue case
    page = client.get(overdue).get_data(as_text=True)
    assert "Xã 20002" in page and "Xã 20006" not in page
    soon = re.search(r'href="([^"]+)"', cells["due_soon"]).group(1).replace("&amp;", "&")
    assert soon.startswith("/board/table?") and "stage=self_assessment" in soon and "overdue" not in soon
    assert "due_from=2023-12-06" in soon and "due_to=2023-12-13" in soon
    # it lists exactly that count: 20006, due soon on its revision deadline, not 20002 (overdue)
    table = client.get(soon).get_data(as_text=True)
    assert re.findall(r'data-code="(\d+)"', table) == ["20006"] and 'data-total="1"' in table
    assert "Chỉ hồ sơ có hạn từ 06/12/2023 đến 13/12/2023" in table and 'id="clear-due-window"' in table
    # the export of that view holds the same case
    export = re.search(r'id="export-csv"[^>]*|href="([^"]+)" id="export-csv"', table).group(0)
    csv_url = re.search(r'href="([^"]+)"', export).group(1).replace("&amp;", "&")
    rows = client.get(csv_url).get_data(as_text=True).splitlines()
    assert len(rows) == 2 and rows[1].startswith("20006,")
    assert "href" not in cells["on_track"]  # a zero links nowhere
    on_track = re.search(r'href="([^"]+)"', _cells(html, "appraisal")["on_track"]).group(1).replace("&amp;", "&")
    assert "due_from=2023-12-14" in on_track and "due_to" not in on_track
    assert re.findall(r'data-code="(\d+)"', client.get(on_track).get_data(as_text=True)) == ["20003"]
    # no deadline: the one case still in planning, a stage the plan gives no due
    unplanned = re.search(r'href="([^"]+)"', _cells(html, "planning")["no_deadline"]).group(1).replace("&amp;", "&")
    assert "stage=planning" in unplanned and "no_deadline=1" in unplanned
    listed = client.get(unplanned).get_data(as_text=True)
    assert re.findall(r'data-code="(\d+)"', listed) == ["20001"] and 'id="no-deadline"' in listed
    # done with self-assessment: the three cases in later stages (20006 was returned into it); not reached: 20001
    done = re.search(r'href="([^"]+)"', cells["done"]).group(1).replace("&amp;", "&")
    assert "past_stage=self_assessment" in done
    page = client.get(done).get_data(as_text=True)
    assert sorted(re.findall(r'data-code="(\d+)"', page)) == ["20003", "20004", "20005"]
    assert "Chỉ hồ sơ đã xong giai đoạn “Tự đánh giá, chấm điểm”" in page
    behind = re.search(r'href="([^"]+)"', cells["not_reached"]).group(1).replace("&amp;", "&")
    assert re.findall(r'data-code="(\d+)"', client.get(behind).get_data(as_text=True)) == ["20001"]
    assert 'data-due="2023-12-11"' in html  # the council date after art. 148
    assert client.get("/board?campaign=dash-2023").get_data(as_text=True).count('href="/dashboard') >= 1


def test_the_tables_due_window_lists_each_dashboard_count(crafted, db):
    """For every stage, the table narrowed to the dashboard's window holds as many cases as its count."""
    built = dash.build(crafted, dt.datetime(2023, 12, 6, 10, 0, tzinfo=dt.UTC), 5)
    today, soon = built.today, built.soon_until
    for line in built.lines:
        flt = board.BoardFilter(today=today, stage=line.stage)
        windows = {dash.DUE_SOON: dict(due_from=today, due_to=soon),
                   dash.ON_TRACK: dict(due_from=soon + dt.timedelta(days=1)), dash.NO_DEADLINE: dict(no_deadline=True)}
        for bucket, window in windows.items():
            narrowed = board.table_page(crafted, board.BoardFilter(**{**vars(flt), **window}))
            assert narrowed.total == line.counts[bucket], (line.stage, bucket)
        # done and not reached count cases of other stages: relative to this one, over the whole campaign
        for bucket, relative in ((dash.DONE, dict(past_stage=line.stage)), (dash.NOT_REACHED, dict(before_stage=line.stage))):
            narrowed = board.table_page(crafted, board.BoardFilter(today=today, **relative))
            assert narrowed.total == line.counts[bucket], (line.stage, bucket)
    # a window given as text: an unreadable date is ignored, as an unknown stage is
    parsed = board.BoardFilter.parse({"due_from": "2023-12-06", "due_to": "13/12/2023"}, today)
    assert (parsed.due_from, parsed.due_to, parsed.due_window) == (today, None, True)


def test_the_default_window_comes_from_the_configuration(app, crafted, make):
    app.config["DASHBOARD_DUE_SOON_WORKING_DAYS"] = 7
    html = logged_in(app, make.leader).get(f"/dashboard?campaign=dash-2023&as_of={AS_OF}").get_data(as_text=True)
    assert 'data-soon-until="2023-12-17"' in html
    assert _cells(html, "appraisal")["due_soon"].endswith(">1</a>")


def test_who_may_see_it(app, crafted, make, db):
    url = f"/dashboard?campaign=dash-2023&as_of={AS_OF}"
    for user in (make.auditor, make.leader, make.head):
        assert logged_in(app, user).get(url).status_code == 200, user.email
    member = logged_in(app, make.council[1])  # sits on dash-2023's council: counts, but no board links
    html = member.get(url).get_data(as_text=True)
    assert 'data-stage="survey"' in html and "/board?" not in html
    officer = logged_in(app, make.officers["20002"])
    refused = officer.get(url)
    assert refused.status_code == 403 and "không có quyền xem trang này" in refused.get_data(as_text=True)
    assert officer.get("/dashboard").status_code == 403
    # a council member of another campaign gets neither this campaign nor its name
    stranger = logged_in(app, make.council[1])
    assert stranger.get("/dashboard?campaign=tiny-2023").status_code == 404
    assert app.test_client().get(url).status_code == 302  # to the log-in page
