"""The working-day calendar: Vietnam's holidays, swapped days, art. 148 roll-forward, month dues."""

import datetime as dt

import pytest

from workflow.calendar import WorkingCalendar, month_due, parse_due

D = dt.date
VN = WorkingCalendar()


@pytest.mark.parametrize("day", [D(2024, 2, d) for d in range(8, 15)])
def test_tet_2024_is_off_from_8_to_14_february(day):
    assert not VN.is_working_day(day)


@pytest.mark.parametrize("day", [D(2025, 1, d) for d in range(27, 32)] + [D(2025, 2, 1), D(2025, 2, 2)])
def test_tet_2025_is_off_from_27_january_to_2_february(day):
    assert not VN.is_working_day(day)


def test_working_days_count_across_tet_2024():
    assert VN.is_working_day(D(2024, 2, 7)) and VN.is_working_day(D(2024, 2, 15))
    assert VN.working_days_after(D(2024, 2, 7), 1) == D(2024, 2, 15)
    assert VN.working_days_before(D(2024, 2, 16), 2) == D(2024, 2, 7)
    assert VN.working_days_between(D(2024, 2, 7), D(2024, 2, 15)) == 1
    assert VN.working_days_between(D(2024, 2, 15), D(2024, 2, 7)) == -1


def test_working_days_count_across_tet_2025():
    assert VN.working_days_after(D(2025, 1, 24), 1) == D(2025, 2, 3)
    assert VN.working_days_before(D(2025, 2, 3), 1) == D(2025, 1, 24)
    assert VN.working_days_before(D(2025, 2, 3), 0) == D(2025, 2, 3)


def test_art_148_moves_a_due_in_tet_to_the_next_working_day_and_says_why():
    rolled = VN.roll_forward(D(2024, 2, 10))
    assert rolled.date == D(2024, 2, 15)
    assert rolled.explanation == ("due 15/02/2024: plan says 10/02/2024, a holiday (Lunar New Year); "
                                  "next working day (Civil Code art. 148)")
    assert rolled.explanation_vi == ("hạn 15/02/2024: kế hoạch ghi 10/02/2024, ngày nghỉ lễ (Tết Nguyên Đán); "
                                     "chuyển sang ngày làm việc tiếp theo (Điều 148 BLDS 2015)")
    rolled = VN.roll_forward(D(2025, 1, 29))
    assert rolled.date == D(2025, 2, 3)
    assert "Điều 148" in rolled.explanation_vi and "Tết Nguyên Đán" in rolled.explanation_vi


def test_a_due_on_a_working_day_stays_put():
    rolled = VN.roll_forward(D(2023, 11, 10))
    assert rolled.date == D(2023, 11, 10)
    assert rolled.explanation == "due 10/11/2023: as the plan says"
    assert rolled.explanation_vi == "hạn 10/11/2023: theo kế hoạch"


def test_a_revision_deadline_says_it_was_set_on_return_not_by_the_plan():
    rolled = VN.roll_forward(D(2023, 11, 10), set_on_return=True)
    assert rolled.explanation == "due 10/11/2023: the revision deadline set on return"
    assert rolled.explanation_vi == "hạn 10/11/2023: hạn bổ sung đặt khi trả hồ sơ"
    moved = VN.roll_forward(D(2023, 11, 11), set_on_return=True)  # a Saturday
    assert moved.date == D(2023, 11, 13)
    assert moved.explanation_vi == ("hạn 13/11/2023: hạn bổ sung đặt khi trả hồ sơ là 11/11/2023, ngày nghỉ cuối "
                                    "tuần; chuyển sang ngày làm việc tiếp theo (Điều 148 BLDS 2015)")
    assert VN.roll_forward(D(2023, 11, 10)).explanation_vi == "hạn 10/11/2023: theo kế hoạch"  # kept apart


def test_new_year():
    assert not VN.is_working_day(D(2024, 1, 1))
    assert VN.holiday_name(D(2024, 1, 1), "vi") == "Tết Dương lịch"
    assert VN.holiday_name(D(2024, 1, 1), "en") == "New Year's Day"
    # Sunday 31/12/2023, then the New Year holiday: the period ends on Tuesday 2 January
    rolled = VN.roll_forward(D(2023, 12, 31))
    assert rolled.date == D(2024, 1, 2)
    assert "a weekend" in rolled.explanation and "ngày nghỉ cuối tuần" in rolled.explanation_vi


def test_30_april_and_1_may_2024_with_the_swapped_monday_and_make_up_saturday():
    for day in (D(2024, 4, 27), D(2024, 4, 28), D(2024, 4, 29), D(2024, 4, 30), D(2024, 5, 1)):
        assert not VN.is_working_day(day), day
    assert VN.holiday_name(D(2024, 4, 29), "vi") == "Ngày nghỉ (thay cho ngày 04/05/2024)"
    assert VN.is_working_day(D(2024, 5, 4))  # make-up working Saturday
    assert not VN.is_working_day(D(2024, 5, 11))  # an ordinary Saturday
    assert VN.roll_forward(D(2024, 4, 27)).date == D(2024, 5, 2)
    assert VN.working_days_after(D(2024, 4, 26), 1) == D(2024, 5, 2)
    assert VN.working_days_after(D(2024, 5, 3), 1) == D(2024, 5, 4)
    assert VN.working_days_before(D(2024, 5, 6), 1) == D(2024, 5, 4)
    assert VN.working_days_between(D(2024, 4, 26), D(2024, 5, 6)) == 4  # 2, 3, 4 (Sat), 6 May
    rolled = VN.roll_forward(D(2024, 4, 30))
    assert rolled.date == D(2024, 5, 2)
    assert "ngày nghỉ lễ (Ngày Chiến thắng)" in rolled.explanation_vi


def test_national_day_2_september():
    assert not VN.is_working_day(D(2024, 9, 2)) and not VN.is_working_day(D(2024, 9, 3))
    assert VN.roll_forward(D(2024, 9, 2)).date == D(2024, 9, 4)
    assert VN.holiday_name(D(2024, 9, 2), "vi") == "Quốc khánh"
    assert VN.roll_forward(D(2025, 8, 30)).date == D(2025, 9, 3)  # Sat, Sun, then 1-2 September


def test_extra_holidays_and_extra_working_days_from_the_plan():
    cal = WorkingCalendar.from_plan({"country": "VN", "extra_holidays": ["2023-12-29"],
                                     "extra_working_days": ["2023-12-30"]})
    assert not cal.is_working_day(D(2023, 12, 29))
    assert cal.is_working_day(D(2023, 12, 30))
    assert cal.holiday_name(D(2023, 12, 29), "vi") == "ngày nghỉ địa phương (theo kế hoạch)"
    rolled = cal.roll_forward(D(2023, 12, 29))
    assert rolled.date == D(2023, 12, 30)
    assert "local holiday (plan)" in rolled.explanation
    assert cal.working_days_after(D(2023, 12, 28), 1) == D(2023, 12, 30)
    # without the plan's changes the same Friday is a working day and the Saturday is not
    assert VN.is_working_day(D(2023, 12, 29)) and not VN.is_working_day(D(2023, 12, 30))


def test_month_dues_are_the_last_day_of_the_month():
    assert parse_due("2024-01") == D(2024, 1, 31)
    assert parse_due("2024-02") == D(2024, 2, 29)
    assert month_due(2025, 2) == D(2025, 2, 28)
    assert parse_due("2023-11-10") == D(2023, 11, 10)
    # "trong tháng 01/2025": 31/01/2025 is in Tết, so the period ends on Monday 3 February
    rolled = VN.roll_forward(parse_due("2025-01"))
    assert rolled.date == D(2025, 2, 3)
    assert "Lunar New Year" in rolled.explanation
    assert VN.roll_forward(parse_due("2024-03")).date == D(2024, 4, 1)


@pytest.mark.parametrize("raw", ["2024-13", "2024-1-5", "soon"])
def test_bad_dues_are_refused(raw):
    with pytest.raises(ValueError):
        parse_due(raw)


def test_a_plans_calendar_is_kept_by_its_content_so_a_changed_block_is_a_new_calendar():
    block = {"country": "VN", "extra_holidays": ["2024-03-04"], "extra_working_days": ["2024-02-17"]}
    kept = WorkingCalendar.from_plan(block)
    assert WorkingCalendar.from_plan(dict(block)) is kept  # the same content: the same (immutable) object
    assert not kept.is_working_day(D(2024, 3, 4)) and kept.is_working_day(D(2024, 2, 17))
    changed = WorkingCalendar.from_plan({**block, "extra_holidays": []})
    assert changed is not kept and changed.is_working_day(D(2024, 3, 4))
    # roll-forward answers are kept per calendar: the changed calendar does not see the old one's
    assert kept.roll_forward(D(2024, 3, 4)).date == D(2024, 3, 5)
    assert changed.roll_forward(D(2024, 3, 4)).date == D(2024, 3, 4)
    with pytest.raises(AttributeError):
        kept.country = "US"  # shared between campaigns with the same block: it cannot be changed in place
