"""Schemas of the campaign plan file, one per block of plan-format.md.

Unknown keys are refused everywhere: in a plan a typo (``quorom``) must not pass silently.
Checks that need two blocks (communes named in the survey, who escalations go to) live in
``workflow.plans``; checks that need the database too.
"""

from __future__ import annotations

import functools
import re
import zoneinfo

import holidays
from marshmallow import Schema, ValidationError, fields, post_load, validate, validates_schema

from states import TRANSITIONS, Stage

from ..signoff import quorum_needed
from .common import N_, DayField, DueField, Email, PointsField, StrictInteger, Text

KEY = re.compile(r"^[a-z0-9][a-z0-9._-]{0,99}$")
COMMUNE_CODE = re.compile(r"^\d{1,20}$")
GROUP_CODE = re.compile(r"^[a-z][a-z0-9_]{0,49}$")
QUORUM = re.compile(r"^\s*(\d+)\s*/\s*(\d+)\s*$")
ESCALATION_TARGETS = ("commune_chair", "secretariat_head", "authority_leader")
SIGN_OFF_TRANSITIONS = tuple(t.name for t in TRANSITIONS.values() if t.may_need_sign_off)
STAGES = tuple(s.value for s in Stage)
DEFAULT_REMINDERS = {"before_working_days": [5, 2, 0], "overdue_notice": True, "escalations": []}

BLOCKS = ("campaign", "calendar", "secretariat", "authority_leader", "communes", "council", "stages",
          "sign_off", "reminders", "survey", "classification")


class CommuneCodeField(fields.Field):
    """An administrative-unit code, written as text: YAML would read ``020341`` as an octal number."""

    def _deserialize(self, value, attr, data, **kwargs):
        if isinstance(value, int) and not isinstance(value, bool):
            raise ValidationError(N_('write the code as quoted text ("%(value)s"): YAML reads bare numbers '
                                     "and drops leading zeros", value=value))
        if not isinstance(value, str) or not COMMUNE_CODE.match(value.strip()):
            raise ValidationError(N_("not an administrative-unit code (digits only): %(value)s",
                                     value=repr(value)))
        return value.strip()


class QuorumField(fields.Field):
    """``"2/3"`` of the members, or a whole number of approvals; stored as text."""

    def _deserialize(self, value, attr, data, **kwargs):
        if isinstance(value, bool):
            raise ValidationError(N_('not a quorum: write a fraction like "2/3" or a whole number'))
        if isinstance(value, int):
            if value < 1:
                raise ValidationError(N_("a whole-number quorum must be at least 1"))
            return str(value)
        if isinstance(value, str):
            text = value.strip()
            if text.isdigit():
                return self._deserialize(int(text), attr, data)
            m = QUORUM.match(text)
            if m:
                num, den = int(m.group(1)), int(m.group(2))
                if den == 0 or num == 0 or num > den:
                    raise ValidationError(N_("a fraction between 0 and 1 is needed, not %(value)s", value=text))
                return f"{num}/{den}"
        raise ValidationError(N_('not a quorum: %(value)s (write a fraction like "2/3" or a whole number)',
                                 value=repr(value)))


class QuotaField(fields.Field):
    """Forms per commune: one whole number for every commune, or a mapping commune code -> number."""

    def _deserialize(self, value, attr, data, **kwargs):
        if isinstance(value, int) and not isinstance(value, bool):
            if value < 0:
                raise ValidationError(N_("must not be negative"))
            return value
        if isinstance(value, dict):
            errors: dict[str, list[str]] = {}
            out: dict[str, int] = {}
            for code, n in value.items():
                if isinstance(code, int) and not isinstance(code, bool):
                    errors[str(code)] = [N_('write the commune code as quoted text ("%(code)s")', code=code)]
                elif not isinstance(code, str) or not COMMUNE_CODE.match(code):
                    errors[str(code)] = [N_("not an administrative-unit code")]
                elif isinstance(n, bool) or not isinstance(n, int) or n < 0:
                    errors[code] = [N_("not a whole number of forms (0 or more): %(value)s", value=repr(n))]
                else:
                    out[code] = n
            if errors:
                raise ValidationError(errors)
            if not out:
                raise ValidationError(N_("must not be empty"))
            return out
        raise ValidationError(N_("a whole number, or a mapping of commune code to number"))


class PersonSchema(Schema):
    name = Text(required=True)
    email = Email(required=True)


class CampaignSchema(Schema):
    key = Text(required=True, validate=validate.Regexp(
        KEY, error=N_("lower-case letters, digits, '.', '_' or '-' (like %(example)s)",
                      example="nui-thanh-2023")))
    year = StrictInteger(required=True, validate=validate.Range(min=1990, max=2100))
    authority = Text(required=True, validate=validate.Length(max=200))
    title = fields.String(allow_none=True)
    reference = fields.String(allow_none=True)
    timezone = Text(load_default="Asia/Ho_Chi_Minh")
    criteria_set = Text(required=True)

    @validates_schema
    def _timezone(self, data, **kwargs):
        try:
            zoneinfo.ZoneInfo(data.get("timezone", "Asia/Ho_Chi_Minh"))
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            raise ValidationError(N_("unknown time zone %(zone)s", zone=repr(data.get("timezone"))),
                                  "timezone") from None

@functools.cache
def _supported_countries() -> frozenset[str]:
    """The holidays library's countries, read once: listing them imports every country module (~0.5 s)."""
    return frozenset(holidays.list_supported_countries())


class CalendarSchema(Schema):
    country = Text(load_default="VN")
    extra_holidays = fields.List(DayField(), load_default=list)
    extra_working_days = fields.List(DayField(), load_default=list)

    @validates_schema
    def _consistent(self, data, **kwargs):
        if data.get("country", "VN") not in _supported_countries():
            raise ValidationError(N_("no holiday calendar for country %(country)s",
                                     country=repr(data.get("country"))), "country")
        holidays_ = set(data.get("extra_holidays", []))
        both = {i: [N_("%(day)s is also listed in extra_holidays", day=d.isoformat())]
                for i, d in enumerate(data.get("extra_working_days", [])) if d in holidays_}
        if both:
            raise ValidationError({"extra_working_days": both})


class SecretariatSchema(Schema):
    name = Text(required=True)
    head = fields.Nested(PersonSchema, required=True)
    members = fields.List(fields.Nested(PersonSchema), load_default=list)


class CommuneSchema(Schema):
    code = CommuneCodeField(required=True)
    name = Text(required=True, validate=validate.Length(max=200))
    officers = fields.List(fields.Nested(PersonSchema), load_default=list)
    chair = fields.Nested(PersonSchema)
    email = Email()
    phone = fields.String(validate=validate.Length(max=50))
    address = fields.String(validate=validate.Length(max=300))


_COMMUNE_KEYS = frozenset({"code", "name", "officers", "chair", "email", "phone", "address"})
_PERSON_KEYS = frozenset({"name", "email"})
_valid_email = validate.Email()


def _text(value, max_length: int | None = None) -> str | None:
    """``Text(required=True)``'s result for plain text within ``max_length``; None for anything else."""
    if type(value) is not str:
        return None
    text = value.strip()
    return text if text and (max_length is None or len(text) <= max_length) else None


def _email(value) -> str | None:
    if type(value) is not str:
        return None
    text = value.strip().lower()
    try:
        _valid_email(text)
    except ValidationError:
        return None
    return text


def _person(value) -> dict | None:
    if type(value) is not dict or value.keys() != _PERSON_KEYS:
        return None
    name, email = _text(value["name"]), _email(value["email"])
    return None if name is None or email is None else {"name": name, "email": email}


def _plain_commune(value) -> dict | None:
    """``CommuneSchema().load(value)`` for an entry of the usual shapes, or None (then the schema decides)."""
    if type(value) is not dict or not value.keys() <= _COMMUNE_KEYS:
        return None
    code, name = value.get("code"), _text(value.get("name"), 200)
    if type(code) is not str or not COMMUNE_CODE.match(code.strip()) or name is None:
        return None
    officers = value.get("officers", [])
    if type(officers) is not list:
        return None
    out = {"code": code.strip(), "name": name, "officers": [_person(p) for p in officers]}
    if None in out["officers"]:
        return None
    if "chair" in value:
        out["chair"] = _person(value["chair"])
        if out["chair"] is None:
            return None
    if "email" in value:
        out["email"] = _email(value["email"])
        if out["email"] is None:
            return None
    for key, longest in (("phone", 50), ("address", 300)):
        if key in value:
            if type(value[key]) is not str or len(value[key]) > longest:
                return None
            out[key] = value[key]
    return out


def load_communes(raw) -> list[dict]:
    """``CommuneSchema(many=True).load(raw)``, without marshmallow's cost for well-formed entries.

    A national plan lists thousands of communes and the schema costs ~0.3 ms for each. Entries made
    of the usual shapes (text, lists of people with valid e-mails) are checked here by the schema's
    rules, with the same result; if any entry is not, the schema loads the whole list, so a bad
    file's problems are found and named exactly as before.
    """
    if type(raw) is list:
        out = [_plain_commune(c) for c in raw]
        if all(c is not None for c in out):
            return out
    return CommuneSchema(many=True).load(raw)


class CouncilSchema(Schema):
    chair = fields.Nested(PersonSchema, required=True)
    members = fields.List(fields.Nested(PersonSchema), load_default=list)
    quorum = QuorumField(load_default="1/2")
    chair_required = fields.Boolean(load_default=False)

    @validates_schema
    def _reachable(self, data, **kwargs):
        emails: dict[str, int] = {}
        dupes: dict[int, dict] = {}
        for i, m in enumerate(data.get("members", [])):
            if m["email"] in emails:
                dupes[i] = {"email": [N_("%(email)s is listed twice (also members[%(other)s])", email=m["email"],
                                         other=emails[m["email"]])]}
            emails.setdefault(m["email"], i)
        if dupes:
            raise ValidationError({"members": dupes})
        seats = len(set(emails) | {data["chair"]["email"]})
        needed = quorum_needed(data.get("quorum", "1/2"), seats)
        if needed > seats:
            raise ValidationError(
                N_("quorum %(quorum)s cannot be reached: the council has %(seats)s member(s) "
                   "(the chair counts as a member)", quorum=data["quorum"], seats=seats), "quorum")


class StageDueSchema(Schema):
    due = DueField(required=True)


class EscalationSchema(Schema):
    after_working_days = StrictInteger(required=True, validate=validate.Range(
        min=1, error=N_("must be 1 or more (working days after the due day)")))
    to = fields.List(fields.String(validate=validate.OneOf(
        ESCALATION_TARGETS, error=N_("must be one of: %(choices)s", choices=", ".join(ESCALATION_TARGETS)))),
        required=True, validate=validate.Length(min=1))


class RemindersSchema(Schema):
    before_working_days = fields.List(StrictInteger(validate=validate.Range(
        min=0, error=N_("must be 0 or more (0 = the due day)"))), load_default=lambda: [5, 2, 0])
    overdue_notice = fields.Boolean(load_default=True)
    escalations = fields.List(fields.Nested(EscalationSchema), load_default=list)
    # how late a notice may still be sent after downtime (the sweep records older ones as skipped)
    catch_up_hours = StrictInteger(load_default=24, validate=validate.Range(
        min=0, max=24 * 30, error=N_("must be between 0 and %(max)s hours", max=24 * 30)))

    @validates_schema
    def _distinct(self, data, **kwargs):
        errors: dict = {}
        days = data.get("before_working_days", [])
        dup_days = {i: [N_("%(value)s is listed twice", value=d)] for i, d in enumerate(days) if d in days[:i]}
        if dup_days:
            errors["before_working_days"] = dup_days
        afters = [e["after_working_days"] for e in data.get("escalations", [])]
        dup_esc = {i: {"after_working_days": [N_("%(value)s is listed twice", value=a)]}
                   for i, a in enumerate(afters) if a in afters[:i]}
        if dup_esc:
            errors["escalations"] = dup_esc
        if errors:
            raise ValidationError(errors)

    @post_load
    def _ordered(self, data, **kwargs):
        data["before_working_days"] = sorted(data["before_working_days"], reverse=True)
        data["escalations"] = sorted(data["escalations"], key=lambda e: e["after_working_days"])
        return data


class SurveyGroupSchema(Schema):
    code = Text(required=True, validate=validate.Regexp(
        GROUP_CODE, error=N_("lower-case letters, digits and '_' (like dept_leaders)")))
    name = Text(required=True)
    per_commune = QuotaField()
    total = StrictInteger(validate=validate.Range(min=0))

    @validates_schema(pass_original=True, skip_on_field_errors=False)
    def _one_quota(self, data, original_data, **kwargs):
        given = [k for k in ("per_commune", "total") if k in original_data]
        if len(given) == 2:
            raise ValidationError(N_("give exactly one of per_commune or total, not both"))
        if not given:
            raise ValidationError(N_("give exactly one of per_commune or total"))


class SurveySchema(Schema):
    due = DueField()
    groups = fields.List(fields.Nested(SurveyGroupSchema), required=True, validate=validate.Length(min=1))

    @validates_schema
    def _distinct(self, data, **kwargs):
        codes = [g["code"] for g in data.get("groups", [])]
        dupes = {i: {"code": [N_("%(value)s is listed twice", value=c)]}
                 for i, c in enumerate(codes) if c in codes[:i]}
        if dupes:
            raise ValidationError({"groups": dupes})


class BandSchema(Schema):
    min = PointsField(required=True)
    label = Text(required=True)
