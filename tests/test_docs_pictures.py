"""The site's pictures: the lifespan diagram still shows what a real run does; the checks of the
built site find what is broken."""

from __future__ import annotations

import re
from html import unescape
from pathlib import Path

import pytest

from docs import links
from docs.browser import judge
from docs.pictures import runs, svg

PICTURES = Path(runs.__file__).parent


def shown(picture: str) -> list[str]:
    """What a checked-in picture shows, as its ``<desc>`` lists it."""
    text = (PICTURES / picture).read_text(encoding="utf-8")
    (desc,) = re.findall(r"<desc>\n(.*?)\n</desc>", text, flags=re.DOTALL)
    return unescape(desc).splitlines()


@pytest.mark.e2e
def test_the_lifespan_picture_shows_the_order_a_real_run_logs() -> None:
    messages = runs.lifespan_messages()
    drawn = svg.sequence("", list(runs.PARTICIPANTS.values()), messages)
    assert "<desc>" in drawn
    assert [f"{m.source} -> {m.target}: {m.label}" for m in messages] == shown("lifespan.svg")


def test_the_shutdown_picture_shows_every_step_of_both_workers() -> None:
    steps = shown("shutdown.svg")
    for step in ("drain", "requests", "clients closed", "gunicorn: exits"):
        assert sum(step in line for line in steps) >= (1 if "gunicorn" in step else 2), step


def site(tmp_path: Path, pages: dict[str, str]) -> Path:
    for name, body in pages.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(f"<html><body>{body}</body></html>", encoding="utf-8")
    return tmp_path


def test_the_link_check_finds_a_missing_page_anchor_and_image(tmp_path: Path) -> None:
    root = site(
        tmp_path,
        {
            "index.html": '<a href="a/page.html#here">ok</a> <a href="a/page.html#gone">x</a>'
            ' <a href="nowhere.html">x</a> <img src="pic.svg"> <a href="https://example.com/">o</a>',
            "a/page.html": '<h1 id="here">here</h1><a href="../index.html">up</a>',
        },
    )
    found, outside = links.problems(root, extra=["a/page.html#here", "a/page.html#missing"])
    assert outside == 1
    assert sorted(found) == [
        "index.html: a/page.html#gone names no anchor",
        "index.html: a/page.html#missing names no anchor",
        "index.html: nowhere.html names no file",
        "index.html: pic.svg names no file",
    ]


def test_the_browser_check_fails_a_blank_page_and_a_broken_image() -> None:
    good = {"text": 500, "images": [{"src": "a.svg", "ok": True}], "failed": [], "errors": []}
    assert judge(good) == []
    blank = {**good, "text": 3, "images": [{"src": "b.svg", "ok": False}]}
    assert judge(blank) == [
        "the page is blank: 3 characters of text",
        "image did not load: b.svg",
    ]
    assert judge({**good, "failed": ["404 x.css"], "errors": ["boom"]}) == [
        "request failed: 404 x.css",
        "script error: boom",
    ]
