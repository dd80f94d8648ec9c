"""The person's own account pages beyond the password (app.views.auth): their data (export),
closing the account, and the second factor (TOTP) with the sign-in code step.

Also the session rules that apply to every request (registered app-wide by this blueprint):
- idle and absolute timeouts of the cookie session (KRING_SESSION_IDLE_MINUTES,
  KRING_SESSION_MAX_HOURS); a "keep me signed in" cookie then signs the browser in again;
- with KRING_REQUIRE_ADMIN_2FA, an administrator without a second factor is sent to set one
  up before anything else.
"""
from __future__ import annotations

import time

from flask import (
    Blueprint,
    current_app,
    flash,
    g,
    redirect,
    render_template,
    request,
    send_file,
    session,
    url_for,
)
from flask_login import current_user, login_required, logout_user
from wtforms import BooleanField, PasswordField, RadioField, SelectChoice, StringField

from app.errors import ValidationError
from app.extensions import db
from app.models import User
from app.services import access
from app.services.people import privacy, totp
from app.views.helpers import KringForm, Required, apply_errors, rate_limited, safe_next, sign_in

bp = Blueprint("account", __name__)

PENDING = "_kring_2fa"  # the half-signed-in state between password and code
PENDING_SECONDS = 300
STARTED, SEEN = "_kring_started", "_kring_seen"


class EmptyForm(KringForm):
    """Only the CSRF token."""


class CloseForm(KringForm):
    mode = RadioField("Your posts, comments and chat messages", choices=[], validators=[Required()])
    password = PasswordField("Your password", validators=[Required()])
    confirm = BooleanField("I understand that this cannot be undone", validators=[Required()])


class CodeForm(KringForm):
    code = StringField("Code from your authenticator app, or a recovery code", validators=[Required()])


# --- session rules for every request ------------------------------------------------------

@bp.before_app_request
def _session_timeouts():
    """End a signed-in cookie session that was idle too long or is older than the maximum."""
    if "_user_id" not in session:
        return None
    now = int(time.time())
    started, seen = session.get(STARTED), session.get(SEEN)
    idle = current_app.config["KRING_SESSION_IDLE_MINUTES"] * 60
    longest = current_app.config["KRING_SESSION_MAX_HOURS"] * 3600
    if started is None:
        session[STARTED] = session[SEEN] = now
        return None
    if now - started > longest or (seen is not None and now - seen > idle):
        # Keep nothing; Flask-Login may sign in again from a valid remember cookie.
        session.clear()
        g.pop("_login_user", None)
        g.kring_session_expired = True
        return None
    if seen is None or now - seen >= 60:  # write the cookie at most once a minute
        session[SEEN] = now
    return None


@bp.after_app_request
def _stamp_new_session(response):
    """A session that (re)started during this request gets its start time."""
    if "_user_id" in session and STARTED not in session:
        now = int(time.time())
        session[STARTED] = session[SEEN] = now
    return response


ALLOWED_WITHOUT_2FA = {"account.security", "account.enrol", "account.confirm", "auth.signout", "static"}


@bp.before_app_request
def _admins_need_a_second_factor():
    if request.endpoint in ALLOWED_WITHOUT_2FA or request.endpoint is None:
        return None
    if access.must_set_up_second_factor(current_user):
        flash("Administrators must set up a second factor first.", "info")
        return redirect(url_for("account.security"))
    return None


def _now_stamp() -> int:
    return int(time.time())


def start_code_step(user: User, *, remember: bool, next_url: str) -> str:
    """Called by the sign-in view when the password was right and the account has a second
    factor: remember who is half signed in (nothing else) and return the code page's URL."""
    session.clear()
    session[PENDING] = {"uid": user.id, "v": user.session_version, "remember": bool(remember),
                        "next": next_url, "at": _now_stamp()}
    return url_for("account.signin_code")


# --- the sign-in code step ----------------------------------------------------------------

@bp.route("/signin/code", methods=["GET", "POST"])
@rate_limited("KRING_RATE_2FA")
def signin_code():
    pending = session.get(PENDING)
    user = None
    if pending and _now_stamp() - pending.get("at", 0) <= PENDING_SECONDS:
        user = db.session.get(User, pending.get("uid"))
    if user is None or user.session_version != pending.get("v") or user.is_suspended:
        session.pop(PENDING, None)
        flash("Sign in again.", "info")
        return redirect(url_for("auth.signin"))
    form = CodeForm()
    if form.validate_on_submit():
        try:
            used = totp.verify(user, form.code.data or "")
        except ValidationError as exc:
            apply_errors(form, exc)
        else:
            next_url = safe_next(pending.get("next"), url_for("main.home"))
            sign_in(user, remember=pending.get("remember", False))  # clears the pending state
            if used == "recovery":
                flash(f"You used a recovery code; {totp.remaining_recovery_codes(user)} are left.", "info")
            flash(f"Welcome back, {user.display_name}.", "success")
            return redirect(next_url)
    return render_template("account/code.html", form=form), 400 if form.errors or form.form_errors else 200


# --- second factor ------------------------------------------------------------------------

@bp.get("/account/security")
@login_required
def security():
    user = current_user._get_current_object()
    pending = totp.pending_secret(user)
    return render_template("account/security.html", enabled=totp.is_enabled(user), may_enrol=access.may_enrol_totp(user),
                           pending=pending, uri=totp.provisioning_uri(user, pending.secret) if pending else None,
                           remaining=totp.remaining_recovery_codes(user), form=CodeForm(formdata=None),
                           empty=EmptyForm(formdata=None), codes=None)


@bp.post("/account/security/enrol")
@login_required
def enrol():
    if EmptyForm().validate_on_submit():
        try:
            totp.begin_enrolment(current_user._get_current_object())
        except ValidationError as exc:
            flash(exc.message, "error")
    return redirect(url_for("account.security"))


def _show_codes(codes: list[str], message: str):
    flash(message, "success")
    response = current_app.make_response(render_template(
        "account/security.html", enabled=True, may_enrol=True, pending=None, uri=None,
        remaining=len(codes), form=CodeForm(formdata=None), empty=EmptyForm(formdata=None), codes=codes))
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.post("/account/security/confirm")
@login_required
@rate_limited("KRING_RATE_2FA")
def confirm():
    user = current_user._get_current_object()
    form = CodeForm()
    if form.validate_on_submit():
        try:
            codes = totp.confirm_enrolment(user, form.code.data or "")
        except ValidationError as exc:
            flash(exc.message, "error")
        else:
            return _show_codes(codes, "Your second factor is on. Keep the recovery codes somewhere safe.")
    return redirect(url_for("account.security"))


@bp.post("/account/security/recovery-codes")
@login_required
@rate_limited("KRING_RATE_2FA")
def new_recovery_codes():
    user = current_user._get_current_object()
    form = CodeForm()
    if form.validate_on_submit():
        try:
            totp.verify(user, form.code.data or "")
            codes = totp.regenerate_recovery_codes(user)
        except ValidationError as exc:
            flash(exc.message, "error")
        else:
            return _show_codes(codes, "New recovery codes: the old ones no longer work.")
    return redirect(url_for("account.security"))


@bp.post("/account/security/disable")
@login_required
@rate_limited("KRING_RATE_2FA")
def disable():
    user = current_user._get_current_object()
    form = CodeForm()
    if form.validate_on_submit():
        try:
            totp.disable(user, form.code.data or "")
        except ValidationError as exc:
            flash(exc.message, "error")
        else:
            flash("Your second factor is off.", "success")
    return redirect(url_for("account.security"))


# --- your data ----------------------------------------------------------------------------

@bp.route("/account/data", methods=["GET", "POST"])
@login_required
def data():
    user = current_user._get_current_object()
    form = EmptyForm()
    if form.validate_on_submit():
        privacy.request_export(user)
        flash("We are preparing your data. Reload this page in a moment to download it.", "success")
        return redirect(url_for("account.data"))
    return render_template("account/data.html", exports=privacy.exports_of(user), form=EmptyForm(formdata=None),
                           expired=privacy.expired, days=privacy.EXPORT_DAYS)


@bp.get("/account/data/<int:export_id>/download")
@login_required
def download(export_id: int):
    export, path = privacy.export_for(current_user._get_current_object(), export_id)
    response = send_file(path, mimetype="application/zip", as_attachment=True,
                         download_name=f"kring-data-{export.user_id}-{export.created_at:%Y%m%d}.zip", max_age=0)
    response.headers["Cache-Control"] = "no-store"
    return response


# --- closing the account ------------------------------------------------------------------

def close_form(formdata=True) -> CloseForm:
    form = CloseForm() if formdata else CloseForm(formdata=None)
    modes = privacy.allowed_modes()
    form.mode.choices = [SelectChoice(m, privacy.MODE_LABELS[m]) for m in modes]
    if len(modes) == 1 and not form.mode.data:
        form.mode.data = modes[0]
    return form


@bp.route("/account/close", methods=["GET", "POST"])
@login_required
def close():
    user = current_user._get_current_object()
    form = close_form()
    if form.validate_on_submit():
        if not form.confirm.data:
            form.confirm.errors = ["Tick this box to confirm."]
        else:
            try:
                privacy.close_account(user, user, form.mode.data, password=form.password.data,
                                      ip=request.remote_addr)
            except ValidationError as exc:
                db.session.rollback()
                apply_errors(form, exc)
            else:
                session.clear()

                logout_user()
                flash("Your account is closed. Goodbye.", "info")
                return redirect(url_for("main.home"))
    status = 400 if (form.errors or form.form_errors) else 200
    return render_template("account/close.html", form=form, sole_managed=privacy.sole_managed(user)), status
