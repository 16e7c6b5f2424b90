"""The rules for the values of the sessionhub settings, each said once.

A cleaner takes a value as the settings give it and returns it as
``ClientConfig`` holds it, made of plain builtins (so that nothing later calls
a method of a settings object), or raises ``Invalid``: the check id, what is
wrong and what to do. No message shows a value that may be a secret (a header
value, a URL's password or query string).
"""

from __future__ import annotations

import difflib
import functools
import inspect
import os
import re
import ssl
from collections.abc import Callable, Mapping
from typing import Any

from django.utils.module_loading import import_string

# One problem: (check id, message, hint).
Problem = tuple[str, str, str]
Clean = Callable[[Any], Any]

DEFAULT_FACTORY = "sessionhub.factories.aiohttp_session"
HTTPX_FACTORY = "sessionhub.factories.httpx_client"
# The client each factory of ours builds: OPTIONS are its keyword arguments.
CLIENTS = {DEFAULT_FACTORY: "aiohttp.ClientSession", HTTPX_FACTORY: "httpx.AsyncClient"}


# Upper bounds far beyond any sensible value, low enough that every timer and
# sum of them stays finite.
MAX_SECONDS = 86_400  # a day
MAX_CONNECTIONS = 1_000_000
# RFC 9110 token: what a header name may be made of.
_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
# A header value as both aiohttp and httpx (h11) send it: visible ASCII, with
# spaces and tabs inside but not at either end.
_FIELD_VALUE = re.compile(r"([!-~]([ \t!-~]*[!-~])?)?")


class Invalid(Exception):
    """A value breaks a rule: ``text`` follows the value's place in the message."""

    def __init__(self, check_id: str, text: str, hint: str = "") -> None:
        super().__init__(check_id, text, hint)
        self.check_id, self.text, self.hint = check_id, text, hint

    def problem(self, where: str, docs: str) -> Problem:
        """The problem, with the value's place; without a hint of its own, where to read more."""
        return self.check_id, f"{where}{self.text}.", self.hint or f"See {docs}"


def kind(value: object) -> str:
    """What messages show instead of a value: the name of its type."""
    return type(value).__name__


def shown(name: str) -> str:
    """A name (of a client, an option, a module) for a message: never a secret, maybe huge."""
    name = str.__str__(name)
    return repr(name) if len(name) <= 60 else repr(name[:57] + "...")


def _number(value: int | float) -> str:
    if isinstance(value, int) and int.bit_length(value) > 50:
        return "a very large number"  # an int may have thousands of digits
    return int.__repr__(value) if isinstance(value, int) else float.__repr__(value)


def wrong_type(expected: str, value: object, at: str = "") -> Invalid:
    """``sessionhub.E003``: ``value`` is not of the type the option takes."""
    return Invalid("sessionhub.E003", f"{at} must be {expected}, not {kind(value)}")


def plain_str(value: object, expected: str) -> str:
    """``value`` as a plain str, whatever subclass it was; else ``sessionhub.E003``."""
    if not isinstance(value, str):
        raise wrong_type(expected, value)
    return str.__str__(value)


def seconds(*, none: bool = False, zero: bool = False, most: int = MAX_SECONDS) -> Clean:
    """A number of seconds above 0 (or from 0 if ``zero``) and at most ``most``."""
    low = "0 or more" if zero else "greater than 0"

    def clean(value: Any) -> float | None:
        if value is None and none:
            return None
        if not isinstance(value, int | float) or isinstance(value, bool):
            raise wrong_type("a number of seconds" + (" or None" if none else ""), value)
        try:
            number = (
                float(int.__index__(value)) if isinstance(value, int) else float.__float__(value)
            )
        except OverflowError:
            number = float("inf")  # a huge int: out of range whatever its sign
        # Written so that NaN fails too.
        if not ((number >= 0 if zero else number > 0) and number <= most):
            note = " (None means no limit)" if none else ""
            text = f" must be a number of seconds {low} and at most {most}, not {_number(value)}"
            raise Invalid("sessionhub.E007", text + note)
        return number

    clean.__doc__ = f"A number of seconds {low} and at most {most}{', or None' if none else ''}."
    return clean


def count(meaning: str, *, none: bool = False) -> Clean:
    """A whole number from 0 to ``MAX_CONNECTIONS`` (or None if ``none``)."""

    def clean(value: Any) -> int | None:
        if value is None and none:
            return None
        if not isinstance(value, int) or isinstance(value, bool):
            raise wrong_type("an int or None" if none else "an int", value)
        number = int.__index__(value)
        if not 0 <= number <= MAX_CONNECTIONS:
            text = f" must be from 0 to {MAX_CONNECTIONS} ({meaning}), not {_number(number)}"
            raise Invalid("sessionhub.E007", text)
        return number

    clean.__doc__ = f"A whole number from 0 to {MAX_CONNECTIONS} ({meaning}){', or None' * none}."
    return clean


def flag(value: Any) -> bool:
    """A bool."""
    if value is True or value is False:
        return value
    raise wrong_type("a bool", value)


def cookies(value: Any) -> str:
    """``"none"`` or ``"shared"``."""
    mode = plain_str(value, '"none" or "shared"')
    if mode not in {"none", "shared"}:
        raise Invalid("sessionhub.E007", ' must be "none" or "shared"')
    return mode


def ca_bundle(value: Any) -> str | None:
    """None, or the path of a file of PEM certificates that loads."""
    if value is None:
        return None
    path = plain_str(value, "a str (a file path) or None")
    if not os.path.isfile(path):
        raise Invalid("sessionhub.E007", " must name a file of PEM certificates that exists")
    try:
        ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT).load_verify_locations(cafile=path)
    except (OSError, ValueError) as exc:
        text = f" names a file that does not load as PEM certificates ({kind(exc)})"
        raise Invalid("sessionhub.E007", text) from None
    return path


def headers(value: Any) -> dict[str, str]:
    """A dict of valid header names to valid header values."""
    if not isinstance(value, Mapping):
        raise wrong_type("a dict of header names to str values", value)
    found: dict[str, str] = {}
    for number, (name, text) in enumerate(value.items(), 1):
        at = f"'s header name number {number}"
        if not isinstance(name, str):
            raise wrong_type("a str", name, at)
        name = str.__str__(name)
        if not _TOKEN.fullmatch(name):
            # Not shown: a name that is not a name may well be a value.
            hint = "A name is letters, digits and !#$%&'*+-.^_`|~, with no spaces or colons."
            raise Invalid("sessionhub.E010", f"{at} is not a valid HTTP header name", hint)
        if not isinstance(text, str):
            raise wrong_type("a str", text, f"[{name!r}]")
        if not _FIELD_VALUE.fullmatch(text):
            hint = "A value is printable ASCII: no control characters, no spaces at either end."
            raise Invalid("sessionhub.E010", f"[{name!r}] is not a valid HTTP header value", hint)
        found[name] = str.__str__(text)
    return found


def keywords(value: Any) -> dict[str, Any]:
    """A dict of keyword arguments (str keys) for the factory's client."""
    if not isinstance(value, Mapping) or not all(isinstance(key, str) for key in value):
        raise wrong_type("a dict of keyword arguments (str keys)", value)
    return {str.__str__(key): given for key, given in value.items()}


def factory(value: Any) -> str:
    """The dotted path of a callable that imports, with what it needs installed."""
    path = plain_str(value, "a dotted path (str) to a callable")
    hint = "Give the dotted path of a callable that takes a sessionhub.options.ClientConfig"
    try:
        found = import_string(path)
        if path == HTTPX_FACTORY:
            import_string("httpx.AsyncClient")  # which the factory imports when it runs
    except Exception as exc:
        if isinstance(exc, ModuleNotFoundError) and (exc.name or "").startswith("httpx"):
            text = f" {shown(path)} needs httpx, which is not installed"
            extra = "Install it with the 'httpx' extra: pip install 'django-sessionhub[httpx]'."
            raise Invalid("sessionhub.E004", text, extra) from None
        try:
            error = f"{kind(exc)}: {exc}"
        except Exception:
            error = kind(exc)
        text = f" {shown(path)} cannot be imported ({error})"
        raise Invalid("sessionhub.E004", text, f"{hint}, e.g. {HTTPX_FACTORY!r}.") from None
    if not callable(found):
        raise Invalid("sessionhub.E004", f" {shown(path)} is not callable", f"{hint}.")
    return path


@functools.cache
def _client_keywords(factory_path: str) -> frozenset[str] | None:
    """The keywords of the client a factory of ours builds (None for other factories)."""
    client = CLIENTS.get(factory_path)
    if client is None:
        return None
    return frozenset(inspect.signature(import_string(client)).parameters)


def together(where: str, config: Any) -> list[Problem]:
    """Problems of a client's valid options (a ``ClientConfig``) together: OPTIONS that
    its client does not take (``sessionhub.E008``), and options that do not go
    together (warnings)."""
    found: list[Problem] = []
    takes = _client_keywords(config.factory) or frozenset(config.options)
    for key in config.options:
        if key not in takes:
            close = difflib.get_close_matches(key, sorted(takes), n=1)
            client = CLIENTS[config.factory]
            text = f"{where}['OPTIONS'] has {shown(key)}, which {client} does not take."
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
