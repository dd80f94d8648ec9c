"""Person fields of the search syntax (author:, by:): a handle, its start, a first or last name
or the whole name finds that person's content; a name several people share finds all of them
and says so, naming only people the viewer may see."""
from __future__ import annotations

import pytest
from sqlalchemy import select

from app.extensions import db
from app.models import Community
from app.services import search
from tests.helpers import fresh


@pytest.fixture
def authors(ctx, make):
    social = make.user("employee", is_global_manager=True, name="Sofia Jansen")
    open_c = make.community("open", manager=social, name="Customer Ideas", slug="ideas", topics=("Tents",))
    internal = make.community("internal", manager=social, name="Logistics", slug="logistics", topics=("Stock",))
    people = {
        "anna": make.user("employee", name="Anna Bakker"),
        "pieter": make.user("partner", name="Pieter Bakker"),
        "chloe": make.user("employee", name="Chloé Martin"),
        "daan": make.user("employee", name="Daan Smit"),
        "bea": make.user("employee", name="Bea Bakker"),        # writes only internally
        "carla": make.user("customer", name="Carla Gómez"),
    }
    for key in ("anna", "pieter", "chloe", "daan", "carla"):
        make.member(open_c, people[key])
    written = {key: {make.post(people[key], open_c, title=f"Tent note by {key}", body="Some text.").id, make.post(people[key], open_c, title=f"Tent idea of {key}", body="Some text.").id}
               for key in ("anna", "pieter", "chloe", "daan")}
    written["bea"] = {make.post(people["bea"], internal, title="Tent stock by bea", body="Some text.").id}
    search.sync()
    return {"people": {k: fresh(v) for k, v in people.items()}, "social": fresh(social), "posts": written}


def _found(page) -> set[int]:
    return {item.pk for item in page.items if item.type == "post"}


@pytest.mark.parametrize("who,forms", [
    ("anna", ["anna.bakker", "@anna.bakker", "anna", "Anna", "ann", '"Anna Bakker"', "by:anna"]),
    ("chloe", ["chloe.martin", "chloe", "Chloé", "martin", "chl"]),
    ("daan", ["daan", "smit", "daan.smit", "da"]),
    ("pieter", ["pieter", "pieter.b"]),
])
def test_a_handle_its_start_a_first_or_last_name_find_the_person(authors, who, forms):
    social = authors["social"]
    for form in forms:
        text = form if form.startswith("by:") else f"author:{form}"
        page = search.search(social, f"{text} tent")
        assert page.error is None, (form, page.error)
        assert _found(page) == authors["posts"][who], form
        assert page.notes == [], form  # one person: nothing to explain


def test_a_name_several_people_share_finds_all_of_them_and_says_so(authors):
    social = authors["social"]  # an employee: sees every person
    page = search.search(social, "author:bakker tent")
    expected = authors["posts"]["anna"] | authors["posts"]["pieter"] | authors["posts"]["bea"]
    assert _found(page) == expected
    assert len(page.notes) == 1
    for key in ("anna", "pieter", "bea"):
        person = authors["people"][key]
        assert person.display_name in page.notes[0] and f"@{person.handle}" in page.notes[0]


def test_the_note_names_only_people_the_viewer_may_see(authors):
    carla = authors["people"]["carla"]  # a customer of the open community: Bea is not hers to see
    page = search.search(carla, "author:bakker tent")
    assert _found(page) == authors["posts"]["anna"] | authors["posts"]["pieter"]  # Bea's post is internal
    assert len(page.notes) == 1
    assert "Bea" not in page.notes[0] and authors["people"]["bea"].handle not in page.notes[0]
    assert "Anna Bakker" in page.notes[0] and "Pieter Bakker" in page.notes[0]
    page = search.search(carla, "author:bea tent")  # names nobody she may see: nothing said, nothing found
    assert page.error is None and page.total == 0 and page.notes == []


def test_a_whole_handle_wins_over_people_whose_handle_starts_with_it(authors, make):
    twin = make.user("employee", name="Anna Bakker")  # anna.bakker.2
    assert twin.handle == "anna.bakker.2"
    social = authors["social"]
    theirs = {make.post(twin, db.session.scalar(select(Community).where(Community.slug == "ideas")), title="Tent by the twin", body="Some text.").id}
    search.sync()
    assert _found(search.search(social, "author:anna.bakker tent")) == authors["posts"]["anna"]
    assert _found(search.search(social, "author:anna.bakker.2 tent")) == theirs
    both = search.search(social, "author:anna tent")
    assert _found(both) == authors["posts"]["anna"] | theirs and len(both.notes) == 1


def test_a_name_that_names_nobody_finds_nothing_without_an_error(authors):
    page = search.search(authors["social"], "author:nobody tent")
    assert page.error is None and page.total == 0
