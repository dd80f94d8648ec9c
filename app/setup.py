"""The steps of create_app(), each a small function."""
from __future__ import annotations

import logging
import math
import re
import time
from pathlib import Path

from flask import Flask, Request, current_app, g, jsonify, make_response, render_template, request
from flask_wtf.csrf import CSRFError
from sqlalchemy import event, select
from sqlalchemy.exc import OperationalError
from werkzeug.datastructures import ImmutableMultiDict, MultiDict
from werkzeug.exceptions import HTTPException
from werkzeug.middleware.proxy_fix import ProxyFix
from werkzeug.routing import IntegerConverter

from app import cli, errors, wording
from app.extensions import csrf, db, limiter, login_manager, migrate, socketio
from app.inputs import strip_unusable
from app.models import User
from app.services import access
from app.services.platform import markup
from app.services.platform.markup import EMBED_HOSTS
from app.views import (
    admin,
    api,
    auth,
    chat,
    comments,
    communities,
    experts,
    files,
    follows,
    helpers,
    ideas,
    insight,
    main,
    moderation,
    notifications,
    people,
    posts,
    search,
)
from app.views.helpers import BadJSON, header_roles, json_object

log = logging.getLogger(__name__)


class CleanMultiDict(ImmutableMultiDict):
    """Form fields and query parameters without the characters the text rule refuses (NUL, lone
    surrogates, other C0 controls but tab/newline/CR): app.inputs.strip_unusable on
    every text value (uploaded files are left alone)."""

    def __init__(self, mapping=None):
        def clean(value):
            return strip_unusable(value) if isinstance(value, str) else value

        if isinstance(mapping, MultiDict):
            pairs = mapping.items(multi=True)
        elif isinstance(mapping, dict):
            pairs = [(k, v) for k, vs in mapping.items() for v in (vs if isinstance(vs, list | tuple) else [vs])]
        else:
            pairs = mapping or ()
        super().__init__([(clean(k), clean(v)) for k, v in pairs])


class KringRequest(Request):
    """Flask's request, with every submitted form field and query parameter cleaned once, here
    (see CleanMultiDict): no view, form or service reached over HTTP sees an unusable character.
    JSON bodies are checked instead (refused with the reason: views.helpers.json_object)."""

    parameter_storage_class = CleanMultiDict

    @property
    def max_content_length(self) -> int | None:
        """Uploads (multipart/form-data) may be as large as MAX_CONTENT_LENGTH; any other body (a
        urlencoded form, JSON) at most KRING_MAX_FORM_BYTES (1 MB): Werkzeug reads such a body
        whole before parsing it, so a 60 MB form would cost seconds of work. Over it: 413."""
        limit = super().max_content_length
        if self.mimetype == "multipart/form-data":
            return limit
        small = current_app.config.get("KRING_MAX_FORM_BYTES", 1_048_576)
        return min(limit, small) if limit else small


def init_extensions(app: Flask) -> None:
    app.request_class = KringRequest
    if app.config.get("KRING_PROXY_FIX"):
        n = app.config["KRING_PROXY_FIX"]
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=n, x_proto=n, x_host=n)
    from app import models  # noqa: F401 - register every table before anything uses the metadata

    db.init_app(app)
    migrate.init_app(app, db, directory=str(Path(app.root_path).parent / "migrations"),
                     render_as_batch=True, compare_type=True)
    csrf.init_app(app)
    limiter.init_app(app)
    # job handlers register themselves on import


def init_database(app: Flask) -> None:
    """SQLite: WAL, foreign keys, a busy timeout, and transactions that take the write lock only
    at their first write (see `_sqlite_transactions`). PostgreSQL: nothing to do."""
    with app.app_context():
        engine = db.engine
    if engine.dialect.name != "sqlite":
        return

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn, _record):
        dbapi_conn.isolation_level = None  # the driver begins nothing itself: _sqlite_transactions does
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute(f"PRAGMA busy_timeout={int(app.config.get('KRING_DB_LOCK_WAIT_MS', 10000))}")
        if ":memory:" not in str(engine.url):
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
        cur.close()

    event.listen(engine, "before_cursor_execute", _sqlite_transactions)


_FIRST_WORD = re.compile(r"\s*(?:(?:--[^\n]*(?:\n|$)|/\*.*?\*/)\s*)*([A-Za-z]+)", re.S)
_DML = re.compile(r"\b(?:INSERT|UPDATE|DELETE|REPLACE)\b", re.I)
_PASS_THROUGH = {"BEGIN", "COMMIT", "END", "ROLLBACK", "RELEASE", "PRAGMA", "VACUUM", "ATTACH", "DETACH"}
_READS = {"SELECT", "VALUES", "EXPLAIN"}


def _sqlite_writes(statement: str, context) -> bool | None:
    """True: the statement writes (or means to: SAVEPOINT, SELECT ... FOR UPDATE); False: it
    only reads; None: transaction control and pragmas, which begin nothing. Anything not known
    to be a read counts as a write, so a mistake costs an early lock, never a lost write."""
    match = _FIRST_WORD.match(statement)
    word = match.group(1).upper() if match else ""
    if word in _PASS_THROUGH:
        return None
    if word == "WITH":
        return bool(_DML.search(statement))
    if word in _READS:
        compiled = getattr(context, "compiled", None)
        return getattr(getattr(compiled, "statement", None), "_for_update_arg", None) is not None
    return True


def _sqlite_transactions(conn, cursor, statement, parameters, context, executemany):
    """SQLite transactions begin deferred and take the write lock at their first write.

    A transaction begins right before its first statement: `BEGIN IMMEDIATE` when that
    statement writes, else a plain `BEGIN` (in WAL, reading needs no lock and is never blocked
    by a writer). At the first write of a transaction that has only read so far, the read
    transaction is ended and `BEGIN IMMEDIATE` waits for the write lock (up to
    KRING_DB_LOCK_WAIT_MS, else "database is locked", which answers 503). Upgrading the read
    transaction in place instead would fail at once whenever another connection holds the lock
    or has committed since the read began (SQLITE_BUSY / SQLITE_BUSY_SNAPSHOT: SQLite cannot
    wait there), so it is never done.

    So the work before the first write (loading the person, access checks, validation, image
    processing) and everything after the commit (rendering) hold no lock. What the transaction
    read before its first write may be older than what it then writes on: the same guarantee
    as PostgreSQL's READ COMMITTED, which the services already rely on (counters are updated
    with SQL expressions, unique indexes settle races); from the first write to the commit,
    writers are serialised."""
    if conn.get_execution_options().get("isolation_level") == "AUTOCOMMIT":
        return statement, parameters
    writes = _sqlite_writes(statement, context)
    if writes is None:
        return statement, parameters
    raw = conn.connection.dbapi_connection
    info = conn.connection.info
    try:
        if not raw.in_transaction:
            raw.execute("BEGIN IMMEDIATE" if writes else "BEGIN")
            info["kring_writing"], info["kring_changes"] = writes, raw.total_changes
        elif writes and not info.get("kring_writing"):
            info["kring_writing"] = True
            if raw.total_changes == info.get("kring_changes"):  # nothing written yet: only reads to end
                raw.execute("ROLLBACK")
                raw.execute("BEGIN IMMEDIATE")
            # else a write slipped through as a read: the transaction holds the write lock already
    except raw.OperationalError as exc:  # the lock not granted in time: "database is locked"

        raise OperationalError(statement, parameters, exc) from exc
    return statement, parameters


def init_login(app: Flask) -> None:
    login_manager.init_app(app)
    login_manager.login_view = "auth.signin"
    login_manager.login_message = "Please sign in to see this page."
    login_manager.login_message_category = "info"
    login_manager.session_protection = "basic"

    @login_manager.user_loader
    def load_user(user_id: str):
        """The id is "<id>:<session_version>": a bumped version ends old sessions."""
        try:
            uid, version = (int(part) for part in user_id.split(":"))
        except (ValueError, AttributeError):
            return None
        user = db.session.scalar(select(User).where(User.id == uid))
        if user is None or user.session_version != version or user.is_suspended:
            return None
        return user


def init_input(app: Flask) -> None:
    """Every JSON body, on every route, is parsed once by views.helpers.json_object before the
    view runs: malformed, too deep, not an object, out-of-range numbers or unusable text answer
    400 with the reason (form fields and query parameters are cleaned by KringRequest)."""
    @app.before_request
    def refuse_bad_json():
        if request.method in ("POST", "PUT", "PATCH", "DELETE") and request.is_json and request.content_length != 0:
            try:
                json_object()
            except BadJSON as exc:
                return jsonify({"errors": {"body": str(exc)}}), 400
        return None


def init_security(app: Flask) -> None:
    frames = " ".join(["'self'"] + [EMBED_HOSTS[p] for p in app.config["KRING_VIDEO_PROVIDERS"] if p in EMBED_HOSTS])
    csp = ("default-src 'self'; img-src 'self' data:; media-src 'self'; style-src 'self'; "
           f"script-src 'self'; connect-src 'self' {{socket}}; frame-src {frames}; object-src 'none'; "
           "base-uri 'self'; form-action 'self'; frame-ancestors 'none'")

    @app.after_request
    def security_headers(response):
        h = response.headers
        host = request.host if re.fullmatch(r"[A-Za-z0-9.\[\]:-]{1,255}", request.host or "") else ""
        socket = f"{'wss' if request.is_secure else 'ws'}://{host}" if host else ""
        h.setdefault("Content-Security-Policy", csp.replace("{socket}", socket))  # own host only
        if not request.environ.get("SERVER_SOFTWARE", "").startswith("gunicorn"):
            h["Server"] = "Kring"  # not Werkzeug and the Python version (gunicorn: gunicorn.conf.py)
        h.setdefault("X-Content-Type-Options", "nosniff")
        h.setdefault("Referrer-Policy", "same-origin")
        h.setdefault("X-Frame-Options", "DENY")
        h.setdefault("Permissions-Policy", "camera=(), microphone=(), geolocation=(), payment=()")
        h.setdefault("Cross-Origin-Opener-Policy", "same-origin")
        if request.is_secure:
            h.setdefault("Strict-Transport-Security", "max-age=31536000; includeSubDomains")
        return response


class BoundedInt(IntegerConverter):
    """`<int:...>` that matches only ids a database column can hold (at most 2^63 - 1): a larger
    number answers 404 on every route instead of overflowing in the driver."""

    def __init__(self, map, *args, **kwargs):
        kwargs.setdefault("max", 2**63 - 1)
        super().__init__(map, *args, **kwargs)


def register_blueprints(app: Flask) -> None:
    app.url_map.converters["int"] = BoundedInt  # every <int:...> in every route, before any is added

    for module in (main, auth, people, communities, posts, comments, files, ideas, notifications, follows, api,
                   admin, experts, chat, search, insight, moderation):
        app.register_blueprint(module.bp)
    from app.views import account, policy  # your data, second factor, session rules; the social policy

    app.register_blueprint(account.bp)
    app.register_blueprint(policy.bp)


def _wants_json() -> bool:
    return request.path.startswith("/api/") or request.accept_mimetypes.best == "application/json"


def register_errors(app: Flask) -> None:
    def render(status: int, title: str, message: str):
        if _wants_json():
            return jsonify({"error": message}), status
        return render_template("error.html", status=status, title=title, message=message), status

    @app.errorhandler(errors.NotFound)
    def _not_found(exc):
        return render(404, "Not found", exc.message or "There is nothing here.")

    @app.errorhandler(errors.Forbidden)
    def _forbidden(exc):
        return render(403, "Not allowed", exc.message or "You may not do this.")

    @app.errorhandler(errors.Gone)
    def _gone(exc):
        return render(410, "This link no longer works", exc.message)

    @app.errorhandler(errors.ValidationError)
    def _invalid(exc):
        if _wants_json():
            return jsonify({"errors": exc.errors}), 400
        return render(400, "Please check your input", exc.message)

    @app.errorhandler(errors.Throttled)
    def _throttled(exc):
        if _wants_json():
            body, status = jsonify({"errors": exc.errors}), 429
        else:
            body, status = render(429, "Slow down", exc.message)
        response = make_response(body, status)
        response.headers["Retry-After"] = str(exc.retry_after)
        return response

    @app.errorhandler(CSRFError)
    def _csrf(exc):
        return render(400, "Your form expired",
                      "The page was open too long or came from another site. Reload it and try again.")

    @app.errorhandler(HTTPException)
    def _http(exc):
        titles = {400: "Bad request", 401: "Please sign in", 403: "Not allowed", 404: "Not found",
                  405: "Not allowed here", 413: "Too large", 429: "Slow down"}
        messages = {
            404: "There is nothing here. The link may be old, or you may not have access.",
            405: "This address does not accept that kind of request.",
            413: "That upload is larger than this site accepts.",
        }
        wait = _retry_after(exc) if exc.code == 429 else 0
        if wait:
            messages[429] = f"Too many attempts. {errors.try_again_in(wait)}"
        body, status = render(exc.code or 500, titles.get(exc.code, "Error"),
                              messages.get(exc.code, exc.description or ""))
        response = make_response(body, status)
        if wait:
            response.headers["Retry-After"] = str(wait)
        return response

    @app.errorhandler(Exception)
    def _crash(exc):
        if isinstance(exc, HTTPException):
            return _http(exc)
        if database_busy(exc):
            log.warning("database busy on %s %s: %s", request.method, request.path, exc)
            db.session.rollback()
            g.kring_busy = True
            body, status = render(503, "Busy for a moment",
                                  "Many people are writing at once. Nothing was lost: try again in a few seconds.")
            response = make_response(body, status)
            response.headers["Retry-After"] = "5"
            return response
        log.exception("unhandled error on %s %s", request.method, request.path)
        db.session.rollback()
        return render(500, "Something went wrong", "We logged the error. Please try again in a moment.")


def _retry_after(exc: HTTPException) -> int:
    """Seconds until a 429 request may be made again: the breached Flask-Limiter limit's
    reset time (memory or Redis store alike), else the exception's own, else a minute."""
    seconds = getattr(exc, "retry_after", None)
    if not seconds:
        current = limiter.current_limit
        if current is not None and current.breached:
            seconds = current.reset_at - time.time()
    return max(1, math.ceil(seconds or 60))


_BUSY_MARKERS = ("database is locked", "database table is locked", "lock timeout",
                 "could not obtain lock", "deadlock detected", "the database system is starting up",
                 "the database system is shutting down", "connection refused", "server closed the connection")


def database_busy(exc: BaseException) -> bool:
    """Whether an error means the database is busy or away for a moment (a lock not granted in
    time, a restart), not a bug: the request answers 503 with Retry-After, never 500."""
    if not isinstance(exc, OperationalError):
        return False
    text = str(getattr(exc, "orig", exc)).lower()
    return any(marker in text for marker in _BUSY_MARKERS)


def register_template_helpers(app: Flask) -> None:
    @app.context_processor
    def inject():
        return {"access": access, "site_name": app.config["KRING_SITE_NAME"]}

    app.jinja_env.filters["markdown"] = markup.render
    app.jinja_env.filters["stored"] = markup.stored

    app.jinja_env.globals["header_roles"] = header_roles

    app.jinja_env.filters["ago"] = helpers.ago
    app.jinja_env.filters["datetime"] = helpers.format_datetime

    app.jinja_env.filters["plural"] = wording.plural  # {{ n|plural('reply', 'replies') }}


def register_cli(app: Flask) -> None:
    cli.register(app)


def init_sockets(app: Flask) -> None:
    # Import the handlers first: decorators that run while the extension has no server are
    # kept in its handler list and registered on every app's server by init_app (imported
    # after init_app, they would bind to the first app's server only).
    from app.live import handlers, manager, rooms  # noqa: F401

    socketio.init_app(
        app,
        async_mode="threading",
        cors_allowed_origins=app.config["KRING_ALLOWED_ORIGINS"],
        # Kring's manager (app/live/manager.py): Redis pub/sub with REDIS_URL, control messages
        # (cross-process disconnects) and replay fences; a fresh one for every app
        client_manager=manager.create(app),
        manage_session=False,
        max_http_buffer_size=64 * 1024,  # larger socket messages close that connection
    )
    rooms.install()  # app.events reaches the sockets through these hooks
