"""gunicorn settings for Kring: `gunicorn -c gunicorn.conf.py wsgi:app`.

Flask-SocketIO needs one worker per process (its sessions live in the process); concurrency
comes from threads (threading mode: each open WebSocket holds one thread). To scale out, run
several such processes behind a proxy with sticky sessions and set REDIS_URL.

Environment: HOST (127.0.0.1), PORT (5000), KRING_THREADS (100), KRING_ACCESS_LOG (on/off).
"""
import os

import gunicorn.http.wsgi

# gunicorn writes its own Server header on every response, whatever the app sets: name the
# product, not the server software (the app leaves the header to it under gunicorn, app.setup)
gunicorn.http.wsgi.SERVER = "Kring"

_host = os.environ.get("HOST", "127.0.0.1")
bind = f"[{_host}]:{os.environ.get('PORT', '5000')}" if ":" in _host else f"{_host}:{os.environ.get('PORT', '5000')}"
workers = 1  # never more: Socket.IO state is per process
worker_class = "gthread"
threads = int(os.environ.get("KRING_THREADS", "100"))
timeout = 60
graceful_timeout = 20
keepalive = 5
preload_app = False  # wsgi.py starts the job thread; it must start in the worker, not the arbiter
accesslog = "-" if os.environ.get("KRING_ACCESS_LOG", "on").lower() in {"1", "true", "yes", "on"} else None
errorlog = "-"
