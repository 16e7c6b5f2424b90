"""gunicorn configuration for the reference project: ``gunicorn -c deploy/gunicorn.conf.py``.

Each worker is a uvicorn event loop with its own ASGI lifespan, and so its own
aiohttp session. Every value can be set from the environment.
"""

from __future__ import annotations

import os


def _int_env(name: str, default: int) -> int:
    value = os.environ.get(name, "")
    if not value:
        return default
    try:
        return int(value)
    except ValueError:
        raise SystemExit(f"{name}={value!r} must be a whole number") from None


wsgi_app = "config.asgi:application"
# uvicorn-worker's worker (the successor of uvicorn.workers), plus a drain
# period and a shutdown that fits within graceful_timeout.
worker_class = "sessionhub.workers.UvicornWorker"
bind = os.environ.get("GUNICORN_BIND", "127.0.0.1:8000").split(",")
# WEB_CONCURRENCY is the name gunicorn itself and most platforms use.
workers = _int_env("WEB_CONCURRENCY", 2)
# Seconds a worker gets after SIGTERM to drain (SESSIONHUB_DRAIN_SECONDS),
# finish its requests and run the lifespan shutdown, whose closing of clients
# is bounded by SESSIONHUB_CLOSE_TIMEOUT, before gunicorn kills it. Requests
# still running after graceful_timeout - drain - close timeout - 1 s are
# cancelled. Keep upstream timeouts below that.
graceful_timeout = _int_env("GUNICORN_GRACEFUL_TIMEOUT", 30)
timeout = _int_env("GUNICORN_TIMEOUT", 60)
# Seconds an idle keep-alive connection is kept after a response. A connection
# that never sends a request is the proxy's to bound (nginx's
# client_header_timeout; docs: production/overload).
keepalive = _int_env("GUNICORN_KEEPALIVE", 5)
# Recycle workers now and then; the jitter keeps them from restarting together.
max_requests = _int_env("GUNICORN_MAX_REQUESTS", 10_000)
max_requests_jitter = _int_env("GUNICORN_MAX_REQUESTS_JITTER", max(1, max_requests // 10))
# Overload (docs: production/overload): sessionhub's worker bounds the
# requests it holds (SESSIONHUB_MAX_REQUESTS_IN_FLIGHT) and how long they
# waited to start, not connections; gunicorn's worker_connections is not used.
# Connections the kernel queues for the workers to accept, per listening
# socket; past it new connections are refused or retried by the client.
backlog = _int_env("GUNICORN_BACKLOG", 2048)
accesslog = os.environ.get("GUNICORN_ACCESS_LOG") or None
errorlog = "-"
loglevel = os.environ.get("GUNICORN_LOG_LEVEL", "info")
# gunicorn 25.1+ opens a control socket at one fixed path per user; two
# gunicorns on one host (blue/green deploys, tests) would fight over it.
control_socket_disable = os.environ.get("GUNICORN_CONTROL_SOCKET", "") == ""
