"""Departments: the list employees choose from on their profile, managed by admins.

Deleting a department keeps its people; their department simply becomes empty.
"""
from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select, update

from app.errors import NotFound, ValidationError
from app.extensions import db
from app.models import Department, User
from app.services import access

MAX_NAME = 80


@dataclass(frozen=True)
class DepartmentRow:
    department: Department
    people: int


def all_departments() -> list[Department]:
    """Every department by name (for the profile's select and the directory filter)."""
    return list(db.session.scalars(select(Department).order_by(func.lower(Department.name))))


def with_counts(actor) -> list[DepartmentRow]:
    """Every department with how many people are in it (admins only), in one query."""
    access.require_admin(actor)
    counts = (select(User.department_id, func.count().label("n"))
              .where(User.department_id.is_not(None)).group_by(User.department_id).subquery())
    rows = db.session.execute(
        select(Department, func.coalesce(counts.c.n, 0))
        .outerjoin(counts, counts.c.department_id == Department.id)
        .order_by(func.lower(Department.name))).all()
    return [DepartmentRow(d, n) for d, n in rows]


def get(department_id: int) -> Department:
    """The department with this id. Raises NotFound."""
    dept = db.session.get(Department, department_id)
    if dept is None:
        raise NotFound("No such department.")
    return dept


def _clean_name(name: str, exclude_id: int | None = None) -> str:
    name = " ".join((name or "").split())
    if not name:
        raise ValidationError({"name": "Give the department a name."})
    if len(name) > MAX_NAME:
        raise ValidationError({"name": f"Use at most {MAX_NAME} characters."})
    stmt = select(Department.id).where(func.lower(Department.name) == name.lower())
    if exclude_id is not None:
        stmt = stmt.where(Department.id != exclude_id)
    if db.session.scalar(stmt) is not None:
        raise ValidationError({"name": f"There is already a department called “{name}”."})
    return name


def create(actor, name: str) -> Department:
    """Add a department (admins only). Raises Forbidden, ValidationError({"name": ...})."""
    access.require_admin(actor)
    dept = Department(name=_clean_name(name))
    db.session.add(dept)
    db.session.commit()
    return dept


def rename(actor, department_id: int, name: str) -> Department:
    """Rename a department (admins only). Raises Forbidden, NotFound, ValidationError."""
    access.require_admin(actor)
    dept = get(department_id)
    dept.name = _clean_name(name, exclude_id=dept.id)
    db.session.commit()
    return dept


def delete(actor, department_id: int) -> str:
    """Delete a department (admins only); its people keep their accounts with no department.
    Returns the deleted name. Raises Forbidden, NotFound."""
    access.require_admin(actor)
    dept = get(department_id)
    name = dept.name
    db.session.execute(update(User).where(User.department_id == dept.id).values(department_id=None))
    db.session.delete(dept)
    db.session.commit()
    return name
