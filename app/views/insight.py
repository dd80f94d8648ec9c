"""Insight pages: the organisation dashboard (/insight), a community's dashboard
(/c/<slug>/insight), a CSV export of every table of both (same filters), and
`flask insight rollup`."""
from __future__ import annotations

import click
from flask import Blueprint, Response, abort, render_template, request, url_for
from flask_login import current_user, login_required
from wtforms import SelectChoice, SelectField, StringField

from app.services import access, insight
from app.services.community import departments
from app.services.insight import report
from app.views.helpers import KringForm, header_roles
from app.wording import plural

bp = Blueprint("insight", __name__)

FILTER_ARGS = ("period", "start", "end", "community", "department", "kind")
TABLE_ID_CHARS = set("abcdefghijklmnopqrstuvwxyz-")


class FilterForm(KringForm):
    """The filters (a GET form: nothing changes, so no CSRF token)."""

    class Meta:
        csrf = False

    period = SelectField("Period", choices=[SelectChoice(k, v) for k, v in insight.PERIOD_LABELS.items()],
                         default=insight.DEFAULT_PERIOD)
    start = StringField("From (custom dates)")
    end = StringField("To")
    community = SelectField("Community", choices=[], validate_choice=False)
    department = SelectField("Department", choices=[], validate_choice=False)
    kind = SelectField("Kind of member", choices=[SelectChoice(k, v) for k, v in (
        ("", "Everyone"), ("employee", "Employees"), ("customer", "Customers"), ("partner", "Partners"))],
        validate_choice=False)


# --- template helper and CLI ------------------------------------------------------------------

@bp.app_template_global()
def insight_link() -> str | None:
    """Where the header's Insight link goes for the signed-in person, or None (no link).
    From the header's roles, computed once per request."""
    return url_for("insight.organisation") if header_roles().insight else None


@bp.app_template_filter("insight_value")
def insight_value(value, kind: str) -> str:
    """A figure as people read it: 1,234 · 42% · 45 min / 5.5 h / 3.2 days · 23 Feb 2026."""
    if value is None:
        return "—"
    if kind == report.PCT:
        pct = value * 100
        return f"{pct:.0f}%" if pct >= 10 or pct == int(pct) else f"{pct:.1f}%"
    if kind == report.HOURS:
        if value < 1:
            return f"{round(value * 60)} min"
        return f"{value:.1f} h" if value < 48 else f"{value / 24:.1f} days"
    if kind == report.DAYS:
        return f"{value:.1f} days" if value < 1 or value != int(value) else plural(int(value), 'day')
    if kind == report.NUM:
        return f"{value:.1f}"
    if kind == report.WEEK:
        return value.strftime("%d %b %Y")
    if kind in (report.INT, report.SCORE) and isinstance(value, int | float):
        return f"{int(round(value)):,}"
    return str(value)


@bp.app_template_filter("insight_raw")
def insight_raw(value, kind: str) -> str:
    """The number a chart draws (as in the CSV): shares in percent, durations in hours or days."""
    if value is None or kind in (report.TEXT, report.WEEK):
        return ""
    return str(report.export_value(report.Column("", "", kind), value))


@bp.cli.command("rollup")
@click.option("--all", "full", is_flag=True, help="Rewrite every week, not only the recent ones.")
def rollup_command(full: bool) -> None:
    """Bring the dashboards' weekly rollups up to date."""
    click.echo(str(insight.rollup(full=full)))


# --- pages ------------------------------------------------------------------------------------

@bp.before_request
@login_required
def _signed_in():
    """Every insight page needs a signed-in person."""


def _filters(scope):
    form = FilterForm(request.args)
    if scope.is_community:
        del form.community
    else:
        form.community.choices = [SelectChoice("", "All communities")] + [
            SelectChoice(c.slug, c.name) for c in scope.communities]
    form.department.choices = [SelectChoice("", "All departments")] + [
        SelectChoice(str(d.id), d.name) for d in departments.all_departments()]
    chosen, errors = insight.resolve_filters(scope, **{k: request.args.get(k) for k in FILTER_ARGS
                                                       if k != "community" or not scope.is_community})
    for name, message in errors.items():
        field = getattr(form, name, None)
        if field is not None:
            field.errors = [message]
    if not request.args.get("period") or "period" in errors:
        form.period.data = chosen.period
    if chosen.period != "custom" and not {"start", "end"} & set(errors):
        form.start.data, form.end.data = chosen.start.isoformat(), chosen.end.isoformat()
    return form, chosen, errors


def _dashboard(scope, endpoint_args: dict):
    form, chosen, errors = _filters(scope)
    data = insight.dashboard(scope, chosen)
    return render_template("insight/dashboard.html", d=data, form=form, args=chosen.args(scope),
                           endpoint_args=endpoint_args), 400 if errors else 200


def _csv(scope, table_id: str, stem: str):
    if not set(table_id) <= TABLE_ID_CHARS:
        abort(404)
    _form, chosen, errors = _filters(scope)
    if errors:
        abort(400)
    table = insight.table(scope, chosen, table_id)
    name = f"{stem}-{table.id}-{chosen.start.isoformat()}-{chosen.end.isoformat()}.csv"
    return Response("\ufeff" + table.csv_text(), mimetype="text/csv",
                    headers={"Content-Disposition": f'attachment; filename="{name}"',
                             "Cache-Control": "private, no-store", "X-Content-Type-Options": "nosniff"})


@bp.get("/insight")
def organisation():
    user = current_user
    if not insight.can_see_organisation(user):
        if not access.is_active_employee(user):
            abort(404)  # customers and partners: there is no insight for them
        managed = insight.managed_communities(user)
        if not managed:
            abort(403)
        return render_template("insight/choose.html", communities=managed)
    return _dashboard(insight.organisation_scope(user), {})


@bp.get("/insight/<table_id>.csv")
def organisation_csv(table_id: str):
    return _csv(insight.organisation_scope(current_user), table_id, "kring")


@bp.get("/c/<slug>/insight")
def community(slug: str):
    return _dashboard(insight.community_scope(current_user, slug), {"slug": slug})


@bp.get("/c/<slug>/insight/<table_id>.csv")
def community_csv(slug: str, table_id: str):
    return _csv(insight.community_scope(current_user, slug), table_id, slug)
