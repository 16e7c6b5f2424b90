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
# uvicorn.workers is deprecated; the uvicorn-worker package is its successor.
worker_class = "uvicorn_worker.UvicornWorker"
bind = os.environ.get("GUNICORN_BIND", "127.0.0.1:8000").split(",")
# WEB_CONCURRENCY is the name gunicorn itself and most platforms use.
workers = _int_env("WEB_CONCURRENCY", 2)
# Seconds a worker gets after SIGTERM to finish its requests and run the
# lifespan shutdown (which closes its session) before gunicorn kills it. The
# uvicorn worker waits for open requests without a limit of its own, so keep
# upstream timeouts well below this.
graceful_timeout = _int_env("GUNICORN_GRACEFUL_TIMEOUT", 30)
timeout = _int_env("GUNICORN_TIMEOUT", 60)
keepalive = _int_env("GUNICORN_KEEPALIVE", 5)
# Recycle workers now and then; the jitter keeps them from restarting together.
max_requests = _int_env("GUNICORN_MAX_REQUESTS", 10_000)
max_requests_jitter = _int_env("GUNICORN_MAX_REQUESTS_JITTER", max(1, max_requests // 10))
accesslog = os.environ.get("GUNICORN_ACCESS_LOG") or None
errorlog = "-"
loglevel = os.environ.get("GUNICORN_LOG_LEVEL", "info")
# gunicorn 25.1+ opens a control socket at one fixed path per user; two
# gunicorns on one host (blue/green deploys, tests) would fight over it.
control_socket_disable = os.environ.get("GUNICORN_CONTROL_SOCKET", "") == ""
