"""Schema of a criteria set file (see shared/criteria/README.md): field checks per node."""

from __future__ import annotations

import re

from marshmallow import EXCLUDE, Schema, ValidationError, fields, validate, validates_schema

from .common import N_, PointsField, StrictInteger, Text

CODE = re.compile(r"^\d+(\.\d+)*$")
KEY = re.compile(r"^[a-z0-9][a-z0-9._-]{0,99}$")
METHODS = ("self", "survey")


class CriteriaItemSchema(Schema):
    """An area, criterion or sub-criterion. Added fields are allowed (the format may grow)."""

    class Meta:
        unknown = EXCLUDE

    code = Text(required=True, validate=validate.Regexp(CODE, error=N_("not a code like 2.7.11")))
    title_vi = Text(required=True)
    title_en = fields.String(allow_none=True)
    max_points = PointsField(required=True)
    method = fields.String(validate=validate.OneOf(
        METHODS, error=N_("must be one of: %(choices)s", choices=", ".join(METHODS))))
    evidence_required = fields.Boolean()
    not_applicable_allowed = fields.Boolean(load_default=True)
    rule_vi = fields.String(allow_none=True)
    rule_en = fields.String(allow_none=True)
    source = fields.String(allow_none=True)
    children = fields.List(fields.Nested(lambda: CriteriaItemSchema()))

    @validates_schema(skip_on_field_errors=False)
    def _leaf_or_inner(self, data, **kwargs):
        errors: dict[str, list[str]] = {}
        if "children" in data:
            if not data["children"]:
                errors["children"] = [N_("must not be empty (leave it out on a sub-criterion)")]
            if "method" in data:
                errors["method"] = [N_("only sub-criteria (without children) have a method")]
        else:
            if "method" not in data and "method" not in errors:
                errors["method"] = [N_("required on a sub-criterion (self or survey)")]
            if "evidence_required" not in data:
                errors["evidence_required"] = [N_("required on a sub-criterion (true or false)")]
        if errors:
            raise ValidationError(errors)


class CriteriaSetSchema(Schema):
    class Meta:
        unknown = EXCLUDE

    id = Text(required=True, validate=validate.Regexp(
        KEY, error=N_("lower-case letters, digits, '.', '_' or '-' (like %(example)s)",
                      example="quang-dien-xa-2019")))
    title_vi = Text(required=True)
    title_en = fields.String(allow_none=True)
    issuer = fields.String(allow_none=True)
    year = StrictInteger(required=True, validate=validate.Range(min=1990, max=2100))
    total_points = PointsField(required=True)
    items = fields.List(fields.Nested(CriteriaItemSchema), required=True,
                        validate=validate.Length(min=1))
