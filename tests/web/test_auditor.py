"""The auditor's pages: history search (every filter, pagination, local date range), exports parsed back
and re-verified, the integrity check (ok, then broken), the case as it stood, and read-only access."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import re

import pytest
from sqlalchemy import func, select

from models import AuditEvent, Case, Signature
from states import Stage
from tests.factories import NOW
from tests.web.helpers import PASSWORD, csrf_of, logged_in
from tests.workflow.test_audit import tamper
from workflow import audit, audit_export, cases, scores, signoff

UTC = dt.UTC
# 01:00 on 1 Nov 2023 in Hà Nội is still 31 Oct in UTC: the date filters must use local days
EARLY_1_NOV = dt.datetime(2023, 10, 31, 18, 0, tzinfo=UTC)
LATE_30_NOV = dt.datetime(2023, 11, 30, 16, 30, tzinfo=UTC)  # 23:30 local, 30 Nov


@pytest.fixture
def history_world(world, db):
    """The world plus: a second campaign, scores by the officer at known local times, a system event."""
    first = dict(vars(world))  # the factory keeps the last campaign's people: keep the world's
    world.campaign("other-2023", communes=("20001",))
    vars(world).update(first)
    case = world.case_of(world.campaign_obj, "10001")
    officer = world.officers["10001"]
    officer.name = "Nguyễn Văn Cán Bộ"
    scores.set_self_assessment(case, "1.1.2", officer, now=EARLY_1_NOV, score="1")
    scores.set_self_assessment(case, "1.1.2", officer, now=LATE_30_NOV, score="1.5")
    audit.record("reminder.skipped", actor=None, now=LATE_30_NOV, case=case, subject="self_assessment")
    db.session.commit()
    world.case = case
    return world


def page(client, **params) -> str:
    response = client.get("/audit", query_string=params)
    assert response.status_code == 200, response.status_code
    return response.get_data(as_text=True)


def seqs_of(html: str) -> list[int]:
    return [int(s) for s in re.findall(r'<tr data-seq="(\d+)"', html)]


def total_of(html: str) -> int:
    return int(re.search(r'data-total="(\d+)"', html).group(1))


def all_events(db, **where) -> list[AuditEvent]:
    stmt = select(AuditEvent).order_by(AuditEvent.seq)
    for name, value in where.items():
        stmt = stmt.where(getattr(AuditEvent, name) == value)
    return list(db.session.scalars(stmt))


def test_search_shows_every_event_in_seq_order_with_the_chain_fields(app, history_world, db):
    events = all_events(db)
    html = page(logged_in(app, history_world.auditor))
    assert total_of(html) == len(events) and len(events) < 50
    assert seqs_of(html) == [e.seq for e in events]
    last = events[-1]
    row = re.search(rf'<tr data-seq="{last.seq}".*?</tr>', html, re.S).group(0)
    assert f'title="{last.hash}">{last.hash[:10]}' in row
    assert f'title="{last.prev_hash}">{last.prev_hash[:10]}' in row
    assert "reminder.skipped" in row and ">hệ thống<" in row and "Xã 10001" in row
    score_row = re.search(r'<tr data-seq="\d+" data-action="score.changed".*?</tr>', html, re.S).group(0)
    assert "self_score" in score_row and "1.1.2" in score_row


def test_each_filter_narrows_the_search(app, history_world, db):
    w = history_world
    client = logged_in(app, w.auditor)
    other_case = db.session.scalar(select(Case).where(Case.campaign_id != w.campaign_obj.id))
    expect = {
        "campaign": ({"campaign": "other-2023"}, all_events(db, campaign_id=other_case.campaign_id)),
        "case": ({"case": str(w.case.id)}, all_events(db, case_id=w.case.id)),
        "commune code": ({"commune": "20001"}, all_events(db, case_id=other_case.id)),
        "commune name": ({"commune": "xã 10001"}, all_events(db, case_id=w.case.id)),
        "actor e-mail": ({"actor": w.officers["10001"].email}, all_events(db, actor=w.officers["10001"].email)),
        "actor name": ({"actor": "cán bộ"}, all_events(db, actor=w.officers["10001"].email)),
        "system": ({"actor": "system"}, all_events(db, actor="system")),
        "action": ({"action": "score.changed"}, all_events(db, action="score.changed")),
    }
    for label, (params, events) in expect.items():
        assert events, label
        html = page(client, **params)
        assert seqs_of(html) == [e.seq for e in events], label
        assert total_of(html) == len(events), label
    # filters combine
    html = page(client, case=str(w.case.id), action="case.transition")
    assert seqs_of(html) == [e.seq for e in all_events(db, case_id=w.case.id, action="case.transition")]
    assert 'id="no-events"' in page(client, campaign="other-2023", action="score.changed")
    assert 'id="no-events"' in page(client, actor="%")  # typed text is literal, not a pattern
    # the action select offers the distinct actions
    assert '<option value="score.changed"' in html and '<option value="reminder.skipped"' in html


def test_the_commune_filter_ignores_accents_and_case_as_the_board_search(app, history_world, db):
    w = history_world
    w.case.commune.name = "Xã Tam Hải"
    db.session.commit()
    client = logged_in(app, w.auditor)
    expected = [e.seq for e in all_events(db, case_id=w.case.id)]
    for typed in ("Tam Hải", "tam hai", "TAM HAI", "xa tam  hải"):
        html = page(client, commune=typed)
        assert seqs_of(html) == expected and total_of(html) == len(expected), typed
    assert 'id="no-events"' in page(client, commune="tam hoa")
    # the export shares the filter
    exported = _rows_from_csv(client.get("/audit/export.csv", query_string={"commune": "tam hai"})
                              .get_data(as_text=True))
    assert [r["seq"] for r in exported] == expected


def test_the_date_range_is_in_local_days(app, history_world, db):
    client = logged_in(app, history_world.auditor)
    early = [e.seq for e in all_events(db) if e.occurred_at == EARLY_1_NOV]
    late = [e.seq for e in all_events(db) if e.occurred_at == LATE_30_NOV]
    at_now = [e.seq for e in all_events(db) if e.occurred_at == NOW]
    assert len(early) == 1 and len(late) == 2 and at_now
    # 31 Oct 18:00 UTC is 1 Nov 01:00 in Hà Nội: on 1 Nov, not on 31 Oct
    assert seqs_of(page(client, **{"from": "01/11/2023", "to": "01/11/2023"})) == sorted(early + at_now)
    assert 'id="no-events"' in page(client, **{"from": "2023-10-31", "to": "2023-10-31"})
    # 30 Nov 16:30 UTC is 23:30 local: still 30 Nov, and the end day is included
    assert seqs_of(page(client, **{"from": "2023-11-02", "to": "30/11/2023"})) == late
    assert seqs_of(page(client, **{"from": "01/12/2023"})) == []
    assert seqs_of(page(client, to="31/10/2023")) == []


def test_bad_filters_are_named_beside_their_field_and_kept(app, history_world):
    client = logged_in(app, history_world.auditor)
    response = client.get("/audit", query_string={"from": "31/02/2023", "case": "abc", "campaign": "nope",
                                                  "actor": "someone"})
    assert response.status_code == 400
    html = response.get_data(as_text=True)
    for name in ("from", "case", "campaign"):
        assert f'data-error="{name}"' in html
    assert 'value="31/02/2023"' in html and 'value="abc"' in html and 'value="someone"' in html
    assert "<tr data-seq" not in html
    assert client.get("/audit", query_string={"from": "02/11/2023", "to": "01/11/2023"}).status_code == 400
    assert client.get("/audit/export.csv", query_string={"from": "x"}).status_code == 400


def test_pagination_fifty_a_page_in_seq_order(app, history_world, db):
    w = history_world
    for i in range(60):
        audit.record("note.test", actor=w.auditor, now=NOW, subject=f"n{i}")
    db.session.commit()
    seqs = [e.seq for e in all_events(db)]
    client = logged_in(app, w.auditor)
    first = page(client)
    assert total_of(first) == len(seqs) and seqs_of(first) == seqs[:50]
    assert 'rel="next"' in first and 'rel="prev"' not in first
    second = page(client, page="2")
    assert seqs_of(second) == seqs[50:100]
    # filters survive paging
    notes = page(client, action="note.test", page="2")
    assert seqs_of(notes) == [e.seq for e in all_events(db, action="note.test")][50:]
    assert re.search(r'href="/audit\?page=1&amp;action=note.test"|href="/audit\?action=note.test&amp;page=1"',
                     notes)
    last_page = (len(seqs) - 1) // 50 + 1
    assert seqs_of(page(client, page="999")) == seqs[(last_page - 1) * 50:]


def _rows_from_csv(text: str) -> list[dict]:
    """A CSV export back to export rows: numbers, JSON columns, empty -> None, formula guard removed."""
    assert text.startswith("\ufeff")
    rows = []
    for raw in csv.DictReader(io.StringIO(text[1:], newline="")):
        row = {}
        for name, value in raw.items():
            if value.startswith("'") and value[1:].startswith(audit_export.FORMULA_PREFIXES):
                value = value[1:]
            if value == "":
                row[name] = None
            elif name in ("seq", "id", "actor_id", "campaign_id", "case_id"):
                row[name] = int(value)
            elif name in ("before", "after"):
                row[name] = json.loads(value)
            else:
                row[name] = value
        rows.append(row)
    return rows


def test_exports_parse_back_and_re_verify(app, history_world, db):
    w = history_world
    audit.record("note.test", actor=w.auditor, now=NOW, case=w.case, subject='=HYPERLINK("http://evil.example")',
                 after={"text": "@SUM(1+1)"})
    db.session.commit()
    client = logged_in(app, w.auditor)
    everything = all_events(db)

    response = client.get("/audit/export.json")
    assert response.status_code == 200 and response.is_streamed
    assert response.mimetype == "application/x-ndjson"
    assert "attachment" in response.headers["Content-Disposition"]
    json_rows = [json.loads(line) for line in response.get_data(as_text=True).splitlines()]
    assert [r["seq"] for r in json_rows] == [e.seq for e in everything]
    assert tuple(json_rows[0]) == audit_export.FIELDS
    assert audit_export.check_exported(json_rows) == []

    response = client.get("/audit/export.csv")
    assert response.headers["Content-Type"] == "text/csv; charset=utf-8"  # one charset
    text = response.get_data(as_text=True)
    csv_rows = _rows_from_csv(text)
    assert csv_rows == json_rows
    assert audit_export.check_exported(csv_rows) == []
    # formula injection neutralised in the CSV, the value itself unchanged in JSON
    assert "'=HYPERLINK(\"\"http://evil.example\"\")" in text
    assert not re.search(r'(^|,)=HYPERLINK', text, re.M)
    assert json_rows[-1]["subject"] == '=HYPERLINK("http://evil.example")'

    # a filtered export holds what the search shows, and still verifies (links between neighbours)
    filtered = client.get("/audit/export.json", query_string={"case": str(w.case.id), "from": "01/11/2023"})
    rows = [json.loads(line) for line in filtered.get_data(as_text=True).splitlines()]
    assert [r["seq"] for r in rows] == seqs_of(page(client, case=str(w.case.id), **{"from": "01/11/2023"}))
    assert audit_export.check_exported(rows) == []
    # an edited row in the file is caught by the third party's check
    rows[0]["actor"] = "someone.else@example.vn"
    assert audit_export.check_exported(rows) == [f"seq {rows[0]['seq']}: content does not match its hash"]
    # empty CSV: the header alone
    empty = client.get("/audit/export.csv", query_string={"action": "nothing.such"}).get_data(as_text=True)
    assert empty == "\ufeff" + ",".join(audit_export.FIELDS) + "\r\n"
    assert client.get("/audit/export.xlsx").status_code == 404


def test_integrity_ok_then_broken_shows_the_seq(app, history_world, db):
    client = logged_in(app, history_world.auditor)
    html = client.get("/audit/integrity").get_data(as_text=True)
    assert 'id="no-check"' in html
    before = db.session.scalar(select(func.count(AuditEvent.id)))
    response = client.post("/audit/integrity", data={"csrf_token": csrf_of(html)})
    assert response.status_code == 303 and response.headers["Location"].endswith("/audit/integrity")
    html = client.get("/audit/integrity").get_data(as_text=True)
    assert 'data-ok="yes"' in html and f'data-checked="{before}"' in html
    check = all_events(db, action="audit.verified")
    assert len(check) == 1
    assert (check[0].actor, check[0].campaign_id, check[0].case_id) == (history_world.auditor.email, None, None)
    assert check[0].after["ok"] is True and check[0].after["checked"] == before

    victim = all_events(db, action="score.changed")[0]
    tamper(db, f"UPDATE audit_events SET after = '{{\"self_score\": \"2.00\"}}' WHERE seq = {victim.seq}")
    response = client.post("/audit/integrity", data={"csrf_token": csrf_of(html)})
    assert response.status_code == 303
    html = client.get("/audit/integrity").get_data(as_text=True)
    assert 'data-ok="no"' in html and f'data-first-bad-seq="{victim.seq}"' in html
    assert f'data-checked="{victim.seq - 1}"' in html
    assert "đã bị sửa" in html  # "(edited)", in Vietnamese
    assert len(all_events(db, action="audit.verified")) == 2
    # the search shows the check on the record too
    assert total_of(page(client, action="audit.verified")) == 2


def test_integrity_check_needs_csrf(app, history_world, db):
    client = logged_in(app, history_world.auditor)
    assert client.post("/audit/integrity").status_code == 400
    assert all_events(db, action="audit.verified") == []


def test_case_as_of_shows_the_old_stage_and_scores(app, history_world, db):
    w = history_world
    case = w.case
    later = dt.datetime(2023, 12, 2, 2, 0, tzinfo=UTC)
    w.advance(case, Stage.appraisal, now=later)  # fills every self score (max), submits
    scores.set_appraisal(case, "1.1.2", w.secretariat, now=later, score="1.25")
    db.session.commit()
    client = logged_in(app, w.auditor)

    html = client.get(f"/audit/cases/{case.id}", query_string={"at": "15/11/2023"}).get_data(as_text=True)
    assert 'data-stage-then="self_assessment"' in html and 'data-stage-now="appraisal"' in html
    # then: 1.1.2 self-assessed 1,00 (the 30 Nov change came later), nothing appraised
    assert 'data-code="1.1.2" class="changed"' in html
    assert 'data-then="1,00|–|–" data-now="2,00|1,25|–"' in html
    assert 'id="self-then">1,00<' in html and 'id="self-now">5,00<' in html
    assert 'id="total-then">0,00/7,00 (0,00%)<' in html and 'id="total-now">1,25/7,00 (17,86%)<' in html
    assert "Tự đánh giá, chấm điểm" in html  # the stage in Vietnamese

    # a date alone means the end of that day; a time narrows it
    html = client.get(f"/audit/cases/{case.id}", query_string={"at": "2023-11-30"}).get_data(as_text=True)
    assert 'data-then="1,50|–|–"' in html
    html = client.get(f"/audit/cases/{case.id}", query_string={"at": "2023-11-30T23:00"}).get_data(as_text=True)
    assert 'data-then="1,00|–|–"' in html
    html = client.get(f"/audit/cases/{case.id}", query_string={"at": "2023-12-02T09:01"}).get_data(as_text=True)
    assert 'data-stage-then="appraisal"' in html
    # before the case existed
    html = client.get(f"/audit/cases/{case.id}", query_string={"at": "31/10/2023"}).get_data(as_text=True)
    assert 'id="not-yet"' in html
    bad = client.get(f"/audit/cases/{case.id}", query_string={"at": "tomorrow"})
    assert bad.status_code == 400 and 'data-error="at"' in bad.get_data(as_text=True)
    assert client.get("/audit/cases/999999").status_code == 404


def test_case_as_of_writes_the_revision_deadline_as_a_date(app, history_world, db):
    from workflow import cases

    w = history_world
    case = w.case
    later = dt.datetime(2023, 12, 2, 2, 0, tzinfo=UTC)
    w.advance(case, Stage.appraisal, now=later)
    cases.fire(case, "return_for_revision", w.secretariat, now=later + dt.timedelta(hours=1),
               reason="Thiếu tài liệu", revision_due=dt.date(2023, 12, 15))
    db.session.commit()
    html = logged_in(app, w.auditor).get(f"/audit/cases/{case.id}",
                                         query_string={"at": "2023-12-03"}).get_data(as_text=True)
    assert "hạn bổ sung 15/12/2023" in html and "2023-12-15<" not in html


def test_search_rows_link_to_the_case_as_of_that_event(app, history_world, db):
    html = page(logged_in(app, history_world.auditor), action="score.changed")
    # the 1 Nov 01:00 local event links to the end of its minute
    assert f'href="/audit/cases/{history_world.case.id}?at=2023-11-01T01:00"' in html


def test_who_may_read_the_history(app, history_world):
    w = history_world
    for user in (w.auditor, w.admin, w.head):
        client = logged_in(app, user)
        assert client.get("/audit").status_code == 200, user.email
        assert client.get("/audit/integrity").status_code == 200, user.email
        assert client.get(f"/audit/cases/{w.case.id}").status_code == 200, user.email
    for user in (w.officers["10001"], w.secretariat, w.council[0], w.leader):
        user.set_password(PASSWORD)
        client = logged_in(app, user)
        for url in ("/audit", "/audit/integrity", f"/audit/cases/{w.case.id}", "/audit/export.csv"):
            assert client.get(url).status_code == 403, (user.email, url)
    assert app.test_client().get("/audit").status_code == 302
    auditor_home = logged_in(app, w.auditor).get("/")
    assert auditor_home.headers["Location"].endswith("/audit")


def _snapshot(db):
    db.session.expire_all()
    return (db.session.scalar(select(func.count(AuditEvent.id))),
            sorted((c.id, c.version, c.stage) for c in db.session.scalars(select(Case))),
            db.session.scalar(select(func.count(Signature.id))))


def test_an_auditor_can_change_nothing(app, history_world, db):
    w = history_world
    target = w.case_of(w.campaign_obj, "10002")
    w.advance(target, Stage.council_meeting)
    cases.fire(target, "approve", w.secretariat, now=NOW)
    db.session.commit()
    so_id = signoff.pending_for(target).id
    case = w.case
    client = logged_in(app, w.auditor)
    token = csrf_of(client.get("/audit/integrity").get_data(as_text=True))
    before = _snapshot(db)

    fire = client.post(f"/cases/{case.id}/transitions/submit",
                       data={"csrf_token": token, "version": case.version})
    # the transition endpoint answers a role without the transition with a refusal for the page
    assert fire.status_code in (303, 403)
    sign = client.post(f"/council/sign-offs/{so_id}",
                       data={"csrf_token": token, "version": target.version, "decision": "approve"})
    assert sign.status_code == 403
    bulk = client.post("/council/approve", data={"csrf_token": token, "sign_off": [so_id],
                                                 f"version-{so_id}": target.version})
    assert bulk.status_code == 403
    # every other POST endpoint of the app, with plausible arguments: refused, nothing changes
    ints = {"case_id": case.id, "sign_off_id": so_id, "evidence_id": 1, "user_id": w.officers["10001"].id,
            "commune_id": case.commune_id}
    for rule in app.url_map.iter_rules():
        if "POST" not in rule.methods or rule.endpoint in ("auth.login", "auth.logout", "auditor.run_integrity"):
            continue
        if rule.endpoint.startswith("account."):  # one's own account (language, password, links): no case data
            continue
        if rule.rule.startswith("/api/"):  # bearer tokens only (a session gets 401); its matrix is in tests/api
            continue
        args = {name: ints.get(name, "submit" if name == "name" else w.campaign_obj.key) for name in rule.arguments}
        url = rule.build(args)[1]
        response = client.post(url, data={"csrf_token": token, "version": case.version, "decision": "approve",
                                          "score": "0", "reason": "x", "comment": "x"})
        assert response.status_code in (303, 400, 403, 404, 405), (rule.endpoint, response.status_code)
    assert _snapshot(db) == before
    db.session.expire_all()
    assert case.stage == Stage.self_assessment.value and target.stage == Stage.council_meeting.value


def test_integrity_check_against_pasted_anchors_shows_a_rewrite(app, history_world, db):
    from tests.workflow.test_audit_anchor import rewrite_history
    from workflow import audit_anchor

    client = logged_in(app, history_world.auditor)
    held = audit_anchor.current()
    early = f"2:{db.session.scalar(select(AuditEvent.hash).where(AuditEvent.seq == 2))}"
    rewrite_history(db, 3)
    html = client.get("/audit/integrity").get_data(as_text=True)
    # pasted as copied from two e-mails, with a blank line between
    response = client.post("/audit/integrity", data={"csrf_token": csrf_of(html),
                                                     "anchors": f"  {early}\r\n\r\nseq {held.seq} {held.hash}\r\n"})
    assert response.status_code == 303
    html = client.get("/audit/integrity").get_data(as_text=True)
    assert 'data-ok="no"' in html and f'data-first-bad-seq="{held.seq}"' in html
    assert '<tr class="ok" data-seq="2" data-status="matches">' in html
    assert f'<tr class="broken" data-seq="{held.seq}" data-status="differs">' in html
    assert "đã bị viết lại" in html  # the problem and the row, in Vietnamese
    # the chain itself links up whole: the page does not claim its events came "before" the rewrite
    total = db.session.scalar(select(func.count()).select_from(AuditEvent)) - 1  # less this check's own event
    assert f'data-checked="{total}"' in html
    assert f"Cả {total} sự kiện vẫn nối đúng thành chuỗi" in html and "trước đó" not in html
    check = all_events(db, action="audit.verified")[-1]
    assert [a["status"] for a in check.after["anchors"]] == ["matches", "differs"]
    assert re.search(r'id="check-anchor">' + str(check.seq) + ":" + check.hash + "<", html)


def test_unreadable_anchors_keep_the_text_and_record_nothing(app, history_world, db):
    client = logged_in(app, history_world.auditor)
    html = client.get("/audit/integrity").get_data(as_text=True)
    pasted = f"1:{'ab' * 32}\nKính gửi đồng chí"
    response = client.post("/audit/integrity", data={"csrf_token": csrf_of(html), "anchors": pasted})
    assert response.status_code == 400
    page_ = response.get_data(as_text=True)
    assert "dòng 2: “Kính gửi đồng chí” không phải là một mốc" in page_ and 'aria-invalid="true"' in page_
    assert f">{pasted}</textarea>" in page_
    assert all_events(db, action="audit.verified") == []
