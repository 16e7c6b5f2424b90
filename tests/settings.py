from __future__ import annotations

SECRET_KEY = "sessionhub-tests"
INSTALLED_APPS = ["sessionhub"]
ROOT_URLCONF = "tests.urls"
DATABASES: dict[str, dict[str, str]] = {}
USE_TZ = True
TIME_ZONE = "UTC"
ALLOWED_HOSTS = ["testserver", "127.0.0.1", "localhost"]
DEMO_UPSTREAM_URL = ""
