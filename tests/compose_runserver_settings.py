"""The composed project with daphne in INSTALLED_APPS: Channels' ``runserver``."""

from __future__ import annotations

from tests.compose_settings import *  # noqa: F403
from tests.compose_settings import INSTALLED_APPS

INSTALLED_APPS = ["daphne", *INSTALLED_APPS]
ASGI_APPLICATION = "tests.channels_asgi.application"
