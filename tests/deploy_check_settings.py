"""Settings for ``manage.py check --deploy`` against the ASGI module the environment names."""

from __future__ import annotations

import os

from tests.settings import *  # noqa: F403

ASGI_APPLICATION = os.environ["SESSIONHUB_TESTS_ASGI"]
