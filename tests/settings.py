from __future__ import annotations

SECRET_KEY = "sessionhub-tests"
INSTALLED_APPS = ["sessionhub"]
ROOT_URLCONF = "tests.urls"
# What sync lifespan receivers may open (tests/test_dispatch.py).
DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}}
USE_TZ = True
TIME_ZONE = "UTC"
ALLOWED_HOSTS = ["testserver", "127.0.0.1", "localhost"]
DEMO_UPSTREAM_URL = ""
