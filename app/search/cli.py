"""`flask search ...`: rebuild, check, worker, status (thin wrappers)."""
from __future__ import annotations

import json
import threading
import time

import click
from flask import current_app
from flask.cli import AppGroup

from app.extensions import db
from app.search import indexer, rebuild, store

search_cli = AppGroup("search", help="The search index: rebuild, check, run the indexer, status.")


@search_cli.command("rebuild")
@click.option("--procs", default=2, show_default=True, help="Parallel writer processes (Whoosh procs).")
@click.option("--batch", default=1000, show_default=True, help="Rows read from the database at a time.")
def rebuild_command(procs: int, batch: int) -> None:
    """Build a fresh index beside the live one and swap it in (search keeps working)."""
    last = {"t": 0.0}

    def progress(kind: str, count: int) -> None:
        if time.monotonic() - last["t"] > 5:
            last["t"] = time.monotonic()
            click.echo(f"  {kind}: {count:,} documents ...")

    try:
        report = rebuild.rebuild(procs=max(1, procs), batch=max(100, batch), progress=progress)
    except rebuild.RebuildRunning:
        raise click.ClickException("A rebuild is already running.") from None
    kinds = ", ".join(f"{k} {v:,}" for k, v in report.per_type.items())
    click.echo(f"Rebuilt {report.documents:,} documents in {report.seconds:.1f} s "
               f"({report.per_second:,.0f}/s): {kinds}. Caught up {report.caught_up} change(s) "
               f"and swapped in {report.path.name}.")


@search_cli.command("check")
@click.option("--fix", is_flag=True, help="Queue every difference for the indexer to repair.")
@click.option("--show", default=20, show_default=True, help="How many differing documents to list.")
def check_command(fix: bool, show: int) -> None:
    """Report documents that differ between the database and the index (exit 1 when any do)."""
    try:
        report = rebuild.check(fix=fix)
    except store.IndexUnavailable as exc:
        raise click.ClickException(f"{exc}. Run `flask search rebuild`.") from None
    click.echo(f"{report.expected:,} documents expected, {report.indexed:,} indexed, "
               f"{report.pending} change(s) not applied yet.")
    for label, ids in (("missing from the index", report.missing), ("in the index but not in the database",
                                                                     report.extra), ("out of date", report.stale)):
        if ids:
            click.echo(f"{len(ids)} {label}: " + ", ".join(ids[:show]) + (" ..." if len(ids) > show else ""))
    if report.ok:
        click.echo("The index matches the database.")
        return
    if fix:
        click.echo("Queued for the indexer.")
    raise SystemExit(1)


@search_cli.command("worker")
@click.option("--once", is_flag=True, help="Apply what is pending and exit.")
@click.option("--interval", default=0.2, show_default=True, help="Seconds between rounds when idle.")
def worker_command(once: bool, interval: float) -> None:
    """Run this machine's indexer in its own process (at scale; set KRING_SEARCH_INDEXER=0 on the
    web servers of this machine so their embedded thread leaves the index to it)."""
    current_app.config["KRING_SEARCH_INDEXER"] = True  # this process is the indexer of this machine
    if once:
        applied = indexer.poll()
        applied += indexer.catch_up()
        click.echo(f"applied {applied} change(s)")
        return
    click.echo("Kring search indexer running; Ctrl-C stops it.")
    stop = threading.Event()
    last_error = None
    try:
        while not stop.is_set():
            try:
                busy = indexer.poll()
                last_error = None
            except Exception as exc:  # noqa: BLE001 - keep following the log through a bad moment
                if repr(exc) != last_error:
                    current_app.logger.exception("search indexer round failed (repeats are not logged again)")
                last_error = repr(exc)
                busy = 0
            finally:
                db.session.remove()
            if not busy:
                stop.wait(interval if last_error is None else 5.0)
    except KeyboardInterrupt:
        stop.set()


@search_cli.command("status")
@click.option("--json", "as_json", is_flag=True, help="Print the facts as JSON.")
def status_command(as_json: bool) -> None:
    """Where the index is, how many documents, how far behind the change log it is."""
    info = rebuild.status()
    if as_json:
        click.echo(json.dumps(info, default=str))
        return
    for key, value in info.items():
        click.echo(f"{key}: {value}")
