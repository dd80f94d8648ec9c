"""Click commands: thin wrappers around services (`flask --app app <command>`)."""
from __future__ import annotations

import threading

import click
from flask import Flask
from flask.cli import AppGroup
from sqlalchemy import select

from app import demo
from app.errors import DomainError
from app.extensions import db
from app.models import Job
from app.search.cli import search_cli
from app.services.people import accounts
from app.services.platform import jobs


def register(app: Flask) -> None:
    @app.cli.command("create-admin")
    @click.argument("email")
    @click.option("--name", default=None, help="Display name for a new account.")
    def create_admin(email: str, name: str | None) -> None:
        """Make EMAIL an administrator (creates an employee account if there is none)."""
        try:
            user, generated = accounts.create_admin(email, display_name=name)
        except DomainError as exc:
            raise click.ClickException(exc.message) from None
        click.echo(f"{user.email} is now an administrator.")
        if generated:
            click.echo(f"A new account was created with the password: {generated}")
            click.echo("Sign in and change it under Account and password.")

    @app.cli.command("seed-demo")
    @click.option("--if-empty", is_flag=True, help="Do nothing when the database already has people.")
    def seed_demo(if_empty: bool) -> None:
        """Load the demo organisation (deterministic)."""
        if if_empty and demo.has_data():
            click.echo("Database already has data; demo not loaded.")
            return
        summary = demo.seed()
        click.echo(summary)

    @app.cli.command("worker")
    @click.option("--once", is_flag=True, help="Run due jobs once and exit.")
    def worker(once: bool) -> None:
        """Run background jobs (at scale; the embedded server runs them in a thread)."""
        if once:
            jobs.tick()
            click.echo(f"ran {jobs.drain()} job(s)")
            return
        click.echo("Kring worker running; Ctrl-C stops it.")
        stop = threading.Event()
        try:
            jobs.work_forever(app, stop)
        except KeyboardInterrupt:
            stop.set()

    @app.cli.command("tick")
    def tick() -> None:
        """Enqueue the periodic tasks that are due (for cron)."""
        names = jobs.tick()
        click.echo("enqueued: " + (", ".join(names) if names else "nothing due"))

    jobs_cli = AppGroup("jobs", help="Inspect and retry background jobs.")

    @jobs_cli.command("list")
    @click.option("--status", default="failed", type=click.Choice(["queued", "running", "done", "failed"]))
    def jobs_list(status: str) -> None:
        """List jobs with a status (default: parked failures)."""
        rows = db.session.scalars(select(Job).where(Job.status == status).order_by(Job.id.desc()).limit(100))
        for job in rows:
            error = (job.last_error or "").strip().splitlines()[-1:] or [""]
            click.echo(f"#{job.id} {job.name} attempts={job.attempts} {job.created_at:%Y-%m-%d %H:%M} {error[0]}")

    @jobs_cli.command("retry")
    @click.argument("job_id", type=int)
    def jobs_retry(job_id: int) -> None:
        """Queue a parked job again."""
        try:
            jobs.retry(job_id)
        except DomainError as exc:
            raise click.ClickException(exc.message) from None
        click.echo(f"job #{job_id} queued again")

    app.cli.add_command(jobs_cli)

    app.cli.add_command(search_cli)
