"""Time is a parameter: operations take ``now``; entry points get it from here."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

LOCAL_TZ = ZoneInfo("Asia/Ho_Chi_Minh")


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def local_date(moment: dt.datetime, tz: str | ZoneInfo = LOCAL_TZ) -> dt.date:
    zone = ZoneInfo(tz) if isinstance(tz, str) else tz
    return moment.astimezone(zone).date()


def parse_moment(text: str, tz: str | ZoneInfo = LOCAL_TZ) -> dt.datetime:
    """ISO date or date-time; a naive value is local time (Asia/Ho_Chi_Minh)."""
    zone = ZoneInfo(tz) if isinstance(tz, str) else tz
    value = dt.datetime.fromisoformat(text)
    if value.tzinfo is None:
        value = value.replace(tzinfo=zone)
    return value.astimezone(dt.UTC)
