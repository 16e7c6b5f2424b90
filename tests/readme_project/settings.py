from __future__ import annotations

SECRET_KEY = "sessionhub-readme-tests"
INSTALLED_APPS = ["sessionhub", "tests.readme_project.apps.ReadmeProjectConfig"]
MIDDLEWARE = ["sessionhub.middleware.LifespanStateMiddleware"]
ROOT_URLCONF = "tests.readme_project.urls"
# Django's TestCase wraps each test in a transaction.
DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}}
USE_TZ = True
ALLOWED_HOSTS = ["testserver"]
SESSIONHUB = {
    "default": {},
    "payments": {"BASE_URL": "https://payments.invalid/"},
    "search": {"BASE_URL": "https://search.invalid/"},
}
