"""The reference pages' generated parts, made from the code so that they cannot drift.

``docs/conf.py`` writes them into ``docs/reference/_generated/`` when a build
starts; the reference pages include them. Each entry is a heading named after
what it documents (an option, a ``SESSIONHUB_*`` setting, a check id), so its
anchor is the one ``sessionhub.errors.anchor()`` gives the messages that link
to it. tests/test_docs_reference.py checks that every option, setting and
check id the code defines has its entry.
"""

from __future__ import annotations

import dataclasses
import inspect
import re
import textwrap
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sessionhub import checks, conf, errors, options

# Where a reference entry points for more than one page can say.
MORE = {
    "BASE_URL": "../guide/clients.md#sending-only-where-you-mean-to",
    "HEADERS": "../guide/clients.md#sending-only-where-you-mean-to",
    "ALLOWED_ORIGINS": "../guide/clients.md#sending-only-where-you-mean-to",
    "TRUST_ENV": "../guide/clients.md#sending-only-where-you-mean-to",
    "COOKIES": "../guide/clients.md#why-these-defaults",
    "TIMEOUT": "../guide/clients.md#why-these-defaults",
    "LIMIT_PER_HOST": "../guide/clients.md#why-these-defaults",
    "OPTIONS": "../guide/clients.md#your-own-factory",
    "FACTORY": "../guide/clients.md#your-own-factory",
    "SESSIONHUB_DRAIN_SECONDS": "../production/shutdown.md",
    "SESSIONHUB_SHUTDOWN_TIMEOUT": "../production/shutdown.md",
    "SESSIONHUB_CLOSE_TIMEOUT": "../production/shutdown.md",
    "SESSIONHUB_STARTUP_TIMEOUT": "../guide/lifespan.md#when-a-receiver-fails-or-hangs",
    "SESSIONHUB_HEALTH_DETAILS": "../production/health.md",
}

# Settings that make each settings check report, so that its entry shows the
# real message and hint. Checks of the ASGI application need a project: their
# entries say what they report only.
EXAMPLES: dict[str, dict[str, Any]] = {
    "sessionhub.E001": {"SESSIONHUB": {"default": []}},
    "sessionhub.E002": {"SESSIONHUB": {"default": {"TIMEOT": 5}}},
    "sessionhub.E003": {"SESSIONHUB": {"default": {"LIMIT": "100"}}},
    "sessionhub.E004": {"SESSIONHUB": {"default": {"FACTORY": "sessionhub.factories.aiohttp"}}},
    "sessionhub.E005": {"SESSIONHUB": {"default": {"BASE_URL": "https://api.example.com/v1"}}},
    "sessionhub.E006": {"SESSIONHUB": {"payments": {}}},
    "sessionhub.E007": {"SESSIONHUB": {"default": {"TIMEOUT": 0}}},
    "sessionhub.E008": {"SESSIONHUB": {"default": {"OPTIONS": {"read_buf_size": 131072}}}},
    "sessionhub.E009": {"SESSIONHUB_CLOSE_TIMEOUT": -1},
    "sessionhub.E010": {"SESSIONHUB": {"default": {"HEADERS": {"X-Api-Key": " abc"}}}},
    "sessionhub.E011": {
        "SESSIONHUB": {"default": {"ALLOWED_ORIGINS": ["https://files.example.com/v1"]}}
    },
    "sessionhub.W002": {"SESSIONHUB": {"default": {"VERIFY": False}}},
    "sessionhub.W006": {"SESSIONHUB": {"default": {"HEADERS": {"X-Api-Key": "abc"}}}},
}


def markdown(text: str) -> str:
    """A docstring's reST literals (````x````) as Markdown (```x```), dedented."""
    return re.sub(r"``(.+?)``", r"`\1`", inspect.cleandoc(text))


def option_help() -> dict[str, str]:
    """Option name -> its help: the ``#:`` comment above its ``ClientConfig`` field."""
    found: dict[str, str] = {}
    comment: list[str] = []
    for line in inspect.getsource(options.ClientConfig).splitlines():
        stripped = line.strip()
        if stripped.startswith("#:"):
            comment.append(stripped[2:].strip())
        elif match := re.match(r"(\w+): ", stripped):
            if comment:
                found[match[1].upper()] = " ".join(comment)
            comment = []
    return found


def _default(field: dataclasses.Field[Any]) -> str:
    if field.default_factory is not dataclasses.MISSING:
        value = field.default_factory()
    else:
        value = field.default
    # The setting is written with lists; ClientConfig keeps a tuple.
    return "`[]`" if value == () else f"`{value!r}`"


def _more(name: str) -> str:
    return f" More: [](<{MORE[name]}>)." if name in MORE else ""


def options_md() -> str:
    """An entry per option of ``SESSIONHUB[name]``, in ``ClientConfig``'s order."""
    helps = option_help()
    parts = []
    for name, field in options.OPTIONS.items():
        rule = field.metadata["clean"]
        parts.append(
            f"### {name}\n\n{helps[name]}{_more(name)}\n\n"
            f"- **Takes:** {markdown(rule.__doc__ or '')}\n"
            f"- **Default:** {_default(field)}\n"
            f"- **A factory reads it as:** `config.{field.name}` (`{field.type}`)\n"
        )
    return "\n".join(parts)


def _accessor(setting: str) -> Callable[[], object]:
    """The function of ``sessionhub.conf`` that reads ``setting``."""
    function: Callable[[], object] = getattr(conf, setting.removeprefix("SESSIONHUB_").lower())
    return function


def settings_md() -> str:
    """An entry per ``SESSIONHUB_*`` setting: the shutdown bounds and the health details."""
    table: dict[str, tuple[object, str]] = {
        name: (default, markdown(rule.__doc__ or ""))
        for name, (default, rule) in conf._SHUTDOWN.items()
    }
    table["SESSIONHUB_HEALTH_DETAILS"] = (False, "`True` or `False`.")
    parts = []
    for name, (default, takes) in table.items():
        doc = markdown(_accessor(name).__doc__ or "")
        what = doc.partition(": ")[2]
        what = what[:1].upper() + what[1:]
        parts.append(
            f"### {name}\n\n{what}{_more(name)}\n\n- **Takes:** {takes}\n"
            f"- **Default:** `{default!r}`\n"
        )
    return "\n".join(parts)


@contextmanager
def _settings(**values: Any) -> Iterator[None]:
    from django.test import override_settings

    with override_settings(**values):
        yield


def example(check_id: str) -> str:
    """What ``manage.py check`` prints for ``EXAMPLES[check_id]``, run through the checks."""
    with _settings(**EXAMPLES[check_id]):
        found = [m for m in checks.check_settings(None) if m.id == check_id]
    if not found:
        raise LookupError(f"the example of {check_id} no longer makes it report")
    message = found[0]
    hint = textwrap.fill(
        message.hint or "",
        88,
        subsequent_indent="\t",
        break_on_hyphens=False,
        break_long_words=False,
    )
    return f"({message.id}) {message.msg}\n\tHINT: {hint}"


def _deploy_ids() -> set[str]:
    """The ids that only ``check --deploy`` reports: those of the ASGI application's check."""
    return set(re.findall(r'id="(sessionhub\.\w+)"', inspect.getsource(checks)))


def checks_md() -> str:
    """An entry per check id: its level, the command that runs it, what it reports."""
    deploy = _deploy_ids()
    parts = []
    for check_id, summary in checks.CHECKS.items():
        level = "Error" if check_id.startswith("sessionhub.E") else "Warning"
        command = "`manage.py check --deploy`" if check_id in deploy else "`manage.py check`"
        text = f"## {check_id}\n\n{level}, reported by {command}. {summary}\n"
        if check_id in EXAMPLES:
            settings = "; ".join(f"{k} = {v!r}" for k, v in EXAMPLES[check_id].items())
            text += f"\nWith `{settings}`:\n\n```text\n{example(check_id)}\n```\n"
        parts.append(text)
    return "\n".join(parts)


def error_classes() -> list[type[BaseException]]:
    """The errors sessionhub raises, base class first."""
    found = [getattr(errors, name) for name in errors.__all__]
    return [e for e in found if isinstance(e, type) and issubclass(e, errors.SessionhubError)]


def errors_md() -> str:
    """An autodoc entry per error, as ``sessionhub.<Name>``: the anchor ``see()`` links to."""
    entries = "\n".join(
        f".. autoexception:: sessionhub.{error.__name__}\n   :show-inheritance:\n"
        for error in error_classes()
    )
    return f"```{{eval-rst}}\n{entries}```\n"


PAGES: dict[str, Callable[[], str]] = {
    "options.md": options_md,
    "settings.md": settings_md,
    "checks.md": checks_md,
    "errors.md": errors_md,
}


def write(directory: Path) -> None:
    """Write every generated part into ``directory``; leave unchanged files as they are."""
    directory.mkdir(parents=True, exist_ok=True)
    for name, make in PAGES.items():
        path = directory / name
        text = make()
        if not path.exists() or path.read_text(encoding="utf-8") != text:
            path.write_text(text, encoding="utf-8")


def code_links() -> set[tuple[str, str]]:
    """(page, anchor) of every address the code's messages can link to."""
    package = Path(checks.__file__).parent
    source = "".join(path.read_text(encoding="utf-8") for path in package.glob("*.py"))
    linked = set(re.findall(r'docs_url\(\s*"([\w/]+)"(?:,\s*"([\w-]+)")?', source))
    linked |= {("reference/settings", errors.anchor(name)) for name in options.OPTIONS}
    linked |= {("reference/settings", errors.anchor(name)) for name in conf._SHUTDOWN}
    linked |= {("reference/checks", errors.anchor(check_id)) for check_id in checks.CHECKS}
    linked |= {("reference/errors", f"sessionhub.{e.__name__}") for e in error_classes()}
    return linked
