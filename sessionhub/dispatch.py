"""Sending a lifespan signal with a bound, one task per receiver, naming the ones that fail.

Django's ``Signal.asend_robust`` cannot be bounded receiver by receiver, nor
say which receiver still runs. Dispatch here keeps Django's semantics (sync
receivers run one after another in a thread, async ones concurrently on the
loop, all of them even when one raises) and adds a deadline: async receivers
still running then are cancelled; a sync one cannot be, so it is reported and
left to finish in its thread, a daemon thread so that it cannot keep the
process from exiting.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import functools
import threading
import traceback
from collections.abc import Callable
from typing import Any

from django.dispatch import Signal

from sessionhub import compat

__all__ = ["describe", "describe_exception", "send"]

Receiver = Callable[..., Any]


async def send(
    signal: Signal, name: str, sender: object, *, deadline: float, bound: str, **named: Any
) -> list[str]:
    """Send ``signal`` to its receivers until ``deadline`` (loop time); describe each failure.

    ``name`` names the signal in the descriptions, ``bound`` the setting that
    set the deadline. An empty list means every receiver returned in time.
    """
    receivers = compat.live_receivers(signal, sender)
    if receivers is None:
        # Django's shape is unknown: send it as a whole, still bounded.
        return await _send_whole(signal, name, sender, deadline=deadline, bound=bound, **named)
    sync_receivers, async_receivers = receivers
    loop = asyncio.get_running_loop()
    jobs: dict[asyncio.Future[Any], Receiver] = {}
    for receiver in async_receivers:
        try:
            job = asyncio.ensure_future(receiver(signal=signal, sender=sender, **named))
        except Exception as exc:  # raised before it awaited anything
            job = loop.create_future()
            job.set_exception(exc)
        jobs[job] = receiver
    progress = _SyncProgress(sync_receivers)
    waiting = set(jobs)
    if sync_receivers:
        waiting.add(progress.start(loop, signal=signal, sender=sender, **named))
    if not waiting:
        return []
    try:
        done, pending = await asyncio.wait(waiting, timeout=max(0.0, deadline - loop.time()))
    except BaseException:  # cancelled: the server is going away; so do the receivers
        for job in jobs:
            job.cancel()
        raise
    for job in pending:
        job.cancel()
    if pending:
        await asyncio.wait(pending, timeout=1.0)
    for job in done:
        error = None if job.cancelled() else job.exception()
        if error is not None and not isinstance(error, Exception):
            raise error  # KeyboardInterrupt, SystemExit and their kind are not failures
    failures = [
        f"{name} receiver {describe(receiver)} {_outcome(job)}"
        for job, receiver in jobs.items()
        if job in done and (job.cancelled() or job.exception() is not None)
    ]
    failures += [
        f"{name} receiver {describe(receiver)} raised {describe_exception(exc)}"
        for receiver, exc in progress.failed()
    ]
    failures += [
        f"{name} receiver {describe(receiver)} was still running after {bound} and was cancelled"
        for job, receiver in jobs.items()
        if job in pending
    ]
    if pending - set(jobs):
        failures += progress.overdue(name, bound)
    return failures


def _outcome(job: asyncio.Future[Any]) -> str:
    if job.cancelled():
        return "was cancelled"
    return f"raised {describe_exception(job.exception())}"


class _SyncProgress:
    """Sync receivers run one after another in a daemon thread; what became of each."""

    def __init__(self, receivers: list[Receiver]) -> None:
        self.receivers = receivers
        self.errors: list[tuple[Receiver, BaseException]] = []
        self.running: int | None = None
        self.lock = threading.Lock()

    def failed(self) -> list[tuple[Receiver, BaseException]]:
        """The sync receivers that raised so far, with what they raised."""
        with self.lock:
            return list(self.errors)

    def start(self, loop: asyncio.AbstractEventLoop, **named: Any) -> asyncio.Future[None]:
        """Run the sync receivers in a daemon thread; the future is done when they are."""
        done: asyncio.Future[None] = loop.create_future()
        context = contextvars.copy_context()

        def finished() -> None:
            if not done.done():  # cancelled past the deadline
                done.set_result(None)

        def run() -> None:
            for index, receiver in enumerate(self.receivers):
                with self.lock:
                    self.running = index
                try:
                    context.run(receiver, **named)
                except Exception as exc:
                    with self.lock:
                        self.errors.append((receiver, exc))
            with self.lock:
                self.running = None
            with contextlib.suppress(RuntimeError):  # a closed loop: nobody waits any more
                loop.call_soon_threadsafe(finished)

        threading.Thread(target=run, name="sessionhub-receivers", daemon=True).start()
        return done

    def overdue(self, name: str, bound: str) -> list[str]:
        """Describe the sync receiver still running and those after it."""
        with self.lock:
            running = self.running
        if running is None:  # pragma: no cover - finished between the wait and here
            return []
        lines = [
            f"{name} receiver {describe(self.receivers[running])} was still running after "
            f"{bound}; it is a sync receiver, which cannot be cancelled, and is left running "
            "in its thread"
        ]
        lines += [
            f"{name} receiver {describe(receiver)} did not run: a sync receiver before it "
            "was still running"
            for receiver in self.receivers[running + 1 :]
        ]
        return lines


async def _send_whole(
    signal: Signal, name: str, sender: object, *, deadline: float, bound: str, **named: Any
) -> list[str]:
    try:
        async with asyncio.timeout_at(deadline):
            responses = await signal.asend_robust(sender=sender, **named)
    except TimeoutError:
        return [f"{name} receivers were still running after {bound} and were cancelled"]
    except Exception as exc:
        return [f"sending {name} failed: {describe_exception(exc)}"]
    return [
        f"{name} receiver {describe(receiver)} raised {describe_exception(result)}"
        for receiver, result in responses
        if isinstance(result, BaseException)
    ]


def describe(receiver: object) -> str:
    """Name a receiver for an operator, whatever callable it is; never raises."""
    try:
        if isinstance(receiver, functools.partial):
            return f"functools.partial({describe(receiver.func)})"
        qualname = getattr(receiver, "__qualname__", None)
        module = getattr(receiver, "__module__", None)
        if isinstance(qualname, str) and isinstance(module, str):
            return f"{module}.{qualname}"
        kind = type(receiver)
        return f"{kind.__module__}.{kind.__qualname__} instance"
    except Exception:  # noqa: BLE001 - a name is not worth a failure
        return "<a receiver that cannot be named>"


def describe_exception(exc: BaseException | None) -> str:
    """One line an operator can grep for, then the traceback."""
    if exc is None:  # pragma: no cover - callers pass failed jobs only
        return "nothing"
    trace = "".join(traceback.format_exception(exc)).rstrip()
    return f"{type(exc).__name__}: {exc}\n{trace}"
