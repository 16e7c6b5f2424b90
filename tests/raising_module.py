"""A module that fails on import, as a FACTORY's module might (tests of sessionhub.E004)."""

from __future__ import annotations

raise RuntimeError("this module fails on import")
