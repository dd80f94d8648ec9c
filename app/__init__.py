"""Kring: a community platform for a social business.

`create_app(config)` builds the application as a list of steps; nothing happens at import time.
"""
from __future__ import annotations

import gc
import logging
from pathlib import Path

from flask import Flask

from config import Config


def create_app(config: type[Config] | None = None, **overrides) -> Flask:
    """Build and return the Flask app. `overrides` win over the config class (tests)."""
    config = config or Config
    app = Flask(__name__, instance_path=str(config.INSTANCE_DIR))
    app.config.from_mapping(config.load())
    app.config.update(overrides)
    for key in ("INSTANCE_DIR", "UPLOAD_DIR", "MAIL_OUTBOX_DIR"):
        app.config[key] = Path(app.config[key])
    app.config["INSTANCE_DIR"].mkdir(parents=True, exist_ok=True)
    if not app.debug and not app.testing:
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("alembic.runtime.plugins").setLevel(logging.WARNING)

    from app import setup  # here, not at the top: importing any app module must not load the whole app

    setup.init_extensions(app)
    setup.init_database(app)
    setup.init_login(app)
    setup.init_input(app)
    setup.init_security(app)
    setup.register_blueprints(app)
    setup.register_errors(app)
    setup.register_template_helpers(app)
    setup.register_cli(app)
    setup.init_sockets(app)
    return app


#: gc thresholds of a serving process (young, middle, old); see ready_to_serve
GC_THRESHOLDS = (20_000, 20, 10)


def ready_to_serve() -> None:
    """Call once in a serving process, after create_app and before the first request (wsgi.py).

    Everything built at start-up (modules, SQLAlchemy's mappers and metadata, the URL map, Jinja's
    environment) lives as long as the process. gc.freeze() moves it out of the garbage collector's
    reach, so the full collections that requests trigger only walk what requests made: on the
    post page with 200 comments this cut p95 by about a third (bench/pages.py).

    The young generation's threshold is raised from 700 to GC_THRESHOLDS[0] tracked objects:
    what a request or a socket event allocates is nearly all freed by reference counting, so
    collecting every 700 allocations mostly promotes objects that are still in use (a handler's
    ORM rows, a frame being sent) into the old generations, and those promotions are what set
    off the full collections. With 500 open WebSockets a full collection walks every
    connection's objects and paused all threads for 25-67 ms, 9 times in 25 s of bench/live.py;
    with this threshold, none ran under the same load and a young collection took 3-9 ms.
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)
