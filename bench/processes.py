"""Start the benchmark's processes pinned to a core, and always stop them."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

__all__ = ["ROOT", "Child", "Cores", "get", "listening_socket", "spawn", "wait_ready"]

# The repository root: children run from here so that `bench` is importable.
ROOT = Path(__file__).resolve().parent.parent

# Never send loopback traffic through a proxy from the environment.
_opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))


@dataclass(frozen=True)
class Cores:
    """Where the server under test runs, and where everything else does.

    ``None`` when the machine has a single core or cannot pin: then nothing is.
    """

    server: int | None
    load: int | None

    @classmethod
    def detect(cls) -> Cores:
        """The first two cores this process may run on."""
        if not hasattr(os, "sched_setaffinity"):  # macOS has no way to pin
            return cls(server=None, load=None)
        cores = sorted(os.sched_getaffinity(0))
        if len(cores) < 2:
            return cls(server=None, load=None)
        return cls(server=cores[0], load=cores[1])

    def pin(self, core: int | None) -> Callable[[], None] | None:
        """A ``preexec_fn`` that pins a child to ``core`` (what ``taskset -c`` does)."""
        if core is None:
            return None
        return lambda: os.sched_setaffinity(0, {core})


def listening_socket() -> socket.socket:
    """A socket listening on 127.0.0.1 on a free port, for a child to inherit."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(4096)
    sock.set_inheritable(True)
    return sock


class Child:
    """A running child process whose output goes to a log file."""

    def __init__(self, name: str, process: subprocess.Popen[bytes], log: Path) -> None:
        self.name = name
        self.process = process
        self.log = log

    def log_tail(self, lines: int = 30) -> str:
        text = self.log.read_text(encoding="utf-8", errors="replace")
        return "\n".join(text.splitlines()[-lines:])

    def wait_for(self, pattern: str, timeout: float = 60) -> re.Match[str]:
        """Wait until the log has a line matching ``pattern``; raise if the process exits."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            match = re.search(pattern, self.log.read_text(encoding="utf-8", errors="replace"))
            if match:
                return match
            self.check_alive()
            time.sleep(0.05)
        raise RuntimeError(
            f"{self.name} printed no {pattern!r} within {timeout}s:\n{self.log_tail()}"
        )

    def check_alive(self) -> None:
        """Raise if the process has exited."""
        code = self.process.poll()
        if code is not None:
            raise RuntimeError(
                f"{self.name} exited with code {code}; the end of {self.log}:\n{self.log_tail()}"
            )

    def stop(self, timeout: float = 20) -> int:
        """SIGTERM, then SIGKILL after ``timeout`` seconds; return the exit code."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            return self.process.wait(10)


@contextmanager
def spawn(
    name: str,
    args: Sequence[str],
    *,
    core: int | None,
    cores: Cores,
    log_dir: Path,
    env: Mapping[str, str] | None = None,
    sockets: Sequence[socket.socket] = (),
) -> Iterator[Child]:
    """Run ``args`` (``python`` means this interpreter) until the block ends."""
    if args[0] == "python":
        args = [sys.executable, *args[1:]]
    log = log_dir / f"{name}.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            list(args),
            cwd=ROOT,
            env=_child_env(env or {}),
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            pass_fds=[sock.fileno() for sock in sockets],
            preexec_fn=cores.pin(core),
            start_new_session=True,
        )
    child = Child(name, process, log)
    try:
        yield child
    finally:
        if child.stop() not in (0, -signal.SIGTERM):
            print(f"note: {name} exited with code {process.returncode}", file=sys.stderr)


def _child_env(extra: Mapping[str, str]) -> dict[str, str]:
    env = {
        key: value
        for key, value in os.environ.items()
        # Debug modes and a settings module from outside would skew the numbers.
        if key not in {"PYTHONDEVMODE", "PYTHONASYNCIODEBUG", "DJANGO_SETTINGS_MODULE"}
    }
    env["PYTHONUNBUFFERED"] = "1"
    env.update(extra)
    return env


def get(url: str, timeout: float = 10) -> tuple[int, bytes]:
    """GET ``url``; return the status and body (error statuses included)."""
    try:
        with _opener.open(url, timeout=timeout) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def wait_ready(child: Child, url: str, timeout: float = 60) -> None:
    """Poll ``url`` until it answers 200; raise if ``child`` exits or time runs out."""
    deadline = time.monotonic() + timeout
    last = "no answer"
    while time.monotonic() < deadline:
        child.check_alive()
        try:
            status, body = get(url, timeout=5)
        except OSError as exc:
            last = repr(exc)
        else:
            if status == 200:
                return
            last = f"status {status}: {body[:200]!r}"
        time.sleep(0.1)
    raise RuntimeError(
        f"{child.name} not ready at {url} within {timeout}s ({last}):\n{child.log_tail()}"
    )
