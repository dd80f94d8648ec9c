""""Did you mean": the fewest edits first (a swap of two letters is one edit and the likeliest
typo), then the word most common in what the viewer may read; only corrections that find
something for that viewer; nothing proposed for words that find something as typed."""
from __future__ import annotations

import pytest
from sqlalchemy import select

from app.extensions import db
from app.models import Community, Post, Topic
from app.services import search
from app.services.content import comments, posts
from tests.helpers import fresh


@pytest.fixture
def planted(ctx, make):
    """Words planted a known number of times: in the open community (everyone reads it) and in
    an internal one (employees only)."""
    social = make.user("employee", is_global_manager=True, name="Sofia Jansen")
    open_c = make.community("open", manager=social, name="Gear", slug="gear", topics=("Kit",))
    internal = make.community("internal", manager=social, name="Warehouse", slug="warehouse", topics=("Stock",))
    customer = make.user("customer", name="Carla Gomez")
    make.member(open_c, customer)

    def plant(community, word, times):
        community = db.session.get(Community, community.id)
        topic = db.session.scalar(select(Topic.id).where(Topic.community_id == community.id))
        for _ in range(times):
            # the word in the text only: the words of texts are candidates, not only titles
            posts.create(fresh(social), community.slug, "discussion", "A note", f"Here is a {word}.", [topic])

    plant(open_c, "trap", 3)   # one swap from "tarp"
    plant(open_c, "take", 5)   # more common, but two edits from "tarp"
    plant(open_c, "zips", 1)   # one edit from "zipr", rare
    plant(internal, "zip", 6)  # one edit from "zipr", common, but only employees read it
    plant(open_c, "plan", 2)   # "lpan": the first two letters swapped
    plant(open_c, "loan", 2)   # "lpan": one letter changed, as common as "plan"
    first = db.session.scalar(select(Post.id).where(Post.community_id == open_c.id).order_by(Post.id))
    comments.add(fresh(customer), first, "My stove is brilliant.")  # a word of a comment only
    search.sync()
    return {"employee": fresh(social), "customer": fresh(customer)}


@pytest.mark.parametrize("who", ["employee", "customer"])
def test_fewer_edits_beat_a_more_common_word(planted, who):
    page = search.search(planted[who], "tarp", correct=False)
    assert page.total == 0 and page.suggestion == "trap"


def test_among_equally_near_words_the_commonest_in_what_the_viewer_reads_wins(planted):
    assert search.search(planted["employee"], "zipr", correct=False).suggestion == "zip"
    # the customer may not read the internal posts: "zip" is not theirs to count, nor to be told of
    assert search.search(planted["customer"], "zipr", correct=False).suggestion == "zips"


def test_a_swap_of_two_letters_beats_another_single_edit(planted):
    page = search.search(planted["customer"], "lpan", correct=False)
    assert page.suggestion == "plan"


def test_words_of_comments_are_candidates(planted):
    assert search.search(planted["customer"], "sotve", correct=False).suggestion == "stove"


def test_the_corrected_search_shows_results_and_what_was_typed(planted):
    page = search.search(planted["customer"], "tarp")
    assert page.corrected_from == "tarp" and page.query == "trap" and page.total == 3


def test_words_that_find_something_are_left_as_typed(planted):
    page = search.search(planted["customer"], "trap")
    assert page.total == 3 and page.suggestion is None and page.corrected_from is None
    # "takes" finds "take" (stemming): it is not "corrected", only the word that finds nothing is
    page = search.search(planted["customer"], "takes zipr", correct=False)
    assert page.total == 0 and page.suggestion is None  # no post has both "take" and "zips"
    page = search.search(planted["customer"], "plan lpan", correct=False)
    assert page.suggestion == "plan plan"


def test_no_suggestion_that_would_find_nothing(planted):
    for text in ("trap zipr", "qqqq", "tarp lpan"):  # the corrected words are never in one post
        page = search.search(planted["employee"], text)
        assert page.total == 0 and page.suggestion is None and page.corrected_from is None, text
