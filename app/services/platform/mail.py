"""Outgoing mail: the one module that sends email.

`send(to, subject, text)` enqueues a `mail.send` job in the caller's transaction, so a mail
goes out only if what caused it was committed, and a failing SMTP server is retried.
Backends (KRING_MAIL_BACKEND): "log" (development: logged and written as .eml files to
instance/outbox/ so a person can follow links locally), "smtp", and "memory" (tests: kept in
`outbox()`).
"""
from __future__ import annotations

import logging
import smtplib
from email.message import EmailMessage
from email.utils import make_msgid
from urllib.parse import urlsplit

from flask import current_app

from app import clock
from app.services.platform import jobs

log = logging.getLogger(__name__)

_memory_outbox: list[EmailMessage] = []


def external_url(endpoint: str, **values) -> str:
    """An absolute link for a mail, always on KRING_BASE_URL.

    Never built from the request's Host header: a forged Host on "forgot password" would
    otherwise mail the victim a reset link pointing at the attacker's site."""
    base = urlsplit(current_app.config["KRING_BASE_URL"].rstrip("/"))
    adapter = current_app.url_map.bind(base.netloc, script_name=base.path or "/",
                                       url_scheme=base.scheme or "https")
    return adapter.build(endpoint, values, force_external=True)


def send(to: str, subject: str, text: str) -> None:
    """Queue one plain-text message to `to` (sent after the caller commits)."""
    jobs.enqueue("mail.send", {"to": to, "subject": subject, "text": text})


def outbox() -> list[EmailMessage]:
    """Messages delivered by the memory backend (tests)."""
    return _memory_outbox


def _build(to: str, subject: str, text: str) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = current_app.config["MAIL_FROM"]
    msg["To"] = to
    msg["Subject"] = f"[{current_app.config['KRING_SITE_NAME']}] {subject}"
    msg["Message-ID"] = make_msgid(domain="kring.local")
    msg.set_content(text)
    return msg


@jobs.handler("mail.send")
def _deliver(payload: dict) -> None:
    msg = _build(payload["to"], payload["subject"], payload["text"])
    backend = current_app.config["MAIL_BACKEND"]
    if backend == "memory":
        _memory_outbox.append(msg)
    elif backend == "smtp":
        cfg = current_app.config
        with smtplib.SMTP(cfg["MAIL_SERVER"], cfg["MAIL_PORT"], timeout=30) as smtp:
            if cfg["MAIL_USE_TLS"]:
                smtp.starttls()
            if cfg["MAIL_USERNAME"]:
                smtp.login(cfg["MAIL_USERNAME"], cfg["MAIL_PASSWORD"])
            smtp.send_message(msg)
    else:
        folder = current_app.config["MAIL_OUTBOX_DIR"]
        folder.mkdir(parents=True, exist_ok=True)
        stamp = clock.utcnow().strftime("%Y%m%dT%H%M%S%f")
        path = folder / f"{stamp}.eml"
        path.write_bytes(bytes(msg))
        log.warning("MAIL to %s: %s (saved to %s)\n%s", payload["to"], msg["Subject"], path, payload["text"])
