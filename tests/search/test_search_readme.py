"""Every search example of the README works as written: the code spans of the "Queries" item
of its Search section are read from the README itself and run against the demo's index. Each
one parses, finds something for an employee of the demo, and what it finds is what its field
says (type:, kind:, status:, author:/by:, community:); a customer gets no error either."""
from __future__ import annotations

import re
from pathlib import Path

from sqlalchemy import select

from app.extensions import db
from app.models import User
from app.search import query as engine
from app.services import search
from app.services.people import people

README = Path(__file__).resolve().parents[2] / "README.md"


def readme_examples() -> list[str]:
    text = README.read_text(encoding="utf-8")
    section = text.split("\n## Search\n", 1)[1].split("\n## ", 1)[0]
    item = re.search(r"^- \*\*Queries\*\*.*?(?=^- |\Z)", section, re.S | re.M).group(0)
    return re.findall(r"`([^`]+)`", " ".join(item.split()))


def test_the_readme_lists_search_examples():
    examples = readme_examples()
    assert len(examples) >= 15, examples
    assert "author:anna" in examples and "tnet~" in examples


def _field_values(example: str) -> list[tuple[str, str]]:
    return [(f.lower(), v.strip('"').lower()) for f, v in re.findall(r'(\w+):("[^"]+"|\S+)', example)]


def _author_of(item):
    o = item.obj
    if item.type == "person":
        return o
    if item.type == "expert":
        return o.user
    return getattr(o, "author", None)


def _community_of(item):
    o = item.obj
    if item.type == "community":
        return o
    if item.type == "comment":
        return o.post.community
    if item.type in ("expert", "message"):
        return item.context.get("community")
    return getattr(o, "community", None)


def _check_fields(example: str, page) -> None:
    """Every hit of the first page is what the example's fields ask for."""
    for field, value in _field_values(example):
        for item in page.items:
            where = (example, item.type, item.pk)
            if field in ("type", "is"):
                assert item.type == engine.TYPE_WORDS[value], where
            elif field == "kind":
                assert item.type == "post" and item.obj.kind.value == engine.KIND_WORDS[value], where
            elif field == "status":
                assert item.type == "post" and item.obj.status.value == engine.STATUS_WORDS[value], where
            elif field in ("author", "by"):
                author = _author_of(item)
                assert author is not None and people.name_rank(value, author.handle, author.display_name) is not None, where
            elif field in ("community", "in"):
                community = _community_of(item)
                assert community is not None and community.slug == value, where


def test_every_search_example_of_the_readme_works_on_the_demo(app, runner):
    result = runner.invoke(args=["seed-demo", "--if-empty"])
    assert result.exit_code == 0, result.output
    with app.app_context():
        search.sync()
        employee = db.session.scalar(select(User).where(User.email == "anna@acme.example"))
        customer = db.session.scalar(select(User).where(User.email == "carla@customer.example"))
        for example in readme_examples():
            page = search.search(employee, example, record=False, correct=False)
            assert page.error is None, (example, page.error)
            assert page.total > 0 and page.items, example
            _check_fields(example, page)
            theirs = search.search(customer, example, record=False, correct=False)
            assert theirs.error is None, (example, theirs.error)
            _check_fields(example, theirs)
