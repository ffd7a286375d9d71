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

# --- messages ----------------------------------------------------------------------------------


class Message(str):
    """English text that keeps its message id and parameters, so a page can say it in the reader's language.

    The CLI, the API and the logs read the English (the text itself: ``msgid % params``, or ``text`` where
    what the CLI shows differs, such as a parser's own words); web/messages.py translates ``msgid`` with
    ``params`` when a page shows it. Being a ``str``, it passes through marshmallow and ``PlanInvalid``.
    """

    msgid: str
    params: dict

    def __new__(cls, msgid: str, params: dict | None = None, *, text: str | None = None):
        params = params or {}
        self = super().__new__(cls, text if text is not None else (msgid % params if params else msgid))
        self.msgid, self.params = msgid, params
        return self

    def format(self, *args, **kwargs) -> Message:
        """Itself: marshmallow's validators ``format`` their error; these messages take %(name)s instead."""
        return self

    def __getnewargs_ex__(self):  # copy and pickle
        return (self.msgid, self.params), {"text": str(self)}


def N_(msgid: str, /, **params) -> Message:
    """``msgid`` with ``params``, marked for translation (``scripts/i18n`` extracts N_) and translated on pages."""
    return Message(msgid, params)


class Problem(str):
    """One problem of a refused file, ``path: message`` (as the CLI and the API show it), keeping both parts."""

    path: str
    message: str

    def __new__(cls, path: str, message: str):
        self = super().__new__(cls, f"{path}: {message}")
        self.path, self.message = path, message
        return self

    def __getnewargs__(self):  # copy and pickle
        return self.path, self.message


TOP_LEVEL = N_("(top level)")
WHOLE_FILE = N_("(file)")

# marshmallow's own messages, in the words of the other problems
_FRIENDLY = {
    "Missing data for required field.": N_("required"),
    "Unknown field.": N_("unknown field"),
    "Field may not be null.": N_("may not be empty"),
    "Not a valid integer.": N_("not a whole number"),
    "Not a valid string.": N_("not a text"),
    "Not a valid boolean.": N_("not true or false"),
    "Not a valid list.": N_("not a list"),
    "Invalid input type.": N_("not a mapping (key: value)"),
    "Invalid type.": N_("invalid type."),
    "Not a valid mapping type.": N_("not a mapping (key: value)"),
    "Shorter than minimum length 1.": N_("must not be empty"),
    "Invalid value.": N_("invalid value."),
    "Not a valid number.": N_("not a valid number."),
    "Number too large.": N_("number too large."),
}
# ... and those with a number in them (validate.Range, validate.Length)
_FRIENDLY_SHAPES = [
    (re.compile(r"Must be greater than or equal to (?P<min>\S+) and less than or equal to (?P<max>\S+)\."),
     N_("must be greater than or equal to %(min)s and less than or equal to %(max)s.")),
    (re.compile(r"Must be greater than or equal to (?P<min>\S+)\."), N_("must be greater than or equal to %(min)s.")),
    (re.compile(r"Must be less than or equal to (?P<max>\S+)\."), N_("must be less than or equal to %(max)s.")),
    (re.compile(r"Shorter than minimum length (?P<min>\d+)\."), N_("shorter than minimum length %(min)s.")),
    (re.compile(r"Longer than maximum length (?P<max>\d+)\."), N_("longer than maximum length %(max)s.")),
]


def _friendly(message: str) -> str:
    if isinstance(message, Message):
        return message
    found = _FRIENDLY.get(message)
    if found is not None:
        return found
    for shape, friendly in _FRIENDLY_SHAPES:
        match = shape.fullmatch(message)
        if match:
            return Message(friendly.msgid, match.groupdict())
    return message[:1].lower() + message[1:] if message[:2] != message[:2].upper() else message


def join_path(prefix: str, key) -> str:
    """``communes`` + 3 -> ``communes[3]``; ``communes[3]`` + ``code`` -> ``communes[3].code``."""
    if isinstance(key, int):
        return f"{prefix}[{key}]"
    if key == "_schema":
        return prefix
    return f"{prefix}.{key}" if prefix else str(key)


def flatten(messages, prefix: str = "") -> list[Problem]:
    """Marshmallow's nested error dict as ``path: message`` problems, in the file's order."""
    if isinstance(messages, str):
        return [Problem(prefix or TOP_LEVEL, _friendly(messages))]
    if isinstance(messages, list):
        out: list[Problem] = []
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
                None, None, N_("aliases (*%(anchor)s) and merge keys (<<: *name) are not accepted; "
                               "write the values out", anchor=event.anchor), event.start_mark)
        return super().compose_node(parent, index)


PlanLoader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}

# The parsers' common complaints, described for people on the pages; the English of the CLI and the API stays
# the parser's own words, and a complaint not listed here is shown in them everywhere.
_JSON_SYNTAX = [
    (re.compile(r"Expecting ',' delimiter"), N_("a comma (,) is missing between two entries")),
    (re.compile(r"Expecting ':' delimiter"), N_("a colon (:) is missing after a key")),
    (re.compile(r"Expecting value"),
     N_("a value is missing here (a comma too many, or the file is empty)")),
    (re.compile(r"Expecting property name enclosed in double quotes"),
     N_('a key in double quotes ("key") is expected here (a comma before } is one too many)')),
    (re.compile(r"Illegal trailing comma before end of (object|array)"),
     N_("a comma before } or ] is one too many")),
    (re.compile(r"Extra data"), N_("there is more after the end of the JSON data")),
    (re.compile(r"Unterminated string starting at"), N_("a text in double quotes is not closed")),
    (re.compile(r"Invalid control character .* at"),
     N_("a line break or tab inside a text in double quotes (write \\n or \\t)")),
    (re.compile(r"Invalid \\(escape|uX{4}).*"), N_("a backslash (\\) that starts no known escape (write \\\\)")),
]
_JSON_ERROR = N_("JSON error: %(detail)s")
_YAML_SYNTAX = [
    (re.compile(r"(.*: )?found character '\\t' that cannot start any token"),
     N_("a tab character: YAML indents with spaces only")),
    (re.compile(r"(.*: )?found character (?P<char>'.') that cannot start any token"),
     N_("a value cannot start with %(char)s: put the value in quotes")),
    (re.compile(r"(.*: )?mapping values are not allowed here"),
     N_("a colon (:) where none may stand: put a text holding “: ” in quotes, give the line above its "
        "colon, or check the indentation")),
    (re.compile(r"while parsing a flow sequence: .*"), N_("a list opened with [ is not closed with ] "
                                                          "(or a comma is missing between its entries)")),
    (re.compile(r"while parsing a flow mapping: .*"), N_("a mapping opened with { is not closed with } "
                                                         "(or a comma is missing between its entries)")),
    (re.compile(r"while scanning a (quoted|double-quoted|single-quoted) scalar: found unexpected end of stream"),
     N_("a text in quotes is not closed")),
    (re.compile(r"while scanning a double-quoted scalar: found unknown escape character (?P<char>.*)"),
     N_("a backslash (\\) in double quotes that starts no known escape: write \\\\, or use single quotes")),
    (re.compile(r"while scanning a simple key: could not find expected ':'"),
     N_("a key without its colon (write key: value)")),
    (re.compile(r".*expected <block end>, but found .*|.*did not find expected (key|'-' indicator)"),
     N_("the indentation is wrong, or something is left over: entries of one block start in the same "
        "column")),
    (re.compile(r"expected a single document in the stream: but found another document"),
     N_("the file holds more than one document (---)")),
    (re.compile(r"(.*: )?could not determine a constructor for the tag (?P<tag>.*)"),
     N_("tags (!!…) are not accepted: %(tag)s")),
]


def _described(text: str, known) -> str:
    """The parser's complaint ``text`` as a Message that pages show in words (its English stays ``text``)."""
    if isinstance(text, Message):
        return text
    for shape, description in known:
        match = shape.fullmatch(text)
        if match:
            return Message(description.msgid, match.groupdict(), text=text)
    return text


def parse_text(text: str, *, suffix: str, what: str):
    """JSON (``.json``) or YAML text as plain data; syntax errors become PlanInvalid with a line."""
    if suffix.lower() == ".json":
        try:
            return json.loads(text)
        except json.JSONDecodeError as exc:
            where = N_("line %(line)s, column %(column)s", line=exc.lineno, column=exc.colno)
            # the English keeps the parser's words alone, as it always did
            detail = Message(_JSON_ERROR.msgid, {"detail": _described(exc.msg, _JSON_SYNTAX)}, text=exc.msg)
            raise PlanInvalid([Problem(where, detail)], what=what) from None
    try:
        return yaml.load(text, Loader=PlanLoader)  # noqa: S506 - PlanLoader is a SafeLoader
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
        where = N_("line %(line)s, column %(column)s", line=mark.line + 1, column=mark.column + 1) \
            if mark is not None else WHOLE_FILE
        problem = getattr(exc, "problem", None) or str(exc)
        context = getattr(exc, "context", None)
        detail = _described(f"{context}: {problem}" if context else problem, _YAML_SYNTAX)
        raise PlanInvalid([Problem(where, N_("YAML error: %(detail)s", detail=detail))], what=what) from None


def decode_text(raw: bytes, *, what: str) -> str:
    """The bytes of an uploaded or read file as text (a BOM is dropped); PlanInvalid when they are not UTF-8."""
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise PlanInvalid([Problem(N_("byte %(n)s", n=exc.start), N_("the file is not UTF-8 text"))],
                          what=what) from None


def read_file(path, *, what: str) -> tuple[object, str]:
    """The parsed content of a JSON or YAML file and the SHA-256 of its bytes."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise InvalidInput(f"cannot read {path}: {exc.strerror or exc}") from None
    return parse_text(decode_text(raw, what=what), suffix=path.suffix, what=what), hashlib.sha256(raw).hexdigest()


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
            raise ValidationError(N_("not a number"))
        try:
            number = Decimal(str(value).strip())
        except InvalidOperation:
            raise ValidationError(N_("not a number: %(value)s", value=repr(value))) from None
        if not number.is_finite():
            raise ValidationError(N_("not a number: %(value)s", value=repr(value)))
        if number < 0:
            raise ValidationError(N_("must not be negative (got %(value)s)", value=value))
        raise ValidationError(N_("at most two decimals (got %(value)s)", value=value))


class DueField(fields.Field):
    """A plan due: ``YYYY-MM-DD``, or ``YYYY-MM`` for the last day of that month; loads as (raw, date)."""

    def _deserialize(self, value, attr, data, **kwargs):
        if isinstance(value, dt.datetime) or not isinstance(value, (str, dt.date)):
            raise ValidationError(N_("not a date (YYYY-MM-DD) or month (YYYY-MM)"))
        raw = value.isoformat() if isinstance(value, dt.date) else value.strip()
        try:
            return raw, parse_due(raw)
        except ValueError:
            raise ValidationError(N_("not a date (YYYY-MM-DD) or month (YYYY-MM): %(value)s",
                                     value=repr(raw))) from None


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
        raise ValidationError(N_("not a date (YYYY-MM-DD): %(value)s", value=repr(value)))


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
            raise ValidationError(N_("must not be empty"))
        return text


class Email(fields.Email):
    """An e-mail address, stored lower-cased."""

    default_error_messages = {"invalid": N_("not a valid e-mail address")}

    def _deserialize(self, value, attr, data, **kwargs):
        if isinstance(value, str):
            value = value.strip()
        return super()._deserialize(value, attr, data, **kwargs).lower()
