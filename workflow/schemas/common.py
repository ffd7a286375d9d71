"""Shared pieces of the file schemas: reading JSON/YAML safely, path-named problems, typed fields."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
from decimal import Decimal, InvalidOperation
from pathlib import Path

import yaml
from marshmallow import ValidationError, fields

from ..calendar import parse_due
from ..errors import InvalidInput, PlanInvalid

_FRIENDLY = {
    "Missing data for required field.": "required",
    "Unknown field.": "unknown field",
    "Field may not be null.": "may not be empty",
    "Not a valid integer.": "not a whole number",
    "Not a valid string.": "not a text",
    "Not a valid boolean.": "not true or false",
    "Not a valid list.": "not a list",
    "Invalid input type.": "not a mapping (key: value)",
    "Not a valid mapping type.": "not a mapping (key: value)",
    "Shorter than minimum length 1.": "must not be empty",
}


def _friendly(message: str) -> str:
    message = _FRIENDLY.get(message, message)
    return message[:1].lower() + message[1:] if message[:2] != message[:2].upper() else message


def join_path(prefix: str, key) -> str:
    """``communes`` + 3 -> ``communes[3]``; ``communes[3]`` + ``code`` -> ``communes[3].code``."""
    if isinstance(key, int):
        return f"{prefix}[{key}]"
    if key == "_schema":
        return prefix
    return f"{prefix}.{key}" if prefix else str(key)


def flatten(messages, prefix: str = "") -> list[str]:
    """Marshmallow's nested error dict as ``path: message`` lines, in the file's order."""
    if isinstance(messages, str):
        return [f"{prefix or '(top level)'}: {_friendly(messages)}"]
    if isinstance(messages, list):
        out: list[str] = []
        for m in messages:
            out.extend(flatten(m, prefix))
        return out
    out = []
    for key, value in messages.items():
        out.extend(flatten(value, join_path(prefix, key)))
    return out


# --- reading files -----------------------------------------------------------------------------


class PlanLoader(yaml.SafeLoader):
    """``yaml.SafeLoader`` that keeps dates as text, so a bad date is reported by its path.

    Plain SafeLoader turns ``2023-02-30`` into a Python error with no path, and would hand us
    date objects in some places and strings (``2024-01``) in others.
    """


    def compose_node(self, parent, index):
        # An alias (*name) re-uses a node by reference: nine nested aliases of nine make 9**9 items
        # ("billion laughs") for whatever walks the data next. Plan and criteria files need none.
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()
            raise yaml.composer.ComposerError(
                None, None, f"aliases (*{event.anchor}) and merge keys (<<: *name) are not accepted; "
                            "write the values out", event.start_mark)
        return super().compose_node(parent, index)


PlanLoader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def parse_text(text: str, *, suffix: str, what: str):
    """JSON (``.json``) or YAML text as plain data; syntax errors become PlanInvalid with a line."""
    if suffix.lower() == ".json":
        try:
            return json.loads(text)
        except json.JSONDecodeError as exc:
            raise PlanInvalid([f"line {exc.lineno}, column {exc.colno}: {exc.msg}"], what=what) from None
    try:
        return yaml.load(text, Loader=PlanLoader)  # noqa: S506 - PlanLoader is a SafeLoader
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark is not None else "(file)"
        problem = getattr(exc, "problem", None) or str(exc)
        context = getattr(exc, "context", None)
        detail = f"{context}: {problem}" if context else problem
        raise PlanInvalid([f"{where}: YAML error: {detail}"], what=what) from None


def read_file(path, *, what: str) -> tuple[object, str]:
    """The parsed content of a JSON or YAML file and the SHA-256 of its bytes."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise InvalidInput(f"cannot read {path}: {exc.strerror or exc}") from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise PlanInvalid([f"byte {exc.start}: the file is not UTF-8 text"], what=what) from None
    return parse_text(text, suffix=path.suffix, what=what), hashlib.sha256(raw).hexdigest()


def canonical_sha256(data) -> str:
    """SHA-256 of the canonical JSON of ``data`` (sorted keys, no spaces, UTF-8)."""
    body = json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
    return hashlib.sha256(body.encode("utf-8")).hexdigest()


# --- fields ------------------------------------------------------------------------------------


def as_points(value) -> Decimal | None:
    """``value`` as exact points (two decimals at most, not negative), or None when it is not."""
    if isinstance(value, bool) or not isinstance(value, (int, float, str, Decimal)):
        return None
    try:
        number = Decimal(str(value).strip())
    except InvalidOperation:
        return None
    if not number.is_finite() or number < 0 or number.normalize().as_tuple().exponent < -2:
        return None
    return number


class PointsField(fields.Field):
    """Points: a number, not negative, with at most two decimals (``7.62``)."""

    def _deserialize(self, value, attr, data, **kwargs):
        number = as_points(value)
        if number is not None:
            return number
        if isinstance(value, bool) or not isinstance(value, (int, float, str, Decimal)):
            raise ValidationError("not a number")
        try:
            number = Decimal(str(value).strip())
        except InvalidOperation:
            raise ValidationError(f"not a number: {value!r}") from None
        if not number.is_finite():
            raise ValidationError(f"not a number: {value!r}")
        if number < 0:
            raise ValidationError(f"must not be negative (got {value})")
        raise ValidationError(f"at most two decimals (got {value})")


class DueField(fields.Field):
    """A plan due: ``YYYY-MM-DD``, or ``YYYY-MM`` for the last day of that month; loads as (raw, date)."""

    def _deserialize(self, value, attr, data, **kwargs):
        if isinstance(value, dt.datetime) or not isinstance(value, (str, dt.date)):
            raise ValidationError("not a date (YYYY-MM-DD) or month (YYYY-MM)")
        raw = value.isoformat() if isinstance(value, dt.date) else value.strip()
        try:
            return raw, parse_due(raw)
        except ValueError:
            raise ValidationError(
                f"not a date (YYYY-MM-DD) or month (YYYY-MM): {raw!r}") from None


_DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")


class DayField(fields.Field):
    """A calendar day written ``YYYY-MM-DD``."""

    def _deserialize(self, value, attr, data, **kwargs):
        if isinstance(value, dt.date) and not isinstance(value, dt.datetime):
            return value
        if isinstance(value, str) and _DAY.match(value.strip()):
            try:
                return dt.date.fromisoformat(value.strip())
            except ValueError:
                pass
        raise ValidationError(f"not a date (YYYY-MM-DD): {value!r}")


class StrictInteger(fields.Integer):
    """An integer written as a number (not ``true``, not ``"5"``)."""

    def __init__(self, **kwargs):
        super().__init__(strict=True, **kwargs)

    def _validated(self, value):
        if isinstance(value, bool):
            raise self.make_error("invalid", input=value)
        return super()._validated(value)


class Text(fields.String):
    """Text, stripped; blank text counts as missing when the field is required."""

    def _deserialize(self, value, attr, data, **kwargs):
        text = super()._deserialize(value, attr, data, **kwargs).strip()
        if not text and self.required:
            raise ValidationError("must not be empty")
        return text


class Email(fields.Email):
    """An e-mail address, stored lower-cased."""

    default_error_messages = {"invalid": "not a valid e-mail address"}

    def _deserialize(self, value, attr, data, **kwargs):
        if isinstance(value, str):
            value = value.strip()
        return super()._deserialize(value, attr, data, **kwargs).lower()
