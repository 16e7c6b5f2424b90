"""The processes a benchmark run keeps up: upstream, latency proxy, servers under test."""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

from bench.certs import Certificates
from bench.processes import Child, Cores, get, listening_socket, spawn, wait_ready
from bench.variants import Variant

__all__ = [
    "Proxy",
    "Server",
    "Upstream",
    "UpstreamCounts",
    "latency_proxy",
    "servers",
    "upstream",
]


@dataclass(frozen=True)
class UpstreamCounts:
    """What the upstream saw since the last reset."""

    connections: int
    requests: int


@dataclass(frozen=True)
class Upstream:
    """The running upstream's addresses."""

    http_port: int
    https_port: int
    control_port: int
    pid: int

    def url(self, scheme: str) -> str:
        port = self.http_port if scheme == "http" else self.https_port
        return f"{scheme}://127.0.0.1:{port}/"

    def counts(self) -> UpstreamCounts:
        """Connections accepted and requests served since the last call; reset them."""
        status, body = get(f"http://127.0.0.1:{self.control_port}/stats?reset=1")
        if status != 200:
            raise RuntimeError(f"upstream /stats answered {status}: {body[:200]!r}")
        data = json.loads(body)
        return UpstreamCounts(connections=data["connections"], requests=data["requests"])


@contextmanager
def upstream(
    certs: Certificates, *, delay_ms: float, cores: Cores, log_dir: Path
) -> Iterator[Upstream]:
    """Run the upstream (HTTP and HTTPS) on the load core until the block ends."""
    http, https, control = listening_socket(), listening_socket(), listening_socket()
    with http, https, control:
        args = [
            "python", "-m", "bench.upstream",
            "--http-fd", str(http.fileno()),
            "--https-fd", str(https.fileno()),
            "--control-fd", str(control.fileno()),
            "--cert", str(certs.cert),
            "--key", str(certs.key),
            "--delay-ms", str(delay_ms),
        ]  # fmt: skip
        sockets = (http, https, control)
        with spawn(
            "upstream", args, core=cores.load, cores=cores, log_dir=log_dir, sockets=sockets
        ) as child:
            result = Upstream(
                http_port=http.getsockname()[1],
                https_port=https.getsockname()[1],
                control_port=control.getsockname()[1],
                pid=child.process.pid,
            )
            wait_ready(child, f"http://127.0.0.1:{result.control_port}/stats")
            yield result


@dataclass(frozen=True)
class Proxy:
    """The running latency proxy."""

    port: int
    pid: int


@contextmanager
def latency_proxy(
    target_port: int, *, rtt_ms: float, cores: Cores, log_dir: Path
) -> Iterator[Proxy]:
    """Run the latency proxy in front of ``target_port`` until the block ends."""
    with listening_socket() as sock:
        args = [
            "python", "-m", "bench.latency_proxy",
            "--listen-fd", str(sock.fileno()),
            "--target-port", str(target_port),
            "--one-way-ms", str(rtt_ms / 2),
        ]  # fmt: skip
        with spawn(
            "latency-proxy", args, core=cores.load, cores=cores, log_dir=log_dir, sockets=[sock]
        ) as child:
            child.check_alive()
            yield Proxy(port=sock.getsockname()[1], pid=child.process.pid)


_UVICORN_READY = r"Uvicorn running on http://127\.0\.0\.1:(\d+)"


@dataclass(frozen=True)
class Server:
    """A server under test."""

    url: str  # what wrk loads
    process: Child


@contextmanager
def servers(
    variants: Sequence[Variant],
    upstream_url: str,
    *,
    certs: Certificates,
    cores: Cores,
    log_dir: Path,
    tag: str,
) -> Iterator[dict[str, Server]]:
    """One uvicorn per variant on the server core, by variant key.

    Every server runs with the same options: uvloop, httptools, one worker,
    lifespan "auto", no access log. ``SSL_CERT_FILE`` makes aiohttp's default
    SSL context, and so every variant's session, trust the benchmark's CA.
    """
    env = {
        "DJANGO_SETTINGS_MODULE": "bench.project.settings",
        "BENCH_UPSTREAM_URL": upstream_url,
        "SSL_CERT_FILE": str(certs.ca),
    }
    children: list[tuple[Variant, Child]] = []
    with ExitStack() as stack:
        for variant in variants:
            # Port 0 and read the port back: uvicorn's --fd takes every socket for a
            # Unix one, and would serve TCP without TCP_NODELAY.
            args = [
                "python", "-m", "uvicorn",
                "--factory", variant.factory,
                "--host", "127.0.0.1",
                "--port", "0",
                "--loop", "uvloop",
                "--http", "httptools",
                "--workers", "1",
                "--lifespan", "auto",
                "--no-access-log",
                "--log-level", "info",
            ]  # fmt: skip
            child = stack.enter_context(
                spawn(
                    f"{tag}-{variant.key}",
                    args,
                    core=cores.server,
                    cores=cores,
                    log_dir=log_dir,
                    env=env,
                )
            )
            children.append((variant, child))
        started: dict[str, Server] = {}
        for variant, child in children:
            port = child.wait_for(_UVICORN_READY).group(1)
            url = f"http://127.0.0.1:{port}{variant.path}"
            wait_ready(child, url)
            started[variant.key] = Server(url, child)
        yield started
