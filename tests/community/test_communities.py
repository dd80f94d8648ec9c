"""Communities: the service rules, then the pages (thin)."""
from __future__ import annotations

import pytest
from sqlalchemy import select

from app.errors import Forbidden, NotFound, ValidationError
from app.extensions import db
from app.models import JoinRequest, Membership
from app.services import access
from app.services.community import communities
from tests.conftest import post
from tests.helpers import fresh

# --- service rules ------------------------------------------------------------------------

def test_staff_creates_community_and_becomes_manager(ctx, make):
    staff = make.user("employee", is_global_manager=True)
    c = communities.create(fresh(staff), "Customer Care", "We help.", "open")
    assert c.slug == "customer-care"
    assert [m.id for m in communities.managers_of(c)] == [staff.id]


def test_plain_employee_cannot_create_community(ctx, make):
    with pytest.raises(Forbidden):
        communities.create(fresh(make.user("employee")), "Mine", "", "open")


@pytest.mark.parametrize("name,slug,field", [
    ("", "", "name"), ("x" * 81, "", "name"), ("Fine", "Bad Slug!", "slug"),
    ("Fine", "new", "slug"), ("Fine", "-dash", "slug"),
])
def test_create_rejects_bad_input_with_field_messages(ctx, make, name, slug, field):
    staff = fresh(make.user("employee", is_global_manager=True))
    with pytest.raises(ValidationError) as err:
        communities.create(staff, name, "", "open", slug)
    assert field in err.value.errors


def test_duplicate_slug_and_bad_visibility_are_refused(ctx, make):
    staff = fresh(make.user("employee", is_global_manager=True))
    communities.create(staff, "Logistics", "", "open")
    with pytest.raises(ValidationError) as err:
        communities.create(staff, "Logistics", "", "open")
    assert "slug" in err.value.errors
    with pytest.raises(ValidationError) as err:
        communities.create(staff, "Other", "", "secret")
    assert "visibility" in err.value.errors


def test_join_rules_per_visibility_and_kind(ctx, make):
    open_c, internal, private = make.community("open"), make.community("internal"), make.community("private")
    employee, customer = fresh(make.user("employee")), fresh(make.user("customer"))
    assert communities.join(customer, open_c.slug).role == "member"
    assert communities.join(employee, internal.slug).role == "member"
    with pytest.raises(NotFound):  # a customer may not even know it exists
        communities.join(customer, internal.slug)
    with pytest.raises(NotFound):
        communities.join(customer, private.slug)
    with pytest.raises(Forbidden):  # an employee sees it exists but must ask
        communities.join(employee, private.slug)
    # joining twice is harmless
    assert communities.join(customer, open_c.slug).community_id == open_c.id
    assert db.session.scalar(select(db.func.count()).select_from(Membership).where(
        Membership.user_id == customer.id)) == 1


def test_private_request_and_approval(ctx, make):
    private = make.community("private")
    manager = fresh(communities.managers_of(db.session.get(type(private), private.id))[0])
    employee = fresh(make.user("employee"))
    req = communities.request_to_join(employee, private.slug, "I work on returns")
    assert communities.request_to_join(employee, private.slug).id == req.id  # one open request
    assert not access.access_to(employee, req.community).can_read
    with pytest.raises(NotFound):  # a non-member cannot even look inside
        communities.decide_request(employee, private.slug, req.id, True)
    communities.decide_request(manager, private.slug, req.id, True)
    assert access.access_to(employee, req.community).can_read
    with pytest.raises(ValidationError):
        communities.decide_request(manager, private.slug, req.id, False)


def test_declined_request_gives_no_access(ctx, make):
    private = make.community("private")
    manager = fresh(communities.managers_of(db.session.get(type(private), private.id))[0])
    employee = fresh(make.user("employee"))
    req = communities.request_to_join(employee, private.slug)
    communities.decide_request(manager, private.slug, req.id, False)
    assert db.session.get(JoinRequest, req.id).approved is False
    assert access.membership_of(employee, req.community) is None


def test_roles_rules(ctx, make):
    c = make.community("open")
    community = db.session.get(type(c), c.id)
    manager = fresh(communities.managers_of(community)[0])
    customer, employee = fresh(make.user("customer")), fresh(make.user("employee"))
    communities.add_member(manager, c.slug, customer)
    communities.add_member(manager, c.slug, employee)
    with pytest.raises(ValidationError) as err:
        communities.set_role(manager, c.slug, customer.id, "moderator")
    assert "employees" in err.value.errors["role"]
    communities.set_role(manager, c.slug, employee.id, "moderator")
    assert access.access_to(employee, community).can_moderate
    assert not access.access_to(employee, community).can_manage
    # the last manager can neither be demoted nor leave
    with pytest.raises(ValidationError):
        communities.set_role(manager, c.slug, manager.id, "member")
    with pytest.raises(ValidationError):
        communities.leave(manager, c.slug)
    communities.set_role(manager, c.slug, employee.id, "manager")
    communities.leave(manager, c.slug)
    assert [m.id for m in communities.managers_of(community)] == [employee.id]


def test_members_cannot_manage(ctx, make):
    c = make.community("open", topics=("Returns",))
    member = fresh(make.user("employee"))
    communities.join(member, c.slug)
    for call in (
        lambda: communities.create_topic(member, c.slug, "Mine"),
        lambda: communities.update(member, c.slug, name="X", description="", visibility="open"),
        lambda: communities.remove_member(member, c.slug, member.id),
        lambda: communities.delete_topic(member, c.slug, "returns"),
    ):
        with pytest.raises(Forbidden):
            call()


def test_internal_refused_while_externals_are_members(ctx, make):
    c = make.community("open")
    manager = fresh(communities.managers_of(db.session.get(type(c), c.id))[0])
    customer = fresh(make.user("customer"))
    communities.join(customer, c.slug)
    with pytest.raises(ValidationError) as err:
        communities.update(manager, c.slug, name="Same", description="", visibility="internal")
    assert "1 customer or partner" in err.value.errors["visibility"]
    communities.remove_member(manager, c.slug, customer.id)
    assert communities.update(manager, c.slug, name="Same", description="",
                              visibility="internal").visibility == "internal"


def test_cannot_add_external_to_internal_or_suspended_person(ctx, make):
    c = make.community("internal")
    manager = fresh(communities.managers_of(db.session.get(type(c), c.id))[0])
    with pytest.raises(ValidationError):
        communities.add_member(manager, c.slug, fresh(make.user("partner")))


def test_topics_crud_and_unique_names(ctx, make):
    c = make.community("open")
    manager = fresh(communities.managers_of(db.session.get(type(c), c.id))[0])
    t = communities.create_topic(manager, c.slug, "Returns & Refunds", "Money back")
    assert t.slug == "returns-refunds"
    with pytest.raises(ValidationError):
        communities.create_topic(manager, c.slug, "returns refunds")
    with pytest.raises(ValidationError):
        communities.create_topic(manager, c.slug, "   ")
    communities.update_topic(manager, c.slug, t.slug, "Returns")
    communities.delete_topic(manager, c.slug, "returns")
    with pytest.raises(NotFound):
        communities.topic_for(manager, c.slug, "returns")


def test_list_for_shows_exactly_the_discoverable_communities(ctx, make):
    o, i, p = make.community("open"), make.community("internal"), make.community("private")
    customer, employee = fresh(make.user("customer")), fresh(make.user("employee"))
    assert {card.community.id for card in communities.list_for(customer)} == {o.id}
    assert {card.community.id for card in communities.list_for(employee)} == {o.id, i.id, p.id}
    communities.add_member(fresh(communities.managers_of(db.session.get(type(p), p.id))[0]), p.slug, customer)
    cards = {card.community.id: card for card in communities.list_for(customer)}
    assert set(cards) == {o.id, p.id}
    assert cards[p.id].member_count == 2 and cards[p.id].membership is not None


# --- pages --------------------------------------------------------------------------------

def test_community_list_page_counts_and_hides(app, make, login_as):
    o = make.community("open", name="Open Garden")
    make.community("internal", name="Internal Kitchen")
    client = login_as(make.user("customer"))
    html = client.get("/communities").get_data(as_text=True)
    assert "Open Garden" in html and "Internal Kitchen" not in html
    assert "1 member" in html  # the manager
    assert client.get(f"/c/{o.slug}").status_code == 200


def test_join_and_leave_through_the_page(app, make, login_as):
    c = make.community("open", name="Packaging")
    client = login_as(make.user("partner"))
    resp = post(client, f"/c/{c.slug}/join", follow_redirects=True)
    assert "You are now a member" in resp.get_data(as_text=True)
    resp = post(client, f"/c/{c.slug}/leave", follow_redirects=True)
    assert "You left the community" in resp.get_data(as_text=True)


def test_private_landing_page_for_employees_shows_no_contents(app, make, login_as):
    c = make.community("private", name="Board Room", topics=("Secret Merger",))
    client = login_as(make.user("employee"))
    html = client.get(f"/c/{c.slug}").get_data(as_text=True)
    assert "Board Room" in html and "Ask to join" in html
    assert "Secret Merger" not in html
    assert client.get(f"/c/{c.slug}/members").status_code == 404
    assert client.get(f"/c/{c.slug}/t/secret-merger").status_code == 404
    resp = post(client, f"/c/{c.slug}/request", {"message": "please"}, follow_redirects=True)
    assert "waiting for a manager" in resp.get_data(as_text=True)


def test_manager_pages_and_form_errors(app, make, login_as):
    manager = make.user("employee", is_global_manager=True)
    c = make.community("open", manager=manager, name="Sales")
    client = login_as(manager)
    assert client.get(f"/c/{c.slug}/manage").status_code == 200
    resp = post(client, f"/c/{c.slug}/manage", {"name": "", "slug": c.slug, "description": "",
                                                 "visibility": "open"})
    assert resp.status_code == 400
    assert "Give the community a name." in resp.get_data(as_text=True)
    resp = post(client, f"/c/{c.slug}/topics", {"name": "Pricing", "description": ""}, follow_redirects=True)
    assert "Topic Pricing added." in resp.get_data(as_text=True)
    assert client.get(f"/c/{c.slug}/t/pricing").status_code == 200


def test_cover_upload_validates_and_serves_safely(app, make, login_as):
    import io

    from PIL import Image

    manager = make.user("employee", is_global_manager=True)
    c = make.community("open", manager=manager)
    client = login_as(manager)
    resp = post(client, f"/c/{c.slug}/manage/cover",
                {"cover": (io.BytesIO(b"<html><script>alert(1)</script>"), "x.png")},
                content_type="multipart/form-data", follow_redirects=True)
    assert "not an image" in resp.get_data(as_text=True)
    buf = io.BytesIO()
    Image.new("RGB", (1600, 900), "navy").save(buf, "JPEG")
    buf.seek(0)
    post(client, f"/c/{c.slug}/manage/cover", {"cover": (buf, "cover.jpg")}, content_type="multipart/form-data")
    with app.app_context():
        from app.models import Community

        key = db.session.get(Community, c.id).cover_key
    assert key
    resp = client.get(f"/c/{c.slug}/cover/{key.rsplit('/', 1)[-1]}")
    assert resp.status_code == 200
    assert resp.headers["Content-Type"] == "image/jpeg"
    assert resp.headers["X-Content-Type-Options"] == "nosniff"
    with Image.open(io.BytesIO(resp.data)) as img:
        assert img.size == (1200, 300)
    assert client.get(f"/c/{c.slug}/cover/../../secret_key").status_code == 404


def test_community_pages_run_a_constant_number_of_queries(app, make, login_as, count_queries):
    manager = make.user("employee", is_global_manager=True)
    first = make.community("open", manager=manager, topics=("A", "B"))

    def measure(path):
        client = login_as(manager)
        client.get(path)  # warm up (first-request work)
        with count_queries() as q:
            assert client.get(path).status_code == 200
        return q.count

    small = {p: measure(p) for p in ("/communities", f"/c/{first.slug}", f"/c/{first.slug}/members",
                                     f"/c/{first.slug}/manage/members", "/")}
    for _ in range(12):
        c = make.community("open", manager=manager, topics=("X", "Y", "Z"))
        make.member(first, make.user("customer"))
        make.member(c, make.user("employee"))
    large = {p: measure(p) for p in small}
    assert large == small


# --- the community's tabs -------------------------------------------------------------------

def _tabs(html: str) -> list[tuple[str, str, bool]]:
    """(label, href, current) of each tab in the "Community sections" navigation."""
    import re

    nav = re.search(r'<nav aria-label="Community sections"[^>]*>(.*?)</nav>', html, re.S)
    assert nav, "no community tabs on the page"
    return [(label.strip(), href, bool(current)) for href, current, label in
            re.findall(r'<a href="([^"]+)"( aria-current="page")?>([^<]+)</a>', nav.group(1))]


@pytest.mark.parametrize("visibility", ["open", "internal", "private"])
@pytest.mark.parametrize("who", ["member", "manager"])
def test_every_tab_opens_its_own_page_and_marks_itself_current(app, make, login_as, visibility, who):
    from app.services.community import policy
    from app.services.experts import experts

    manager = make.user("employee", name="Mia Manager")
    community = make.community(visibility, manager=manager, topics=("Returns",))
    member = make.user("employee", name="Eddie Expert")
    make.member(community, member)
    with app.app_context():
        c = db.session.get(type(community), community.id)
        c.description = "We look after **returns**."
        db.session.commit()
        policy.save(fresh(manager), "Be kind about returns.", slug=community.slug)
        experts.assign(fresh(manager), community.slug, "returns", fresh(member))
    client = login_as(manager if who == "manager" else member)
    tabs = _tabs(client.get(f"/c/{community.slug}").get_data(as_text=True))
    labels = [label for label, _, _ in tabs]
    assert {"Posts", "About", "Members", "Guidelines", "Live discussion"} <= set(labels)
    assert ("Settings and topics" in labels) == (who == "manager")
    assert len({href for _, href, _ in tabs}) == len(tabs), tabs  # every tab its own address
    for label, href, _ in tabs:
        response = client.get(href)
        assert response.status_code == 200, href
        page = response.get_data(as_text=True)
        assert [t for t, _, current in _tabs(page) if current] == [label], href
    about = client.get(f"/c/{community.slug}/about").get_data(as_text=True)
    assert "<strong>returns</strong>" in about  # the description
    assert "Be kind about returns." in about  # the guidelines
    assert "Mia Manager" in about and "Eddie Expert" in about  # managers and experts
    assert 'id="experts-h"' in about and 'id="managers-h"' in about


# --- adding people from the members page ------------------------------------------------------

def _form_fields(html: str, action: str) -> dict:
    """The fields a browser would send from the form posting to `action`, as the page renders
    them (hidden inputs, text inputs, the selected option of each select)."""
    import re

    form = re.search(r'<form[^>]*action="' + re.escape(action) + r'"[^>]*>(.*?)</form>', html, re.S)
    assert form, f"no form posting to {action}"
    body = form.group(1)
    data = {}
    for tag in re.findall(r"<input[^>]*>", body):
        name = re.search(r'name="([^"]+)"', tag)
        if name:
            value = re.search(r'value="([^"]*)"', tag)
            data[name.group(1)] = value.group(1) if value else ""
    for name, options in re.findall(r'<select[^>]*name="([^"]+)"[^>]*>(.*?)</select>', body, re.S):
        chosen = re.search(r'<option[^>]*selected[^>]*value="([^"]*)"', options) or \
            re.search(r'<option[^>]*value="([^"]*)"', options)
        data[name] = chosen.group(1) if chosen else ""
    for name in re.findall(r'<textarea[^>]*name="([^"]+)"', body):
        data[name] = ""
    return data


@pytest.mark.parametrize("visibility", ["open", "internal", "private"])
def test_a_manager_adds_a_person_from_the_members_page(app, make, login_as, visibility):
    """The form as the page renders it, filled with an email: the person is a member; bad input
    comes back as the page with a form error, never a bare 400."""
    import re
    from html import unescape

    manager = make.user("employee")
    community = make.community(visibility, manager=manager)
    newcomer = make.user("employee", name="Nora Newcomer")
    customer = make.user("customer", name="Cass Customer")
    client = login_as(manager)
    page_url = f"/c/{community.slug}/manage/members"
    action = f"/c/{community.slug}/manage/invite"

    def send(email: str):
        data = _form_fields(client.get(page_url).get_data(as_text=True), action)
        data["email"] = email
        return client.post(action, data=data)

    added = send(newcomer.email)
    assert added.status_code == 302 and added.headers["Location"].endswith(page_url)
    assert "Nora Newcomer is now a member." in client.get(page_url).get_data(as_text=True)
    with app.app_context():
        assert db.session.scalar(select(Membership.id).where(
            Membership.community_id == community.id, Membership.user_id == newcomer.id))

    cases = [("", "Enter the person's email address."), ("not-an-email", "not a valid email address")]
    if visibility == "internal":
        cases += [(customer.email, "is not an employee"), ("nobody@acme.example", "No one has an account")]
    for email, message in cases:
        refused = send(email)
        assert refused.status_code == 400, email
        html = unescape(refused.get_data(as_text=True))
        assert message in html and 'role="alert"' in html, (email, re.findall(r"(?s)form-errors.{0,300}|field-error.{0,200}|error.{0,100}", html)[:5])
        assert 'aria-label="Community sections"' in html
    if visibility != "internal":
        invited = send("someone.new@customer.example")
        assert invited.status_code == 302
        assert "Invitation sent to someone.new@customer.example" in client.get(page_url).get_data(as_text=True)
        assert send(customer.email).status_code == 302  # customers may join open and private ones
