"""URLs and origins, read as aiohttp and httpx will read them.

An origin is ``(scheme, host, port)``: the host in lower case, the port always
given. ``show`` writes an origin as ``ALLOWED_ORIGINS`` accepts it.
"""

from __future__ import annotations

import ipaddress
import socket

import yarl

Origin = tuple[str, str, int]

# Websockets are compared under the scheme of their handshake.
_HTTP_SCHEME = {"ws": "http", "wss": "https"}
_DEFAULT_PORT = {"http": 80, "https": 443}


def url_problem(value: str, *, origin_only: bool) -> str | None:
    """What is wrong with ``value`` as a BASE_URL (or an origin), without showing it.

    The URL is read as aiohttp and httpx will read it: yarl parses it, and the
    host must be one a connection can be opened to as written.
    """
    if any(char.isspace() or not char.isprintable() for char in value):
        return "contains spaces or control characters"
    try:
        parts = yarl.URL(value)
        port = parts.port
    except (TypeError, ValueError):
        return "is not a valid URL (it has no host, or a host or port that cannot be read)"
    if parts.scheme not in {"http", "https"}:
        return "must start with http:// or https://"
    host = parts.raw_host
    if not host:
        return "has no host"
    if port is None or not 0 < port < 65536:
        return "has a port out of range (1 to 65535)"
    if (why := _host_problem(host)) is not None:
        return why
    if parts.raw_user is not None or parts.raw_password is not None:
        return "must not contain a user name or password"
    if parts.raw_query_string or parts.raw_fragment or "?" in value or "#" in value:
        return "must not have a query string or fragment"
    if origin_only and parts.raw_path not in {"", "/"}:
        return "must be an origin (scheme://host[:port]), without a path"
    if not origin_only and not parts.raw_path.endswith("/"):
        return 'must end with "/" (request paths are joined to it)'
    return None


def _host_problem(host: str) -> str | None:
    if ":" in host:
        return None  # an IPv6 address, which yarl has checked
    try:
        socket.inet_aton(host)
    except OSError:
        pass
    else:
        # A number the resolver takes for an IPv4 address (127.1, 0x7f.1):
        # aiohttp refuses all but the dotted quad.
        try:
            ipaddress.IPv4Address(host)
        except ValueError:
            return "has a host that is not a canonical IPv4 address (write it as 127.0.0.1)"
        return None
    if host.replace(".", "").isdigit():
        return "has a host that is not a valid IPv4 address"
    try:
        host.encode("idna")
    except UnicodeError:
        return "has a host name that is not valid (an empty or too long label)"
    return None


def of(url: yarl.URL) -> Origin:
    """The origin a request to ``url`` goes to (a websocket's as its handshake's)."""
    return _HTTP_SCHEME.get(url.scheme, url.scheme), (url.raw_host or "").lower(), url.port or 0


def show(origin: Origin) -> str:
    """``origin`` as an ``ALLOWED_ORIGINS`` entry: the port only where it is not the default."""
    scheme, host, port = origin
    netloc = f"[{host}]" if ":" in host else host
    if port and port != _DEFAULT_PORT.get(scheme):
        netloc += f":{port}"
    return f"{scheme}://{netloc}" if scheme else f"//{netloc}"
