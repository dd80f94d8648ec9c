"""The server entry point.

`python wsgi.py` (what `make run` does) serves Kring with Socket.IO on HOST:PORT (default
127.0.0.1:5000) using the threading server. In production run it under gunicorn with one
worker and many threads (threading mode, WebSockets through simple-websocket):

    gunicorn -c gunicorn.conf.py wsgi:app        # = gunicorn -w 1 --threads 100 wsgi:app

The embedded background-job thread starts here, in the process that serves, when
KRING_WORKER_THREAD is on (the default). The flask CLI (`flask --app app ...`) never imports
this module, so commands like `db upgrade` or `worker` do not start a second job thread.
"""
from __future__ import annotations

import os

from app import create_app, ready_to_serve
from app.extensions import socketio
from app.services.platform import jobs

app = create_app()

if app.config["KRING_WORKER_THREAD"]:
    worker = jobs.start_worker_thread(app)
ready_to_serve()


def main() -> None:
    host = os.environ.get("HOST", "127.0.0.1")
    port = int(os.environ.get("PORT", "5000"))
    shown = f"[{host}]" if ":" in host else host
    print(f" * Kring is running on http://{shown}:{port}/ (Ctrl-C stops it)", flush=True)
    socketio.run(app, host=host, port=port, allow_unsafe_werkzeug=True, debug=False)


if __name__ == "__main__":
    main()
