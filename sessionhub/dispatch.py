"""Sending the lifespan signals: every receiver bounded by the phase's deadline.

Receivers run as Django's ``Signal.asend_robust`` runs them, async ones
concurrently on the loop and every one even when another raises, with two
differences: each async receiver is a task of its own, so that it can be
bounded and named; and the sync ones run one after another in a daemon thread
of their own, not in asgiref's shared thread-sensitive executor, so that one
that never returns cannot hold up other sync code or keep the process alive.
That thread closes the database connections its receivers opened.

Receivers still running at the deadline are cancelled and given a few passes
of the loop to stop (``closing.unwind``); one that ignores its cancellation (or a sync receiver,
which cannot be cancelled) is reported and left behind, never waited for.
Any exception a receiver raises, ``SystemExit`` and ``KeyboardInterrupt``
included, is a failure of that receiver.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import threading
from collections.abc import Callable, Mapping
from typing import Any

from django.db import connections
from django.dispatch import Signal

from sessionhub import closing, compat
from sessionhub.errors import describe, describe_exception

__all__ = ["send", "settle"]


async def send(
    signal: Signal, name: str, sender: object, *, deadline: float, bound: str, **named: Any
) -> list[str]:
    """Send ``signal`` to its receivers until ``deadline`` (loop time); describe each failure.

    ``name`` names the signal in the descriptions, ``bound`` the setting that
    set the deadline. An empty list means every receiver returned in time.
    """
    named = {"sender": sender, **named}
    receivers = compat.live_receivers(signal, sender)
    if receivers is None:  # Django's shape is unknown: send it as a whole, still bounded
        results: list[tuple[Any, Any]] = []

        async def whole(**named: Any) -> None:
            results.extend(await signal.asend_robust(**named))

        job = asyncio.ensure_future(_call(whole, named))
        failures = await settle({job: f"{name} receivers"}, deadline, bound)
        return failures + [
            f"{name} receiver {describe(receiver)} raised {describe_exception(result)}"
            for receiver, result in results
            if isinstance(result, BaseException)
        ]
    sync_receivers, async_receivers = receivers
    named["signal"] = signal
    jobs: dict[asyncio.Future[Any], str] = {
        asyncio.ensure_future(_call(receiver, named)): f"{name} receiver {describe(receiver)}"
        for receiver in async_receivers
    }
    batch = _SyncBatch(sync_receivers, named, name)
    if sync_receivers:
        jobs[batch.start()] = ""  # the batch describes its own failures
    return await settle(jobs, deadline, bound) + batch.failures(bound)


async def _call(function: Callable[..., Any], named: Mapping[str, Any]) -> BaseException | None:
    """Await ``function(**named)``; return what it raised (its own cancellation aside)."""
    try:
        await function(**named)
    except asyncio.CancelledError:
        raise
    except BaseException as exc:  # SystemExit too: a failure of this receiver, not the server's
        return exc
    return None


async def settle(jobs: dict[asyncio.Future[Any], str], deadline: float, bound: str) -> list[str]:
    """Wait for ``jobs`` until ``deadline``, then cancel the rest; describe each failure.

    Each job is described by its value in ``jobs`` (``""``: it describes its
    own failures), and returns the exception its code raised, or ``None``.
    """
    if not jobs:
        return []
    loop = asyncio.get_running_loop()
    try:
        done, pending = await asyncio.wait(jobs, timeout=max(0.0, deadline - loop.time()))
    except BaseException:  # cancelled: the server is going away, and so does the code
        for job in jobs:
            job.cancel()
        raise
    await closing.unwind(pending)
    failures = []
    for job, what in jobs.items():
        if not what:
            continue
        if job in pending:
            failures.append(f"{what} was still running after {bound} and was cancelled")
            if not job.done():
                failures[-1] += "; it ignored the cancellation and is left running"
        elif job.cancelled():
            failures.append(f"{what} was cancelled")
        elif (error := job.result()) is not None:
            failures.append(f"{what} raised {describe_exception(error)}")
    return failures


class _SyncBatch:
    """Sync receivers, run one after another in a daemon thread; what became of each."""

    def __init__(self, receivers: list[Callable[..., Any]], named: Mapping[str, Any], name: str):
        self.receivers = receivers
        self.named = named
        self.name = name
        self.errors: list[tuple[Callable[..., Any], BaseException]] = []
        self.running: int | None = None
        self.lock = threading.Lock()

    def start(self) -> asyncio.Future[None]:
        """Start the thread; the future is done when every receiver has returned."""
        loop = asyncio.get_running_loop()
        done: asyncio.Future[None] = loop.create_future()
        context = contextvars.copy_context()

        def finished() -> None:
            if not done.done():  # else cancelled at the deadline
                done.set_result(None)

        def run() -> None:
            for index, receiver in enumerate(self.receivers):
                with self.lock:
                    self.running = index
                try:
                    context.run(receiver, **self.named)
                except BaseException as exc:  # noqa: BLE001 - a failure of this receiver
                    with self.lock:
                        self.errors.append((receiver, exc))
            with self.lock:
                self.running = None
            connections.close_all()  # this thread's own connections
            with contextlib.suppress(RuntimeError):  # a closed loop waits no more
                loop.call_soon_threadsafe(finished)

        threading.Thread(target=run, name="sessionhub-receivers", daemon=True).start()
        return done

    def failures(self, bound: str) -> list[str]:
        """Describe the receivers that raised, the one still running and those after it."""
        with self.lock:
            errors, running = list(self.errors), self.running
        lines = [
            f"{self.name} receiver {describe(receiver)} raised {describe_exception(exc)}"
            for receiver, exc in errors
        ]
        if running is not None:
            lines.append(
                f"{self.name} receiver {describe(self.receivers[running])} was still running "
                f"after {bound}; it is a sync receiver, which cannot be cancelled, and is left "
                "running in its thread"
            )
            lines += [
                f"{self.name} receiver {describe(receiver)} did not run: a sync receiver before "
                "it was still running"
                for receiver in self.receivers[running + 1 :]
            ]
        return lines
