"""Sign up, sign in, sign out, email confirmation, password reset, account, invitations.

Sessions: every sign-in starts from an empty session (`session.clear()` before `login_user`),
so nothing a visitor had in it survives into the signed-in session. The Flask-Login id is
"<id>:<session_version>"; the services bump the version on password change and "sign out
everywhere", which ends every other session and remember cookie, and these views sign the
current browser in again where the person should stay signed in.
"""
from __future__ import annotations

from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    g,
    make_response,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_login import current_user, login_required, logout_user
from wtforms import (
    BooleanField,
    EmailField,
    PasswordField,
    RadioField,
    SelectChoice,
    SelectMultipleField,
    StringField,
    TextAreaField,
)
from wtforms.validators import EqualTo
from wtforms.widgets import CheckboxInput, ListWidget

from app.errors import Throttled, ValidationError
from app.extensions import db, limiter
from app.models import User
from app.services import access
from app.services.community import communities, invitations
from app.services.people import accounts, totp
from app.services.platform import mail, settings
from app.views.account import start_code_step
from app.views.helpers import KringForm, Required, apply_errors, safe_next, sign_in

bp = Blueprint("auth", __name__)

MISMATCH = "The two passwords do not match."


def _limited(config_key: str):
    """Rate-limit the POSTs of a view with the limit string in app.config[config_key]."""
    return limiter.limit(lambda: current_app.config[config_key], methods=["POST"])


def _signin_failed(response) -> bool:
    return bool(g.get("kring_signin_failed"))


# The per-address ceiling of sign-in: counts FAILED sign-ins only (wrong email or password),
# so the people of one office behind one address never use it up by signing in; a
# password-spraying address (one guess each for many accounts) reaches it. The per-account
# throttles (app.services.people.totp.signin_keys) stop guessing at one account.
_signin_ceiling = limiter.limit(lambda: current_app.config["RATELIMIT_SIGNIN"], methods=["POST"],
                                deduct_when=_signin_failed)


# --- forms --------------------------------------------------------------------------------

class SignInForm(KringForm):
    email = EmailField("Email address", validators=[Required()])
    password = PasswordField("Password", validators=[Required()])
    remember = BooleanField("Keep me signed in")


class SignUpForm(KringForm):
    display_name = StringField("Your name", validators=[Required()])
    email = EmailField("Email address", validators=[Required()])
    password = PasswordField("Password", validators=[Required()])
    confirm = PasswordField("Repeat the password", validators=[Required(), EqualTo("password", message=MISMATCH)])


class EmailForm(KringForm):
    email = EmailField("Email address", validators=[Required()])


class ResetForm(KringForm):
    password = PasswordField("New password", validators=[Required()])
    confirm = PasswordField("Repeat the new password", validators=[Required(), EqualTo("password", message=MISMATCH)])


class PasswordForm(KringForm):
    current_password = PasswordField("Current password", validators=[Required()])
    password = PasswordField("New password", validators=[Required()])
    confirm = PasswordField("Repeat the new password", validators=[Required(), EqualTo("password", message=MISMATCH)])


class InviteForm(KringForm):
    email = EmailField("Their email address", validators=[Required()])
    kind = RadioField("Invite them as", choices=[SelectChoice("customer", "Customer"), SelectChoice("partner", "Partner")],
                      default="customer", invalid_choice_message="Choose customer or partner.", validators=[Required()])
    communities = SelectMultipleField(
        "Communities they join", choices=[], coerce=str, widget=ListWidget(prefix_label=False),
        option_widget=CheckboxInput(), invalid_choice_message="Choose among the communities you manage.")
    note = TextAreaField("Personal note (optional)")


class AcceptForm(KringForm):
    display_name = StringField("Your name", validators=[Required()])
    password = PasswordField("Choose a password", validators=[Required()])
    confirm = PasswordField("Repeat the password", validators=[Required(), EqualTo("password", message=MISMATCH)])


# --- helpers ------------------------------------------------------------------------------

def _status(form: KringForm) -> int:
    return 400 if form.errors or form.form_errors else 200


def _home() -> str:
    return url_for("main.home")


def _sign_out() -> None:
    # Clear first: logout_user() leaves the "forget the remember cookie" mark in the session.
    session.clear()
    logout_user()


def _no_store(body, status: int = 200):
    """A response that holds a secret link or token: never cached."""
    response = make_response(body, status)
    response.headers["Cache-Control"] = "no-store"
    return response


# --- signing in and out -------------------------------------------------------------------

@bp.route("/signin", methods=["GET", "POST"])
@_signin_ceiling
def signin():
    target = request.values.get("next")
    next_url = safe_next(target, _home())
    if current_user.is_authenticated:
        return redirect(next_url)
    form = SignInForm()
    unverified_email = None
    status = None
    headers = {}
    if form.validate_on_submit():
        try:
            user = accounts.authenticate(form.email.data, form.password.data, request.remote_addr)
        except accounts.EmailNotVerified as exc:
            unverified_email = exc.user.email
            form.form_errors.append(exc.message)
        except Throttled as exc:
            apply_errors(form, exc)
            status, headers = 429, {"Retry-After": str(exc.retry_after)}
        except ValidationError as exc:
            g.kring_signin_failed = isinstance(exc, accounts.WrongCredentials)
            apply_errors(form, exc)
        else:
            if totp.is_enabled(user):  # the password was right: now the second factor
                return redirect(start_code_step(user, remember=bool(form.remember.data), next_url=next_url))
            sign_in(user, remember=bool(form.remember.data))
            flash(f"Welcome back, {user.display_name}.", "success")
            return redirect(next_url)
    keep_next = target if target and next_url == target else None
    return render_template("auth/signin.html", form=form, next=keep_next,
                           unverified_email=unverified_email), status or _status(form), headers


@bp.post("/signout")
def signout():
    _sign_out()
    flash("You are signed out.", "info")
    return redirect(safe_next(request.form.get("next"), _home()))


# --- signing up and confirming the address ------------------------------------------------

@bp.route("/signup", methods=["GET", "POST"])
@_limited("RATELIMIT_SIGNUP")
def signup():
    if current_user.is_authenticated:
        return redirect(_home())
    form = SignUpForm()
    if form.validate_on_submit():
        try:
            user = accounts.register(form.email.data, form.password.data, form.display_name.data)
        except ValidationError as exc:
            db.session.rollback()
            apply_errors(form, exc)
        else:
            return render_template("auth/check_email.html", email=user.email)
    return render_template("auth/signup.html", form=form, open_signup=bool(settings.get("open_signup")),
                           domains=current_app.config["KRING_EMPLOYEE_DOMAINS"]), _status(form)


@bp.get("/verify/<token>")
def verify_email(token: str):
    user, newly = accounts.verify_email(token)
    if current_user.is_authenticated and current_user.id == user.id:
        flash("Your email address is confirmed.", "success")
        return redirect(_home())
    if newly and sign_in(user):
        flash(f"Your email address is confirmed. Welcome, {user.display_name}!", "success")
        return redirect(_home())
    flash("Your email address is confirmed. Sign in to continue.", "info")
    return redirect(url_for("auth.signin"))


@bp.post("/verify/resend")
@_limited("RATELIMIT_RESET")
def resend_verification():
    accounts.request_verification_email(request.form.get("email", ""))
    flash("If this address belongs to an account that still needs confirming, we sent it a new "
          "link. Check your inbox (and the spam folder).", "info")
    return redirect(url_for("auth.signin"))


# --- forgotten passwords ------------------------------------------------------------------

@bp.route("/forgot", methods=["GET", "POST"])
@_limited("RATELIMIT_RESET")
def forgot_password():
    form = EmailForm()
    if form.validate_on_submit():
        try:
            email = accounts.normalize_email(form.email.data)
        except ValidationError as exc:
            apply_errors(form, exc)
        else:
            accounts.request_password_reset(email)
            return render_template("auth/forgot_sent.html", email=email)
    return render_template("auth/forgot.html", form=form), _status(form)


@bp.route("/reset/<token>", methods=["GET", "POST"])
def reset_password(token: str):
    user = accounts.user_for_reset_token(token)  # Gone: the friendly 410 page
    form = ResetForm()
    if form.validate_on_submit():
        try:
            user = accounts.reset_password(token, form.password.data)
        except ValidationError as exc:
            apply_errors(form, exc)
        else:
            if not totp.is_enabled(user) and sign_in(user):  # a second factor: sign in with the code
                flash("Your password is changed and you are signed in. Other devices were signed out.", "success")
                return redirect(_home())
            flash("Your password is changed. Sign in with it.", "info")
            return redirect(url_for("auth.signin"))
    return _no_store(render_template("auth/reset.html", form=form, user=user), _status(form))


# --- the account page ---------------------------------------------------------------------

@bp.route("/account", methods=["GET", "POST"])
@login_required
def account():
    form = PasswordForm()
    if form.validate_on_submit():
        user = current_user._get_current_object()
        remembered = current_app.config["REMEMBER_COOKIE_NAME"] in request.cookies
        try:
            accounts.change_password(user, form.current_password.data, form.password.data)
        except ValidationError as exc:
            apply_errors(form, exc)
        else:
            # The new session version ended every session: sign this browser in again (with a
            # new remember cookie if it had one); the others stay signed out.
            sign_in(user, remember=remembered, record=False)
            flash("Your password is changed. You were signed out on your other devices.", "success")
            return redirect(url_for("auth.account"))
    return render_template("auth/account.html", form=form), _status(form)


@bp.post("/account/signout-everywhere")
@login_required
def signout_everywhere():
    accounts.sign_out_everywhere(current_user._get_current_object())
    _sign_out()
    flash("You are signed out on every device, this one included.", "info")
    return redirect(_home())


# --- invitations --------------------------------------------------------------------------

def _invitable_communities(viewer: User):
    """Communities the viewer may invite outsiders into: the ones they manage (staff: all),
    never internal ones."""
    return [card.community for card in communities.list_for(viewer)
            if access.can_invite_into(viewer, card.community, card.membership)]


def _invite_form(choices: list, *, fresh: bool = False) -> InviteForm:
    form = InviteForm(formdata=None) if fresh else InviteForm()
    form.communities.choices = [SelectChoice(c.slug, c.name) for c in choices]
    return form


@bp.route("/invitations", methods=["GET", "POST"], endpoint="invitations")
@login_required
def manage_invitations():
    if not access.can_invite_externals(current_user):
        abort(403)
    choices = _invitable_communities(current_user)
    form = _invite_form(choices)
    created = None
    if form.validate_on_submit():
        try:
            invitation, token = invitations.create(current_user, form.email.data, form.kind.data,
                                                   form.communities.data or [], form.note.data or "")
        except ValidationError as exc:
            db.session.rollback()
            apply_errors(form, exc)
        else:
            # The link is shown once, here (only its hash is stored), so a manager can pass it on.
            created = {"invitation": invitation,
                       "link": mail.external_url("auth.accept_invitation", token=token)}
            form = _invite_form(choices, fresh=True)
    return _no_store(render_template(
        "auth/invitations.html", form=form, created=created, choices={c.slug: c for c in choices},
        sent=invitations.sent_by(current_user), days=current_app.config["INVITATION_DAYS"]), _status(form))


@bp.post("/invitations/<int:invitation_id>/revoke")
@login_required
def revoke_invitation(invitation_id: int):
    if not access.can_invite_externals(current_user):
        abort(403)
    invitations.revoke(current_user, invitation_id)
    flash("Invitation revoked: its link no longer works.", "success")
    return redirect(url_for("auth.invitations"))


@bp.route("/invite/<token>", methods=["GET", "POST"])
def accept_invitation(token: str):
    invitation = invitations.for_token(token)  # NotFound -> 404 page, Gone -> 410 page
    if current_user.is_authenticated:
        if current_user.email != invitation.email:
            return _no_store(render_template("auth/invitation.html", invitation=invitation, form=None,
                                             other_account=True))
        if request.method == "POST":
            return _accept_as(token)
        return _no_store(render_template("auth/invitation.html", invitation=invitation, form=None))
    form = AcceptForm()
    if form.validate_on_submit():
        try:
            user = invitations.accept(token, form.display_name.data, form.password.data)
        except ValidationError as exc:
            db.session.rollback()
            apply_errors(form, exc)
        else:
            sign_in(user)
            flash(f"Welcome to {current_app.config['KRING_SITE_NAME']}, {user.display_name}!"
                  + _joined(invitation), "success")
            return redirect(_home())
    return _no_store(render_template("auth/invitation.html", invitation=invitation, form=form), _status(form))


def _accept_as(token: str):
    try:
        invitation = invitations.accept_as(current_user._get_current_object(), token)
    except ValidationError as exc:
        db.session.rollback()
        flash(exc.message, "error")
        return redirect(url_for("auth.accept_invitation", token=token))
    flash("Invitation accepted." + _joined(invitation), "success")
    return redirect(_home())


def _joined(invitation) -> str:
    names = [c.name for c in invitation.communities]
    return f" You joined {', '.join(names)}." if names else ""
