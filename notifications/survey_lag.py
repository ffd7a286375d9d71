"""Survey lag notices: tell the secretariat which communes' returned forms are short after the survey due date.

One notice per lagging commune, recipient and day (the outbox key says so): the daily job and
``flask survey remind`` may run any number of times; a commune that catches up, or whose case has moved
past the survey, stops being named.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from flask import current_app
from markupsafe import escape
from sqlalchemy import select

from models import Campaign, CampaignStaff, User, db
from workflow import survey

from .outbox import insert_rendered
from .render import Rendered, ddmmyyyy, locale_of

SECRETARIAT_PARTS = ("secretariat", "secretariat_head")

TEXT = {
    "vi": {
        "subject": "[CCHC] Điều tra xã hội học chậm tiến độ: {commune} ({returned}/{quota} phiếu)",
        "greeting": "Kính gửi {name},",
        "intro": "Số phiếu điều tra xã hội học thu về của đơn vị dưới đây chưa đủ theo Kế hoạch, "
                 "dù đã quá hạn thu phiếu.",
        "commune": "Đơn vị: {commune} (mã {code})",
        "due": "Hạn thu phiếu: {due}, đã quá hạn {late} ngày làm việc",
        "row": "- {group}: đã thu {returned}/{quota} phiếu (đã phát {issued})",
        "link": "Xem tiến độ điều tra: {url}",
        "footer": "Hệ thống quản lý hồ sơ Chỉ số CCHC. Thư gửi tự động, vui lòng không trả lời.",
    },
    "en": {
        "subject": "[PAR] Survey behind schedule: {commune} ({returned}/{quota} forms)",
        "greeting": "Dear {name},",
        "intro": "The commune below has returned fewer survey forms than the plan requires, and the survey "
                 "due date has passed.",
        "commune": "Commune: {commune} (code {code})",
        "due": "Forms due: {due}, {late} working day(s) late",
        "row": "- {group}: {returned}/{quota} forms returned ({issued} issued)",
        "link": "Survey progress: {url}",
        "footer": "CCHC case management. Automatic message, please do not reply.",
    },
}


def lag_key(campaign_id: int, commune_code: str, day: dt.date, email: str) -> str:
    return f"survey-lag:campaign={campaign_id}:commune={commune_code}:day={day.isoformat()}:to={email}"


@dataclass
class LagReport:
    day: dt.date | None = None
    lagging: list[str] = field(default_factory=list)  # "campaign/commune"
    queued: int = 0
    already_queued: int = 0

    def describe(self) -> str:
        return (f"survey lag: {len(self.lagging)} lagging commune(s), {self.queued} notice(s) queued, "
                f"{self.already_queued} already queued today")


def render_lag(*, locale: str, recipient_name: str, commune_name: str, commune_code: str, due: dt.date,
               working_days_late: int, rows: list[survey.ProgressRow], url: str) -> Rendered:
    """The notice in the recipient's language (text and HTML)."""
    t = TEXT[locale_of(locale)]
    returned, quota = sum(r.returned for r in rows), sum(r.quota for r in rows)
    subject = " ".join(t["subject"].format(commune=commune_name, returned=returned, quota=quota).split())
    lines = [t["greeting"].format(name=recipient_name), "", t["intro"], "",
             t["commune"].format(commune=commune_name, code=commune_code),
             t["due"].format(due=ddmmyyyy(due), late=working_days_late)]
    lines += [t["row"].format(group=r.group_name, returned=r.returned, quota=r.quota, issued=r.issued) for r in rows]
    lines += ["", t["link"].format(url=url), "--", t["footer"], ""]
    items = "".join(f"<li>{escape(t['row'].format(group=r.group_name, returned=r.returned, quota=r.quota, issued=r.issued)[2:])}</li>"
                    for r in rows)
    html = (f"<!doctype html><html lang=\"{locale_of(locale)}\"><head><meta charset=\"utf-8\">"
            f"<title>{escape(subject)}</title></head><body style=\"font-family: Arial, sans-serif\">"
            f"<p>{escape(t['greeting'].format(name=recipient_name))}</p><p>{escape(t['intro'])}</p>"
            f"<p>{escape(t['commune'].format(commune=commune_name, code=commune_code))}<br>"
            f"{escape(t['due'].format(due=ddmmyyyy(due), late=working_days_late))}</p><ul>{items}</ul>"
            f"<p><a href=\"{escape(url)}\">{escape(t['link'].format(url=url))}</a></p>"
            f"<hr><p style=\"color:#777;font-size:12px\">{escape(t['footer'])}</p></body></html>")
    return Rendered(subject=subject, text="\n".join(lines), html=html)


def _secretariat(campaign: Campaign) -> list[User]:
    users = {s.user.id: s.user for s in db.session.scalars(
        select(CampaignStaff).where(CampaignStaff.campaign_id == campaign.id,
                                    CampaignStaff.part.in_(SECRETARIAT_PARTS)))}
    return sorted((u for u in users.values() if u.is_active), key=lambda u: u.email)


def queue_lag_notices(*, now: dt.datetime, campaign: Campaign | None = None) -> LagReport:
    """Queue today's notice about every lagging commune to each secretariat user; the caller commits."""
    campaigns = [campaign] if campaign is not None else list(db.session.scalars(
        select(Campaign).where(Campaign.survey.is_not(None)).order_by(Campaign.id)))
    report = LagReport()
    base_url = current_app.config.get("PUBLIC_BASE_URL", "").rstrip("/")
    for c in campaigns:
        if not survey.groups_of(c):
            continue
        state = survey.progress(c, now=now)
        report.day = state.today
        lagging = state.lagging()
        if not lagging or state.due is None:
            continue
        late_by = -state.working_days_left if state.working_days_left is not None else 0
        cases = survey.cases_by_code(c)
        recipients = _secretariat(c)
        for code, rows in lagging.items():
            case = cases[code]
            if survey.check_case_open(case):
                continue  # the case has moved past the survey: nagging about its forms helps no one
            report.lagging.append(f"{c.key}/{code}")
            for user in recipients:
                rendered = render_lag(locale=user.locale, recipient_name=user.name, commune_name=rows[0].commune_name,
                                      commune_code=code, due=state.due.date, working_days_late=late_by, rows=rows,
                                      url=f"{base_url}/survey/{c.key}")
                if insert_rendered(key=lag_key(c.id, code, state.today, user.email), kind="notice",
                                   rendered=rendered, recipient=user, scheduled_for=now, now=now, case_id=case.id,
                                   stage="survey"):
                    report.queued += 1
                else:
                    report.already_queued += 1
    return report
