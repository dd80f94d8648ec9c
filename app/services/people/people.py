"""People: profiles (editing, expertise tags, languages, avatars) and the directory.

Who may see whom is decided by app.services.access (people_clause, person_for, can_see_email);
this module only uses it. Every public function that changes data commits its own transaction
and raises ValidationError({field: message}) for bad input before changing anything.
"""
from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from flask import current_app
from sqlalchemy import false, func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import aliased, selectinload

from app import events, inputs
from app.errors import ValidationError
from app.extensions import db
from app.models import Community, Department, ExpertiseTag, Membership, User, UserKind
from app.services import access
from app.services.people import accounts
from app.services.platform import storage

MAX_BIO = 5000
MAX_JOB_TITLE = 100
MAX_ORGANISATION = 100
MAX_TAGS = 20
MAX_TAG_LENGTH = 40
MAX_LANGUAGES = 10
MAX_LANGUAGE_LENGTH = 40
MAX_LANGUAGES_TOTAL = 200  # the column's size, joined with ", "
AVATAR_SIZE = (256, 256)
PER_PAGE = 30

PROFILE_FIELDS = {"display_name", "job_title", "department_id", "organisation", "bio",
                  "expertise", "languages"}


# --- normalising input --------------------------------------------------------------------

def _split(value: str | list[str] | tuple[str, ...] | None) -> list[str]:
    """Comma-separated text (or a list) to trimmed parts with inner whitespace collapsed."""
    if value is None:
        return []
    parts = value.split(",") if isinstance(value, str) else list(value)
    return [" ".join(str(p).split()) for p in parts if str(p).strip()]


def normalise_tags(value: str | list[str] | None) -> list[str]:
    """Expertise tags: lower-case, trimmed, deduplicated (first order kept), each 1-40
    characters, at most 20. Raises ValidationError({"expertise": ...})."""
    tags: list[str] = []
    for part in _split(value):
        tag = part.lower().lstrip("#").strip()
        if not tag or tag in tags:
            continue
        if len(tag) > MAX_TAG_LENGTH:
            raise ValidationError({"expertise": (
                f"“{tag[:20]}…” is too long: use at most {MAX_TAG_LENGTH} characters per tag.")})
        tags.append(tag)
    if len(tags) > MAX_TAGS:
        raise ValidationError({"expertise": f"Use at most {MAX_TAGS} tags (you entered {len(tags)})."})
    return tags


def normalise_languages(value: str | list[str] | None) -> list[str]:
    """Languages as written (case kept), trimmed, deduplicated ignoring case, at most 10.
    Raises ValidationError({"languages": ...})."""
    languages: list[str] = []
    seen: set[str] = set()
    for lang in _split(value):
        if lang.lower() in seen:
            continue
        if len(lang) > MAX_LANGUAGE_LENGTH:
            raise ValidationError({"languages": (
                f"“{lang[:20]}…” is too long: use at most {MAX_LANGUAGE_LENGTH} characters per language.")})
        seen.add(lang.lower())
        languages.append(lang)
    if len(languages) > MAX_LANGUAGES:
        raise ValidationError({"languages": f"List at most {MAX_LANGUAGES} languages."})
    if len(", ".join(languages)) > MAX_LANGUAGES_TOTAL:
        raise ValidationError({"languages": f"Use at most {MAX_LANGUAGES_TOTAL} characters in total."})
    return languages


def _optional_text(value: str | None, limit: int, field: str, errors: dict[str, str]) -> str | None:
    text = " ".join((value or "").split())
    if len(text) > limit:
        errors[field] = f"Use at most {limit} characters."
    return text or None


def _department(value, errors: dict[str, str]) -> Department | None:
    if value in (None, ""):
        return None
    number = inputs.id_or_none(value)
    dept = db.session.get(Department, number) if number else None
    if dept is None:
        errors["department_id"] = "Choose a department from the list."
    return dept


def _tags_named(names: list[str]) -> list[ExpertiseTag]:
    """The ExpertiseTag rows for `names` (in that order), creating the missing ones.

    Tags are shared between people; a tag created at the same moment by someone else is
    picked up instead of failing on the unique name."""
    if not names:
        return []
    existing = {t.name: t for t in db.session.scalars(
        select(ExpertiseTag).where(ExpertiseTag.name.in_(names)))}
    for name in names:
        if name in existing:
            continue
        try:
            with db.session.begin_nested():
                tag = ExpertiseTag(name=name)
                db.session.add(tag)
            existing[name] = tag
        except IntegrityError:
            existing[name] = db.session.scalar(select(ExpertiseTag).where(ExpertiseTag.name == name))
    return [existing[n] for n in names]


# --- profiles -----------------------------------------------------------------------------

def update_profile(user: User, **fields) -> User:
    """Change the given profile fields of `user` (fields not passed stay as they are).

    Fields: display_name, job_title, department_id (employees only; None/"" for none),
    organisation (customers and partners only), bio (markdown, at most 5,000 characters),
    expertise (comma-separated text or a list; see normalise_tags), languages (the same; see
    normalise_languages). Every field is checked before anything changes; all problems are
    raised together as ValidationError({field: message}). Returns the user.
    """
    unknown = set(fields) - PROFILE_FIELDS
    if unknown:
        raise TypeError(f"unknown profile fields: {', '.join(sorted(unknown))}")
    errors: dict[str, str] = {}
    changes: dict[str, object] = {}

    if "display_name" in fields:
        try:
            changes["display_name"] = accounts.clean_display_name(fields["display_name"])
        except ValidationError as exc:
            errors.update(exc.errors)
    if "job_title" in fields:
        changes["job_title"] = _optional_text(fields["job_title"], MAX_JOB_TITLE, "job_title", errors)
    if "department_id" in fields:
        if user.kind == UserKind.EMPLOYEE:
            changes["department"] = _department(fields["department_id"], errors)
        elif fields["department_id"] not in (None, ""):
            errors["department_id"] = "Only employees belong to a department."
    if "organisation" in fields:
        organisation = _optional_text(fields["organisation"], MAX_ORGANISATION, "organisation", errors)
        if user.kind != UserKind.EMPLOYEE:
            changes["organisation"] = organisation
        elif organisation:
            errors["organisation"] = "Employees show their department instead of an organisation."
    if "bio" in fields:
        bio = (fields["bio"] or "").strip().replace("\r\n", "\n")
        if len(bio) > MAX_BIO:
            errors["bio"] = f"Use at most {MAX_BIO:,} characters (you wrote {len(bio):,})."
        changes["bio"] = bio or None
    tags: list[str] | None = None
    if "expertise" in fields:
        try:
            tags = normalise_tags(fields["expertise"])
        except ValidationError as exc:
            errors.update(exc.errors)
    if "languages" in fields:
        try:
            changes["languages"] = ", ".join(normalise_languages(fields["languages"])) or None
        except ValidationError as exc:
            errors.update(exc.errors)
    if errors:
        raise ValidationError(errors)

    for name, value in changes.items():
        setattr(user, name, value)
    if tags is not None:
        user.expertise = _tags_named(tags)
    db.session.commit()
    return user


def set_avatar(user: User, data: bytes) -> User:
    """Replace the avatar with the image in `data` (validated, re-encoded to 256x256, EXIF
    dropped). The old file is deleted only after the commit. Raises ValidationError({"avatar":
    ...}) for an empty, too large or non-image upload; the current avatar stays then."""
    key = storage.save_image(data, "avatars", max_bytes=current_app.config["AVATAR_MAX_BYTES"],
                             size=AVATAR_SIZE, field="avatar")
    old, user.avatar_key = user.avatar_key, key
    events.on_commit(lambda: storage.delete(old))  # the old file goes once the new key is stored
    try:
        db.session.commit()
    except Exception:
        db.session.rollback()
        storage.delete(key)
        raise
    return user


def remove_avatar(user: User) -> User:
    """Remove the avatar (initials are shown instead). Harmless when there is none."""
    old, user.avatar_key = user.avatar_key, None
    events.on_commit(lambda: storage.delete(old))
    db.session.commit()
    return user


def communities_of(viewer, person: User) -> list[Community]:
    """The communities `person` is a member of that `viewer` may read, by name."""
    # An alias, so the membership subquery in readable_clause does not correlate to this one.
    theirs = aliased(Membership)
    return list(db.session.scalars(
        select(Community).join(theirs, theirs.community_id == Community.id)
        .where(theirs.user_id == person.id, access.readable_clause(viewer))
        .order_by(Community.name)))


# --- the directory ------------------------------------------------------------------------

@dataclass(frozen=True)
class DirectoryPage:
    people: list[User]
    total: int
    page: int
    per_page: int


def directory(viewer, *, q: str | None = None, department_id: int | None = None,
              kind: str | None = None, tag: str | None = None, page: int = 1,
              per_page: int = PER_PAGE) -> DirectoryPage:
    """A page of the people `viewer` may see, by name, filtered by free text (name, job
    title), department, kind and expertise tag. Unknown filter values match nobody rather than
    failing. Runs three queries whatever the page size: count, people (department joined),
    tags (selectin)."""
    stmt = select(User).where(access.people_clause(viewer))
    if q and q.strip():
        like = inputs.contains_pattern(" ".join(q.split())[:80])
        stmt = stmt.where(or_(User.display_name.ilike(like, escape="\\"),
                              User.job_title.ilike(like, escape="\\")))
    if department_id is not None:
        stmt = stmt.where(User.department_id == department_id)
    if kind:
        try:
            stmt = stmt.where(User.kind == UserKind(kind))
        except ValueError:
            stmt = stmt.where(false())
    if tag and tag.strip():
        name = " ".join(tag.split()).lower()
        stmt = stmt.where(User.expertise.any(ExpertiseTag.name == name))
    total = db.session.scalar(select(func.count()).select_from(stmt.subquery())) or 0
    people = db.session.scalars(
        stmt.options(selectinload(User.expertise))
        .order_by(func.lower(User.display_name), User.id)
        .limit(per_page).offset((max(page, 1) - 1) * per_page)).unique().all()
    return DirectoryPage(list(people), total, page, per_page)


# --- who a name means ----------------------------------------------------------------------

def fold(text: str) -> str:
    """Lower case without accents ("Chloé" -> "chloe"), as handles are made."""
    return unicodedata.normalize("NFKD", text or "").encode("ascii", "ignore").decode().lower()


def _words(person_handle: str, display_name: str) -> list[str]:
    return person_handle.lower().split(".") + [w for w in re.split(r"[^\w]+", fold(display_name)) if w]


def name_rank(text: str, handle: str, display_name: str) -> int | None:
    """How well `text` names a person (handles are first.last): 0 their handle or whole name,
    1 a whole word of it (a first or last name), 2 the start of the handle, 3 the start of a
    word of the name; None when it does not name them."""
    text = fold(" ".join(text.split())).lstrip("@")
    if not text:
        return None
    handle = handle.lower()
    if text in (handle, fold(display_name)):
        return 0
    words = _words(handle, display_name)
    if text in words:
        return 1
    if handle.startswith(text):
        return 2
    if any(w.startswith(text) for w in words):
        return 3
    return None


def name_clause(text: str):
    """A WHERE clause on User, wider than name_rank (an index-friendly first cut): the handle or
    a word of the name starts with `text`."""
    raw = " ".join(text.split()).lower().lstrip("@")
    clauses = []
    for variant in {raw, fold(raw)}:
        if not variant:
            continue
        like = inputs.contains_pattern(variant)[1:]  # "text%"
        clauses += [func.lower(User.handle).like(like, escape="\\"),
                    func.lower(User.handle).like(f"%.{like}", escape="\\"),
                    func.lower(User.display_name).like(like, escape="\\"),
                    func.lower(User.display_name).like(f"% {like}", escape="\\")]
    return or_(*clauses) if clauses else false()
