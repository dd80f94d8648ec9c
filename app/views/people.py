"""People: directory, profiles, profile editing, avatars."""
from __future__ import annotations

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required
from flask_wtf.file import FileField
from wtforms import SelectChoice, SelectField, StringField, TextAreaField

from app.errors import ValidationError
from app.extensions import db
from app.models import UserKind
from app.services import access
from app.services.community import departments
from app.services.people import people
from app.views.helpers import KringForm, Required, apply_errors, id_arg, page_arg, send_upload

bp = Blueprint("people", __name__)

KIND_CHOICES = [("", "Everyone"), ("employee", "Employees"), ("customer", "Customers"),
                ("partner", "Partners")]


class ProfileForm(KringForm):
    display_name = StringField("Name", validators=[Required()])
    job_title = StringField("Job title")
    department_id = SelectField("Department", validate_choice=False)
    organisation = StringField("Organisation")
    bio = TextAreaField("My story")
    expertise = StringField("Expertise")
    languages = StringField("Languages")


class AvatarForm(KringForm):
    avatar = FileField("New picture", render_kw={"accept": "image/jpeg,image/png,image/gif,image/webp"}, validators=[Required()])


class EmptyForm(KringForm):
    """Only the CSRF token (remove-avatar button)."""


@bp.before_request
@login_required
def _signed_in():
    """Every people page needs a signed-in person."""


# --- the directory ------------------------------------------------------------------------

@bp.get("/people")
def directory():
    q = request.args.get("q", "").strip()
    kind = request.args.get("kind", "").strip()
    tag = request.args.get("tag", "").strip()
    department_id = id_arg("department")
    if kind not in {k.value for k in UserKind}:
        kind = ""
    result = people.directory(current_user, q=q or None, kind=kind or None, tag=tag or None,
                              department_id=department_id, page=page_arg())
    depts = departments.all_departments() if current_user.is_employee else []
    return render_template("people/directory.html", result=result, q=q, kind=kind, tag=tag,
                           department_id=department_id, departments=depts,
                           kind_choices=KIND_CHOICES)


# --- profiles -----------------------------------------------------------------------------

@bp.get("/people/<handle>")
def profile(handle: str):
    person = access.person_for(current_user, handle)
    return render_template("people/profile.html", person=person,
                           communities=people.communities_of(current_user, person),
                           show_email=access.can_see_email(current_user, person),
                           is_me=person.id == current_user.id)


def _profile_form(*, submitted: bool) -> ProfileForm:
    """The profile form: from the posted data, or filled in from the current profile."""
    if submitted:
        form = ProfileForm()
    else:
        user = current_user
        form = ProfileForm(formdata=None, data={
            "display_name": user.display_name,
            "job_title": user.job_title or "",
            "department_id": str(user.department_id or ""),
            "organisation": user.organisation or "",
            "bio": user.bio or "",
            "expertise": ", ".join(t.name for t in user.expertise),
            "languages": user.languages or "",
        })
    form.department_id.choices = [SelectChoice("", "No department")] + [
        SelectChoice(str(d.id), d.name) for d in departments.all_departments()]
    return form


def _render_edit(form: ProfileForm, avatar_form: AvatarForm, status: int = 200):
    return render_template("people/edit.html", form=form, avatar_form=avatar_form,
                           limits=people), status


@bp.route("/profile", methods=["GET", "POST"])
def edit_profile():
    form = _profile_form(submitted=request.method == "POST")
    if form.validate_on_submit():
        fields = {"display_name": form.display_name.data, "job_title": form.job_title.data,
                  "bio": form.bio.data, "expertise": form.expertise.data,
                  "languages": form.languages.data}
        if current_user.is_employee:
            fields["department_id"] = form.department_id.data
        else:
            fields["organisation"] = form.organisation.data
        try:
            people.update_profile(current_user, **fields)
        except ValidationError as exc:
            db.session.rollback()
            apply_errors(form, exc)
        else:
            flash("Your profile is saved.", "success")
            return redirect(url_for("people.profile", handle=current_user.handle))
    status = 400 if form.errors or form.form_errors else 200
    return _render_edit(form, AvatarForm(formdata=None), status)


@bp.post("/profile/avatar")
def upload_avatar():
    form = AvatarForm()
    if form.validate_on_submit():
        upload = form.avatar.data
        # Read one byte more than allowed: enough to know the file is too large.
        data = upload.read(current_app.config["AVATAR_MAX_BYTES"] + 1) if upload else b""
        try:
            people.set_avatar(current_user, data)
        except ValidationError as exc:
            db.session.rollback()
            apply_errors(form, exc)
        else:
            flash("Your picture is updated.", "success")
            return redirect(url_for("people.edit_profile"))
    profile_form = _profile_form(submitted=False)
    return _render_edit(profile_form, form, 400)


@bp.post("/profile/avatar/remove")
def remove_avatar():
    if not EmptyForm().validate_on_submit():
        abort(400)
    people.remove_avatar(current_user)
    flash("Your picture is removed.", "success")
    return redirect(url_for("people.edit_profile"))


@bp.get("/people/<handle>/avatar/<key>")
def avatar(handle: str, key: str):
    person = access.person_for(current_user, handle)
    stored = person.avatar_key
    if not stored or stored.rsplit("/", 1)[-1] != key:
        abort(404)
    return send_upload(stored)
