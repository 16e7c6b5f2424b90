"""The upstream call every variant makes: same URL, same aiohttp options, same handling.

Variants differ only in where the ``aiohttp.ClientSession`` comes from. The
URL comes from ``BENCH_UPSTREAM_URL``; clients trust the benchmark's own CA
through ``SSL_CERT_FILE``, which aiohttp's default SSL context reads, so
sessionhub's session (created by sessionhub, with default options) trusts it
exactly as the others do.
"""

from __future__ import annotations

import os

import aiohttp

__all__ = ["TIMEOUT", "UPSTREAM_URL", "fetch", "new_session"]


def _upstream_url() -> str:
    url = os.environ.get("BENCH_UPSTREAM_URL", "")
    if not url:
        raise RuntimeError(
            "BENCH_UPSTREAM_URL is not set: the benchmark's servers are started by "
            "`python -m bench`, which sets it."
        )
    return url


UPSTREAM_URL = _upstream_url()
TIMEOUT = aiohttp.ClientTimeout(total=10)


def new_session() -> aiohttp.ClientSession:
    """A session configured like the one sessionhub creates."""
    return aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar())


async def fetch(session: aiohttp.ClientSession) -> bytes:
    """GET the upstream and return its body; an error status raises."""
    async with session.get(UPSTREAM_URL, timeout=TIMEOUT) as response:
        response.raise_for_status()
        return await response.read()
