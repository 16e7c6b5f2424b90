"""Code blocks of the documentation (docs/**/*.md and README.md), for the tests that run them."""

from __future__ import annotations

import asyncio
import re
import textwrap
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from aiohttp import web

from tests.servers import ROOT
from tests.threads import loop_thread
from tests.upstream import Upstream

#: Every page of the documentation (the site's and the README), by path.
PAGES = {
    path.relative_to(ROOT).as_posix(): path.read_text(encoding="utf-8")
    for path in [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
    if not {"_build", "_generated"} & set(path.parts)
}

#: (language, text) of every fenced code block of every page, list items'
#: included, dedented. Directives (```{toctree}) are not code.
BLOCKS: list[tuple[str, str]] = [
    (language, textwrap.dedent(text))
    for page in PAGES.values()
    for _, language, text in re.findall(
        r"^( *)```(\w+)\n(.*?)^\1```$", page, flags=re.MULTILINE | re.DOTALL
    )
]


def python_blocks(containing: str = "") -> list[str]:
    """Every Python block that contains ``containing``."""
    return [text for lang, text in BLOCKS if lang == "python" and containing in text]


def python_block(containing: str) -> str:
    """The one Python block that contains ``containing``."""
    (found,) = python_blocks(containing)
    return found


def files(block: str) -> dict[str, str]:
    """A block that shows several files (``# myapp/apps.py`` lines) split by file."""
    parts = re.split(r"^# ([\w/]+\.py)\n", block, flags=re.MULTILINE)
    found = dict(zip(parts[1::2], parts[2::2], strict=True))
    if parts[0].strip():
        found["(before)"] = parts[0]
    return found


def write_files(root: Path, block: str, **replace: str) -> None:
    """Write each file of ``block`` under ``root`` (packages made), URLs replaced."""
    for name, text in files(block).items():
        for old, new in replace.items():
            text = text.replace(old, new)
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        (path.parent / "__init__.py").touch()
        path.write_text(text, encoding="utf-8")


@contextmanager
def running_echo() -> Iterator[Upstream]:
    """An upstream that answers every method and path with what it received, as JSON.

    It stands in for the examples' hosts (api.example.com, registry.example.com, ...).
    """
    upstream = Upstream()
    received: list[str] = []

    async def echo(request: web.Request) -> web.Response:
        upstream.requests += 1
        upstream.headers.append(dict(request.headers))
        received.append(f"{request.method} {request.path}")
        return web.json_response({"method": request.method, "path": request.path})

    async def serve(ready: Callable[[], None], stop: asyncio.Event) -> None:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", echo)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        try:
            site = web.TCPSite(runner, "127.0.0.1", 0)
            await site.start()
            upstream.port = runner.addresses[0][1]
            ready()
            await stop.wait()
        finally:
            await runner.cleanup()

    with loop_thread("echo", serve):
        upstream.received = received  # type: ignore[attr-defined]
        yield upstream
