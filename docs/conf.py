"""Sphinx configuration of sessionhub's documentation (``docs/check`` builds it as CI does)."""

from __future__ import annotations

import sys
from pathlib import Path

import django
from django.conf import settings
from sphinx.application import Sphinx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

# autodoc imports sessionhub, and the reference pages run its checks: a minimal
# project, with sessionhub's receivers connected as in any project.
settings.configure(INSTALLED_APPS=["sessionhub"], USE_TZ=True)
django.setup()

from docs import reference  # noqa: E402
from sessionhub.errors import DOCS_URL  # noqa: E402

project = "sessionhub"
author = "sessionhub contributors"
copyright = "sessionhub contributors"  # noqa: A001 - the name Sphinx reads
html_title = "sessionhub"
html_baseurl = DOCS_URL

extensions = ["myst_parser", "sphinx.ext.autodoc"]
source_suffix = {".md": "markdown"}
root_doc = "index"
exclude_patterns = ["_build", "**/_generated", "pictures/README.md"]
templates_path: list[str] = []

# Warnings are errors (docs/check runs sphinx-build -W --keep-going -n):
# every sessionhub reference must resolve. Other projects' objects cannot be
# linked offline (no intersphinx), so references to them are not reported.
nitpicky = True
nitpick_ignore_regex = [(r"py:.*", r"(?!sessionhub\b).*")]

myst_enable_extensions = ["colon_fence", "deflist"]
# `[text](#anchor)` and `[text](page.md#anchor)` links to headings.
myst_heading_anchors = 4

autodoc_member_order = "bysource"
autodoc_typehints = "signature"
autodoc_preserve_defaults = True

html_theme = "furo"
html_static_path: list[str] = []
html_theme_options = {
    "source_repository": "https://github.com/sessionhub/django-sessionhub",
    "source_branch": "main",
    "source_directory": "docs/",
}
html_show_sphinx = False
html_last_updated_fmt = None


def _generate(app: Sphinx) -> None:
    reference.write(Path(app.srcdir) / "reference" / "_generated")


def setup(app: Sphinx) -> None:
    app.connect("builder-inited", _generate)
