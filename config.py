"""Configuration read from the environment, with development defaults.

Every setting can be overridden by an environment variable of the same name
(see README, "Configuration"). This module imports nothing from the app.
"""
from __future__ import annotations

import os
import secrets
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent
INSTANCE_DIR = Path(os.environ.get("KRING_INSTANCE_PATH", BASE_DIR / "instance"))


def _bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def _list(name: str, default: str = "") -> list[str]:
    return [part.strip().lower() for part in os.environ.get(name, default).split(",") if part.strip()]


def _secret_key() -> str:
    """SECRET_KEY from the environment, else one generated once and kept in instance/."""
    key = os.environ.get("SECRET_KEY")
    if key:
        return key
    INSTANCE_DIR.mkdir(parents=True, exist_ok=True)
    path = INSTANCE_DIR / "secret_key"
    if not path.exists():
        path.write_text(secrets.token_hex(32))
        path.chmod(0o600)
    return path.read_text().strip()


def _default_origins() -> str:
    """The dev server's own address (HOST/PORT, as `make run` uses them) plus the loopback names."""
    host, port = os.environ.get("HOST", "127.0.0.1"), os.environ.get("PORT", "5000")
    origins = [f"http://127.0.0.1:{port}", f"http://localhost:{port}"]
    if host not in {"127.0.0.1", "localhost", "0.0.0.0", "::", ""}:  # a wildcard is no browser origin
        origins.insert(0, f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}")
    return ",".join(origins)


def _database_url() -> str:
    url = os.environ.get("DATABASE_URL", f"sqlite:///{INSTANCE_DIR / 'kring.db'}")
    # Heroku-style URLs and the plain scheme both mean psycopg 3 here.
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix):]
    return url


class Config:
    SECRET_KEY = None  # filled in by load()
    INSTANCE_DIR = INSTANCE_DIR
    SQLALCHEMY_DATABASE_URI = None
    SQLALCHEMY_ENGINE_OPTIONS: dict = {}
    REDIS_URL = os.environ.get("REDIS_URL") or None

    # Accounts
    KRING_EMPLOYEE_DOMAINS = _list("KRING_EMPLOYEE_DOMAINS", "acme.example")
    KRING_SITE_NAME = os.environ.get("KRING_SITE_NAME", "Kring")
    KRING_BASE_URL = os.environ.get("KRING_BASE_URL") or _default_origins().split(",")[0]
    INVITATION_DAYS = int(os.environ.get("KRING_INVITATION_DAYS", "14"))
    PASSWORD_RESET_SECONDS = int(os.environ.get("KRING_PASSWORD_RESET_SECONDS", "3600"))
    EMAIL_VERIFY_SECONDS = int(os.environ.get("KRING_EMAIL_VERIFY_SECONDS", str(3 * 86400)))

    PASSWORD_HASH_METHOD = "scrypt"

    # Sessions and cookies
    SESSION_COOKIE_NAME = "kring_session"
    SESSION_COOKIE_HTTPONLY = True
    SESSION_COOKIE_SAMESITE = "Lax"
    SESSION_COOKIE_SECURE = _bool("KRING_SECURE_COOKIES", False)
    REMEMBER_COOKIE_NAME = "kring_remember"
    REMEMBER_COOKIE_HTTPONLY = True
    REMEMBER_COOKIE_SAMESITE = "Lax"
    REMEMBER_COOKIE_SECURE = _bool("KRING_SECURE_COOKIES", False)
    REMEMBER_COOKIE_DURATION = 30 * 86400
    PERMANENT_SESSION_LIFETIME = 12 * 3600
    # A signed-in session ends after this long without a request, and this long after sign-in
    # whatever happens (a "keep me signed in" cookie then signs the browser in again).
    # How long a request waits for the database's write lock (SQLite) before it answers 503
    # with Retry-After instead of waiting on.
    KRING_DB_LOCK_WAIT_MS = int(os.environ.get("KRING_DB_LOCK_WAIT_MS", "10000"))
    KRING_SESSION_IDLE_MINUTES = int(os.environ.get("KRING_SESSION_IDLE_MINUTES", "60"))
    KRING_SESSION_MAX_HOURS = int(os.environ.get("KRING_SESSION_MAX_HOURS", "12"))
    # Administrators must set up a second factor (TOTP) before they can do anything else.
    KRING_REQUIRE_ADMIN_2FA = _bool("KRING_REQUIRE_ADMIN_2FA", False)

    # Uploads
    MAX_CONTENT_LENGTH = int(os.environ.get("KRING_MAX_UPLOAD_BYTES", str(64 * 1024 * 1024)))
    KRING_MAX_FORM_BYTES = int(os.environ.get("KRING_MAX_FORM_BYTES", str(1024 * 1024)))  # bodies without files
    # Pixel limits, read from an image's header before it is decoded (a small PNG can declare
    # 80 megapixels and take a gigabyte to decode): avatars and covers, and attachments.
    AVATAR_MAX_PIXELS = int(os.environ.get("KRING_AVATAR_MAX_PIXELS", str(16_000_000)))
    IMAGE_MAX_PIXELS = int(os.environ.get("KRING_IMAGE_MAX_PIXELS", str(25_000_000)))
    AVATAR_MAX_BYTES = int(os.environ.get("KRING_AVATAR_MAX_BYTES", str(5 * 1024 * 1024)))
    IMAGE_MAX_BYTES = int(os.environ.get("KRING_IMAGE_MAX_BYTES", str(10 * 1024 * 1024)))
    VIDEO_MAX_BYTES = int(os.environ.get("KRING_VIDEO_MAX_BYTES", str(50 * 1024 * 1024)))
    MAX_ATTACHMENTS = int(os.environ.get("KRING_MAX_ATTACHMENTS", "6"))
    # Video links of these providers become embedded players; others stay plain links.
    KRING_VIDEO_PROVIDERS = _list("KRING_VIDEO_PROVIDERS", "youtube,vimeo")
    UPLOAD_DIR = Path(os.environ.get("KRING_UPLOAD_DIR", INSTANCE_DIR / "uploads"))

    # Mail: "log" writes every message to the log and to instance/outbox/; "smtp" sends.
    MAIL_BACKEND = os.environ.get("KRING_MAIL_BACKEND", "log")
    MAIL_SERVER = os.environ.get("MAIL_SERVER", "localhost")
    MAIL_PORT = int(os.environ.get("MAIL_PORT", "25"))
    MAIL_USERNAME = os.environ.get("MAIL_USERNAME")
    MAIL_PASSWORD = os.environ.get("MAIL_PASSWORD")
    MAIL_USE_TLS = _bool("MAIL_USE_TLS", False)
    MAIL_FROM = os.environ.get("MAIL_FROM", "Kring <no-reply@kring.local>")
    MAIL_OUTBOX_DIR = Path(os.environ.get("KRING_MAIL_OUTBOX", INSTANCE_DIR / "outbox"))

    # Background work: the embedded default runs jobs in a thread of the server.
    KRING_WORKER_THREAD = _bool("KRING_WORKER_THREAD", True)
    JOB_MAX_ATTEMPTS = int(os.environ.get("KRING_JOB_MAX_ATTEMPTS", "5"))
    JOB_POLL_SECONDS = float(os.environ.get("KRING_JOB_POLL_SECONDS", "1.0"))

    # Socket.IO: explicit list of allowed origins (never "*").
    KRING_ALLOWED_ORIGINS = _list("KRING_ALLOWED_ORIGINS", _default_origins())

    # Rate limits
    RATELIMIT_ENABLED = _bool("KRING_RATELIMIT", True)
    RATELIMIT_STORAGE_URI = os.environ.get("REDIS_URL") or "memory://"
    RATELIMIT_HEADERS_ENABLED = True
    # per network address, FAILED sign-ins only (successful ones never count: an office behind
    # one address must not lock itself out); the per-account throttles are in app.services.people.totp
    RATELIMIT_SIGNIN = os.environ.get("KRING_RATELIMIT_SIGNIN", "300/hour")
    RATELIMIT_SIGNUP = os.environ.get("KRING_RATELIMIT_SIGNUP", "5/minute;30/hour")
    RATELIMIT_RESET = os.environ.get("KRING_RATELIMIT_RESET", "5/minute;20/hour")
    # per signed-in person (per address when signed out); app.views.helpers.rate_limited
    KRING_RATE_POST = os.environ.get("KRING_RATE_POST", "10/minute;60/hour")
    KRING_RATE_COMMENT = os.environ.get("KRING_RATE_COMMENT", "20/minute;200/hour")
    KRING_RATE_VOTE = os.environ.get("KRING_RATE_VOTE", "60/minute")
    KRING_RATE_REPORT = os.environ.get("KRING_RATE_REPORT", "10/minute;50/hour")
    KRING_RATE_ASK = os.environ.get("KRING_RATE_ASK", "10/minute;50/hour")
    KRING_RATE_SEARCH = os.environ.get("KRING_RATE_SEARCH", "60/minute")
    KRING_RATE_2FA = os.environ.get("KRING_RATE_2FA", "10/minute")
    KRING_PROXY_FIX = int(os.environ.get("KRING_PROXY_FIX", "0"))  # number of trusted proxies

    # Pre-moderation (app.services.content.premoderation): accounts younger than this many days may put at
    # most this many links in a post or comment
    NEW_ACCOUNT_DAYS = int(os.environ.get("KRING_NEW_ACCOUNT_DAYS", "7"))
    NEW_ACCOUNT_MAX_LINKS = int(os.environ.get("KRING_NEW_ACCOUNT_MAX_LINKS", "2"))

    TESTING = False
    WTF_CSRF_TIME_LIMIT = None  # the token lives as long as the session

    @classmethod
    def load(cls) -> dict:
        """Return the settings as a dict, computing the ones that touch the disk."""
        values = {k: getattr(cls, k) for k in dir(cls) if k.isupper()}
        values["SECRET_KEY"] = values["SECRET_KEY"] or _secret_key()
        values["SQLALCHEMY_DATABASE_URI"] = values["SQLALCHEMY_DATABASE_URI"] or _database_url()
        return values


class TestConfig(Config):
    """Used by the test suite: a throwaway instance folder is set by the fixtures."""

    TESTING = True
    SECRET_KEY = "test-secret-key"
    KRING_WORKER_THREAD = False
    RATELIMIT_ENABLED = False
    RATELIMIT_STORAGE_URI = "memory://"
    MAIL_BACKEND = "memory"
    PASSWORD_HASH_METHOD = "pbkdf2:sha256:1000"  # fast in tests; production uses scrypt
    KRING_EMPLOYEE_DOMAINS = ["acme.example"]
