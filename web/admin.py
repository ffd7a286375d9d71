"""Administration: users and roles, communes, criteria sets and plan files, schedule preview, start.

Only active administrators may use these pages: ``_admins_only`` runs before every route of the
blueprint (403 for everyone else, the log-in page for anonymous visitors).
"""

from __future__ import annotations

import hashlib
from pathlib import PurePath

from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user

from models import db
from states import STAGE_ORDER, Role
from workflow import criteria_sets, login_throttle, plans, reminders, txn, users
from workflow.errors import InvalidInput, NotPermitted, PlanInvalid, TransitionRefused
from workflow.schemas.common import Problem, decode_text, parse_text

from .auth import login_manager
from .common import action_now, now
from .i18n import stage_title
from .messages import KIND_LABELS, translate

bp = Blueprint("admin", __name__, url_prefix="/admin")

UPLOAD_SUFFIXES = (".json", ".yaml", ".yml")
DEFAULT_UPLOAD_MAX_BYTES = 2 * 1024 * 1024
SCHEDULE_PER_PAGE = 50

ROLE_LABELS = {
    Role.secretariat: _l("Secretariat"),
    Role.secretariat_head: _l("Head of the secretariat"),
    Role.commune_officer: _l("Commune officer"),
    Role.commune_chair: _l("Commune chair"),
    Role.council_member: _l("Council member"),
    Role.council_chair: _l("Council chair"),
    Role.authority_leader: _l("Authority leader"),
    Role.auditor: _l("Auditor"),
    Role.admin: _l("Administrator"),
}

# created / updated counters of a plan load
REPORT_KINDS = {
    "authority": _l("authorities"),
    "campaign": _l("campaigns"),
    "commune": _l("communes"),
    "user": _l("users"),
    "case": _l("cases"),
    "deadline": _l("deadlines moved"),
}

# the field messages of workflow.users, in the reader's language
FIELD_MESSAGES = {
    users.EMAIL_TAKEN: _l("This e-mail is already in use."),
    users.EMAIL_INVALID: _l("Not a valid e-mail address."),
    users.REQUIRED: _l("Required."),
    users.TOO_LONG: _l("Too long."),
    users.BAD_LOCALE: _l("Choose Vietnamese or English."),
    users.NO_ROLE: _l("Choose at least one role."),
    users.UNKNOWN_ROLE: _l("Unknown role."),
    users.COMMUNE_NEEDED: _l("A commune officer or chair must belong to a commune."),
    users.COMMUNE_NOT_ALLOWED: _l("Only commune officers and chairs belong to a commune."),
    users.UNKNOWN_COMMUNE: _l("No such commune."),
    users.PASSWORD_SHORT: _l("The password must be at least 10 characters long."),
    users.PASSWORD_LONG: _l("The password is too long."),
    users.OWN_ADMIN_ROLE: _l("You may not remove your own administrator role."),
    users.LAST_ADMIN: _l("This is the last active administrator."),
    users.SELF_DEACTIVATE: _l("You may not deactivate your own account."),
    users.CODE_TAKEN: _l("Another commune already has this code."),
}


@bp.before_request
def _admins_only():
    if not current_user.is_authenticated:
        return login_manager.unauthorized()
    if not (current_user.is_active and Role.admin in current_user.roles):
        abort(403)
    return None


@bp.app_template_filter("admin_message")
def admin_message(text: str) -> str:
    """A field message of the administration forms in the reader's language."""
    found = FIELD_MESSAGES.get(text)
    if found is not None:
        return str(found)
    return translate(text)


@bp.context_processor
def _helpers():
    def page_url(page: int) -> str:
        args = request.args.to_dict()
        args["page"] = page
        return url_for(request.endpoint, **(request.view_args or {}), **args)

    return {"role_labels": ROLE_LABELS, "all_roles": list(Role), "kind_labels": KIND_LABELS,
            "stage_label": stage_title, "stages": STAGE_ORDER, "page_url": page_url}


def _page() -> int:
    raw = request.args.get("page", "1")
    return int(raw) if raw.isdigit() and int(raw) > 0 else 1


def _int_arg(name: str) -> int | None:
    raw = request.args.get(name, "").strip()
    return int(raw) if raw.isdigit() else None


def _see_other(endpoint: str, **values):
    return redirect(url_for(endpoint, **values), code=303)


# --- start page ----------------------------------------------------------------------------------


@bp.route("")
def index():
    return render_template("admin/index.html", counts=users.directory_counts())


# --- users ---------------------------------------------------------------------------------------


@bp.route("/users")
def user_list():
    role = request.args.get("role", "")
    if role and role not in {r.value for r in Role}:
        role = ""
    status = request.args.get("status", "")
    found = users.list_users(search=request.args.get("q", ""), role=role, commune_id=_int_arg("commune"),
                             status=status if status in ("active", "inactive") else "", page=_page())
    return render_template("admin/users.html", page=found, communes=users.all_communes(),
                           q=request.args.get("q", ""), role=role, commune=_int_arg("commune"), status=status)


def _user_form() -> dict:
    return {"email": request.form.get("email", ""), "name": request.form.get("name", ""),
            "locale": request.form.get("locale", "vi"), "roles": request.form.getlist("roles"),
            "commune_id": request.form.get("commune_id", "")}


@bp.route("/users/new", methods=["GET", "POST"])
def user_new():
    values = {"email": "", "name": "", "locale": "vi", "roles": [], "commune_id": ""}
    errors: dict = {}
    if request.method == "POST":
        values = _user_form()
        try:
            with txn.guarded():
                user = users.create_user(actor=current_user, now=action_now(),
                                         password=request.form.get("password", ""), **values)
            txn.commit()
        except InvalidInput as exc:
            db.session.rollback()
            errors = exc.errors
        else:
            flash(_("Account %(email)s created.", email=user.email), "success")
            return _see_other("admin.user_edit", user_id=user.id)
    return render_template("admin/user_form.html", user=None, values=values, errors=errors,
                           communes=users.all_communes()), (422 if errors else 200)


@bp.route("/users/<int:user_id>", methods=["GET", "POST"])
def user_edit(user_id: int):
    user = users.get_user(user_id)
    values = {"email": user.email, "name": user.name, "locale": user.locale,
              "roles": [r.value for r in user.roles], "commune_id": str(user.commune_id or "")}
    errors: dict = {}
    if request.method == "POST":
        values = {**_user_form(), "email": user.email}
        try:
            with txn.guarded():
                changed = users.update_user(user, actor=current_user, now=action_now(), name=values["name"],
                                            locale=values["locale"], roles=values["roles"],
                                            commune_id=values["commune_id"])
            txn.commit()
        except InvalidInput as exc:
            db.session.rollback()
            errors = exc.errors
        else:
            flash(_("Saved.") if changed else _("Nothing changed."), "success")
            return _see_other("admin.user_edit", user_id=user.id)
    return _render_user(user, values, errors)


def _render_user(user, values, errors, status_errors=None, password_errors=None):
    status_errors, password_errors = status_errors or [], password_errors or []
    bad = errors or status_errors or password_errors
    locked_until = login_throttle.account_locked_until(user.email, now=action_now())
    return render_template("admin/user_form.html", user=user, values=values, errors=errors,
                           status_errors=status_errors, password_errors=password_errors,
                           communes=users.all_communes(), locked_until=locked_until), (422 if bad else 200)


def _user_values(user) -> dict:
    return {"email": user.email, "name": user.name, "locale": user.locale,
            "roles": [r.value for r in user.roles], "commune_id": str(user.commune_id or "")}


@bp.route("/users/<int:user_id>/active", methods=["POST"])
def user_active(user_id: int):
    user = users.get_user(user_id)
    wanted = request.form.get("active") == "1"
    try:
        with txn.guarded():
            users.set_active(user, wanted, actor=current_user, now=action_now())
        txn.commit()
    except InvalidInput as exc:
        db.session.rollback()
        return _render_user(user, _user_values(user), {}, status_errors=exc.errors.get("active", [exc.message]))
    flash(_("Account reactivated.") if wanted else _("Account deactivated."), "success")
    return _see_other("admin.user_edit", user_id=user.id)


@bp.route("/users/<int:user_id>/password", methods=["POST"])
def user_password(user_id: int):
    user = users.get_user(user_id)
    try:
        with txn.guarded():
            users.set_password(user, request.form.get("password", ""), actor=current_user, now=action_now())
        txn.commit()
    except InvalidInput as exc:
        db.session.rollback()
        return _render_user(user, _user_values(user), {},
                            password_errors=exc.errors.get("password", [exc.message]))
    flash(_("New password set."), "success")
    return _see_other("admin.user_edit", user_id=user.id)


# --- communes ------------------------------------------------------------------------------------

COMMUNE_FIELDS = ("code", "name", "authority", "email", "phone", "address")


@bp.route("/communes")
def commune_list():
    q = request.args.get("q", "")
    return render_template("admin/communes.html", page=users.list_communes(search=q, page=_page()), q=q)


def _commune_form() -> dict:
    return {k: request.form.get(k, "") for k in COMMUNE_FIELDS}


@bp.route("/communes/new", methods=["GET", "POST"])
def commune_new():
    values, errors = dict.fromkeys(COMMUNE_FIELDS, ""), {}
    if request.method == "POST":
        values = _commune_form()
        try:
            with txn.guarded():
                commune = users.create_commune(values, actor=current_user, now=action_now())
            txn.commit()
        except InvalidInput as exc:
            db.session.rollback()
            errors = exc.errors
        else:
            flash(_("Commune %(code)s created.", code=commune.code), "success")
            return _see_other("admin.commune_list")
    return render_template("admin/commune_form.html", commune=None, values=values, errors=errors,
                           authorities=users.all_authorities()), (422 if errors else 200)


@bp.route("/communes/<int:commune_id>", methods=["GET", "POST"])
def commune_edit(commune_id: int):
    commune = users.get_commune(commune_id)
    values = {k: getattr(commune, k) or "" for k in COMMUNE_FIELDS if k != "authority"}
    values["authority"] = commune.authority.name
    errors: dict = {}
    if request.method == "POST":
        values = _commune_form()
        try:
            with txn.guarded():
                changed = users.update_commune(commune, values, actor=current_user, now=action_now())
            txn.commit()
        except InvalidInput as exc:
            db.session.rollback()
            errors = exc.errors
        else:
            flash(_("Saved.") if changed else _("Nothing changed."), "success")
            return _see_other("admin.commune_edit", commune_id=commune.id)
    return render_template("admin/commune_form.html", commune=commune, values=values, errors=errors,
                           authorities=users.all_authorities()), (422 if errors else 200)


# --- criteria sets and plan files ----------------------------------------------------------------


class UploadRefused(Exception):
    """The upload itself is unusable (no file, wrong type, too large); nothing was parsed."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


def _read_upload(what: str) -> tuple[object, str]:
    """The uploaded YAML/JSON file parsed (PlanInvalid with line numbers on a syntax error) and its SHA-256."""
    upload = request.files.get("file")
    if upload is None or not upload.filename:
        raise UploadRefused(_("Choose a file."))
    suffix = PurePath(upload.filename).suffix.lower()
    if suffix not in UPLOAD_SUFFIXES:
        raise UploadRefused(_("Only YAML (.yaml, .yml) or JSON (.json) files can be loaded."))
    limit = current_app.config.get("ADMIN_UPLOAD_MAX_BYTES", DEFAULT_UPLOAD_MAX_BYTES)
    raw = upload.stream.read(limit + 1)
    if len(raw) > limit:
        raise UploadRefused(_("The file is larger than %(n)s KB.", n=limit // 1024))
    if b"\x00" in raw:
        raise UploadRefused(_("This is not a text file."))
    return parse_text(decode_text(raw, what=what), suffix=suffix, what=what), hashlib.sha256(raw).hexdigest()


def _problem_rows(problems: list[str]) -> list[tuple[str, str]]:
    """The problems as (path, message): a workflow Problem keeps its parts, which the page shows in the
    reader's language (the ``file_place`` and ``domain`` filters); other ``path: message`` lines are split."""
    rows = []
    for line in problems:
        if isinstance(line, Problem):
            rows.append((line.path, line.message))
            continue
        path, sep, message = line.partition(": ")
        rows.append((path, message) if sep else ("", line))
    return rows


def _upload_page(template: str, what: str, load):
    """GET: the form (and the last load's result); POST: parse, load, commit, or list every problem."""
    problems, refusal = None, None
    if request.method == "POST":
        try:
            data, sha = _read_upload(what)
            with txn.guarded():
                result = load(data, sha)
            txn.commit()
        except UploadRefused as exc:
            db.session.rollback()
            refusal = exc.message
        except PlanInvalid as exc:
            db.session.rollback()
            problems = _problem_rows(exc.problems)
        else:
            session["admin_load_result"] = result
            return _see_other(request.endpoint)
    result = session.pop("admin_load_result", None) if request.method == "GET" else None
    upload = request.files.get("file")
    return render_template(template, problems=problems, refusal=refusal, result=result,
                           filename=upload.filename if upload else ""), (422 if problems or refusal else 200)


@bp.route("/criteria", methods=["GET", "POST"])
def criteria_upload():
    def load(data, _sha):
        cs, created = criteria_sets.load_criteria(data, actor=current_user, now=action_now())
        return {"kind": "criteria", "label": cs.label, "created": created, "items": len(cs.items),
                "leaves": sum(1 for i in cs.items if i.is_leaf), "points": str(cs.total_points)}

    return _upload_page("admin/criteria.html", criteria_sets.WHAT, load)


@bp.route("/plans", methods=["GET", "POST"])
def plan_upload():
    def load(data, sha):
        report = plans.load_plan(data, actor=current_user, now=action_now(), source_sha256=sha)
        return {"kind": "plan", "campaign": report.campaign.key, "changed": report.changed,
                "created": dict(report.created), "updated": dict(report.updated)}

    return _upload_page("admin/plan.html", plans.WHAT, load)


@bp.app_template_global("admin_report_kind")
def admin_report_kind(kind: str) -> str:
    label = REPORT_KINDS.get(kind)
    return str(label) if label is not None else kind


# --- campaigns -----------------------------------------------------------------------------------


@bp.route("/campaigns")
def campaign_list():
    return render_template("admin/campaigns.html", lines=users.campaign_lines())


@bp.route("/campaigns/<key>")
def campaign(key: str):
    found = users.campaign_by_key(key)
    notices = reminders.schedule(found, now=now())
    communes = sorted({(n.commune_code, n.commune_name) for n in notices})
    commune = request.args.get("commune", "")
    kind = request.args.get("kind", "")
    shown = [n for n in notices if (not commune or n.commune_code == commune) and (not kind or n.kind == kind)]
    waiting = len(plans.cases_in_planning(found))
    line = users.campaign_lines(found)[0]
    return render_template("admin/campaign.html", campaign=found, line=line, waiting=waiting,
                           page=users.Page.of_list(shown, _page(), current_app.config.get("ADMIN_SCHEDULE_PER_PAGE", SCHEDULE_PER_PAGE)), total=len(notices),
                           communes=communes, commune=commune, kind=kind, as_of=request.args.get("as_of", ""))


@bp.route("/campaigns/<key>/start", methods=["GET", "POST"])
def campaign_start(key: str):
    found = users.campaign_by_key(key)
    waiting = plans.cases_in_planning(found)
    refusal, blockers = None, []
    try:
        plans.check_can_start(found, current_user, waiting)
    except NotPermitted as exc:
        refusal = exc.message
    if request.method == "POST" and refusal is None:
        if request.form.get("confirm") != "yes":
            return _see_other("admin.campaign_start", key=found.key)
        try:
            with txn.guarded():
                opened = plans.start_campaign(found, current_user, now=action_now())
            txn.commit()
        except NotPermitted as exc:
            db.session.rollback()
            refusal = exc.message
        except TransitionRefused as exc:
            db.session.rollback()
            blockers = exc.blockers
        else:
            flash(_("%(n)s case(s) opened: self-assessment has begun.", n=opened), "success")
            return _see_other("admin.campaign", key=found.key)
    posted = request.method == "POST"
    status = 403 if refusal and posted else (409 if blockers else 200)
    return render_template("admin/start.html", campaign=found, waiting=len(waiting), refusal=refusal,
                           blockers=blockers), status
