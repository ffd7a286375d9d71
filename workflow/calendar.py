"""Working-day calendar of a campaign: Vietnam's official holidays plus the plan's local changes.

Art. 148 of the Civil Code 2015: a period whose last day is a non-working day ends at the
end of the next working day.
"""

from __future__ import annotations

import calendar as _cal
import datetime as dt
import re
from dataclasses import dataclass, field
from functools import lru_cache

import holidays

_MONTH = re.compile(r"^(\d{4})-(\d{2})$")
_DAY = re.compile(r"^(\d{4})-(\d{2})-(\d{2})$")


def parse_due(raw) -> dt.date:
    """A plan's due: ``2023-11-10`` or ``2024-01`` (the last day of that month)."""
    if isinstance(raw, dt.datetime):
        return raw.date()
    if isinstance(raw, dt.date):
        return raw
    text = str(raw).strip()
    m = _MONTH.match(text)
    if m:
        year, month = int(m.group(1)), int(m.group(2))
        if not 1 <= month <= 12:
            raise ValueError(f"not a month: {text!r}")
        return month_due(year, month)
    if _DAY.match(text):
        return dt.date.fromisoformat(text)
    raise ValueError(f"not a date (YYYY-MM-DD) or month (YYYY-MM): {text!r}")


@lru_cache(maxsize=128)
def _national(country: str, year: int, language: str | None = None) -> holidays.HolidayBase:
    return holidays.country_holidays(country, years=year, language=language)


# The holidays package's language codes for our two locales.
_LANGUAGES = {"en": "en_US", "vi": "vi"}


def month_due(year: int, month: int) -> dt.date:
    """A month-level due ("trong tháng 01/2024"): the last day of that month."""
    return dt.date(year, month, _cal.monthrange(year, month)[1])


@dataclass(frozen=True)
class RolledDate:
    """A computed date and the sentence that explains it."""

    date: dt.date
    explanation: str
    explanation_vi: str


@dataclass(frozen=True)
class WorkingCalendar:
    """A plan's working calendar (immutable, so it can be shared and its answers kept)."""

    country: str = "VN"
    extra_holidays: frozenset[dt.date] = field(default_factory=frozenset)
    extra_working_days: frozenset[dt.date] = field(default_factory=frozenset)

    @classmethod
    def from_plan(cls, block: dict | None) -> WorkingCalendar:
        """The calendar of a plan's ``calendar`` block; one object per distinct block (every transition
        asks for its campaign's)."""
        block = block or {}
        return _from_plan(block.get("country") or "VN", tuple(block.get("extra_holidays") or ()),
                          tuple(block.get("extra_working_days") or ()))

    def _nat(self, day: dt.date) -> holidays.HolidayBase:
        return _national(self.country, day.year)

    def holiday_name(self, day: dt.date, locale: str = "en") -> str | None:
        """The holiday's name in ``locale`` (en or vi); None on a day that is no holiday."""
        if day in self.extra_holidays:
            return "ngày nghỉ địa phương (theo kế hoạch)" if locale == "vi" else "local holiday (plan)"
        return _national(self.country, day.year, _LANGUAGES.get(locale, "en_US")).get(day)

    def is_working_day(self, day: dt.date) -> bool:
        if day in self.extra_holidays:
            return False
        if day in self.extra_working_days:
            return True
        nat = self._nat(day)
        if day in getattr(nat, "weekend_workdays", ()):
            return True  # make-up working Saturday
        if day in nat:
            return False
        return day.weekday() not in nat.weekend

    def why_not_working(self, day: dt.date) -> tuple[str, str]:
        """Why ``day`` is off, in English and in Vietnamese."""
        name_en, name_vi = self.holiday_name(day, "en"), self.holiday_name(day, "vi")
        if name_en:
            return (f"a holiday ({name_en})", f"ngày nghỉ lễ ({name_vi or name_en})")
        return ("a weekend", "ngày nghỉ cuối tuần")

    def roll_forward(self, day: dt.date, *, set_on_return: bool = False) -> RolledDate:
        """Art. 148: a due date on a non-working day moves to the next working day. ``set_on_return``: the
        date is a revision deadline the secretariat set when returning the case, not the plan's."""
        return _rolled(self, day, set_on_return)

    def _roll_forward(self, day: dt.date, set_on_return: bool) -> RolledDate:
        if set_on_return:
            as_set = ("the revision deadline set on return", "hạn bổ sung đặt khi trả hồ sơ")
            said = ("the revision deadline set on return is", "hạn bổ sung đặt khi trả hồ sơ là")
        else:
            as_set = ("as the plan says", "theo kế hoạch")
            said = ("plan says", "kế hoạch ghi")
        if self.is_working_day(day):
            return RolledDate(day, f"due {day:%d/%m/%Y}: {as_set[0]}", f"hạn {day:%d/%m/%Y}: {as_set[1]}")
        why_en, why_vi = self.why_not_working(day)
        moved = self.add_working_days(day, 1)
        return RolledDate(
            moved,
            f"due {moved:%d/%m/%Y}: {said[0]} {day:%d/%m/%Y}, {why_en}; next working day (Civil Code art. 148)",
            f"hạn {moved:%d/%m/%Y}: {said[1]} {day:%d/%m/%Y}, {why_vi}; chuyển sang ngày làm việc "
            "tiếp theo (Điều 148 BLDS 2015)",
        )

    def add_working_days(self, day: dt.date, n: int) -> dt.date:
        """The n-th working day after ``day`` (n > 0) or before it (n < 0); n = 0 returns ``day``."""
        step = 1 if n > 0 else -1
        remaining = abs(n)
        current = day
        while remaining:
            current += dt.timedelta(days=step)
            if self.is_working_day(current):
                remaining -= 1
        return current

    def working_days_before(self, day: dt.date, n: int) -> dt.date:
        """"N working days before ``day``": the n-th working day counted back from it (0 = ``day``)."""
        return self.add_working_days(day, -n)

    def working_days_after(self, day: dt.date, n: int) -> dt.date:
        """"N working days after ``day``": the n-th working day counted on from it (0 = ``day``)."""
        return self.add_working_days(day, n)

    def working_days_between(self, start: dt.date, end: dt.date) -> int:
        """Working days in (start, end]; negative when end is before start."""
        if end == start:
            return 0
        sign = 1 if end > start else -1
        lo, hi = (start, end) if sign > 0 else (end, start)
        count = 0
        current = lo
        while current < hi:
            current += dt.timedelta(days=1)
            if self.is_working_day(current):
                count += 1
        return sign * count


@lru_cache(maxsize=256)
def _from_plan(country: str, holidays_: tuple[str, ...], working: tuple[str, ...]) -> WorkingCalendar:
    return WorkingCalendar(country, frozenset(parse_due(d) for d in holidays_),
                           frozenset(parse_due(d) for d in working))


@lru_cache(maxsize=4096)
def _rolled(cal: WorkingCalendar, day: dt.date, set_on_return: bool) -> RolledDate:
    return cal._roll_forward(day, set_on_return)
