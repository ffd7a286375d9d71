"""The sociological survey: per campaign the option weights, forms issued, forms returned and their answers."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import JSON, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from .base import UTCDateTime, db, utcnow
from .campaign import Campaign
from .commune import Commune

MODES = ("in_person", "online")
ANSWER_STATES = ("valid", "blank", "invalid")


class SurveySettings(db.Model):
    """A campaign's conversion weights: per option (percent, as text) and optionally per respondent group."""

    __tablename__ = "survey_settings"

    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id", ondelete="CASCADE"), primary_key=True)
    option_weights: Mapped[dict] = mapped_column(JSON)  # {"A": "100", "B": "60", "C": "20", "D": "0"}
    group_weights: Mapped[dict | None] = mapped_column(JSON)  # {"dept_leaders": "30", ...} or None: no weighting
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))


class SurveyIssue(db.Model):
    """A batch of blank forms handed out for one commune and respondent group, by a surveyor."""

    __tablename__ = "survey_issues"
    __table_args__ = (Index("ix_survey_issues_campaign_commune", "campaign_id", "commune_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id", ondelete="CASCADE"))
    commune_id: Mapped[int] = mapped_column(ForeignKey("communes.id"))
    group: Mapped[str] = mapped_column(String(40))
    count: Mapped[int] = mapped_column(Integer)
    surveyor: Mapped[str | None] = mapped_column(String(200))
    mode: Mapped[str] = mapped_column(String(20))  # in_person | online
    recorded_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    recorded_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))

    commune: Mapped[Commune] = relationship()


class SurveyForm(db.Model):
    """One returned questionnaire (phiếu điều tra) about one commune, from one respondent group."""

    __tablename__ = "survey_forms"
    __table_args__ = (UniqueConstraint("campaign_id", "commune_id", "group", "number"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id", ondelete="CASCADE"))
    commune_id: Mapped[int] = mapped_column(ForeignKey("communes.id"))
    group: Mapped[str] = mapped_column(String(40))
    number: Mapped[str] = mapped_column(String(40))
    surveyor: Mapped[str | None] = mapped_column(String(200))
    mode: Mapped[str] = mapped_column(String(20))  # in_person | online
    recorded_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    recorded_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))

    campaign: Mapped[Campaign] = relationship()
    commune: Mapped[Commune] = relationship()
    answers: Mapped[list[SurveyAnswer]] = relationship(
        back_populates="form", cascade="all, delete-orphan", order_by="SurveyAnswer.code")


class SurveyAnswer(db.Model):
    """The answer to one question (a survey-method sub-criterion): option A-D, or blank, or invalid."""

    __tablename__ = "survey_answers"
    __table_args__ = (UniqueConstraint("form_id", "code"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    form_id: Mapped[int] = mapped_column(ForeignKey("survey_forms.id", ondelete="CASCADE"))
    code: Mapped[str] = mapped_column(String(30))
    option: Mapped[str | None] = mapped_column(String(1))  # A-D when valid
    state: Mapped[str] = mapped_column(String(10))  # valid | blank | invalid

    form: Mapped[SurveyForm] = relationship(back_populates="answers")
