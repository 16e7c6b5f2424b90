"""The reference project's settings, with the demo client's ``FACTORY`` from ``BENCH_FACTORY``.

So that ``python -m bench.overload`` can run the mechanisms it compares against
the same project; unset, this is ``config.settings`` as shipped.
"""

from __future__ import annotations

import os

from config.settings import *  # noqa: F403
from config.settings import DEMO_UPSTREAM_TIMEOUT

_FACTORY = os.environ.get("BENCH_FACTORY", "sessionhub.factories.aiohttp_session")
SESSIONHUB = {"default": {"TIMEOUT": DEMO_UPSTREAM_TIMEOUT, "FACTORY": _FACTORY}}  # type: ignore[dict-item]
