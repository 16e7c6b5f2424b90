"""Check the built site offline: every internal link and image points to a file and an anchor.

Usage: ``python docs/links.py docs/_build/html``. Also checks that every
address of the site the code's messages link to (``docs.reference.code_links()``)
and every link of the README into the site exist in the build. Links to other
sites are not followed (CI has no network); they are counted.
"""

from __future__ import annotations

import re
import sys
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urldefrag, urlsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


class _Page(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.ids: set[str] = set()
        self.links: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        for key in ("id", "name") if tag == "a" else ("id",):
            if found.get(key):
                self.ids.add(str(found[key]))
        for key in ("href", "src", "data"):
            if found.get(key):
                self.links.append(str(found[key]))


def read(site: Path) -> dict[Path, _Page]:
    pages = {}
    for path in site.rglob("*.html"):
        page = _Page()
        page.feed(path.read_text(encoding="utf-8"))
        pages[path.resolve()] = page
    return pages


def problems(site: Path, extra: list[str]) -> tuple[list[str], int]:
    """What is broken, and how many links lead out of the site."""
    pages = read(site)
    found, outside = [], 0
    wanted = [(path, link) for path, page in pages.items() for link in page.links]
    wanted += [(site / "index.html", link) for link in extra]
    for path, link in wanted:
        if urlsplit(link).scheme or link.startswith("//"):
            outside += 1
            continue
        address, fragment = urldefrag(link)
        target = (path.parent / unquote(urlsplit(address).path)).resolve() if address else path
        if target.is_dir():
            target = target / "index.html"
        if not target.is_file():
            found.append(f"{path.relative_to(site.resolve())}: {link} names no file")
        elif fragment and target.suffix == ".html" and unquote(fragment) not in pages[target].ids:
            found.append(f"{path.relative_to(site.resolve())}: {link} names no anchor")
    return found, outside


def code_and_readme_links() -> list[str]:
    """The site's addresses the code and the README use, relative to the site's root."""
    import django
    from django.conf import settings

    from sessionhub.errors import DOCS_URL, docs_url

    settings.configure(INSTALLED_APPS=["sessionhub"], USE_TZ=True)
    django.setup()
    from docs import reference

    links = [docs_url(page, at) for page, at in reference.code_links()]
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    links += re.findall(re.escape(DOCS_URL) + r"[^)\s>]*", readme)
    return [link.removeprefix(DOCS_URL) or "index.html" for link in links]


def main() -> None:
    site = Path(sys.argv[1])
    extra = code_and_readme_links()
    found, outside = problems(site, extra)
    for problem in found:
        print(problem, file=sys.stderr)
    pages = len(list(site.rglob("*.html")))
    print(
        f"links: {pages} pages, {len(extra)} addresses from the code and the README, "
        f"{outside} links to other sites not followed; {len(found)} broken"
    )
    sys.exit(1 if found else 0)


if __name__ == "__main__":
    main()
