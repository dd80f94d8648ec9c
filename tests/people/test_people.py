"""People: profile editing (service), avatars, profile pages, the directory."""
from __future__ import annotations

import io
import re

import pytest
from PIL import Image
from sqlalchemy import event, func, select

from app.errors import ValidationError
from app.extensions import db
from app.models import Department, ExpertiseTag, User
from app.services.community import departments
from app.services.people import people
from app.services.platform import storage
from tests.conftest import post

# --- helpers ------------------------------------------------------------------------------

def png_bytes(size=(300, 200), color=(200, 30, 30, 255), extra: bytes = b"") -> bytes:
    buf = io.BytesIO()
    Image.new("RGBA", size, color).save(buf, "PNG")
    return buf.getvalue() + extra


def jpeg_with_exif(size=(400, 300)) -> bytes:
    exif = Image.Exif()
    exif[0x010F] = "SecretCam"        # Make
    exif[0x0131] = "LeakySoftware 1"  # Software
    buf = io.BytesIO()
    Image.new("RGB", size, (20, 120, 220)).save(buf, "JPEG", exif=exif.tobytes())
    return buf.getvalue()


HTML_AS_PNG = b"<!doctype html><html><body><script>alert(document.cookie)</script></body></html>"
SVG = (b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg" width="10" height="10">'
       b'<script>alert(1)</script><rect width="10" height="10"/></svg>')
TEXT = b"just some notes, not a picture\n"


def edit(app, user, **fields) -> None:
    """Change a profile through the service (for view tests' set-up)."""
    with app.app_context():
        people.update_profile(db.session.get(User, user.id), **fields)


def new_department(app, name: str) -> int:
    with app.app_context():
        dept = Department(name=name)
        db.session.add(dept)
        db.session.commit()
        return dept.id


def avatar_url(app, user) -> str:
    with app.app_context():
        fresh = db.session.get(User, user.id)
        return f"/people/{fresh.handle}/avatar/{fresh.avatar_key.rsplit('/', 1)[-1]}"


# --- update_profile -----------------------------------------------------------------------

def test_tags_are_normalised_and_shared_between_people(ctx, make):
    ann, bob = make.user("employee"), make.user("employee")
    people.update_profile(ann, expertise="  Python, python ,Data   Science,, #Billing,PYTHON ")
    people.update_profile(bob, expertise=["data science", "Go"])
    assert [t.name for t in ann.expertise] == ["billing", "data science", "python"]
    assert [t.name for t in bob.expertise] == ["data science", "go"]
    assert db.session.scalar(select(func.count()).select_from(ExpertiseTag)) == 4
    people.update_profile(ann, expertise="")
    assert ann.expertise == []


def test_tag_limits(ctx, make):
    user = make.user("employee")
    with pytest.raises(ValidationError) as exc:
        people.update_profile(user, expertise=", ".join(f"tag{i}" for i in range(21)))
    assert "at most 20" in exc.value.errors["expertise"]
    with pytest.raises(ValidationError) as exc:
        people.update_profile(user, expertise="ok, " + "x" * 41)
    assert "40 characters" in exc.value.errors["expertise"]
    people.update_profile(user, expertise=", ".join(f"tag{i}" for i in range(19)) + ", " + "y" * 40)
    assert len(user.expertise) == 20 and "y" * 40 in [t.name for t in user.expertise]


def test_twenty_tags_with_duplicates_is_fine(ctx, make):
    user = make.user("employee")
    people.update_profile(user, expertise=", ".join(f"Tag{i}, tag{i}" for i in range(20)))
    assert len(user.expertise) == 20


def test_languages_are_trimmed_deduplicated_and_limited(ctx, make):
    user = make.user("customer")
    people.update_profile(user, languages=" English , english,Nederlands ,  ")
    assert user.languages == "English, Nederlands"
    assert user.language_list == ["English", "Nederlands"]
    with pytest.raises(ValidationError) as exc:
        people.update_profile(user, languages=", ".join(f"Lang{i}" for i in range(11)))
    assert "at most 10" in exc.value.errors["languages"]


def test_all_problems_are_reported_together_and_nothing_changes(ctx, make):
    user = make.user("employee", name="Ann Original")
    with pytest.raises(ValidationError) as exc:
        people.update_profile(user, display_name="   ", job_title="x" * 101, bio="b" * 5001,
                              department_id=999999, expertise="fine", languages="Dutch")
    assert set(exc.value.errors) == {"display_name", "job_title", "bio", "department_id"}
    assert "5,000" in exc.value.errors["bio"]
    db.session.rollback()
    user = db.session.get(User, user.id)
    assert user.display_name == "Ann Original"
    assert user.expertise == [] and user.languages is None


def test_department_for_employees_organisation_for_externals(ctx, make):
    dept = departments.create(make.admin(), "Customer Care")
    emp, cust = make.user("employee"), make.user("customer")
    people.update_profile(emp, department_id=str(dept.id), job_title="  Team   lead ")
    assert emp.department.name == "Customer Care" and emp.job_title == "Team lead"
    people.update_profile(emp, department_id="")
    assert emp.department is None
    people.update_profile(cust, organisation="Globex")
    assert cust.organisation == "Globex"
    with pytest.raises(ValidationError) as exc:
        people.update_profile(cust, department_id=dept.id)
    assert "employees" in exc.value.errors["department_id"]
    with pytest.raises(ValidationError) as exc:
        people.update_profile(emp, organisation="Acme Ltd")
    assert "organisation" in exc.value.errors


def test_bio_limit_is_five_thousand(ctx, make):
    user = make.user("employee")
    people.update_profile(user, bio="a" * 5000)
    assert len(user.bio) == 5000


# --- avatars (service) --------------------------------------------------------------------

def test_png_avatar_is_stored_as_a_256_square(ctx, make):
    user = make.user("employee")
    people.set_avatar(user, png_bytes(extra=b"<script>alert(1)</script>"))
    path = storage.path_for(user.avatar_key)
    assert user.avatar_key.startswith("avatars/") and path.is_file()
    data = path.read_bytes()
    assert b"<script" not in data  # re-encoded: the appended payload is gone
    with Image.open(path) as img:
        assert img.size == (256, 256) and img.format == "PNG"


def test_jpeg_avatar_loses_its_exif(ctx, make):
    user = make.user("employee")
    original = jpeg_with_exif()
    with Image.open(io.BytesIO(original)) as img:
        assert img.getexif()[0x010F] == "SecretCam"  # the test file really has EXIF
    people.set_avatar(user, original)
    path = storage.path_for(user.avatar_key)
    data = path.read_bytes()
    assert b"SecretCam" not in data and b"LeakySoftware" not in data
    with Image.open(path) as img:
        assert img.format == "JPEG" and img.size == (256, 256)
        assert dict(img.getexif()) == {}


@pytest.mark.parametrize("data,needle", [
    (TEXT, "not an image"),
    (HTML_AS_PNG, "not an image"),
    (SVG, "not an image"),
    (b"", "Choose an image"),
])
def test_bad_avatar_uploads_are_refused_and_the_old_one_stays(ctx, make, data, needle):
    user = make.user("employee")
    people.set_avatar(user, png_bytes())
    old_key = user.avatar_key
    with pytest.raises(ValidationError) as exc:
        people.set_avatar(user, data)
    assert needle in exc.value.errors["avatar"]
    db.session.rollback()
    assert db.session.get(User, user.id).avatar_key == old_key
    assert storage.path_for(old_key).is_file()
    assert len(list(storage.path_for("avatars").iterdir())) == 1


def test_oversized_avatar_is_refused(ctx, make):
    ctx.config["AVATAR_MAX_BYTES"] = 2000
    user = make.user("employee")
    noisy = Image.effect_noise((400, 400), 80).convert("RGB")
    buf = io.BytesIO()
    noisy.save(buf, "PNG")
    big = buf.getvalue()
    assert len(big) > 2000
    with pytest.raises(ValidationError) as exc:
        people.set_avatar(user, big)
    assert "larger than" in exc.value.errors["avatar"]
    assert user.avatar_key is None


def test_replacing_and_removing_delete_the_old_files(ctx, make):
    user = make.user("employee")
    people.set_avatar(user, png_bytes())
    first = storage.path_for(user.avatar_key)
    people.set_avatar(user, jpeg_with_exif())
    second = storage.path_for(user.avatar_key)
    assert not first.exists() and second.is_file()
    people.remove_avatar(user)
    assert user.avatar_key is None and not second.exists()


# --- profile pages ------------------------------------------------------------------------

def test_customer_sees_an_employee_only_once_they_share_a_community(app, make, login_as):
    emp = make.user("employee", email="ann@acme.example", name="Ann Employee")
    cust = make.user("customer")
    client = login_as(cust)
    assert client.get(f"/people/{emp.handle}").status_code == 404
    assert client.get("/people/nobody-at-all").status_code == 404
    community = make.community("open")
    make.member(community, emp)
    make.member(community, cust)
    page = client.get(f"/people/{emp.handle}")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "Ann Employee" in html
    assert "ann@acme.example" not in html


def test_employees_see_email_and_own_profile_shows_it(app, make, login_as):
    cust = make.user("customer", email="carol@customer.example")
    emp = make.user("employee")
    client = login_as(emp)
    assert "carol@customer.example" in client.get(f"/people/{cust.handle}").get_data(as_text=True)
    client = login_as(cust)
    assert "carol@customer.example" in client.get(f"/people/{cust.handle}").get_data(as_text=True)


def test_anonymous_visitors_are_sent_to_sign_in(client, make):
    emp = make.user("employee")
    for url in ("/people", f"/people/{emp.handle}", "/profile"):
        resp = client.get(url)
        assert resp.status_code == 302 and "/signin" in resp.location


def test_profile_shows_details_and_only_readable_communities(app, make, login_as):
    dept = new_department(app, "Research")
    emp = make.user("employee", name="Dana Dev")
    edit(app, emp, job_title="Platform engineer", department_id=dept, languages="English, Dutch",
         expertise="Kubernetes, billing",
         bio="Hello **world** <script>alert('x')</script> [x](javascript:alert(1))")
    cust = make.user("customer")
    shared = make.community("open", name="Shared Garden")
    secret = make.community("private", name="Secret Lab")
    internal = make.community("internal", name="Internal Ops")
    for c in (shared, secret, internal):
        make.member(c, emp)
    make.member(shared, cust)

    html = login_as(cust).get(f"/people/{emp.handle}").get_data(as_text=True)
    assert "Platform engineer" in html and "Research" in html and "English, Dutch" in html
    assert "<strong>world</strong>" in html
    assert "<script>alert" not in html and "javascript:" not in html
    assert 'href="/people?tag=kubernetes"' in html
    assert "Shared Garden" in html
    assert "Secret Lab" not in html and "Internal Ops" not in html

    other = make.user("employee")
    html = login_as(other).get(f"/people/{emp.handle}").get_data(as_text=True)
    assert "Internal Ops" in html and "Shared Garden" in html and "Secret Lab" not in html


def test_suspended_people_are_marked(app, make, login_as):
    from app.services.people import accounts

    target = make.user("employee", name="Sam Suspended")
    admin = make.admin()
    with app.app_context():
        accounts.suspend(db.session.get(User, admin.id), db.session.get(User, target.id), None, "Spam")
    html = login_as(make.user("employee")).get(f"/people/{target.handle}").get_data(as_text=True)
    assert "Suspended" in html


# --- editing through the page -------------------------------------------------------------

def test_edit_profile_saves_and_shows_field_errors(app, make, login_as):
    dept = new_department(app, "Finance")
    emp = make.user("employee")
    client = login_as(emp)
    page = client.get("/profile").get_data(as_text=True)
    assert "Finance" in page and 'name="organisation"' not in page
    resp = post(client, "/profile", {"display_name": "Eve Editor", "job_title": "Controller",
                                     "department_id": str(dept), "bio": "I *count* things.",
                                     "expertise": "Audit, audit, Tax", "languages": "English"})
    assert resp.status_code == 302
    html = client.get(resp.location).get_data(as_text=True)
    assert "Eve Editor" in html and "Finance" in html and "<em>count</em>" in html
    assert ">audit<" in html and ">tax<" in html

    resp = post(client, "/profile", {"display_name": "", "bio": "x" * 5001,
                                     "expertise": ", ".join(f"t{i}" for i in range(25))})
    assert resp.status_code == 400
    html = resp.get_data(as_text=True)
    assert "Enter your name." in html and "5,000" in html and "at most 20" in html
    with app.app_context():
        assert db.session.get(User, emp.id).display_name == "Eve Editor"


def test_externals_edit_organisation_not_department(app, make, login_as):
    new_department(app, "Hidden Department")
    cust = make.user("customer")
    client = login_as(cust)
    page = client.get("/profile").get_data(as_text=True)
    assert 'name="organisation"' in page and "Hidden Department" not in page
    resp = post(client, "/profile", {"display_name": "Carl", "organisation": "Globex"})
    assert resp.status_code == 302
    with app.app_context():
        assert db.session.get(User, cust.id).organisation == "Globex"


def test_avatar_upload_view_and_serving(app, make, login_as):
    emp = make.user("employee")
    client = login_as(emp)
    resp = post(client, "/profile/avatar",
                {"avatar": (io.BytesIO(png_bytes()), "me.png", "image/png")},
                content_type="multipart/form-data")
    assert resp.status_code == 302
    url = avatar_url(app, emp)
    served = client.get(url)
    assert served.status_code == 200
    assert served.mimetype == "image/png"
    assert served.headers["X-Content-Type-Options"] == "nosniff"
    assert served.headers["Content-Disposition"] == "inline"
    assert served.data.startswith(b"\x89PNG")
    # the profile page shows it
    assert url in client.get(f"/people/{emp.handle}").get_data(as_text=True)
    # an invented key, and another person's key under the wrong handle, answer 404
    assert client.get(f"/people/{emp.handle}/avatar/{'0' * 32}.png").status_code == 404
    other = make.user("employee")
    assert client.get(url.replace(emp.handle, other.handle)).status_code == 404
    assert client.get(f"/people/{emp.handle}/avatar/..%2f..%2fsecret_key").status_code == 404


def test_avatar_is_not_served_to_people_who_may_not_see_the_person(app, make, login_as):
    emp = make.user("employee")
    with app.app_context():
        people.set_avatar(db.session.get(User, emp.id), png_bytes())
    url = avatar_url(app, emp)
    assert login_as(make.user("customer")).get(url).status_code == 404


@pytest.mark.parametrize("data,name", [(HTML_AS_PNG, "evil.png"), (SVG, "logo.svg"), (TEXT, "notes.txt")])
def test_bad_avatar_upload_re_renders_with_an_error(app, make, login_as, data, name):
    emp = make.user("employee")
    with app.app_context():
        people.set_avatar(db.session.get(User, emp.id), png_bytes())
    url = avatar_url(app, emp)
    client = login_as(emp)
    resp = post(client, "/profile/avatar", {"avatar": (io.BytesIO(data), name)},
                content_type="multipart/form-data")
    assert resp.status_code == 400
    assert "not an image we can read" in resp.get_data(as_text=True)
    assert client.get(url).status_code == 200  # the old picture is still there


def test_oversized_avatar_upload_gets_a_field_error(app, make, login_as):
    app.config["AVATAR_MAX_BYTES"] = 1024 * 1024
    emp = make.user("employee")
    client = login_as(emp)
    resp = post(client, "/profile/avatar",
                {"avatar": (io.BytesIO(png_bytes(extra=b"\0" * (1024 * 1024 + 10))), "big.png")},
                content_type="multipart/form-data")
    assert resp.status_code == 400
    assert "larger than 1 MB" in resp.get_data(as_text=True)


def test_remove_avatar(app, make, login_as):
    emp = make.user("employee")
    with app.app_context():
        people.set_avatar(db.session.get(User, emp.id), png_bytes())
    url = avatar_url(app, emp)
    client = login_as(emp)
    assert post(client, "/profile/avatar/remove").status_code == 302
    assert client.get(url).status_code == 404
    with app.app_context():
        assert db.session.get(User, emp.id).avatar_key is None


# --- the directory ------------------------------------------------------------------------

def names_on(html: str) -> set[str]:
    return set(re.findall(r'class="person-name" href="[^"]+">([^<]+)</a>', html))


def test_directory_filters(app, make, login_as):
    sales = new_department(app, "Sales")
    ann = make.user("employee", name="Ann Archer")
    bob = make.user("employee", name="Bob Baker")
    make.user("customer", name="Cat Customer")
    pat = make.user("partner", name="Pat Partner")
    edit(app, ann, department_id=sales, job_title="Account manager", expertise="negotiation, crm")
    edit(app, bob, job_title="Engineer", expertise="python")
    edit(app, pat, expertise="crm")
    client = login_as(ann)

    everyone = names_on(client.get("/people").get_data(as_text=True))
    assert {"Ann Archer", "Bob Baker", "Cat Customer", "Pat Partner"} <= everyone
    assert names_on(client.get("/people?q=baker").get_data(as_text=True)) == {"Bob Baker"}
    assert names_on(client.get("/people?q=account").get_data(as_text=True)) == {"Ann Archer"}
    assert names_on(client.get(f"/people?department={sales}").get_data(as_text=True)) == {"Ann Archer"}
    assert names_on(client.get("/people?kind=partner").get_data(as_text=True)) == {"Pat Partner"}
    assert names_on(client.get("/people?kind=customer").get_data(as_text=True)) == {"Cat Customer"}
    assert names_on(client.get("/people?tag=CRM").get_data(as_text=True)) == {"Ann Archer", "Pat Partner"}
    assert names_on(client.get("/people?tag=crm&kind=employee").get_data(as_text=True)) == {"Ann Archer"}
    assert names_on(client.get("/people?q=%25").get_data(as_text=True)) == set()
    assert client.get("/people?kind=robot&department=x&page=abc").status_code == 200
    html = client.get("/people?q=archer").get_data(as_text=True)
    assert "Sales" in html and "negotiation" in html and "Account manager" in html


def test_directory_for_externals_shows_only_shared_people_and_no_emails(app, make, login_as):
    cust = make.user("customer", name="Cat Customer", email="cat@customer.example")
    mate = make.user("employee", name="Mia Mate", email="mia@acme.example")
    make.user("employee", name="Stranger Danger")
    community = make.community("open")
    make.member(community, cust)
    make.member(community, mate)
    html = login_as(cust).get("/people").get_data(as_text=True)
    names = names_on(html)
    assert {"Cat Customer", "Mia Mate"} <= names and "Stranger Danger" not in names
    assert "@acme.example" not in html
    assert "Department" not in html  # no department filter for externals


def test_directory_cards_show_at_most_five_tags(app, make, login_as):
    emp = make.user("employee", name="Tia Tags")
    edit(app, emp, expertise="a1, a2, a3, a4, a5, a6, a7")
    html = login_as(emp).get("/people").get_data(as_text=True)
    assert ">a5<" in html and ">a6<" not in html and "+2 more" in html


def test_directory_is_paginated(app, make, login_as):
    viewer = make.user("employee", name="Aaron First")
    for i in range(31):
        make.user("customer", name=f"Person {i:02d}")
    client = login_as(viewer)
    first = client.get("/people").get_data(as_text=True)
    assert len(names_on(first)) == 30 and "Page 1 of 2" in first
    second = client.get("/people?page=2").get_data(as_text=True)
    assert len(names_on(second)) == 2


def test_directory_runs_a_constant_number_of_queries(app, make, login_as):
    dept = new_department(app, "Ops")
    viewer = make.user("employee")
    edit(app, viewer, department_id=dept, expertise="one, two")

    def add_people(n: int) -> None:
        for i in range(n):
            person = make.user("employee")
            edit(app, person, department_id=dept, expertise=f"skill{i}, shared, extra{i % 3}",
                 job_title="Worker")

    add_people(2)  # 3 people with the viewer
    client = login_as(viewer)
    with app.app_context():
        engine = db.engine
    statements: list[str] = []

    def count(conn, cursor, statement, *args):
        statements.append(statement)

    event.listen(engine, "before_cursor_execute", count)
    try:
        client.get("/people")
        few = len(statements)
        statements.clear()
        add_people(27)  # 30 people
        statements.clear()
        html = client.get("/people").get_data(as_text=True)
        many = len(statements)
    finally:
        event.remove(engine, "before_cursor_execute", count)
    assert len(names_on(html)) == 30
    assert "skill26" in html and "Ops" in html
    assert few == many, f"{few} queries for 3 people, {many} for 30"
