"""TOTP second factor (RFC 6238, SHA-1, 6 digits, 30 s steps) for staff accounts, with
single-use recovery codes, and the throttles of failed attempts (sign-in and code entry).

Only the standard library: hmac, hashlib, base64, secrets. A code is accepted for the
current step and one step either side (clock drift), and never twice (`last_step`).
Recovery codes are stored as SHA-256 hashes and work once.

Throttles count FAILED attempts only: after a few failures for a key, the key is locked for
a window that doubles with every further failure (1 min, 2, 4 ... at most 1 hour), and a
locked key is refused with Throttled (the message and `retry_after` name the wait). Sign-in
keys are hashes of the typed email address, whether or not an account has it (so the answer
never reveals whether an account exists): one for the account from one network address
(FREE_FAILURES) and one for the account from anywhere (ACCOUNT_FREE_FAILURES). Successful
sign-ins never count, so one office behind one address is never locked out by its own people.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import math
import secrets
import struct
from datetime import datetime, timedelta
from urllib.parse import quote, urlencode

from flask import current_app
from sqlalchemy import delete, exists, select

from app import clock
from app.errors import Forbidden, Throttled, ValidationError
from app.extensions import db
from app.models import RecoveryCode, Throttle, TotpSecret, User
from app.services import access

STEP = 30
DIGITS = 6
RECOVERY_CODES = 10
FREE_FAILURES = 5
ACCOUNT_FREE_FAILURES = 20
FIRST_LOCK = timedelta(minutes=1)
MAX_LOCK = timedelta(hours=1)
FORGET_AFTER = timedelta(hours=24)


# --- RFC 6238 -----------------------------------------------------------------------------

def new_secret() -> str:
    """A random 160-bit secret, base32 without padding (what authenticator apps expect)."""
    return base64.b32encode(secrets.token_bytes(20)).decode().rstrip("=")


def _key(secret: str) -> bytes:
    return base64.b32decode(secret + "=" * (-len(secret) % 8), casefold=True)


def hotp(secret: str, counter: int, digits: int = DIGITS) -> str:
    """RFC 4226 HOTP value of `counter`."""
    mac = hmac.new(_key(secret), struct.pack(">Q", counter), hashlib.sha1).digest()
    offset = mac[-1] & 0x0F
    value = struct.unpack(">I", mac[offset:offset + 4])[0] & 0x7FFFFFFF
    return str(value % 10 ** digits).zfill(digits)


def step_at(moment: datetime | None = None) -> int:
    """The RFC 6238 time step (STEP seconds since the epoch) of a moment (default: now). Raises nothing."""
    moment = moment or clock.utcnow()
    epoch = (moment - datetime(1970, 1, 1)).total_seconds()
    return int(epoch // STEP)


def code_at(secret: str, moment: datetime | None = None) -> str:
    """The TOTP code for a moment (default: now)."""
    return hotp(secret, step_at(moment))


def _matching_step(secret: str, code: str, not_before: int | None) -> int | None:
    code = "".join((code or "").split())
    if len(code) != DIGITS or not code.isdigit():
        return None
    now = step_at()
    for step in (now, now - 1, now + 1):
        if not_before is not None and step <= not_before:
            continue
        if hmac.compare_digest(hotp(secret, step), code):
            return step
    return None


def provisioning_uri(user: User, secret: str) -> str:
    """The otpauth:// URI an authenticator app reads (typed in or pasted)."""
    issuer = current_app.config["KRING_SITE_NAME"]
    label = quote(f"{issuer}:{user.email}")
    query = urlencode({"secret": secret, "issuer": issuer, "algorithm": "SHA1", "digits": DIGITS,
                       "period": STEP})
    return f"otpauth://totp/{label}?{query}"


# --- throttles ----------------------------------------------------------------------------

def _throttle_key(kind: str, value: str) -> str:
    return f"{kind}:{hashlib.sha256(value.encode()).hexdigest()[:40]}"


def signin_keys(email: str, address: str | None) -> dict[str, int]:
    """The throttle keys of a sign-in for the typed address (whether or not an account has it),
    each with the failures it allows before it locks: the account from this network address
    (FREE_FAILURES) and the account from anywhere (ACCOUNT_FREE_FAILURES, a slower guesser
    spread over many addresses). The network address alone is limited by the per-address
    ceiling in the sign-in view, which counts failures only."""
    typed = (email or "").strip().lower()
    keys = {_throttle_key("signin", typed): ACCOUNT_FREE_FAILURES}
    if address:
        keys[_throttle_key("signin-from", f"{typed}|{address}")] = FREE_FAILURES
    return keys


def code_key(user_id: int) -> str:
    """The throttle key for a person's second-factor codes. Raises nothing."""
    return f"totp:{user_id}"


def locked_for(key: str) -> int:
    """Seconds until `key` may try again (0: it may now)."""
    row = db.session.get(Throttle, key)
    if row is None or row.locked_until is None:
        return 0
    left = (row.locked_until - clock.utcnow()).total_seconds()
    return max(0, math.ceil(left))


def check_throttle(keys, what: str = "attempts") -> None:
    """Raise Throttled (a ValidationError whose message names the wait, nothing else) when
    one of `keys` (a key or several) is locked."""
    wait = max((locked_for(key) for key in ([keys] if isinstance(keys, str) else keys)), default=0)
    if wait:
        raise Throttled(what, wait)


def record_failure(key: str, free: int = FREE_FAILURES) -> None:
    """Count a failed attempt (in the caller's transaction); lock the key after `free` of them."""
    now = clock.utcnow()
    row = db.session.get(Throttle, key)
    if row is None:
        row = Throttle(key=key, failures=0)
        db.session.add(row)
    elif row.last_failure_at is not None and now - row.last_failure_at > FORGET_AFTER:
        row.failures = 0
    row.failures += 1
    row.last_failure_at = now
    if row.failures >= free:
        lock = min(FIRST_LOCK * 2 ** (row.failures - free), MAX_LOCK)
        row.locked_until = now + lock


def clear_failures(keys) -> None:
    """Forget the failures of `keys` (a key or several), e.g. after a right answer."""
    keys = [keys] if isinstance(keys, str) else list(keys)
    db.session.execute(delete(Throttle).where(Throttle.key.in_(keys)))


# --- enrolment ----------------------------------------------------------------------------

def is_enabled(user) -> bool:
    """True when the person has a confirmed second factor."""
    return bool(db.session.scalar(select(exists().where(
        TotpSecret.user_id == user.id, TotpSecret.confirmed_at.is_not(None)))))


def begin_enrolment(user: User) -> TotpSecret:
    """Start (or restart) enrolment: a new unconfirmed secret. Raises Forbidden for people
    who may not enrol, ValidationError when a confirmed factor exists (turn it off first)."""
    if not access.may_enrol_totp(user):
        raise Forbidden("A second factor is for administrators, the social team and community managers.")
    row = db.session.get(TotpSecret, user.id)
    if row is not None and row.confirmed_at is not None:
        raise ValidationError({"_": "Your second factor is already on."})
    if row is None:
        row = TotpSecret(user_id=user.id, secret=new_secret(), created_at=clock.utcnow())
        db.session.add(row)
    db.session.commit()
    return row


def pending_secret(user: User) -> TotpSecret | None:
    """The person's secret awaiting confirmation, or None (none, or already confirmed). Raises nothing."""
    row = db.session.get(TotpSecret, user.id)
    return row if row is not None and row.confirmed_at is None else None


def _hash_code(code: str) -> str:
    return hashlib.sha256("".join(code.lower().split()).replace("-", "").encode()).hexdigest()


def _new_recovery_codes(user: User) -> list[str]:
    db.session.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user.id))
    codes = []
    for _ in range(RECOVERY_CODES):
        raw = secrets.token_hex(5)
        code = f"{raw[:5]}-{raw[5:]}"
        codes.append(code)
        db.session.add(RecoveryCode(user_id=user.id, code_hash=_hash_code(code)))
    return codes


def confirm_enrolment(user: User, code: str) -> list[str]:
    """Turn the factor on when `code` matches the pending secret. Returns the recovery codes
    (shown once). Raises ValidationError({"code": ...}) (also when too many wrong codes)."""
    key = code_key(user.id)
    check_throttle(key, "codes")
    row = pending_secret(user)
    if row is None:
        raise ValidationError({"_": "Start again: there is no second factor waiting for confirmation."})
    step = _matching_step(row.secret, code, None)
    if step is None:
        record_failure(key)
        db.session.commit()
        raise ValidationError({"code": "This code is not right. Check the time on your phone and try again."})
    row.confirmed_at = clock.utcnow()
    row.last_step = step
    clear_failures(key)
    codes = _new_recovery_codes(user)
    db.session.commit()
    return codes


def regenerate_recovery_codes(user: User) -> list[str]:
    """Replace the person's recovery codes with new ones; returns them (shown once). Raises
    ValidationError when the second factor is not on."""
    if not is_enabled(user):
        raise ValidationError({"_": "Turn the second factor on first."})
    codes = _new_recovery_codes(user)
    db.session.commit()
    return codes


def remaining_recovery_codes(user: User) -> int:
    """How many of the person's recovery codes are still unused. Raises nothing."""
    return len(list(db.session.scalars(select(RecoveryCode.id).where(
        RecoveryCode.user_id == user.id, RecoveryCode.used_at.is_(None)))))


def disable(user: User, code: str) -> None:
    """Turn the factor off (needs a current code or a recovery code)."""
    verify(user, code)
    db.session.execute(delete(TotpSecret).where(TotpSecret.user_id == user.id))
    db.session.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user.id))
    db.session.commit()


def verify(user: User, code: str) -> str:
    """Check a code at sign-in: a TOTP code (once) or an unused recovery code (used up).
    Returns "totp" or "recovery". Raises ValidationError({"code": ...}); after a few wrong
    codes the account's code entry is locked for a growing window."""
    key = code_key(user.id)
    check_throttle(key, "codes")
    row = db.session.get(TotpSecret, user.id)
    if row is None or row.confirmed_at is None:
        raise ValidationError({"_": "This account has no second factor."})
    step = _matching_step(row.secret, code, row.last_step)
    if step is not None:
        row.last_step = step
        clear_failures(key)
        db.session.commit()
        return "totp"
    cleaned = "".join((code or "").split())
    if len(cleaned) >= 10:
        rc = db.session.scalar(select(RecoveryCode).where(
            RecoveryCode.user_id == user.id, RecoveryCode.code_hash == _hash_code(cleaned),
            RecoveryCode.used_at.is_(None)))
        if rc is not None:
            rc.used_at = clock.utcnow()
            clear_failures(key)
            db.session.commit()
            return "recovery"
    record_failure(key)
    db.session.commit()
    raise ValidationError({"code": "This code is not right."})
