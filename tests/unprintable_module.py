"""A module that fails on import with an exception that cannot be shown (sessionhub.E004)."""

from __future__ import annotations


class Unprintable(Exception):
    def __str__(self) -> str:
        raise RuntimeError("no text for this one")


raise Unprintable
