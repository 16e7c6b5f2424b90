"""A project's asgi.py that defines no application (for the ASGI check: nothing to judge)."""

from __future__ import annotations
