"""The last resort of sessionhub's gunicorn worker: end the process once it outlives its bounds.

Some code defeats every bound an event loop can enforce: a synchronous call
that blocks the loop, a task that ignores its cancellation (``asyncio.run``
waits for it at the end), a thread that never returns (the interpreter waits
for it at exit). The watchdog is a daemon thread with a deadline: when it
passes, the watchdog writes why and where every thread was (``faulthandler``)
to stderr and ends the process with ``os._exit``. Only sessionhub's gunicorn
worker arms it, because only there does sessionhub own the process: a test
or a script that goes on after a lifespan is never ended by sessionhub.
"""

from __future__ import annotations

import faulthandler
import os
import threading
import time

__all__ = ["Watchdog"]


class Watchdog:
    """End this process at a deadline unless disarmed first."""

    def __init__(self) -> None:
        self._condition = threading.Condition()
        self._deadline: float | None = None
        self._code = 0
        self._why = ""
        self._thread: threading.Thread | None = None

    def arm(self, seconds: float, code: int, why: str) -> None:
        """End the process with exit ``code`` in ``seconds``, saying ``why``.

        Of two deadlines the earlier holds: arming never gives more time.
        """
        deadline = time.monotonic() + seconds
        with self._condition:
            if self._deadline is not None and self._deadline <= deadline:
                return
            self._deadline, self._code, self._why = deadline, code, why
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._watch, name="sessionhub-watchdog", daemon=True
                )
                self._thread.start()
            self._condition.notify()

    @property
    def armed(self) -> tuple[float, int, str] | None:
        """When (``time.monotonic()``), with what exit code and why the process ends, if armed."""
        with self._condition:
            return None if self._deadline is None else (self._deadline, self._code, self._why)

    def disarm(self) -> None:
        """Forget the deadline: the process may live on."""
        with self._condition:
            self._deadline = None
            self._condition.notify()

    def _watch(self) -> None:
        with self._condition:
            while self._deadline is None or self._deadline > time.monotonic():
                left = None if self._deadline is None else self._deadline - time.monotonic()
                self._condition.wait(left)
            code, why = self._code, self._why
        # Straight to the file descriptor: the logging module's locks may be
        # held by the very thread that is stuck.
        os.write(
            2,
            f"[sessionhub] pid {os.getpid()}: {why}; ending the process with exit code {code}. "
            "Where each thread was:\n".encode(),
        )
        faulthandler.dump_traceback(2, all_threads=True)
        os._exit(code)
