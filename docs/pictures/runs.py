"""The real runs the pictures are drawn from: each starts what it shows and reads its log."""

from __future__ import annotations

import asyncio
import json
import os
import re
import secrets
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from docs.pictures.svg import Message

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
# The lifespan diagram's participants, and what the log calls them.
PARTICIPANTS = {
    "server": "uvicorn",
    "handler": "LifespanASGIHandler",
    "receivers": "signal receivers",
    "registered lifespans": "registered lifespans",
    "clients": "clients",
}


@dataclass
class Process:
    """A process started by a run, its log lines as (seconds since the epoch, line)."""

    popen: subprocess.Popen[str]
    lines: list[tuple[float, str]] = field(default_factory=list)
    changed: threading.Condition = field(default_factory=threading.Condition)

    def read(self) -> None:
        assert self.popen.stderr is not None
        for line in self.popen.stderr:
            with self.changed:
                self.lines.append((time.time(), line.rstrip("\n")))
                self.changed.notify_all()

    def wait_for(self, pattern: str, count: int = 1, timeout: float = 60) -> list[re.Match[str]]:
        """The first ``count`` matches of ``pattern`` in the log, waiting up to ``timeout``."""
        deadline = time.monotonic() + timeout
        with self.changed:
            while True:
                found = [m for _, line in self.lines if (m := re.search(pattern, line))]
                if len(found) >= count:
                    return found[:count]
                left = deadline - time.monotonic()
                if left <= 0 or self.popen.poll() is not None:
                    log = "\n".join(line for _, line in self.lines)
                    raise RuntimeError(f"no {pattern!r} in the log:\n{log}")
                self.changed.wait(min(left, 0.2))


@contextmanager
def started(args: list[str], env: dict[str, str]) -> Iterator[Process]:
    """Start ``args`` from the repository's root, reading its stderr; stop it at the end."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "GUNICORN_"))}
    popen = subprocess.Popen(
        args,
        cwd=ROOT,
        env={**clean, "PYTHONUNBUFFERED": "1", "PYTHONPATH": str(ROOT), **env},
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    process = Process(popen)
    reader = threading.Thread(target=process.read, daemon=True)
    reader.start()
    try:
        yield process
    finally:
        if popen.poll() is None:
            popen.kill()
        popen.wait(timeout=30)
        reader.join(timeout=10)
        if popen.stderr is not None:
            popen.stderr.close()


def get(url: str, timeout: float = 30) -> tuple[int, bytes]:
    """GET ``url``: (status, body), or (0, b"") if the connection was refused or dropped."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310 - loopback
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()
    except (urllib.error.URLError, ConnectionError):
        return 0, b""


def lifespan_messages() -> list[Message]:
    """Run the lifespan project under uvicorn: start, one request, SIGTERM; what it logged."""
    args = [str(BIN / "uvicorn"), "docs.pictures.lifespan_app:application", "--port", "0"]
    with started(args, {}) as process:
        (running,) = process.wait_for(r"Uvicorn running on (http://127\.0\.0\.1:\d+)")
        assert get(running[1] + "/")[0] == 200
        process.popen.send_signal(signal.SIGTERM)
        process.popen.wait(timeout=30)
        process.wait_for(r"Finished server process")
    messages = []
    for _, line in process.lines:
        if match := re.match(r"pictures: ([\w ]+) -> ([\w ]+): (.+)", line):
            source, target, label = match.groups()
            reply = source == "handler" and target == "server" or source == "receivers"
            messages.append(Message(PARTICIPANTS[source], PARTICIPANTS[target], label, reply))
        elif match := re.match(r"sessionhub: (created|closed) client '(\w+)'", line):
            verb = "create" if match[1] == "created" else "close"
            messages.append(Message(PARTICIPANTS["handler"], "clients", f"{verb} '{match[2]}'"))
    return messages


def module_global_messages() -> list[Message]:
    """Two requests through Django's test client: a module-global session, then sessionhub."""
    script = ROOT / "docs" / "pictures" / "module_global_run.py"
    result = subprocess.run(
        [sys.executable, str(script)],
        cwd=ROOT,
        env={k: v for k, v in os.environ.items() if not k.startswith("DJANGO_")},
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return [Message(*json.loads(line)) for line in result.stdout.splitlines()]


@dataclass
class Shutdown:
    """What a real gunicorn shutdown logged and answered, in seconds from SIGTERM."""

    graceful: float
    drain: float
    workers: dict[int, dict[str, float]]
    requests: list[tuple[float, float, int]]  # (sent, answered, status)
    health: list[tuple[float, int]]  # (sent, status; 0: refused)
    exited: float


def _when(stamp: float, line: str) -> float:
    """A line's own timestamp where it has milliseconds, else when it was read."""
    if match := re.match(r"\[(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3})\]", line):
        return datetime.strptime(match[1] + "000", "%Y-%m-%d %H:%M:%S,%f").timestamp()
    return stamp


async def _slow_upstream(port: list[int], stop: threading.Event, delay: float) -> None:
    from aiohttp import web

    async def answer(request: web.Request) -> web.Response:
        await asyncio.sleep(delay)
        return web.json_response({"slow": delay})

    app = web.Application()
    app.router.add_get("/{tail:.*}", answer)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    try:
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        port.append(runner.addresses[0][1])
        while not stop.is_set():
            await asyncio.sleep(0.05)
    finally:
        await runner.cleanup()


def gunicorn_shutdown(graceful: float = 20, drain: float = 2, delay: float = 4) -> Shutdown:
    """Run the reference deployment, SIGTERM it with requests in flight, read its log."""
    port: list[int] = []
    stop = threading.Event()
    upstream = threading.Thread(target=asyncio.run, args=(_slow_upstream(port, stop, delay),))
    upstream.start()
    try:
        while not port:
            time.sleep(0.01)
        env = {
            "TZ": "UTC",
            "GUNICORN_BIND": "127.0.0.1:0",
            "WEB_CONCURRENCY": "2",
            "GUNICORN_GRACEFUL_TIMEOUT": f"{graceful:g}",
            "SESSIONHUB_DRAIN_SECONDS": f"{drain:g}",
            "DEMO_UPSTREAM_URL": f"http://127.0.0.1:{port[0]}/slow",
            "DJANGO_SECRET_KEY": secrets.token_urlsafe(50),
        }
        args = [str(BIN / "gunicorn"), "-c", "deploy/gunicorn.conf.py"]
        with started(args, env) as process:
            (listening,) = process.wait_for(r"Listening at: (http://127\.0\.0\.1:\d+)")
            base = listening[1]
            process.wait_for(r"lifespan started \(pid \d+\)", count=2)
            return _shut_down(process, base, graceful, drain)
    finally:
        stop.set()
        upstream.join(timeout=30)


def _shut_down(process: Process, base: str, graceful: float, drain: float) -> Shutdown:
    requests: list[tuple[float, float, int]] = []

    def request() -> None:
        sent = time.time()
        status, _ = get(base + "/")
        requests.append((sent, time.time(), status))

    threads = [threading.Thread(target=request) for _ in range(4)]
    for thread in threads:
        thread.start()
    time.sleep(0.5)  # the requests reach their workers and wait on the upstream
    sigterm = time.time()
    process.popen.send_signal(signal.SIGTERM)
    health: list[tuple[float, int]] = []
    late = threading.Thread(target=request)
    while process.popen.poll() is None and time.time() - sigterm < graceful + 5:
        if not late.is_alive() and not late.ident and time.time() - sigterm > drain / 2:
            late.start()  # a request during the drain: still served
        health.append((time.time(), get(base + "/health/", timeout=1)[0]))
        time.sleep(0.2)
    exited = time.time()
    for thread in [*threads, late]:
        if thread.ident:
            thread.join(timeout=30)
    for stamp, line in process.lines:
        if "Shutting down: Master" in line:
            exited = stamp
    workers: dict[int, dict[str, float]] = {}
    patterns = {
        "begun": r"shutdown begun \(pid (\d+)",
        "stopped": r"\[(\d+)\] \[INFO\] Shutting down$",
        "lifespan": r"\[(\d+)\] \[INFO\] Waiting for application shutdown",
        "closed": r"lifespan finished: closed \d+ client\(s\) in [\d.]+ ms \(pid (\d+)\)",
        "exited": r"Finished server process \[(\d+)\]",
    }
    for stamp, line in process.lines:
        for name, pattern in patterns.items():
            if match := re.search(pattern, line):
                workers.setdefault(int(match[1]), {})[name] = _when(stamp, line) - sigterm
    return Shutdown(
        graceful=graceful,
        drain=drain,
        workers=workers,
        requests=[(a - sigterm, b - sigterm, s) for a, b, s in sorted(requests)],
        health=[(at - sigterm, status) for at, status in health],
        exited=exited - sigterm,
    )
