"""A project's asgi.py that exits when it is imported."""

from __future__ import annotations

import sys

sys.exit("no configuration")
