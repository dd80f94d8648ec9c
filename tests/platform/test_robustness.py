"""No 500s: every route of the app, by every method it accepts, with unknown ids and junk
input, as an admin (who may reach everything) and as a customer. And friendly error pages."""
from __future__ import annotations

import pytest
from werkzeug.routing import IntegerConverter

from tests.conftest import csrf_token, login

JUNK = {"name": "\x00<script>alert(1)</script>" * 3, "slug": "../../etc", "email": "not-an-email",
        "password": "x", "role": "emperor", "decision": "maybe", "visibility": "secret",
        "description": "y" * 20000, "message": "z" * 5000, "until": "yesterday", "q": "%' OR 1=1 --",
        "page": "-1", "kind": "robot", "display_name": "", "department_id": "abc"}


def _fill(rule, community_slug: str) -> str | None:
    values = {}
    for arg in rule.arguments:
        if isinstance(rule._converters[arg], IntegerConverter):
            values[arg] = 999999
        elif arg == "slug":
            values[arg] = community_slug
        else:
            values[arg] = "does-not-exist"
    try:
        return rule.build(values, append_unknown=False)[1]
    except Exception:  # noqa: BLE001 - a rule we cannot build is not reachable either
        return None


@pytest.mark.parametrize("persona", ["admin", "customer", "anonymous"])
def test_no_route_answers_500_to_junk(app, make, persona):
    community = make.community("open", topics=("Returns",))
    client = app.test_client()
    if persona != "anonymous":
        user = make.admin() if persona == "admin" else make.user("customer")
        login(client, user)
        token = csrf_token(client)
    else:
        token = csrf_token(client, "/signin")
    checked = 0
    for rule in app.url_map.iter_rules():
        if rule.endpoint == "static":
            continue
        for slug in (community.slug, "no-such-community"):
            path = _fill(rule, slug)
            if path is None:
                continue
            for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
                data = dict(JUNK, csrf_token=token) if method == "POST" else None
                resp = client.open(path, method=method, data=data, query_string={"page": "x", "q": "\x00"})
                checked += 1
                assert resp.status_code < 500, f"{method} {path} -> {resp.status_code}"
    assert checked > 40


def test_friendly_error_pages(app, make, login_as):
    client = login_as(make.user("employee"))
    resp = client.get("/no/such/page")
    assert resp.status_code == 404 and "Not found" in resp.get_data(as_text=True)
    resp = client.get("/signout")
    assert resp.status_code == 405 and "does not accept" in resp.get_data(as_text=True)
    resp = client.post("/c/whatever/join")  # no CSRF token
    assert resp.status_code == 400 and "form expired" in resp.get_data(as_text=True)
    resp = client.get("/no/such/page", headers={"Accept": "application/json"})
    assert resp.status_code == 404 and resp.is_json


def test_unexpected_error_shows_the_500_page_and_is_logged(app, caplog):
    @app.get("/boom-test")
    def boom():
        raise RuntimeError("kaboom")

    resp = app.test_client().get("/boom-test")
    assert resp.status_code == 500
    assert "Something went wrong" in resp.get_data(as_text=True)
    assert "kaboom" not in resp.get_data(as_text=True)
    assert any("kaboom" in (r.exc_text or "") or "boom-test" in r.getMessage() for r in caplog.records)


def test_security_headers_on_every_page(client):
    resp = client.get("/signin")
    csp = resp.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "'unsafe-inline'" not in csp and "frame-ancestors 'none'" in csp
    assert resp.headers["X-Content-Type-Options"] == "nosniff"
    assert resp.headers["Referrer-Policy"] == "same-origin"
    assert "Strict-Transport-Security" not in resp.headers  # only over HTTPS
    secure = client.get("/signin", base_url="https://localhost")
    assert "max-age" in secure.headers["Strict-Transport-Security"]


def test_create_admin_cli(app, runner):
    result = runner.invoke(args=["create-admin", "boss@acme.example", "--name", "The Boss"])
    assert result.exit_code == 0 and "is now an administrator" in result.output
    assert "password" in result.output  # a new account gets a generated password to change
    from app.extensions import db
    from app.models import User

    with app.app_context():
        boss = db.session.query(User).filter_by(email="boss@acme.example").one()
        assert boss.is_admin and boss.kind == "employee"
        from app.models import AuditEntry

        entries = db.session.query(AuditEntry).filter_by(target_type="user", target_id=boss.id).all()
        assert [(e.action, e.actor_id, e.after, e.reason) for e in entries] == [
            ("user.roles_change", None, {"is_admin": True}, "flask create-admin (new account)")]
    again = runner.invoke(args=["create-admin", "boss@acme.example"])  # already an admin: nothing to record
    assert again.exit_code == 0
    with app.app_context():
        assert db.session.query(AuditEntry).filter_by(target_id=boss.id, target_type="user").count() == 1
    bad = runner.invoke(args=["create-admin", "not an email"])
    assert bad.exit_code != 0 and "not a valid email" in bad.output


def test_every_int_route_answers_404_for_ids_above_2_63(app, client):
    """Walk the URL map: every rule with an <int:...> part, given 2^63, answers 404 (not 500)."""
    import re as _re


    huge = str(2**63)
    checked = 0
    for rule in app.url_map.iter_rules():
        if not any(isinstance(conv, IntegerConverter) for conv in rule._converters.values()):
            continue
        path = _re.sub(r"<int:[^>]+>", huge, rule.rule)
        path = _re.sub(r"<[^>]+>", "x", path)
        for method in sorted((rule.methods or set()) & {"GET", "POST"}):
            response = client.open(path, method=method)
            assert response.status_code in (400, 404, 405), (method, path, response.status_code)
            checked += 1
    assert checked > 20


@pytest.mark.parametrize("body", [b"[1,2,3]", b'{"body": 5}', b'{"body": 1e999999}', b"[" * 100_000 + b"]" * 100_000,
                                  b'{"body": "\\ud800"}', b"{not json", b'{"body": "a\\u0000b"}'])
def test_malformed_json_to_preview_answers_400_with_a_reason(client, make, body):
    from tests.conftest import csrf_token, login

    login(client, make.user())
    response = client.post("/api/preview", data=body, content_type="application/json",
                           headers={"X-CSRFToken": csrf_token(client)})
    assert response.status_code == 400, response.data[:200]
    assert response.get_json()["errors"]["body"]


def test_server_header_is_neutral_and_sockets_only_to_the_own_host(client):
    response = client.get("/", base_url="https://kring.example")
    assert response.headers["Server"] == "Kring"
    csp = response.headers["Content-Security-Policy"]
    connect = next(part for part in csp.split(";") if part.strip().startswith("connect-src")).split()
    assert connect == ["connect-src", "'self'", "wss://kring.example"]


def test_the_production_server_sends_one_server_header_naming_kring(tmp_path):
    """Served as deployed (gunicorn with gunicorn.conf.py), a response carries one Server
    header, "Kring": neither gunicorn's name and version nor Werkzeug's and Python's."""
    import http.client
    import sys
    from pathlib import Path

    from tests.live_servers import Server, make_app

    db_path = tmp_path / "served.db"
    make_app(db_path)
    gunicorn = str(Path(sys.executable).parent / "gunicorn")
    server = Server(tmp_path, db_path, command=[gunicorn, "-c", "gunicorn.conf.py", "wsgi:app"],
                    KRING_ACCESS_LOG="off")
    try:
        conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
        conn.request("GET", "/signin")
        response = conn.getresponse()
        response.read()
        assert response.status == 200
        assert response.headers.get_all("Server") == ["Kring"]
        conn.close()
    finally:
        server.stop()
