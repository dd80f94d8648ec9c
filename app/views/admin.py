"""Administration: people and their global roles, departments, site settings, jobs.

Every page is for administrators only: anonymous visitors are sent to sign in, everyone else
gets 403. The rules themselves live in the services (accounts, departments, settings, jobs).
"""
from __future__ import annotations

from datetime import datetime

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required
from wtforms import BooleanField, DateTimeLocalField, RadioField, SelectChoice, StringField, TextAreaField
from wtforms.validators import DataRequired, Optional

from app.errors import ValidationError
from app.extensions import db
from app.services import access
from app.services.community import departments
from app.services.people import accounts, privacy
from app.services.platform import admin, settings
from app.views.helpers import KringForm, Required, apply_errors, page_arg

bp = Blueprint("admin", __name__, url_prefix="/admin")

KIND_CHOICES = [("", "All kinds"), ("employee", "Employees"), ("customer", "Customers"),
                ("partner", "Partners")]
STATUS_CHOICES = [("", "Any status"), ("active", "Active"), ("suspended", "Suspended"),
                  ("unverified", "Email not confirmed")]


class RolesForm(KringForm):
    is_admin = BooleanField("Administrator — manages people, departments, settings and jobs")
    is_global_manager = BooleanField("Social team — creates and manages every community (employees only)")
    is_management = BooleanField("Management")


class SuspendForm(KringForm):
    until = DateTimeLocalField("Suspended until (UTC)", format=["%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S"],
                               validators=[Optional()])
    reason = TextAreaField("Reason", validators=[Required()])

    def validate_until(self, field):  # WTForms' own message is "Not a valid datetime value."
        if field.errors:
            field.errors = ["Enter a date and time, or leave it empty to suspend indefinitely."]


class DepartmentForm(KringForm):
    name = StringField("Name", validators=[Required()])


class SettingsForm(KringForm):
    open_signup = BooleanField("Customers may sign up on their own, without an invitation")
    content_on_delete = RadioField("When someone closes their account, their posts, comments and messages",
                                   choices=[SelectChoice("choice", "are removed or kept anonymously, as the person chooses"),
                                            SelectChoice("anonymise", "are always kept, without their name"),
                                            SelectChoice("remove", "are always removed")],
                                   validators=[DataRequired()])


class EmptyForm(KringForm):
    """Only the CSRF token (buttons that post)."""


@bp.before_request
@login_required
def _admins_only():
    """Anonymous visitors are sent to sign in (login_required); others need the admin role."""
    access.require_admin(current_user)


@bp.get("/")
def index():
    return render_template("admin/index.html", overview=admin.overview(current_user))


# --- people -------------------------------------------------------------------------------

@bp.get("/people")
def people():
    q = request.args.get("q", "").strip()
    kind = request.args.get("kind", "").strip()
    status = request.args.get("status", "").strip()
    page = page_arg()
    rows, total = admin.accounts_page(current_user, q=q or None, kind=kind or None,
                                      status=status or None, page=page)
    return render_template("admin/people.html", rows=rows, total=total, page=page,
                           per_page=admin.PER_PAGE, q=q, kind=kind, status=status,
                           kind_choices=KIND_CHOICES, status_choices=STATUS_CHOICES)


class CloseAccountForm(KringForm):
    mode = RadioField("Their posts, comments and chat messages", choices=[], validators=[Required()])
    reason = TextAreaField("On whose request, and why", validators=[Required()])


def _close_form(formdata=True) -> CloseAccountForm:
    form = CloseAccountForm() if formdata else CloseAccountForm(formdata=None)
    form.mode.choices = [SelectChoice(m, m.capitalize()) for m in privacy.allowed_modes()]
    return form


def _render_person(user, roles_form=None, suspend_form=None, status: int = 200, close_form=None):
    roles_form = roles_form or RolesForm(formdata=None, obj=user)
    suspend_form = suspend_form or SuspendForm(formdata=None)
    closed = privacy.is_closed(user)
    return render_template("admin/person.html", person=user, roles_form=roles_form,
                           suspend_form=suspend_form, unsuspend_form=EmptyForm(formdata=None),
                           close_form=close_form or _close_form(False), closed=closed,
                           sole_managed=[] if closed else privacy.sole_managed(user),
                           exports=privacy.exports_of(current_user, user)), status


@bp.post("/people/<int:user_id>/export")
def export_data(user_id: int):
    user = accounts.get_user(user_id)
    if EmptyForm().validate_on_submit():
        privacy.request_export(current_user, user)
        flash(f"The data of {user.display_name} is being prepared; reload to download it.", "success")
    return redirect(url_for("admin.person", user_id=user.id))


@bp.post("/people/<int:user_id>/close")
def close_account(user_id: int):
    user = accounts.get_user(user_id)
    form = _close_form()
    if form.validate_on_submit():
        if user.id == current_user.id:
            form.form_errors.append("Close your own account from your account page.")
        else:
            try:
                privacy.close_account(current_user, user, form.mode.data, reason=form.reason.data or "",
                                      ip=request.remote_addr)
            except ValidationError as exc:
                db.session.rollback()
                apply_errors(form, exc)
            else:
                flash("The account is closed and its personal data erased.", "success")
                return redirect(url_for("admin.person", user_id=user.id))
    return _render_person(user, close_form=form, status=400)


@bp.get("/people/<int:user_id>")
def person(user_id: int):
    return _render_person(accounts.get_user(user_id))


@bp.post("/people/<int:user_id>/roles")
def set_roles(user_id: int):
    user = accounts.get_user(user_id)
    form = RolesForm()
    if form.validate_on_submit():
        try:
            accounts.set_global_roles(current_user, user, is_admin=form.is_admin.data,
                                      is_global_manager=form.is_global_manager.data,
                                      is_management=form.is_management.data, ip=request.remote_addr)
        except ValidationError as exc:
            db.session.rollback()
            apply_errors(form, exc)
        else:
            flash(f"Roles of {user.display_name} saved.", "success")
            return redirect(url_for("admin.person", user_id=user.id))
    return _render_person(user, roles_form=form, status=400)


@bp.post("/people/<int:user_id>/suspend")
def suspend(user_id: int):
    user = accounts.get_user(user_id)
    form = SuspendForm()
    if form.validate_on_submit():
        until: datetime | None = form.until.data
        try:
            accounts.suspend(current_user, user, until, form.reason.data or "", ip=request.remote_addr)
        except ValidationError as exc:
            db.session.rollback()
            apply_errors(form, exc)
        else:
            flash(f"{user.display_name} is suspended and signed out everywhere.", "success")
            return redirect(url_for("admin.person", user_id=user.id))
    return _render_person(user, suspend_form=form, status=400)


@bp.post("/people/<int:user_id>/unsuspend")
def unsuspend(user_id: int):
    user = accounts.get_user(user_id)
    form = EmptyForm()
    if form.validate_on_submit():
        try:
            accounts.unsuspend(current_user, user, ip=request.remote_addr)
        except ValidationError as exc:
            db.session.rollback()
            flash(exc.message, "error")
        else:
            flash(f"{user.display_name} can sign in again.", "success")
    return redirect(url_for("admin.person", user_id=user.id))


# --- departments --------------------------------------------------------------------------

def _render_departments(form=None, rename_errors: dict[int, str] | None = None, status: int = 200):
    return render_template("admin/departments.html", rows=departments.with_counts(current_user),
                           form=form or DepartmentForm(formdata=None),
                           rename_errors=rename_errors or {}), status


@bp.get("/departments")
def department_list():
    return _render_departments()


@bp.post("/departments")
def create_department():
    form = DepartmentForm()
    if form.validate_on_submit():
        try:
            dept = departments.create(current_user, form.name.data or "")
        except ValidationError as exc:
            db.session.rollback()
            apply_errors(form, exc)
        else:
            flash(f"Department {dept.name} added.", "success")
            return redirect(url_for("admin.department_list"))
    return _render_departments(form=form, status=400)


@bp.post("/departments/<int:department_id>/rename")
def rename_department(department_id: int):
    form = DepartmentForm()
    if form.validate_on_submit():
        try:
            dept = departments.rename(current_user, department_id, form.name.data or "")
        except ValidationError as exc:
            db.session.rollback()
            return _render_departments(rename_errors={department_id: exc.message}, status=400)
        flash(f"Department renamed to {dept.name}.", "success")
    return redirect(url_for("admin.department_list"))


@bp.post("/departments/<int:department_id>/delete")
def delete_department(department_id: int):
    if EmptyForm().validate_on_submit():
        name = departments.delete(current_user, department_id)
        flash(f"Department {name} deleted. Its people keep their accounts.", "success")
    return redirect(url_for("admin.department_list"))


# --- settings -----------------------------------------------------------------------------

@bp.route("/settings", methods=["GET", "POST"])
def site_settings():
    form = SettingsForm(data=None if request.method == "POST" else {
        "open_signup": bool(settings.get("open_signup")), "content_on_delete": settings.get("content_on_delete")})
    if form.validate_on_submit():
        settings.set_value(current_user, "open_signup", bool(form.open_signup.data))
        settings.set_value(current_user, "content_on_delete", form.content_on_delete.data)
        flash("Settings saved.", "success")
        return redirect(url_for("admin.site_settings"))
    return render_template("admin/settings.html", form=form), 400 if form.errors else 200


# --- jobs ---------------------------------------------------------------------------------

@bp.get("/jobs")
def job_list():
    page = page_arg()
    rows, total = admin.parked_jobs(current_user, page=page)
    return render_template("admin/jobs.html", rows=rows, total=total, page=page,
                           per_page=admin.PER_PAGE, counts=admin.job_counts(current_user),
                           retry_form=EmptyForm(formdata=None))


@bp.post("/jobs/<int:job_id>/retry")
def retry_job(job_id: int):
    if EmptyForm().validate_on_submit():
        try:
            admin.retry_job(current_user, job_id)
        except ValidationError as exc:
            db.session.rollback()
            flash(exc.message, "error")
        else:
            flash(f"Job #{job_id} is queued again.", "success")
    return redirect(url_for("admin.job_list"))
