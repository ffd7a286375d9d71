"""Typed SQLAlchemy models, one aggregate per module."""

from .api_token import ApiToken
from .audit import AuditEvent, AuditHead, DomainEvent
from .base import MAX_ID, Points, db, to_points, utcnow
from .campaign import Campaign, CampaignStaff, CampaignStageDue, CouncilSeat
from .case import Case, Score
from .commune import Authority, Commune
from .commune_lineage import CommuneMerger
from .criteria import CriteriaItem, CriteriaSet
from .deadline import Deadline
from .evidence import Evidence
from .feed_token import CalendarFeedToken
from .login_throttle import LoginFailure
from .outbox import OutboxMessage, SchedulerState
from .publication import ResultSnapshot
from .remediation import RemediationItem, RemediationPlan
from .signoff import Signature, SignOff
from .survey import SurveyAnswer, SurveyForm, SurveyIssue, SurveySettings
from .user import User, UserRole

__all__ = [
    "ApiToken",
    "AuditEvent", "AuditHead", "DomainEvent", "MAX_ID", "Points", "db", "to_points", "utcnow",
    "Campaign", "CampaignStaff", "CampaignStageDue", "CouncilSeat", "Case", "Score",
    "Authority", "Commune", "CriteriaItem", "CriteriaSet", "Deadline",
    "LoginFailure",
    "CommuneMerger", "ResultSnapshot",
    "RemediationItem", "RemediationPlan",
    "Evidence", "CalendarFeedToken", "OutboxMessage", "SchedulerState", "Signature", "SignOff", "User", "UserRole",
    "SurveyAnswer", "SurveyForm", "SurveyIssue", "SurveySettings",
]
