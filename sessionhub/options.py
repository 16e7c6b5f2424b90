"""The options of one named client: ``ClientConfig``, and reading them from the settings.

Each option is a field of ``ClientConfig`` whose metadata holds the rule for
its value (``sessionhub.validation``), so the table of options, the system
checks and the errors raised when a client is built all come from one place.
"""

from __future__ import annotations

import difflib
import functools
import inspect
from collections.abc import Mapping
from dataclasses import Field, dataclass, field, fields
from typing import Any, Literal

from django.utils.module_loading import import_string

from sessionhub import addresses
from sessionhub import validation as v
from sessionhub.validation import Invalid, Problem

# The client each factory of ours builds: OPTIONS are its keyword arguments.
CLIENTS = {v.DEFAULT_FACTORY: "aiohttp.ClientSession", v.HTTPX_FACTORY: "httpx.AsyncClient"}


def _option(default: Any, clean: v.Clean) -> Any:
    """A ``ClientConfig`` field that is an option, its value made by ``clean``."""
    if isinstance(default, dict):
        return field(default_factory=dict, metadata={"clean": clean})
    return field(default=default, metadata={"clean": clean})


@dataclass(frozen=True, slots=True)
class ClientConfig:
    """The options of one named client, with defaults filled in.

    This is what a ``FACTORY`` receives; the attributes are the options in
    lower case.
    """

    name: str
    base_url: str | None = _option(None, addresses.base_url)
    headers: Mapping[str, str] = _option({}, v.headers)
    timeout: float | None = _option(10.0, v.seconds(none=True))
    connect_timeout: float | None = _option(3.0, v.seconds(none=True))
    read_timeout: float | None = _option(None, v.seconds(none=True))
    limit: int = _option(100, v.count("0 means no limit"))
    limit_per_host: int = _option(50, v.count("0 means no limit"))
    keepalive_timeout: float = _option(15.0, v.seconds())
    ttl_dns_cache: int | None = _option(10, v.count("0 turns the DNS cache off", none=True))
    verify: bool = _option(True, v.flag)
    ca_bundle: str | None = _option(None, v.ca_bundle)
    raise_for_status: bool = _option(False, v.flag)
    trust_env: bool = _option(False, v.flag)
    cookies: Literal["none", "shared"] = _option("none", v.cookies)
    options: Mapping[str, Any] = _option({}, v.keywords)
    factory: str = _option(v.DEFAULT_FACTORY, v.factory)
    # Last, so that the fields before it keep their positions.
    allowed_origins: tuple[str, ...] = _option((), addresses.allowed_origins)


# Option name (upper case, as in the setting) -> its ClientConfig field.
OPTIONS: dict[str, Field[Any]] = {f.name.upper(): f for f in fields(ClientConfig) if f.metadata}


def read(name: str, options: object) -> tuple[ClientConfig | None, list[Problem]]:
    """Client ``name``'s config (None if it has errors) and its problems."""
    where = f"SESSIONHUB[{v.shown(name)}]"
    hint = 'Use {} for the defaults, or e.g. {"BASE_URL": "https://api.example.com/"}.'
    try:
        if not isinstance(options, Mapping):
            text = f" must be a dict of options, not {v.kind(options)}"
            return None, [("sessionhub.E001", f"{where}{text}.", hint)]
        items = [
            (str.__str__(k) if isinstance(k, str) else k, value) for k, value in options.items()
        ]
    except Exception as exc:
        text = f" cannot be read: reading it raised {v.kind(exc)}"
        return None, [("sessionhub.E001", f"{where}{text}.", hint)]
    values: dict[str, Any] = {}
    found: list[Problem] = []
    for key, value in items:
        option = OPTIONS.get(key) if type(key) is str else None
        if option is None:
            found.append(_unknown_option(where, key))
            continue
        try:
            values[option.name] = option.metadata["clean"](value)
        except Invalid as exc:
            found.append(exc.problem(f"{where}[{v.shown(key)}]", option.name.upper()))
        except Exception as exc:
            text = f" cannot be read: using it raised {v.kind(exc)}"
            invalid = Invalid("sessionhub.E003", text)
            found.append(invalid.problem(f"{where}[{v.shown(key)}]", option.name.upper()))
    if not any(p[0].startswith("sessionhub.E") for p in found):
        config = ClientConfig(name=name, **values)
        found += _together(where, config)
    if any(p[0].startswith("sessionhub.E") for p in found):
        return None, found
    return config, found


def _unknown_option(where: str, key: object) -> Problem:
    close = difflib.get_close_matches(key.upper(), OPTIONS, n=1) if type(key) is str else []
    hint = f"Did you mean {close[0]!r}? " if close else ""
    shown = v.shown(key) if type(key) is str else f"of type {v.kind(key)}"
    return (
        "sessionhub.E002",
        f"{where} has an unknown option {shown}.",
        f"{hint}The options are: {', '.join(OPTIONS)}.",
    )


@functools.cache
def _client_keywords(factory_path: str) -> frozenset[str] | None:
    """The keywords of the client a factory of ours builds (None for other factories)."""
    client = CLIENTS.get(factory_path)
    if client is None:
        return None
    return frozenset(inspect.signature(import_string(client)).parameters)


def _together(where: str, config: ClientConfig) -> list[Problem]:
    """Problems of a client's valid options together: OPTIONS that its client does not
    take (``sessionhub.E008``), and options that do not go together (warnings)."""
    found: list[Problem] = []
    takes = _client_keywords(config.factory) or frozenset(config.options)
    for key in config.options:
        if key not in takes:
            close = difflib.get_close_matches(key, sorted(takes), n=1)
            client = CLIENTS[config.factory]
            text = f"{where}['OPTIONS'] has {v.shown(key)}, which {client} does not take."
            hint = f"Did you mean {close[0]!r}? " if close else ""
            found.append(("sessionhub.E008", text, f"{hint}See {client}'s keyword arguments."))
    if config.headers and config.base_url is None and not config.allowed_origins:
        text = "sends its HEADERS to any origin the code calls: it has neither BASE_URL nor"
        hint = "Set BASE_URL, or ALLOWED_ORIGINS to the origins these headers are for"
        anywhere = '(["*"] if they may go anywhere).'
        found.append(("sessionhub.W006", f"{where} {text} ALLOWED_ORIGINS.", f"{hint} {anywhere}"))
    if not config.verify:
        text = f"{where} turns TLS certificate verification off (VERIFY=False)."
        hint = "Anyone on the network path can then read and change this client's traffic."
        ca = "To trust a private CA, set CA_BUNDLE instead."
        found.append(("sessionhub.W002", text, f"{hint} {ca}"))
    if not config.verify and config.ca_bundle is not None:
        text = f"{where} sets CA_BUNDLE, which VERIFY=False makes unused."
        found.append(("sessionhub.W003", text, "Remove one of the two."))
    return found
