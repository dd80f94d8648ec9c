"""Accounts: sign-up, email verification, sign-in, passwords, suspension and global roles.

Tokens for email verification and password reset are signed (itsdangerous) and expire. The
reset token carries a fingerprint of the current password hash, so it works once: after the
reset the fingerprint no longer matches. Every password change, suspension and "sign out
everywhere" bumps `session_version`, which ends all sessions and remember cookies, and
queues the end of the person's live sockets for when that transaction commits.

Over 500 lines: the whole account life cycle (sign-up to suspension) kept in one place.
"""
from __future__ import annotations

import re
import secrets
import unicodedata
from datetime import UTC, datetime

from email_validator import EmailNotValidError, validate_email
from flask import current_app
from itsdangerous import BadSignature, SignatureExpired, TimestampSigner, URLSafeTimedSerializer
from sqlalchemy import func, select
from werkzeug.security import check_password_hash, generate_password_hash

from app import clock, events
from app.errors import DomainError, Gone, NotFound, ValidationError
from app.extensions import db
from app.models import AccountClosure, Department, User, UserKind
from app.services import access
from app.services.people import totp
from app.services.platform import audit, mail, settings

MIN_PASSWORD = 10
COMMON_PASSWORDS = {
    "password", "password1", "password12", "password123", "passw0rd", "qwertyuiop", "1234567890",
    "12345678910", "abcdefghij", "letmein123", "welcome123", "iloveyou12", "administrator",
    "qwerty1234", "changeme123", "kring12345",
}
_DUMMY_HASH = generate_password_hash("timing-equaliser")


class WrongCredentials(ValidationError):
    """Sign-in with a wrong email address or password (the one answer for both)."""


class EmailNotVerified(DomainError):
    """Sign-in with an address that was never confirmed."""

    def __init__(self, user: User) -> None:
        super().__init__("Confirm your email address first: we sent you a link.")
        self.user = user


# --- validation ---------------------------------------------------------------------------

def _hash(password: str) -> str:
    return generate_password_hash(password, method=current_app.config["PASSWORD_HASH_METHOD"])


def normalize_email(email: str, field: str = "email") -> str:
    """Return the address lower-cased and checked; ValidationError({field: ...}) if not valid."""
    email = (email or "").strip()
    if not email:
        raise ValidationError({field: "Enter your email address."})
    try:
        info = validate_email(email, check_deliverability=False)
    except EmailNotValidError:
        raise ValidationError({field: "This is not a valid email address."}) from None
    return info.normalized.lower()


def check_password_strength(password: str, *, email: str = "", name: str = "") -> None:
    """Raise ValidationError({"password": ...}) for a weak password."""
    if not password or len(password) < MIN_PASSWORD:
        raise ValidationError({"password": f"Use at least {MIN_PASSWORD} characters."})
    if len(password) > 200:
        raise ValidationError({"password": "Use at most 200 characters."})
    lowered = password.lower()
    if lowered in COMMON_PASSWORDS or len(set(password)) < 4:
        raise ValidationError({"password": "This password is too easy to guess."})
    local = email.split("@")[0].lower()
    if (local and len(local) >= 4 and local in lowered) or (name and name.lower() == lowered):
        raise ValidationError({"password": "Do not use your name or email address in your password."})


def clean_display_name(name: str) -> str:
    """The display name with its whitespace collapsed. Raises ValidationError({"display_name": ...})
    when empty or over 80 characters."""
    name = " ".join((name or "").split())
    if not name:
        raise ValidationError({"display_name": "Enter your name."})
    if len(name) > 80:
        raise ValidationError({"display_name": "Use at most 80 characters."})
    return name


def employee_domain(email: str) -> bool:
    """Whether the address's domain is one of the configured employee domains. Raises nothing."""
    domain = email.rsplit("@", 1)[-1].lower()
    return domain in current_app.config["KRING_EMPLOYEE_DOMAINS"]


def _unique_handle(display_name: str) -> str:
    base = unicodedata.normalize("NFKD", display_name).encode("ascii", "ignore").decode().lower()
    base = re.sub(r"[^a-z0-9]+", ".", base).strip(".")[:30] or "member"
    taken = set(db.session.scalars(select(User.handle).where(
        (User.handle == base) | User.handle.like(f"{base}.%"))))
    if base not in taken:
        return base
    n = 2
    while f"{base}.{n}" in taken:
        n += 1
    return f"{base}.{n}"


# --- creating accounts --------------------------------------------------------------------

def _check_new_account(email: str, password: str, display_name: str) -> tuple[str, str]:
    """Return (normalised email, cleaned name); raise one ValidationError with a message for
    every bad field, so a form can show them all at once."""
    errors: dict[str, str] = {}
    try:
        email = normalize_email(email)
    except ValidationError as exc:
        errors.update(exc.errors)
    else:
        if db.session.scalar(select(User.id).where(func.lower(User.email) == email)):
            errors["email"] = "An account with this email address already exists."
    try:
        display_name = clean_display_name(display_name)
    except ValidationError as exc:
        errors.update(exc.errors)
    try:
        check_password_strength(password, email=email or "", name=display_name or "")
    except ValidationError as exc:
        errors.update(exc.errors)
    if errors:
        raise ValidationError(errors)
    return email, display_name


def create_user(email: str, password: str, display_name: str, kind: UserKind | str, *,
                verified: bool = True, department: Department | None = None,
                job_title: str | None = None, organisation: str | None = None,
                is_admin: bool = False, is_global_manager: bool = False,
                commit: bool = True) -> User:
    """Create an account (no domain rules: used by invitations, the CLI and demo data).

    Raises ValidationError for a bad or taken email, weak password or empty name (naming
    every bad field at once).
    """
    email, display_name = _check_new_account(email, password, display_name)
    kind = UserKind(kind)
    if is_global_manager and kind != UserKind.EMPLOYEE:
        raise ValidationError({"kind": "Only employees can be on the social team."})
    user = User(
        email=email, password_hash=_hash(password), display_name=display_name,
        handle=_unique_handle(display_name), kind=kind,
        email_verified_at=clock.utcnow() if verified else None,
        department=department if kind == UserKind.EMPLOYEE else None, job_title=job_title,
        organisation=organisation if kind != UserKind.EMPLOYEE else None,
        is_admin=is_admin, is_global_manager=is_global_manager, session_version=1,
    )
    db.session.add(user)
    if commit:
        db.session.commit()
    else:
        db.session.flush()
    return user


def register(email: str, password: str, display_name: str) -> User:
    """Self sign-up. Employees need an address on a company domain; customers may sign up
    only when an admin turned open sign-up on. The account must confirm its email before it
    can sign in (a verification mail is sent). Raises ValidationError (every bad field)."""
    errors: dict[str, str] = {}
    kind = None
    try:
        address = normalize_email(email)
    except ValidationError:
        address = None  # _check_new_account names it below
    if address is not None:
        if employee_domain(address):
            kind = UserKind.EMPLOYEE
        elif settings.get("open_signup"):
            kind = UserKind.CUSTOMER
        else:
            domains = ", ".join("@" + d for d in current_app.config["KRING_EMPLOYEE_DOMAINS"])
            errors["email"] = (
                f"Employees sign up with their company address ({domains}). Customers and partners "
                "join through an invitation from a community manager.")
    try:
        _check_new_account(email, password, display_name)
    except ValidationError as exc:
        errors.update(exc.errors)  # "already exists" is the more useful answer for a taken address
    if errors or kind is None:
        raise ValidationError(errors)
    user = create_user(email, password, display_name, kind, verified=False, commit=False)
    _send_verification(user)
    db.session.commit()
    return user


class _ClockSigner(TimestampSigner):
    """Stamps and ages tokens with app.clock, so expiry follows the one source of "now"
    (and tests can move time with clock.set_now instead of sleeping)."""

    def get_timestamp(self) -> int:
        return int(clock.utcnow().replace(tzinfo=UTC).timestamp())


def _serializer(salt: str) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt=salt, signer=_ClockSigner)


def verification_token(user: User) -> str:
    """A signed, timed token that confirms the person's current email address. Raises nothing."""
    return _serializer("verify-email").dumps({"uid": user.id, "email": user.email})


def _send_verification(user: User) -> None:
    link = mail.external_url("auth.verify_email", token=verification_token(user))
    mail.send(user.email, "Confirm your email address",
              f"Hello {user.display_name},\n\nConfirm your address to start using "
              f"{current_app.config['KRING_SITE_NAME']}:\n\n{link}\n\n"
              "The link works for three days. If you did not sign up, ignore this message.\n")


def resend_verification(user: User) -> None:
    """Mail a new confirmation link if the address is not confirmed yet (otherwise nothing happens).
    Raises nothing."""
    if user.email_verified_at is None:
        _send_verification(user)
        db.session.commit()


def request_verification_email(email: str) -> None:
    """Mail a new confirmation link if an unconfirmed account has this address; says nothing
    either way (the answer must not reveal whether an address has an account)."""
    try:
        email = normalize_email(email)
    except ValidationError:
        return
    user = db.session.scalar(select(User).where(User.email == email))
    if user is not None:
        resend_verification(user)


def verify_email(token: str) -> tuple[User, bool]:
    """Confirm the address in `token`. Returns (user, newly_confirmed): False when the address
    was confirmed before (a second click), so callers sign in only on the first use and the
    link does not stay a three-day sign-in link. Raises Gone for an expired or broken link."""
    try:
        data = _serializer("verify-email").loads(token, max_age=current_app.config["EMAIL_VERIFY_SECONDS"])
    except SignatureExpired:
        raise Gone("This confirmation link has expired. Sign in to get a new one.") from None
    except BadSignature:
        raise Gone("This confirmation link is not valid.") from None
    user = db.session.get(User, data.get("uid"))
    if user is None or user.email != data.get("email"):
        raise Gone("This confirmation link is not valid.")
    if user.email_verified_at is not None:
        return user, False
    user.email_verified_at = clock.utcnow()
    db.session.commit()
    return user, True


# --- signing in ---------------------------------------------------------------------------

def authenticate(email: str, password: str, address: str | None = None) -> User:
    """Return the user for these credentials. Raises ValidationError (wrong credentials or
    suspended), EmailNotVerified, or Throttled (a ValidationError with `retry_after`) when
    too many failed attempts were made for this email address, from `address` (the network
    address of the request) or from anywhere; a locked attempt is refused without looking at
    the password. Only failures count. Takes the same time whether or not the email exists."""
    try:
        email = normalize_email(email)
    except ValidationError:
        raise WrongCredentials({"_": "Wrong email address or password."}) from None
    throttles = totp.signin_keys(email, address)  # per typed address, existing or not
    totp.check_throttle(throttles, "sign-in attempts for this account")
    user = db.session.scalar(select(User).where(User.email == email))
    if user is None:
        check_password_hash(_DUMMY_HASH, password or "")
        _failed_sign_in(throttles)
    if not check_password_hash(user.password_hash, password or ""):
        _failed_sign_in(throttles)
    totp.clear_failures(throttles)
    if user.is_suspended:
        until = "" if user.suspended_until.year >= 9000 else f" until {user.suspended_until:%d %b %Y %H:%M} UTC"
        raise ValidationError({"_": f"This account is suspended{until}."})
    if user.email_verified_at is None:
        raise EmailNotVerified(user)
    return user


def _failed_sign_in(throttles: dict[str, int]) -> None:
    for key, free in throttles.items():
        totp.record_failure(key, free)
    db.session.commit()
    raise WrongCredentials({"_": "Wrong email address or password."})


def record_sign_in(user: User) -> None:
    """Note the moment of a successful sign-in and commit. Raises nothing."""
    user.last_login_at = clock.utcnow()
    db.session.commit()


def sign_out_everywhere(user: User) -> None:
    """End every session, remember cookie and live socket of this person."""
    user.session_version += 1
    events.user_sessions_ended(user.id)
    db.session.commit()


# --- passwords ----------------------------------------------------------------------------

def _fingerprint(user: User) -> str:
    return user.password_hash[-16:]


def reset_token(user: User) -> str:
    """A signed, timed password-reset token, void once the password changes. Raises nothing."""
    return _serializer("reset-password").dumps({"uid": user.id, "fp": _fingerprint(user)})


def request_password_reset(email: str) -> None:
    """Mail a reset link if an account has this address; says nothing either way."""
    try:
        email = normalize_email(email)
    except ValidationError:
        return
    user = db.session.scalar(select(User).where(User.email == email))
    if user is None:
        return
    link = mail.external_url("auth.reset_password", token=reset_token(user))
    minutes = current_app.config["PASSWORD_RESET_SECONDS"] // 60
    mail.send(user.email, "Reset your password",
              f"Hello {user.display_name},\n\nSomeone asked to reset the password of your account. "
              f"Choose a new one here:\n\n{link}\n\nThe link works once, for {minutes} minutes. "
              "If it was not you, ignore this message: your password stays as it is.\n")
    db.session.commit()


def user_for_reset_token(token: str) -> User:
    """The account a reset link belongs to. Raises Gone if expired, used or broken."""
    try:
        data = _serializer("reset-password").loads(
            token, max_age=current_app.config["PASSWORD_RESET_SECONDS"])
    except SignatureExpired:
        raise Gone("This reset link has expired. Ask for a new one.") from None
    except BadSignature:
        raise Gone("This reset link is not valid. Ask for a new one.") from None
    user = db.session.get(User, data.get("uid"))
    if user is None or data.get("fp") != _fingerprint(user):
        raise Gone("This reset link was already used. Ask for a new one.")
    return user


def reset_password(token: str, new_password: str) -> User:
    """Set a new password from a reset link; ends all other sessions. Raises Gone, ValidationError."""
    user = user_for_reset_token(token)
    _set_password(user, new_password)
    if user.email_verified_at is None:  # the link proved they read this mailbox
        user.email_verified_at = clock.utcnow()
    db.session.commit()
    return user


def change_password(user: User, current: str, new_password: str) -> None:
    """Change the password after checking the current one. Bumps session_version, which ends
    every session and remember cookie (the caller signs the current one in again) and drops
    the person's live sockets. Raises ValidationError (current_password, password)."""
    if not check_password_hash(user.password_hash, current or ""):
        raise ValidationError({"current_password": "This is not your current password."})
    _set_password(user, new_password)
    db.session.commit()


def _set_password(user: User, new_password: str) -> None:
    check_password_strength(new_password, email=user.email, name=user.display_name)
    user.password_hash = _hash(new_password)
    user.session_version += 1
    events.user_sessions_ended(user.id)  # the new session version ended them: drop the sockets at commit


# --- administration -----------------------------------------------------------------------

# A suspension without end: a ban, or a closed account.
FOREVER = datetime(9999, 12, 31)


def suspend(actor: User, user: User, until: datetime | None, reason: str, *, ip: str | None = None) -> None:
    """Suspend `user` until a moment (None: indefinitely). Admins only; ends their sessions."""
    access.require_admin(actor)
    if actor.id == user.id:
        raise ValidationError({"_": "You cannot suspend yourself."})
    apply_suspension(actor, user, until, reason, ip=ip)
    db.session.commit()


def unsuspend(actor: User, user: User, *, ip: str | None = None) -> None:
    """Lift a person's suspension or ban (admins only) and record it. Raises Forbidden,
    ValidationError (a closed account)."""
    access.require_admin(actor)
    lift_suspension(actor, user, ip=ip)
    db.session.commit()


def apply_suspension(actor: User, user: User, until: datetime | None, reason: str, *,
                     action: str = "user.suspend", ip: str | None = None, via: str | None = None) -> None:
    """Suspend `user` until `until` (None: without end), end every session and remember cookie
    (and, once the transaction commits, every live socket), and record it in the audit log. The
    caller authorizes (admins in suspend; the social team through app.services.moderation) and
    commits. Raises ValidationError (no reason, a moment in the past)."""
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError({"reason": "Give a reason: the person will see it."})
    if until is not None and until <= clock.utcnow():
        raise ValidationError({"until": "Choose a moment in the future."})

    before = {"suspended_until": user.suspended_until, "reason": user.suspension_reason}
    user.suspended_until = until or FOREVER
    user.suspension_reason = reason[:500]
    user.session_version += 1
    events.user_sessions_ended(user.id)
    after = {"suspended_until": user.suspended_until, "reason": user.suspension_reason}
    audit.record(actor, action, "user", user.id, before=before, reason=reason, ip=ip,
                 after={**after, "via": via} if via else after)


def lift_suspension(actor: User, user: User, *, action: str = "user.unsuspend", reason: str | None = None,
                    ip: str | None = None, via: str | None = None) -> None:
    """End `user`'s suspension or ban and record it; the caller authorizes and commits. Raises
    ValidationError for a closed account (closing is for good)."""
    if db.session.scalar(select(AccountClosure.id).where(AccountClosure.user_id == user.id)) is not None:
        raise ValidationError({"_": "This account was closed; it cannot be reactivated. "
                                    "The person can sign up again."})
    before = {"suspended_until": user.suspended_until, "reason": user.suspension_reason}
    user.suspended_until = None
    user.suspension_reason = None
    after = {"suspended_until": None}
    audit.record(actor, action, "user", user.id, before=before, reason=reason, ip=ip,
                 after={**after, "via": via} if via else after)


def set_global_roles(actor: User, user: User, *, is_admin: bool, is_global_manager: bool,
                     is_management: bool, ip: str | None = None) -> None:
    """Grant or remove the global roles. Admins only; an admin cannot drop their own admin role."""
    access.require_admin(actor)
    if actor.id == user.id and not is_admin:
        raise ValidationError({"is_admin": "You cannot remove your own administrator role."})
    if is_global_manager and user.kind != UserKind.EMPLOYEE:
        raise ValidationError({"is_global_manager": "Only employees can be on the social team."})

    before = {"is_admin": user.is_admin, "is_global_manager": user.is_global_manager,
              "is_management": user.is_management}
    user.is_admin, user.is_global_manager, user.is_management = is_admin, is_global_manager, is_management
    after = {"is_admin": is_admin, "is_global_manager": is_global_manager, "is_management": is_management}
    if after != before:
        audit.record(actor, "user.roles_change", "user", user.id, before=before, after=after, ip=ip)
    db.session.commit()


def create_admin(email: str, password: str | None = None, display_name: str | None = None) -> tuple[User, str | None]:
    """Make the account with this email an admin, creating an employee account if needed.

    Returns (user, generated_password or None). Used by `flask create-admin`; the audit log
    records it as a system action (no actor) from the command line."""
    email = normalize_email(email)
    user = db.session.scalar(select(User).where(User.email == email))
    generated = None
    created = user is None
    was_admin = bool(user and user.is_admin)
    if user is None:
        if password is None:
            password = generated = secrets.token_urlsafe(12)
        user = create_user(email, password, display_name or email.split("@")[0].title(),
                           UserKind.EMPLOYEE, verified=True, is_admin=True, commit=False)
    user.is_admin = True
    if not was_admin:
        db.session.flush()  # the new account's id
        audit.record(None, "user.roles_change", "user", user.id, before={"is_admin": False},
                     after={"is_admin": True}, reason="flask create-admin" + (" (new account)" if created else ""))
    db.session.commit()
    return user, generated


def get_user(user_id: int) -> User:
    """The person with this id. Raises NotFound."""
    user = db.session.get(User, user_id)
    if user is None:
        raise NotFound("No such person.")
    return user
