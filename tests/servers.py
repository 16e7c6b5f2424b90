"""Start real servers (uvicorn, gunicorn) in subprocesses, and always stop them."""

from __future__ import annotations

import collections
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent

UVICORN_READY = r"Uvicorn running on http://127\.0\.0\.1:(\d+)"
GUNICORN_READY = r"Listening at: http://127\.0\.0\.1:(\d+)"


def uvicorn_command(*args: str) -> list[str]:
    """uvicorn serving the reference project on port 0, plus ``args``."""
    return [str(BIN / "uvicorn"), "config.asgi:application", "--port", "0", *args]


def gunicorn_command(*args: str) -> list[str]:
    """gunicorn with the reference deployment's configuration, plus ``args``."""
    return [str(BIN / "gunicorn"), "-c", "deploy/gunicorn.conf.py", *args]


class Server:
    """A server process whose combined output goes to a file the test can read."""

    def __init__(self, process: subprocess.Popen[bytes], log: Path) -> None:
        self.process = process
        self.log_path = log
        self.port = 0
        self._final_log: str | None = None

    @property
    def log(self) -> str:
        """Everything the server printed so far (all of it, once the block has ended)."""
        if self._final_log is not None:
            return self._final_log
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def wait_for(self, pattern: str, timeout: float = 20) -> re.Match[str]:
        """Wait until ``pattern`` appears in the output; fail if the process exits first."""
        deadline = time.monotonic() + timeout
        while True:
            match = re.search(pattern, self.log)
            if match:
                return match
            if self.process.poll() is not None:
                raise AssertionError(
                    f"server exited ({self.process.returncode}) before {pattern!r}:\n{self.log}"
                )
            if time.monotonic() > deadline:
                raise AssertionError(f"no {pattern!r} within {timeout}s:\n{self.log}")
            time.sleep(0.05)

    def terminate(self, timeout: float = 30, sig: int = signal.SIGTERM) -> int:
        """Send ``sig`` (SIGTERM) to the server and return its exit code."""
        if self.process.poll() is None:
            self.process.send_signal(sig)
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(10)
            raise AssertionError(f"server ignored {sig!r} for {timeout}s:\n{self.log}") from None


def server_env(**extra: str) -> dict[str, str]:
    """This process's environment for a server of the reference project, plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GUNICORN_", "DJANGO_"))}
    env.update(
        PYTHONDEVMODE="1",
        PYTHONUNBUFFERED="1",
        DJANGO_SETTINGS_MODULE="config.settings",
        # config/settings.py refuses to start without one (DEBUG is off).
        DJANGO_SECRET_KEY="sessionhub-tests-" + "x" * 50,
        SESSIONHUB_LOG_LEVEL="DEBUG",
    )
    env.update(extra)
    return env


@contextmanager
def running(
    args: Sequence[str], *, ready: str | None, env: dict[str, str] | None = None
) -> Iterator[Server]:
    """Run ``args`` from the repository root until the block ends.

    ``ready`` is a regex with one group, the port, that the server prints once
    it listens; ``None`` to not wait (for servers expected to fail).
    """
    with tempfile.TemporaryDirectory() as tmp:
        log = Path(tmp) / "server.log"
        with log.open("wb") as out:
            process = subprocess.Popen(
                list(args),
                cwd=ROOT,
                env=env if env is not None else server_env(),
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        server = Server(process, log)
        try:
            if ready is not None:
                server.port = int(server.wait_for(ready).group(1))
            yield server
        finally:
            try:
                if process.poll() is None:
                    server.terminate()
            finally:
                if process.poll() is None:
                    os.killpg(process.pid, signal.SIGKILL)
                    process.wait(10)
                server._final_log = server.log


# What a leaked session, connector, response or task leaves in a server log.
LEAKS = r"Unclosed|Task was destroyed"
# assert_clean's too: a gunicorn that halts leaves its own listening socket to
# the ResourceWarning of interpreter exit, so assert_no_leaks allows those.
UNCLEAN = re.compile(f"{LEAKS}|ResourceWarning|Exception ignored|Traceback")


def assert_clean(log: str) -> None:
    """No leaked sessions, connectors or tasks, and no tracebacks, in a server log."""
    found = UNCLEAN.findall(log)
    assert not found, f"server log has {found}:\n{log}"


def assert_no_leaks(log: str) -> None:
    """No leaked sessions, connectors or tasks in a server log; unlike ``assert_clean``,
    tracebacks (a failed startup's message, a logged upstream failure) and the
    ResourceWarnings of a halting gunicorn may appear."""
    found = re.findall(LEAKS, log)
    assert not found, f"server log has {found}:\n{log}"


def tcp_connections(remote_port: int) -> list[tuple[str, int]]:
    """IPv4 TCP connections to ``remote_port`` on this host: (state, bytes queued to send).

    Read from the kernel (/proc/net/tcp); state "01" is ESTABLISHED.
    """
    found = []
    with open("/proc/net/tcp", encoding="ascii") as table:
        next(table)
        for line in table:
            fields = line.split()
            if int(fields[2].rpartition(":")[2], 16) == remote_port:
                found.append((fields[3], int(fields[4].partition(":")[0], 16)))
    return found


def process_tree(root: int) -> list[int]:
    """``root`` and its children (gunicorn's master and its workers)."""
    children = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat", encoding="ascii") as stat:
                    # The ppid is the second field after the parenthesized name.
                    if int(stat.read().rpartition(")")[2].split()[1]) == root:
                        children.append(int(entry))
            except (FileNotFoundError, ProcessLookupError):
                continue
    return [root, *children]


def open_fds(pids: list[int]) -> int:
    """File descriptors open in ``pids`` (those that still exist)."""
    total = 0
    for pid in pids:
        try:
            total += len(os.listdir(f"/proc/{pid}/fd"))
        except FileNotFoundError:
            continue
    return total


def count_by_pid(log: str, pattern: str) -> collections.Counter[str]:
    """How many times each pid logged a sessionhub line matching ``pattern``."""
    return collections.Counter(re.findall(rf"\[(\d+)\] \[\w+\] sessionhub: {pattern}", log))


def fetch(url: str, timeout: float = 10) -> tuple[int, dict[str, Any]]:
    """GET ``url`` on a new connection (so the kernel can hand it to any worker).

    Returns the status and the JSON body, for errors too.
    """
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return response.status, json.load(response)
    except urllib.error.HTTPError as error:
        return error.code, json.load(error)


def get_json(url: str) -> dict[str, Any]:
    """The JSON body of a GET of ``url`` that must answer 200."""
    status, body = fetch(url)
    assert status == 200, (status, body)
    return body


def wait_until(condition: Callable[[], object], timeout: float, what: str) -> None:
    """Poll ``condition`` until it is true; fail naming ``what`` after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {timeout} s")
        time.sleep(0.02)


def wait_for_halt(server: Server, timeout: float = 60) -> None:
    """Wait for a gunicorn whose only worker cannot boot to halt; assert that it halted.

    Run such a gunicorn with one worker: when two fail at the same instant,
    gunicorn 27 may reap the second inside its halt and exit 1 with a
    traceback instead of 3, a race that would make the exit code a coin toss.
    """
    deadline = time.monotonic() + timeout
    # Either gunicorn halts, or a worker serves (and the test fails at once).
    while server.process.poll() is None:
        assert "Application startup complete" not in server.log, server.log
        assert time.monotonic() < deadline, f"gunicorn did not halt within {timeout} s"
        time.sleep(0.05)
    log = server.log
    assert server.process.returncode == 3, log  # gunicorn's "Worker failed to boot"
    assert "Worker failed to boot" in log
    # Halted, not a crash loop: the one worker was never booted again.
    assert len(re.findall(r"Booting worker with pid", log)) == 1, log


def stop(server: Server) -> tuple[int, float]:
    """SIGTERM the server; return its exit code and how long it took to exit."""
    started = time.monotonic()
    code = server.terminate()
    return code, time.monotonic() - started
