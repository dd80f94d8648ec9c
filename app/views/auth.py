"""Sign up, sign in, sign out, email confirmation, password reset, account, invitations."""
from __future__ import annotations

from flask import Blueprint

bp = Blueprint("auth", __name__)


@bp.route("/signin", methods=["GET", "POST"])
def signin():
    return "sign in"


@bp.route("/signup", methods=["GET", "POST"])
def signup():
    return "sign up"


@bp.post("/signout")
def signout():
    return "signed out"


@bp.get("/verify/<token>")
def verify_email(token):
    return "verify"


@bp.route("/reset/<token>", methods=["GET", "POST"])
def reset_password(token):
    return "reset"


@bp.route("/account", methods=["GET", "POST"])
def account():
    return "account"


@bp.route("/invitations", methods=["GET", "POST"])
def invitations():
    return "invitations"
