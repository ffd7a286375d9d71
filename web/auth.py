"""Log-in and log-out (Flask-Login, Flask-WTF forms with CSRF); passwords checked by the user model;
failed log-ins throttled per e-mail and per client address (workflow.login_throttle)."""

from __future__ import annotations

import functools
import math
import secrets
from urllib.parse import urlsplit

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import LoginManager, current_user, login_required, login_user, logout_user
from flask_wtf import FlaskForm
from flask_wtf.csrf import CSRFProtect
from werkzeug.security import generate_password_hash
from wtforms import BooleanField, EmailField, PasswordField, SubmitField
from wtforms.validators import DataRequired, Length

from models import User
from states import Role
from workflow import login_throttle, queries, txn, users

from .common import action_now, roles_required
from .i18n import local_time

bp = Blueprint("auth", __name__)
login_manager = LoginManager()
csrf = CSRFProtect()


class LoginForm(FlaskForm):
    email = EmailField(_l("E-mail"), validators=[DataRequired(), Length(max=254)])
    password = PasswordField(_l("Password"), validators=[DataRequired(), Length(max=200)])
    remember = BooleanField(_l("Remember me"))
    submit = SubmitField(_l("Log in"))


@login_manager.user_loader
def _load_user(user_id: str) -> User | None:
    if not user_id.isdigit():
        return None
    return users.signed_in(int(user_id))


def init_app(app) -> None:
    """Bind Flask-Login and CSRF protection; register the log-in pages."""
    login_manager.init_app(app)
    login_manager.login_view = "auth.login"
    login_manager.login_message = _l("Please log in to see this page.")
    csrf.init_app(app)
    app.register_blueprint(bp)


def safe_next(target: str | None) -> str | None:
    # only local paths: an open redirect would send users to a look-alike log-in page
    if not target:
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return None
    # browsers read '/\\host' as '//host'; control characters have no place in a path
    if "\\" in target or any(ord(ch) < 32 for ch in target):
        return None
    return target


@functools.cache
def _dummy_user() -> User:
    # checked when the e-mail is unknown, so that a wrong e-mail takes as long as a wrong password
    return User(password_hash=generate_password_hash(secrets.token_hex(16)))


def _locked_out(form, until):
    """The lockout answer: 429, the time it ends, the same for every e-mail, known or not."""
    flash(_("Too many failed log-ins. Try again after %(time)s.", time=local_time(until)), "error")
    response = render_template("login.html", form=form), 429
    seconds = max(1, math.ceil((until - action_now()).total_seconds()))
    return (*response, {"Retry-After": str(seconds)})


@bp.route("/login", methods=["GET", "POST"])
def login():
    if current_user.is_authenticated:
        return redirect(url_for("pages.home"))
    form = LoginForm()
    if form.validate_on_submit():
        now, address = action_now(), request.remote_addr or "unknown"
        until = login_throttle.locked_until(form.email.data, address, now=now)
        if until is not None:
            return _locked_out(form, until)
        user = queries.user_by_email(form.email.data)
        checked = (user if user is not None else _dummy_user()).check_password(form.password.data)
        if user is not None and user.is_active and checked:
            login_throttle.clear_account(form.email.data)
            txn.commit()
            login_user(user, remember=form.remember.data)
            return redirect(safe_next(request.args.get("next")) or url_for("pages.home"))
        until = login_throttle.record_failure(form.email.data, address, now=now)
        txn.commit()
        if until is not None:
            return _locked_out(form, until)
        # one message for unknown e-mail and wrong password: do not reveal which accounts exist
        flash(_l("Wrong e-mail or password."), "error")
        return render_template("login.html", form=form), 401
    return render_template("login.html", form=form)


@bp.route("/admin/users/<int:user_id>/unlock", methods=["POST"])
@roles_required(Role.admin)
def unlock(user_id: int):
    """An admin lifts a log-in lockout on an account (audited)."""
    user = users.get_user(user_id)
    with txn.guarded():
        unlocked = login_throttle.unlock(user, actor=current_user, now=action_now())
    txn.commit()
    flash(_("Account unlocked.") if unlocked else _("The account was not locked."), "success")
    return redirect(url_for("admin.user_edit", user_id=user.id), 303)


@bp.route("/logout", methods=["POST"])
@login_required
def logout():
    logout_user()
    return redirect(url_for("auth.login"))
