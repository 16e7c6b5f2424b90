"""Render pages of the built site in headless Chromium; fail on a blank page or a broken image.

Usage: ``python docs/browser.py docs/_build/html index.html production/shutdown.html``.
It drives Debian's ``chromium`` through the DevTools protocol (with aiohttp's
websocket client): it loads each page, waits for its load event, and reads
what the page shows. A page fails when its article has almost no text, an
image did not load (or has no size), a request failed, or a script raised.
First it renders a page made to be broken, and fails if that one passes.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiohttp

# What the page shows, read in the page once it has loaded.
PROBE = """JSON.stringify({
  text: (document.querySelector("article") || document.body).innerText.trim().length,
  images: [...document.images].map(i => ({src: i.src, ok: i.complete && i.naturalWidth > 0})),
  styles: document.styleSheets.length,
})"""
BROKEN = """<!doctype html><html><head><title>broken</title></head>
<body><article></article><img src="missing.svg" alt="missing"></body></html>"""


def judge(report: dict[str, Any]) -> list[str]:
    """What is wrong with a page, from what it showed (an empty list: nothing)."""
    found = []
    if report["text"] < 200:
        found.append(f"the page is blank: {report['text']} characters of text")
    found += [f"image did not load: {i['src']}" for i in report["images"] if not i["ok"]]
    found += [f"request failed: {failure}" for failure in report["failed"]]
    found += [f"script error: {error}" for error in report["errors"]]
    return found


class Browser:
    """One page of a headless Chromium, driven over the DevTools protocol."""

    def __init__(self, socket: aiohttp.ClientWebSocketResponse) -> None:
        self.socket = socket
        self.ids = itertools.count(1)
        self.session = ""
        self.failed: list[str] = []
        self.errors: list[str] = []
        self.loaded = asyncio.Event()

    async def call(self, method: str, **params: Any) -> dict[str, Any]:
        number = next(self.ids)
        message: dict[str, Any] = {"id": number, "method": method, "params": params}
        if self.session:
            message["sessionId"] = self.session
        await self.socket.send_json(message)
        while True:
            answer = json.loads((await self.socket.receive(timeout=30)).data)
            if answer.get("id") == number:
                if "error" in answer:
                    raise RuntimeError(f"{method}: {answer['error']}")
                result: dict[str, Any] = answer["result"]
                return result
            self._event(answer)

    def _event(self, event: dict[str, Any]) -> None:
        method, params = event.get("method"), event.get("params", {})
        if method == "Page.loadEventFired":
            self.loaded.set()
        elif method == "Network.loadingFailed":
            self.failed.append(f"{params.get('errorText')} ({params.get('requestId')})")
        elif method == "Network.responseReceived" and params["response"]["status"] >= 400:
            self.failed.append(f"{params['response']['status']} {params['response']['url']}")
        elif method == "Runtime.exceptionThrown":
            self.errors.append(params["exceptionDetails"].get("text", "an exception"))

    async def open(self) -> None:
        target = await self.call("Target.createTarget", url="about:blank")
        attached = await self.call(
            "Target.attachToTarget", targetId=target["targetId"], flatten=True
        )
        self.session = attached["sessionId"]
        for domain in ("Page", "Network", "Runtime"):
            await self.call(f"{domain}.enable")

    async def render(self, url: str) -> dict[str, Any]:
        """Load ``url`` and report what it shows."""
        self.failed, self.errors = [], []
        self.loaded.clear()
        await self.call("Page.navigate", url=url)
        async with asyncio.timeout(30):
            while not self.loaded.is_set():
                self._event(json.loads((await self.socket.receive()).data))
        shown = await self.call("Runtime.evaluate", expression=PROBE, returnByValue=True)
        report: dict[str, Any] = json.loads(shown["result"]["value"])
        return {**report, "failed": self.failed, "errors": self.errors}


@asynccontextmanager
async def chromium() -> AsyncIterator[Browser]:
    """A headless Chromium on a free port, with a page open; stopped at the end."""
    executable = shutil.which("chromium") or shutil.which("chromium-browser")
    if executable is None:
        raise SystemExit("docs/browser.py needs Debian's chromium: apt-get install chromium")
    with tempfile.TemporaryDirectory() as profile:
        process = subprocess.Popen(
            [executable, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
             "--remote-debugging-port=0", f"--user-data-dir={profile}", "about:blank"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        try:
            assert process.stderr is not None
            address = ""
            async with asyncio.timeout(30):
                while not address:
                    line = await asyncio.to_thread(process.stderr.readline)
                    if not line:
                        raise RuntimeError("chromium exited before it listened")
                    if match := re.search(r"DevTools listening on (ws://\S+)", line):
                        address = match[1]
            async with aiohttp.ClientSession() as session, session.ws_connect(address) as socket:
                browser = Browser(socket)
                await browser.open()
                yield browser
        finally:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


async def check(site: Path, pages: list[str]) -> list[str]:
    found: list[str] = []
    async with chromium() as browser:
        with tempfile.TemporaryDirectory() as scratch:
            broken = Path(scratch) / "broken.html"
            broken.write_text(BROKEN, encoding="utf-8")
            if len(judge(await browser.render(broken.as_uri()))) < 2:
                found.append("the check passed a blank page with a missing image: it is broken")
        for page in pages:
            report = await browser.render((site / page).resolve().as_uri())
            problems = judge(report)
            found += [f"{page}: {problem}" for problem in problems]
            print(
                f"browser: {page}: {report['text']} characters, {len(report['images'])} "
                f"image(s), {report['styles']} stylesheet(s); "
                + ("ok" if not problems else f"{len(problems)} problem(s)")
            )
    return found


def main() -> None:
    site, pages = Path(sys.argv[1]), sys.argv[2:]
    found = asyncio.run(check(site, pages))
    for problem in found:
        print(problem, file=sys.stderr)
    sys.exit(1 if found else 0)


if __name__ == "__main__":
    main()
