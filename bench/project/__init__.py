"""The Django project every Django variant runs: one settings module, one URLconf."""

from __future__ import annotations
