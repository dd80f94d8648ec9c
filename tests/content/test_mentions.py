"""@mention autocomplete (GET /api/c/<slug>/mentions?q=): a handle or its start, a first or
last name or its start finds the person, best match first; the answer carries the full handle
(what the page inserts); only people the writer may see, who may read the community and are
not suspended; at most 8."""
from __future__ import annotations

from datetime import timedelta

import pytest

from app import clock
from app.extensions import db
from app.models import User


@pytest.fixture
def town(app, make):
    social = make.user("employee", is_global_manager=True, name="Sofia Jansen")
    ideas = make.community("open", manager=social, name="Ideas", slug="ideas", topics=("Tents",))
    hub = make.community("internal", manager=social, name="Hub", slug="hub", topics=("Stock",))
    people = {
        "anna": make.user("employee", name="Anna Bakker"),
        "marianne": make.user("employee", name="Marianne Annaert"),
        "annelies": make.user("employee", name="Annelies de Wit"),
        "chloe": make.user("employee", name="Chloé Martin"),
        "ben": make.user("employee", name="Ben Okafor"),           # no community shared with externals
        "carla": make.user("customer", name="Carla Gomez"),
        "hanna": make.user("customer", name="Hanna Kowalski"),
        "pieter": make.user("partner", name="Pieter Bakker"),     # a member of nothing
        "sam": make.user("employee", name="Sam Stopped"),
    }
    for key in ("anna", "marianne", "annelies", "chloe", "carla", "hanna", "sam"):
        make.member(ideas, people[key])
    with app.app_context():
        sam = db.session.get(User, people["sam"].id)
        sam.suspended_until = clock.utcnow() + timedelta(days=2)
        db.session.commit()
    return {"people": people, "social": social, "ideas": ideas, "hub": hub}


def _handles(client, slug: str, q: str) -> list[str]:
    response = client.get(f"/api/c/{slug}/mentions", query_string={"q": q})
    assert response.status_code == 200
    return [p["handle"] for p in response.get_json()["people"]]


def test_a_first_name_finds_the_person_and_answers_their_full_handle(town, login_as):
    client = login_as(town["people"]["carla"])
    assert _handles(client, "ideas", "anna")[0] == "anna.bakker"
    assert _handles(client, "ideas", "Anna")[0] == "anna.bakker"
    assert _handles(client, "ideas", "@anna")[0] == "anna.bakker"


def test_handles_and_names_match_by_their_start_best_match_first(town, login_as, make):
    make.user("employee", name="Aaron Bakkerson")
    client = login_as(town["social"])
    # a whole first name, then the start of a handle, then the start of another word of a name
    assert _handles(client, "ideas", "anna") == ["anna.bakker", "marianne.annaert"]
    assert _handles(client, "ideas", "ann") == ["anna.bakker", "annelies.de.wit", "marianne.annaert"]
    assert _handles(client, "ideas", "anna.b") == ["anna.bakker"]
    # a whole last name before the start of one, whatever the alphabet says
    assert _handles(client, "ideas", "bakker") == ["anna.bakker", "pieter.bakker", "aaron.bakkerson"]
    assert _handles(client, "ideas", "chloé") == _handles(client, "ideas", "chloe") == ["chloe.martin"]
    assert _handles(client, "ideas", "zzz") == []


def test_a_whole_handle_comes_before_handles_it_begins(town, login_as, make):
    twin = make.user("employee", name="Anna Bakker")
    assert twin.handle == "anna.bakker.2"
    client = login_as(town["social"])
    assert _handles(client, "ideas", "anna.bakker.2")[0] == "anna.bakker.2"
    assert _handles(client, "ideas", "anna.bakker")[:2] == ["anna.bakker", "anna.bakker.2"]


def test_only_people_the_writer_may_see(town, login_as):
    carla = login_as(town["people"]["carla"])  # a customer: sees the people of her communities
    assert _handles(carla, "ideas", "ben") == []
    assert _handles(carla, "ideas", "bakker") == ["anna.bakker"]  # not the partner she shares nothing with
    social = login_as(town["social"])  # an employee sees everyone
    assert "ben.okafor" in _handles(social, "ideas", "ben")


def test_only_people_who_may_read_the_community_and_are_not_suspended(town, login_as):
    social = login_as(town["social"])
    assert _handles(social, "hub", "hanna") == []  # a customer cannot read an internal community
    assert _handles(social, "hub", "anna") == ["anna.bakker", "marianne.annaert"]
    assert _handles(social, "ideas", "sam") == []
    assert _handles(social, "ideas", "pieter") == ["pieter.bakker"]  # a partner reads open communities


def test_at_most_eight_by_name(town, login_as, make):
    for i in range(11):
        make.user("employee", name=f"Zed {chr(ord('a') + i)}son")
    names = _handles(login_as(town["social"]), "ideas", "zed")
    assert len(names) == 8 and names == sorted(names)


def test_the_writer_must_read_the_community(town, login_as):
    carla = login_as(town["people"]["carla"])
    assert carla.get("/api/c/hub/mentions?q=anna").status_code == 404
