"""The pools' counts, exported through OpenTelemetry's metrics API when it is installed.

With ``opentelemetry-api`` importable (the ``otel`` extra), every client that
sessionhub's factories build records, through the global meter provider (or
the one given to ``use()``), under the names and attributes of OpenTelemetry's
semantic conventions for HTTP clients:

- ``http.client.request.duration`` (histogram, s): from the start of a request
  to its response's head, or its failure;
- ``http.client.request.time_in_queue`` (histogram, s): how long a request
  waited for a pooled connection (the name .NET's HTTP client uses);
- ``http.client.connection.duration`` (histogram, s): how long a connection was open;
- ``http.client.open_connections`` (up-down counter, observed): connections
  open now, by ``http.connection.state`` (``active``: serving a request).

Each carries ``server.address``, ``server.port`` and ``url.scheme``, and
``sessionhub.client``, the client's name; requests add ``http.request.method``
and ``http.response.status_code`` or ``error.type``. Without the API, or with
no meter provider set, recording costs next to nothing.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Iterator, Mapping
from typing import Any

try:
    from opentelemetry import metrics as otel
except ImportError:  # pragma: no cover - the otel extra is not installed (tests: otel = None)
    otel = None  # type: ignore[assignment]

__all__ = ["use"]

# What semantic conventions advise for HTTP durations, in seconds.
BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10)
Attributes = Mapping[str, str | int]

_lock = threading.Lock()
# Every pool in the process, on any loop, for the observed instruments: a
# sessionhub.metrics.Pool (not imported: metrics records through this module).
_pools: weakref.WeakSet[Any] = weakref.WeakSet()


class _Instruments:
    def __init__(self, provider: Any) -> None:
        meter = (provider or otel.get_meter_provider()).get_meter("sessionhub")

        def histogram(name: str, description: str) -> Any:
            try:
                return meter.create_histogram(
                    name, "s", description, explicit_bucket_boundaries_advisory=BUCKETS
                )
            except TypeError:  # the API before 1.30 takes no advice
                return meter.create_histogram(name, "s", description)

        self.duration = histogram(
            "http.client.request.duration", "Duration of HTTP client requests."
        )
        self.queued = histogram(
            "http.client.request.time_in_queue",
            "Time requests spent waiting for an available connection in the pool.",
        )
        self.connection = histogram(
            "http.client.connection.duration", "Duration of the outbound HTTP connections."
        )
        meter.create_observable_up_down_counter(
            "http.client.open_connections",
            callbacks=[_open_connections],
            unit="{connection}",
            description="Outbound HTTP connections that are active or idle on the client.",
        )


_instruments: _Instruments | None = None


def use(provider: Any = None) -> None:
    """Record through the OpenTelemetry ``provider`` from now on (``None``: the global one).

    Only for a meter provider that is not the global one; a no-op without the API.
    """
    global _instruments
    _instruments = _Instruments(provider) if otel is not None else None


def watch(pool: Any) -> None:
    """Observe ``pool``'s open connections while it lives."""
    with _lock:
        _pools.add(pool)


def finished(
    attributes: Attributes, seconds: float, method: str, status: int | None, error: str | None
) -> None:
    """Record a request that ended with ``status``, or with an ``error`` type."""
    if _instruments is None:
        return
    recorded = {**attributes, "http.request.method": method}
    if status is not None:
        recorded["http.response.status_code"] = status
        if status >= 400:
            error = str(status)
    if error is not None:
        recorded["error.type"] = error
    _instruments.duration.record(seconds, recorded)


def waited(attributes: Attributes, seconds: float) -> None:
    """Record a wait for a pooled connection."""
    if _instruments is not None:
        _instruments.queued.record(seconds, attributes)


def connection_closed(attributes: Attributes, seconds: float) -> None:
    """Record a connection that was open ``seconds``."""
    if _instruments is not None:
        _instruments.connection.record(seconds, attributes)


def _open_connections(options: Any) -> Iterator[Any]:
    with _lock:
        pools = list(_pools)
    for pool in pools:
        # list(): the pool's loop may add an origin meanwhile.
        for origin in list(pool.origins.values()):
            active = min(origin.active, origin.open)
            for state, count in (("active", active), ("idle", origin.open - active)):
                attributes = {**origin.attributes, "http.connection.state": state}
                yield otel.Observation(count, attributes)


use()
