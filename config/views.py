"""The demo: an async view that calls an upstream through ``sessionhub.get()``.

It answers the upstream's JSON, or, whatever the upstream sends (an error, a
body too large, too deep or not JSON, NaN), a status, a short message and a
request id; the details, with the traceback, go to the log under that id. The
upstream URL and the client's headers never appear in a response, and their
secrets (user name, password, query values, header values) never in the log.
"""

from __future__ import annotations

import json
import logging
import os
import re
import traceback
import uuid
from typing import Any

import aiohttp
from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.urls import reverse
from yarl import URL

import sessionhub

logger = logging.getLogger("config.demo")

REDACTED = "[redacted]"
# The most of an upstream body the demo reads (and holds in memory).
MAX_BODY_BYTES = 1024 * 1024
# What aiohttp's response.json() takes for JSON: application/json and its +json kin.
_JSON_TYPE = re.compile(r"application/([\w.+-]+\+)?json")


class UnusableBody(ValueError):
    """The upstream's body is not one the demo answers with."""


async def demo(request: HttpRequest) -> HttpResponse:
    """Fetch the upstream and report which worker and which session served it."""
    request_id = uuid.uuid4().hex
    url = settings.DEMO_UPSTREAM_URL or embedded_upstream(request)
    if not url:
        logger.error(
            "request %s: DEMO_UPSTREAM_URL is empty and this server gives no TCP port to call "
            "the embedded upstream on (a unix socket, or WSGI); set DEMO_UPSTREAM_URL",
            request_id,
        )
        return _error(503, "the demo has no upstream configured", request_id)
    session = sessionhub.get()  # its timeout is set in settings.SESSIONHUB
    try:
        async with session.get(url) as response:
            response.raise_for_status()
            body = await _json_body(response)
        # Valid JSON only: no NaN or Infinity (huge numbers read as inf), no
        # nesting deeper than the interpreter can parse and write again.
        upstream = json.loads(body)
        answer = {"pid": os.getpid(), "session": id(session), "upstream": upstream}
        content = json.dumps(answer, allow_nan=False)
    except TimeoutError as exc:
        _log_failure(request_id, url, session, "timed out", exc)
        return _error(504, "the upstream did not answer in time", request_id)
    # ValueError: a body that is not JSON (aiohttp's own errors are ClientErrors).
    except (aiohttp.ClientError, ValueError, RecursionError) as exc:
        _log_failure(request_id, url, session, "failed", exc)
        return _error(502, "the upstream failed", request_id)
    return HttpResponse(content, content_type="application/json")


async def _json_body(response: aiohttp.ClientResponse) -> bytes:
    """The body of a JSON response, read up to ``MAX_BODY_BYTES`` (after decompression)."""
    if not _JSON_TYPE.fullmatch(response.content_type):
        raise UnusableBody(f"the upstream answered {response.content_type!r}, not JSON")
    if (response.content_length or 0) > MAX_BODY_BYTES:
        raise UnusableBody(f"the upstream's body is larger than {MAX_BODY_BYTES} bytes")
    body = bytearray()
    async for chunk in response.content.iter_chunked(64 * 1024):
        body += chunk
        if len(body) > MAX_BODY_BYTES:
            raise UnusableBody(f"the upstream's body is larger than {MAX_BODY_BYTES} bytes")
    return bytes(body)


async def upstream(request: HttpRequest) -> JsonResponse:
    """The embedded default upstream."""
    return JsonResponse({"message": "hello from the embedded upstream", "pid": os.getpid()})


def embedded_upstream(request: HttpRequest) -> str | None:
    """``/upstream/`` on this server's loopback address, or ``None`` where that is unknown.

    The port is the one this worker accepted the request on (ASGI's
    ``scope["server"]``, the server's own socket), never the Host header; the
    host is loopback, so that a server bound to all addresses calls itself on
    a name ``ALLOWED_HOSTS`` accepts. A unix socket and WSGI give no port.
    """
    server = getattr(request, "scope", {}).get("server")
    if not server or not isinstance(server[1], int):
        return None
    host = "[::1]" if ":" in server[0] else "127.0.0.1"
    return f"http://{host}:{server[1]}{reverse('upstream')}"


def _error(status: int, message: str, request_id: str) -> JsonResponse:
    response = JsonResponse({"error": message, "request_id": request_id}, status=status)
    response["X-Request-ID"] = request_id
    return response


def _log_failure(request_id: str, url: str, session: Any, what: str, exc: BaseException) -> None:
    secrets = sorted(_secrets(url, session), key=len, reverse=True)
    lines = []
    # Secrets can only be in the exceptions' messages; the frames (indented)
    # are left whole, so that a short query value does not garble line numbers.
    for line in traceback.format_exception(exc):
        if not line.startswith(" "):
            for secret in secrets:
                line = line.replace(secret, REDACTED)
        lines.append(line)
    details = "".join(lines).rstrip()
    logger.error("request %s: upstream %s %s\n%s", request_id, _public(url), what, details)


def _public(url: str) -> str:
    """``url`` without credentials, query or fragment: what the log may show."""
    try:
        parsed = URL(url)
        return str(parsed.with_user(None).with_query(None).with_fragment(None))
    except ValueError:
        return "(an invalid URL)"


def _secrets(url: str, session: Any) -> set[str]:
    """Strings the log must not show: the URL's user name, password and query, the
    session's headers."""
    found: set[str] = set()
    try:
        parsed = URL(url)
    except ValueError:
        found.add(url)
    else:
        found.update([parsed.user or "", parsed.raw_user or ""])
        found.update([parsed.password or "", parsed.raw_password or ""])
        found.update([parsed.query_string, parsed.raw_query_string, *parsed.query.values()])
        # Each value as it is written in the URL, percent-encoded or not.
        found.update(pair.partition("=")[2] for pair in parsed.raw_query_string.split("&"))
    headers = getattr(session, "headers", None) or {}
    found.update(str(value) for value in headers.values())
    return {secret for secret in found if secret}
