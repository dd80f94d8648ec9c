"""The admin area: who gets in, people and roles, suspension, departments, settings, jobs."""
from __future__ import annotations

import re
from datetime import timedelta

import pytest
from sqlalchemy import select

from app import clock
from app.extensions import db
from app.models import Department, Job, JobStatus, User
from app.services.platform import settings
from tests.conftest import login, post

ADMIN_PAGES = ["/admin/", "/admin/people", "/admin/departments", "/admin/settings", "/admin/jobs"]


def add_department(app, name: str) -> int:
    with app.app_context():
        dept = Department(name=name)
        db.session.add(dept)
        db.session.commit()
        return dept.id


def parked_job(app, error: str = "boom") -> int:
    with app.app_context():
        job = Job(name="mail.send", payload={}, status=JobStatus.FAILED, attempts=5, max_attempts=5,
                  last_error=error, finished_at=clock.utcnow())
        db.session.add(job)
        db.session.commit()
        return job.id


# --- who may enter ------------------------------------------------------------------------

@pytest.mark.parametrize("url", ADMIN_PAGES + ["/admin/people/1"])
def test_anonymous_visitors_are_sent_to_sign_in(client, url):
    resp = client.get(url)
    assert resp.status_code == 302 and "/signin" in resp.location


@pytest.mark.parametrize("kind,extra", [("employee", {}), ("customer", {}),
                                        ("employee", {"is_global_manager": True})])
def test_non_admins_get_403_everywhere(make, login_as, kind, extra):
    user = make.user(kind, **extra)
    client = login_as(user)
    for url in ADMIN_PAGES + [f"/admin/people/{user.id}"]:
        assert client.get(url).status_code == 403, url
    assert post(client, "/admin/departments", {"name": "Sneaky"}).status_code == 403
    assert post(client, f"/admin/people/{user.id}/roles", {"is_admin": "y"}).status_code == 403
    assert post(client, "/admin/settings", {"open_signup": "y"}).status_code == 403


def test_admin_sees_every_page_with_counts(app, make, login_as):
    admin = make.admin()
    make.user("customer")
    parked_job(app)
    client = login_as(admin)
    for url in ADMIN_PAGES + [f"/admin/people/{admin.id}"]:
        assert client.get(url).status_code == 200, url
    html = client.get("/admin/").get_data(as_text=True)
    assert "1 employee · 1 customer · 0 partners" in html and "parked" in html


# --- people -------------------------------------------------------------------------------

def listed(html: str) -> set[str]:
    return set(re.findall(r'href="/admin/people/\d+">([^<]+)</a>', html))


def test_people_list_is_searchable_and_filtered(app, make, login_as):
    admin = make.admin(name="Ada Admin")
    make.user("customer", name="Carla Client", email="carla@customer.example")
    make.user("partner", name="Pete Partner")
    make.user("employee", name="Nora New", verified=False)
    client = login_as(admin)
    assert listed(client.get("/admin/people?q=carla%40customer").get_data(as_text=True)) == {"Carla Client"}
    assert listed(client.get("/admin/people?q=pete").get_data(as_text=True)) == {"Pete Partner"}
    assert listed(client.get("/admin/people?kind=partner").get_data(as_text=True)) == {"Pete Partner"}
    assert listed(client.get("/admin/people?status=unverified").get_data(as_text=True)) == {"Nora New"}
    assert "Nora New" not in listed(client.get("/admin/people?status=active").get_data(as_text=True))
    html = client.get("/admin/people").get_data(as_text=True)
    assert listed(html) == {"Ada Admin", "Carla Client", "Pete Partner", "Nora New"}
    assert "Administrator" in html and "Email not confirmed" in html


def test_people_list_is_paginated(app, make, login_as):
    admin = make.admin(name="Aaa Admin")
    for i in range(31):
        make.user("customer", name=f"Client {i:02d}")
    client = login_as(admin)
    first = client.get("/admin/people").get_data(as_text=True)
    assert len(listed(first)) == 30 and "Page 1 of 2" in first
    assert listed(client.get("/admin/people?page=2").get_data(as_text=True)) == {"Client 29", "Client 30"}


def test_set_global_roles(app, make, login_as):
    admin = make.admin()
    emp = make.user("employee")
    cust = make.user("customer")
    client = login_as(admin)
    resp = post(client, f"/admin/people/{emp.id}/roles", {"is_global_manager": "y", "is_management": "y"})
    assert resp.status_code == 302
    with app.app_context():
        fresh = db.session.get(User, emp.id)
        assert fresh.is_global_manager and fresh.is_management and not fresh.is_admin

    resp = post(client, f"/admin/people/{cust.id}/roles", {"is_global_manager": "y"})
    assert resp.status_code == 400
    assert "Only employees can be on the social team." in resp.get_data(as_text=True)

    resp = post(client, f"/admin/people/{admin.id}/roles", {})
    assert resp.status_code == 400
    assert "You cannot remove your own administrator role." in resp.get_data(as_text=True)
    with app.app_context():
        assert db.session.get(User, admin.id).is_admin


def test_suspending_someone_ends_their_session(app, make, login_as):
    admin = make.admin()
    target = make.user("employee", name="Tom Target")
    target_client = app.test_client()
    login(target_client, target)
    assert target_client.get("/people").status_code == 200

    client = login_as(admin)
    resp = post(client, f"/admin/people/{target.id}/suspend", {"until": "", "reason": "Spam in three communities"})
    assert resp.status_code == 302
    page = client.get(resp.location).get_data(as_text=True)
    assert "Suspended" in page and "indefinitely" in page and "Spam in three communities" in page

    after = target_client.get("/people")
    assert after.status_code == 302 and "/signin" in after.location


def test_suspend_until_a_moment_and_lift_it(app, make, login_as):
    admin = make.admin()
    target = make.user("customer")
    client = login_as(admin)
    until = (clock.utcnow() + timedelta(days=3)).strftime("%Y-%m-%dT%H:%M")
    assert post(client, f"/admin/people/{target.id}/suspend",
                {"until": until, "reason": "Cooling off"}).status_code == 302
    with app.app_context():
        fresh = db.session.get(User, target.id)
        assert fresh.is_suspended and fresh.suspended_until.strftime("%Y-%m-%dT%H:%M") == until
    assert post(client, f"/admin/people/{target.id}/unsuspend").status_code == 302
    with app.app_context():
        assert not db.session.get(User, target.id).is_suspended


@pytest.mark.parametrize("data,message", [
    ({"until": "", "reason": ""}, "Give a reason"),
    ({"until": "2001-01-01T10:00", "reason": "Late"}, "Choose a moment in the future."),
    ({"until": "next tuesday", "reason": "Typo"}, "Enter a date and time"),
])
def test_suspension_errors_are_shown(app, make, login_as, data, message):
    admin = make.admin()
    target = make.user("employee")
    resp = post(login_as(admin), f"/admin/people/{target.id}/suspend", data)
    assert resp.status_code == 400
    assert message in resp.get_data(as_text=True)
    with app.app_context():
        assert not db.session.get(User, target.id).is_suspended


def test_admins_cannot_suspend_themselves(make, login_as):
    admin = make.admin()
    resp = post(login_as(admin), f"/admin/people/{admin.id}/suspend", {"reason": "Oops"})
    assert resp.status_code == 400
    assert "You cannot suspend yourself." in resp.get_data(as_text=True)


def test_unknown_person_is_404(make, login_as):
    assert login_as(make.admin()).get("/admin/people/999999").status_code == 404


# --- departments --------------------------------------------------------------------------

def test_department_create_rename_delete(app, make, login_as):
    from tests.people.test_people import edit

    admin = make.admin()
    client = login_as(admin)
    assert post(client, "/admin/departments", {"name": "  Customer   Care "}).status_code == 302
    with app.app_context():
        dept_id = db.session.scalar(select(Department.id).where(Department.name == "Customer Care"))
    assert dept_id

    emp = make.user("employee", name="Dee Dept")
    edit(app, emp, department_id=dept_id)
    html = client.get("/admin/departments").get_data(as_text=True)
    assert "Customer Care" in html and f'href="/people?department={dept_id}">1<' in html

    assert post(client, f"/admin/departments/{dept_id}/rename", {"name": "Support"}).status_code == 302
    with app.app_context():
        assert db.session.get(Department, dept_id).name == "Support"

    assert post(client, f"/admin/departments/{dept_id}/delete").status_code == 302
    with app.app_context():
        assert db.session.get(Department, dept_id) is None
        person = db.session.get(User, emp.id)
        assert person is not None and person.department_id is None
    assert "Dee Dept" in login_as(emp).get(f"/people/{emp.handle}").get_data(as_text=True)


@pytest.mark.parametrize("name,message", [("   ", "Give the department a name."),
                                          ("finance", "There is already a department called"),
                                          ("x" * 81, "at most 80 characters")])
def test_department_create_errors(app, make, login_as, name, message):
    add_department(app, "Finance")
    resp = post(login_as(make.admin()), "/admin/departments", {"name": name})
    assert resp.status_code == 400
    assert message in resp.get_data(as_text=True)
    with app.app_context():
        assert db.session.scalar(select(Department.id).where(Department.name != "Finance")) is None


def test_department_rename_errors(app, make, login_as):
    add_department(app, "Finance")
    legal = add_department(app, "Legal")
    client = login_as(make.admin())
    resp = post(client, f"/admin/departments/{legal}/rename", {"name": "FINANCE"})
    assert resp.status_code == 400
    assert "There is already a department called" in resp.get_data(as_text=True)
    resp = post(client, f"/admin/departments/{legal}/rename", {"name": ""})
    assert resp.status_code == 400
    with app.app_context():
        assert db.session.get(Department, legal).name == "Legal"
    assert post(client, "/admin/departments/999999/delete").status_code == 404


# --- settings -----------------------------------------------------------------------------

def test_open_signup_toggle(app, make, login_as):
    client = login_as(make.admin())
    with app.app_context():
        assert settings.get("open_signup") is False
    assert post(client, "/admin/settings", {"open_signup": "y", "content_on_delete": "choice"}).status_code == 302
    with app.app_context():
        assert settings.get("open_signup") is True
    assert 'checked' in client.get("/admin/settings").get_data(as_text=True)
    assert post(client, "/admin/settings", {"content_on_delete": "choice"}).status_code == 302
    with app.app_context():
        assert settings.get("open_signup") is False


def test_what_happens_to_a_closed_accounts_content_is_a_setting(app, make, login_as):
    client = login_as(make.admin())
    page = client.get("/admin/settings").get_data(as_text=True)
    assert re.search(r'<input[^>]*checked[^>]*value="choice"|<input[^>]*value="choice"[^>]*checked', page)
    assert post(client, "/admin/settings", {"content_on_delete": "remove"}).status_code == 302
    with app.app_context():
        assert settings.get("content_on_delete") == "remove"
    bad = post(client, "/admin/settings", {"content_on_delete": "shred"})
    assert bad.status_code == 400 and "Not a valid choice" in bad.get_data(as_text=True)
    with app.app_context():
        assert settings.get("content_on_delete") == "remove"  # nothing changed by the bad request


# --- jobs ---------------------------------------------------------------------------------

def test_parked_jobs_are_listed_escaped_and_can_be_retried(app, make, login_as):
    job_id = parked_job(app, error="Traceback\nValueError: <script>alert(1)</script>")
    with app.app_context():
        db.session.add(Job(name="mail.send", payload={}, status=JobStatus.DONE))
        db.session.commit()
    client = login_as(make.admin())
    html = client.get("/admin/jobs").get_data(as_text=True)
    assert "mail.send" in html and "5 attempts" in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html and "<script>alert(1)" not in html
    assert "<pre" in html

    resp = post(client, f"/admin/jobs/{job_id}/retry")
    assert resp.status_code == 302
    with app.app_context():
        job = db.session.get(Job, job_id)
        assert job.status == JobStatus.QUEUED and job.attempts == 0
    assert "No parked jobs" in client.get("/admin/jobs").get_data(as_text=True)

    resp = post(client, f"/admin/jobs/{job_id}/retry", follow_redirects=True)
    assert "not parked" in resp.get_data(as_text=True)
    assert post(client, "/admin/jobs/999999/retry").status_code == 404
