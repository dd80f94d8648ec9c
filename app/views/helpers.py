"""Small helpers shared by the HTML views: form errors, pagination, time formatting, serving
uploaded images."""
from __future__ import annotations

import json
import math
import re
from datetime import datetime
from urllib.parse import urlsplit

from flask import abort, current_app, request, send_file, session
from flask_login import current_user, login_user
from flask_wtf import FlaskForm
from flask_wtf.form import _Auto as _AUTO
from flask_wtf.form import _is_submitted
from werkzeug.datastructures import ImmutableMultiDict

from app import clock, inputs
from app.errors import ValidationError
from app.extensions import db, limiter
from app.models import User
from app.services import access
from app.services.content import attachments
from app.services.people import accounts
from app.services.platform import storage
from app.wording import plural

SAFE_IMAGE_TYPES = {"image/png", "image/jpeg", "image/webp"}


def _rate_key() -> str:
    """Limits count per signed-in person (all their devices together), else per address."""
    if getattr(current_user, "is_authenticated", False):
        return f"user:{current_user.id}"
    return f"ip:{request.remote_addr or '?'}"


class Required:
    """Marks a form field its service requires (the rule itself stays in the service, its one
    place): WTForms renders `required` from the flag like for DataRequired/InputRequired, and
    `_macros.field` adds `aria-required` and the visible marker for any field with the flag."""

    field_flags = {"required": True}

    def __call__(self, form, field) -> None:
        """No check here: the service answers with the field's error."""


def previewing() -> bool:
    """A form's "Preview" button was pressed (the view renders and stores nothing)."""
    return "preview" in request.form


def rate_limited(config_key: str, methods: tuple[str, ...] = ("POST",), exempt_when=None):
    """Decorator: limit a view with the limit string in app.config[config_key] (e.g.
    "KRING_RATE_POST" = "10/minute;60/hour"), counted per person and per config key; over the
    limit the app answers 429 with Retry-After (app.setup's handler). `exempt_when`: a
    predicate for requests the view answers without writing (e.g. `previewing`, for a view
    that stores nothing on preview); only such a view may pass one."""
    return limiter.limit(lambda: current_app.config[config_key], methods=list(methods), key_func=_rate_key,
                         scope=config_key, exempt_when=exempt_when)


class KringForm(FlaskForm):
    """The base of every form: FlaskForm (CSRF) plus the input rules of app.inputs,
    checked once for every field of every form: a whole number beyond a 64-bit column and text
    the text rule refuses get the field's error (form fields arriving over HTTP are already
    cleaned by app.setup.KringRequest; this also covers data given to a form otherwise)."""

    class Meta(FlaskForm.Meta):
        def wrap_formdata(self, form, formdata):
            """A JSON body (Flask-WTF reads one when there is no form data) is the checked
            json_object, and each field is text or a list of texts: a number or an object in
            its place answers 400 naming the field, never reaches a service as the wrong type."""
            if formdata is not _AUTO or not _is_submitted() or request.files or request.form or not request.is_json:
                return super().wrap_formdata(form, formdata)
            try:
                data = json_object()
            except BadJSON as exc:
                raise ValidationError({"body": str(exc)}) from None
            pairs = []
            for key, value in data.items():
                for item in value if isinstance(value, list) else [value]:
                    if not isinstance(item, str):
                        raise ValidationError({str(key)[:40]: "Give text here."})
                    pairs.append((key, item))
            return ImmutableMultiDict(pairs)

    def validate(self, extra_validators=None) -> bool:
        valid = super().validate(extra_validators)
        for field in self:
            data = field.data
            values = data if isinstance(data, list | tuple) else [data]
            for value in values:
                problem = None
                if isinstance(value, str):
                    problem = inputs.text_problem(value)
                elif isinstance(value, int) and not isinstance(value, bool) and not inputs.MIN_INT <= value <= inputs.MAX_ID:
                    problem = "The number is too large."
                if problem:
                    field.errors = [*field.errors, problem]
                    valid = False
                    break
        return valid


def apply_errors(form: FlaskForm, exc: ValidationError) -> None:
    """Copy a service's field errors onto the form; unknown fields go to form.form_errors."""
    for name, message in exc.errors.items():
        field = getattr(form, name, None)
        if field is not None and hasattr(field, "errors"):
            field.errors = list(field.errors) + [message]
        else:
            form.form_errors.append(message)


def pending_uploads() -> list[str]:
    """Tokens of the pending uploads a form carries back (files kept from a refused or
    previewed submit, app.services.content.attachments.hold), less the ones ticked "remove" (those
    are deleted now)."""
    removed = set(request.form.getlist("unattach"))
    for token in removed:
        attachments.drop_pending(current_user, token)
    return [t for t in request.form.getlist("pending") if t not in removed]


def hold_uploads(files) -> tuple[list, ValidationError | None]:
    """A form is shown again (an error, a preview): keep its chosen `files` as pending
    uploads, so they need not be chosen again. Returns what the form shows as attached, and
    the error when a file itself was refused (then only the earlier pending ones are kept)."""
    tokens = pending_uploads()
    try:
        return attachments.hold(current_user, files, keep=tokens), None
    except ValidationError as exc:
        db.session.rollback()
        return attachments.pending(current_user, tokens), exc


def safe_next(target: str | None, default: str) -> str:
    """Only allow redirects to a path on this site (no scheme, no host, no //)."""
    if not target:
        return default
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//") \
            or "\\" in target:
        return default
    return target


def page_arg(name: str = "page") -> int:
    """The ?page= number, at least 1; garbage means 1."""
    try:
        return max(1, min(int(request.args.get(name, 1)), 10_000))
    except (TypeError, ValueError):
        return 1


def id_arg(name: str) -> int | None:
    """The id in query parameter `name` (a filter, a cursor), or None when it is missing or not
    an id (app.inputs.id_or_none: never beyond 2^63 - 1)."""
    return inputs.id_or_none(request.args.get(name))


def ago(moment: datetime | None) -> str:
    """'just now', '5 minutes ago', '3 days ago', or a date for older moments."""
    if moment is None:
        return ""
    seconds = int((clock.utcnow() - moment).total_seconds())
    if seconds < 60:
        return "just now"
    for unit, size in (("minute", 60), ("hour", 3600), ("day", 86400)):
        nxt = {"minute": 3600, "hour": 86400, "day": 86400 * 30}[unit]
        if seconds < nxt:
            n = seconds // size
            return f"{plural(n, unit)} ago"
    return moment.strftime("%d %b %Y")


def format_datetime(moment: datetime | None) -> str:
    return moment.strftime("%d %b %Y %H:%M UTC") if moment else ""


def send_upload(key: str):
    """Serve a stored image inline, as the image type it was stored as, never as HTML or
    SVG (anything else answers 404), with nosniff and a private cache. The caller has
    already checked that the viewer may see the thing the image belongs to."""
    mimetype = storage.content_type(key)
    if mimetype not in SAFE_IMAGE_TYPES:
        abort(404)
    try:
        path = storage.path_for(key)
    except ValueError:
        abort(404)
    if not path.is_file():
        abort(404)
    response = send_file(path, mimetype=mimetype, max_age=86400)
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Content-Disposition"] = "inline"
    response.headers["Cache-Control"] = "private, max-age=86400"
    return response


def header_roles():
    """access.header_roles for the signed-in person, computed once per request (the header asks
    several times). Kept on the request object, so nothing outlives the request."""
    cached = getattr(request, "_kring_header_roles", None)
    if cached is None:
        cached = access.header_roles(current_user)
        request._kring_header_roles = cached
    return cached


class BadJSON(ValueError):
    """A request body that is not the JSON object an endpoint expects; str() is the reason."""


_JSON_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"', re.DOTALL)
_NOT_BRACKET = re.compile(rb"[^\[\]{}]+")


def json_nesting(raw: bytes) -> int:
    """How deeply a JSON text nests arrays and objects (brackets inside strings do not count)."""
    depth = current = 0
    for byte in _NOT_BRACKET.sub(b"", _JSON_STRING.sub(b"", raw)):
        current += 1 if byte in (0x5B, 0x7B) else -1
        depth = max(depth, current)
    return depth


def json_object(max_depth: int = 32) -> dict:
    """The request's JSON body as a dict, or {} when there is none; raises BadJSON (a 400 with
    the reason) for invalid JSON, a non-object, nesting deeper than `max_depth`, a number no
    column holds or text the text rule refuses (inputs.check_payload). One parser for every
    JSON body: app.setup checks each one before any view runs, a view asks here for the data."""
    cached = getattr(request, "_kring_json", None)
    if cached is not None:
        return cached
    raw = request.get_data(cache=True)
    if not raw or not request.is_json:
        return {}
    if json_nesting(raw) > max_depth:
        raise BadJSON("The JSON is nested too deeply.")
    try:
        data = json.loads(raw, parse_constant=lambda name: math.nan)
    except (ValueError, RecursionError) as exc:
        raise BadJSON(f"The body is not valid JSON: {str(exc)[:200]}") from None
    if not isinstance(data, dict):
        raise BadJSON("The body must be a JSON object.")
    try:
        inputs.check_payload(data)
    except ValidationError as exc:
        raise BadJSON(f"{exc.message} (in “{next(iter(exc.errors))}”)") from None
    request._kring_json = data
    return data


def sign_in(user: User, *, remember: bool = False, record: bool = True) -> bool:
    """Start a fresh session for `user`. False when the account may not sign in (suspended)."""
    session.clear()
    if not login_user(user, remember=remember):
        return False
    if record:
        accounts.record_sign_in(user)
    return True
