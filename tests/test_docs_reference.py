"""The site's references cover what the code defines, and the code links only to what they have."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from docs import reference
from sessionhub import checks, conf, errors, options
from sessionhub.errors import DOCS_URL, anchor, docs_url, see
from tests.docs import PAGES

PACKAGE = Path(checks.__file__).parent
SOURCE = {path.name: path.read_text(encoding="utf-8") for path in PACKAGE.glob("*.py")}


def headings(markdown: str) -> set[str]:
    """The anchors Sphinx gives the headings of a page (docutils' ids, for these names)."""
    titles = re.findall(r"^#+ (.+)$", markdown, flags=re.MULTILINE)
    return {re.sub(r"[^a-z0-9]+", "-", title.strip("`").lower()).strip("-") for title in titles}


def test_every_option_has_an_entry_with_its_help() -> None:
    entries = headings(reference.options_md())
    assert {anchor(name) for name in options.OPTIONS} <= entries
    assert reference.option_help().keys() == options.OPTIONS.keys()
    assert all(len(text) > 20 for text in reference.option_help().values())


def test_every_sessionhub_setting_the_code_reads_has_an_entry() -> None:
    read = set(re.findall(r"\bSESSIONHUB(?:_[A-Z]+)+\b", "".join(SOURCE.values())))
    assert {"SESSIONHUB_CLOSE_TIMEOUT", "SESSIONHUB_HEALTH_DETAILS"} <= read
    entries = headings(reference.settings_md()) | headings(PAGES["docs/reference/settings.md"])
    assert {anchor(name) for name in read | {"SESSIONHUB"}} <= entries
    assert set(conf._SHUTDOWN) <= read


def test_every_check_id_the_code_reports_is_in_the_table_and_has_an_entry() -> None:
    reported = set(re.findall(r"sessionhub\.[EW]\d{3}", "".join(SOURCE.values())))
    assert reported == set(checks.CHECKS)
    assert {anchor(check_id) for check_id in reported} <= headings(reference.checks_md())


@pytest.mark.parametrize("check_id", sorted(reference.EXAMPLES))
def test_each_example_reports_its_check_with_a_link_to_its_docs(check_id: str) -> None:
    shown = reference.example(check_id)
    assert shown.startswith(f"({check_id}) ")
    assert DOCS_URL in shown


def test_every_error_has_an_entry_and_its_message_links_to_it() -> None:
    documented = set(re.findall(r"autoexception:: (\S+)", reference.errors_md()))
    public = {f"sessionhub.{name}" for name in errors.__all__ if name.endswith("Error")}
    assert documented == public
    for name in public:
        assert see(getattr(errors, name.partition(".")[2])).endswith(f"errors.html#{name}.")


def test_every_link_of_the_code_names_a_page_and_an_anchor_the_site_has() -> None:
    generated = {
        "reference/settings": reference.options_md() + reference.settings_md(),
        "reference/checks": reference.checks_md(),
    }
    links = reference.code_links()
    assert ("guide/composing", "hosted-by-fastapi-or-starlette") in links
    for page, at in links:
        if page == "reference/errors":
            assert f"autoexception:: {at}" in reference.errors_md()
            continue
        text = PAGES[f"docs/{page}.md"] + generated.get(page, "")
        assert not at or at in headings(text), docs_url(page, at)
