"""Code blocks of README.md, for the tests that run them as written."""

from __future__ import annotations

import re

from tests.servers import ROOT

README = (ROOT / "README.md").read_text(encoding="utf-8")

#: (language, text) of every code block not inside a list item.
BLOCKS: list[tuple[str, str]] = re.findall(
    r"^```(\w+)\n(.*?)^```$", README, flags=re.MULTILINE | re.DOTALL
)


def python_block(containing: str) -> str:
    """The one Python block of the README that contains ``containing``."""
    (found,) = [text for lang, text in BLOCKS if lang == "python" and containing in text]
    return found
