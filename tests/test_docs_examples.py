"""Every Python block of the documentation (the site and the README), run as written.

The test examples run under a real pytest; the settings in a throwaway
project that ``manage.py check --deploy`` checks; the rest against a local
upstream. A block that no test runs fails
``test_every_python_block_of_the_documentation_is_run_by_a_test``.
"""

from __future__ import annotations

import ast
import asyncio
import importlib
import importlib.util
import json
import logging
import os
import re
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import aiohttp
import pytest
from django.apps import AppConfig
from django.http import HttpResponse
from django.test import AsyncClient, RequestFactory, override_settings
from django.urls import resolve
from gunicorn.config import Config
from opentelemetry.instrumentation.asgi import OpenTelemetryMiddleware
from sentry_sdk.integrations.asgi import SentryAsgiMiddleware

import sessionhub
from sessionhub import hosting
from sessionhub.asgi import LifespanASGIHandler, get_asgi_application
from sessionhub.checks import check_asgi_application
from sessionhub.lifespans import unregister_lifespan
from sessionhub.middleware import WSGI_STATE_KEY, LifespanStateMiddleware
from sessionhub.signals import lifespan_finished, lifespan_started
from sessionhub.testing import lifespan
from sessionhub.views import health
from sessionhub.workers import UvicornWorker
from tests.docs import (
    BLOCKS,
    files,
    python_block,
    python_blocks,
    running_echo,
    write_files,
)
from tests.servers import ROOT
from tests.subpytest import run_pytest
from tests.upstream import Upstream

# The project the test examples run against; docs/guide/testing.md describes its views.
PROJECT = "tests.readme_project.settings"


def documented_tests() -> dict[str, str]:
    """Every code block with a test in it, by the file name on its first line."""
    examples = {}
    for language, text in BLOCKS:
        if language == "python" and re.search(r"^\s*(async )?def test_", text, re.MULTILINE):
            first = text.splitlines()[0]
            assert re.fullmatch(r"# tests/test_\w+\.py", first), f"name the file: {first!r}"
            examples[first.rpartition("/")[2]] = text
    return examples


def pytest_options() -> dict[str, str]:
    """The documented pytest settings, for its example project, as ini options."""
    (toml,) = [text for language, text in BLOCKS if language == "toml" and "pytest" in text]
    options = tomllib.loads(toml)["tool"]["pytest"]["ini_options"]
    assert options.pop("DJANGO_SETTINGS_MODULE") == "mysite.settings"
    return {"DJANGO_SETTINGS_MODULE": PROJECT, **options}


def count_tests(examples: dict[str, str]) -> int:
    return sum(len(re.findall(r"def test_", text)) for text in examples.values())


def test_the_test_examples_pass_in_strict_mode(tmp_path: Path) -> None:
    examples = documented_tests()
    assert len(examples) >= 4
    outcome = run_pytest(tmp_path, examples, {**pytest_options(), "asyncio_mode": "strict"})
    assert outcome.code == 0, outcome.output
    assert len(outcome.passed()) == count_tests(examples) == len(outcome.results)


def test_the_test_examples_pass_in_auto_mode(tmp_path: Path) -> None:
    # As the testing guide says, except the anyio example: auto mode claims its test too.
    examples = {k: v for k, v in documented_tests().items() if "anyio" not in v}
    outcome = run_pytest(tmp_path, examples, {**pytest_options(), "asyncio_mode": "auto"})
    assert outcome.code == 0, outcome.output
    assert len(outcome.passed()) == count_tests(examples) == len(outcome.results)


def test_the_quickstart_logging_example_shows_sessionhub_s_info_lines() -> None:
    logging_example = python_block("LOGGING = {")
    script = f"""
import asyncio

import django
from django.conf import settings

from sessionhub.testing import lifespan
from sessionhub.views import health
from sessionhub.workers import UvicornWorker

{logging_example}
settings.configure(INSTALLED_APPS=["sessionhub"], LOGGING=LOGGING)
django.setup()


async def main():
    async with lifespan():
        pass


asyncio.run(main())
"""
    env = {k: v for k, v in os.environ.items() if not k.startswith("DJANGO_")}
    process = subprocess.run(
        [sys.executable, "-c", script],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert process.returncode == 0, process.stderr
    assert re.search(r"INFO sessionhub: lifespan started \(pid \d+\)", process.stderr)
    assert re.search(r"INFO sessionhub: created client 'default'", process.stderr)
    assert re.search(r"INFO sessionhub: lifespan finished: closed 1 client", process.stderr)


# Every other Python block of the documentation, run as written: settings in a
# throwaway project that manage.py checks, code with real requests. The
# examples' hosts (api.example.com, ...) are pointed at a local upstream.

# A marker that tells each block apart -> the test that runs it.
IN_A_PROJECT = "test_the_settings_examples_pass_check_deploy_in_a_project"
CHANNELS, HOSTS = "tests/test_channels.py", "tests/test_hosts.py"
QUOTES = 'SESSIONHUB = {\n    "default": {},\n    "quotes"'
PAYMENTS = 'SESSIONHUB = {\n    "default": {},\n    "payments"'
RUNS = {
    "async def weather(": "test_the_weather_view_answers_the_upstream_s_json",
    "INSTALLED_APPS = [": IN_A_PROJECT,
    "application = get_asgi_application()\n": IN_A_PROJECT,
    QUOTES: IN_A_PROJECT,
    PAYMENTS: IN_A_PROJECT,
    '"payments": {\n    "BASE_URL"': IN_A_PROJECT,
    "async def quote(request)": "test_the_quote_view_calls_its_base_url",
    "# myapp/apps.py": "test_the_quickstart_receivers_run_in_a_lifespan",
    "MIDDLEWARE = [": "test_the_middleware_example_gives_views_the_state",
    "LOGGING = {": "test_the_quickstart_logging_example_shows_sessionhub_s_info_lines",
    "register_lifespan(search_index)": "test_the_register_lifespan_example_enters_and_exits",
    "# mysite/clients.py": "test_the_factory_example_traces_a_real_request",
    "# tests/test_": "test_the_test_examples_pass_in_strict_mode",
    "ProtocolTypeRouter(": f"{CHANNELS}::test_the_documented_channels_asgi_py_under_uvicorn",
    "FastAPI(lifespan=": f"{HOSTS}::test_the_documented_fastapi_host_that_mounts_django",
    "# settings.py\nINSTALLED_APPS = [..., ": IN_A_PROJECT,
    'include("sessionhub.urls")': "test_the_urls_example_serves_the_health_view",
    "worker_class = ": "test_the_gunicorn_config_example_is_one_gunicorn_takes",
    "async def forecast(": "test_the_module_global_example_breaks_on_a_second_loop",
    "async def today(": "test_the_session_per_request_example_answers",
    "SentryAsgiMiddleware(": "test_the_middleware_composition_is_lifespan_aware",
    '"type": "aiohttp.client.ClientSession"': "test_the_stats_example_has_the_keys_stats_gives",
}
SECRETS = {"QUOTES_TOKEN": "not-a-real-key", "PAYMENTS_KEY": "not-a-real-key"}


def test_every_python_block_of_the_documentation_is_run_by_a_test() -> None:
    blocks = python_blocks()
    assert len(blocks) >= 25
    for block in blocks:
        runners = {test for marker, test in RUNS.items() if marker in block}
        assert runners, f"no test runs this block:\n{block}"
        for runner in runners:
            module, _, name = runner.rpartition("::")
            source = (ROOT / module).read_text() if module else Path(__file__).read_text()
            assert f"def {name}(" in source, runner


@pytest.fixture(scope="module")
def echo() -> Iterator[Upstream]:
    with running_echo() as upstream:
        yield upstream


def hosts(echo: Upstream) -> dict[str, str]:
    """The examples' upstreams -> the local echo upstream."""
    local = echo.url_for("/")
    return {f"https://{host}/": local for host in ("api.example.com", "registry.example.com")}


def example_module(tmp_path: Path, name: str, text: str, echo: Upstream) -> ModuleType:
    """``text`` as module ``name``, loaded from ``tmp_path`` with the hosts replaced."""
    for old, new in hosts(echo).items():
        text = text.replace(old, new)
    path = tmp_path / f"{name}.py"
    path.write_text(text, encoding="utf-8")
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("block", python_blocks("async def weather("))
async def test_the_weather_view_answers_the_upstream_s_json(
    block: str, tmp_path: Path, echo: Upstream
) -> None:
    views = example_module(tmp_path, "weather_views", files(block).get("views.py", block), echo)
    response = await views.weather(RequestFactory().get("/"))
    assert json.loads(response.content) == {"method": "GET", "path": "/today"}


async def test_the_quote_view_calls_its_base_url(tmp_path: Path, echo: Upstream) -> None:
    block = python_block("async def quote(request)")
    views = example_module(tmp_path, "quote_views", block, echo)
    setting = {"default": {}, "quotes": {"BASE_URL": echo.url_for("/v1/")}}
    with override_settings(SESSIONHUB=setting):
        response = await views.quote(RequestFactory().get("/"))
    assert json.loads(response.content) == {"method": "GET", "path": "/v1/random"}


async def test_the_quickstart_receivers_run_in_a_lifespan(
    tmp_path: Path, echo: Upstream, monkeypatch: pytest.MonkeyPatch
) -> None:
    block = python_block("# myapp/apps.py")
    write_files(tmp_path, block, **hosts(echo))
    monkeypatch.syspath_prepend(str(tmp_path))
    apps = importlib.import_module("myapp.apps")
    receivers = importlib.import_module("myapp.receivers")
    try:
        apps.MyAppConfig("myapp", receivers).ready()
        async with lifespan() as state:
            assert state["remote_config"] == {"method": "GET", "path": "/config"}
    finally:
        lifespan_started.disconnect(receivers.warm_up)
        lifespan_finished.disconnect(receivers.say_goodbye)
        for name in ("myapp", "myapp.apps", "myapp.receivers"):
            sys.modules.pop(name, None)
    assert echo.received[-2:] == ["GET /config", "POST /deregister"]  # type: ignore[attr-defined]


def test_the_middleware_example_gives_views_the_state(tmp_path: Path, echo: Upstream) -> None:
    block = python_block("MIDDLEWARE = [")
    parts = files(block)
    assert "sessionhub.middleware.LifespanStateMiddleware" in parts["(before)"]
    views = example_module(tmp_path, "state_views", parts["myapp/views.py"], echo)
    view = LifespanStateMiddleware(views.remote_config)
    request = RequestFactory().get("/")
    request.META[WSGI_STATE_KEY] = {"remote_config": {"flag": True}}
    response = view(request)
    assert isinstance(response, HttpResponse)
    assert json.loads(response.content) == {"flag": True}


async def test_the_register_lifespan_example_enters_and_exits(
    tmp_path: Path, echo: Upstream
) -> None:
    block = python_block("register_lifespan(search_index)")
    opened: list[str] = []

    class SearchIndex:
        """What the example leaves to the reader: an index that talks to its upstream."""

        @classmethod
        async def connect(cls, client: aiohttp.ClientSession) -> SearchIndex:
            async with client.get("ping") as response:
                opened.append((await response.json())["path"])
            return cls()

        async def close(self) -> None:
            opened.append("closed")

    namespace: dict[str, Any] = {"AppConfig": AppConfig, "SearchIndex": SearchIndex}
    exec(compile(block, "docs", "exec"), namespace)
    setting = {"default": {}, "search": {"BASE_URL": echo.url_for("/search/")}}
    try:
        namespace["MyAppConfig"].ready(None)
        with override_settings(SESSIONHUB=setting):
            async with lifespan() as state:
                assert isinstance(state["search_index"], SearchIndex)
    finally:
        unregister_lifespan(namespace["search_index"])
    assert opened == ["/search/ping", "closed"]


async def test_the_factory_example_traces_a_real_request(
    tmp_path: Path, echo: Upstream, caplog: pytest.LogCaptureFixture
) -> None:
    block = python_block("# mysite/clients.py")
    clients = example_module(tmp_path, "readme_clients", files(block)["mysite/clients.py"], echo)
    setting = {"default": {"FACTORY": "readme_clients.traced_session"}}
    sys.modules["readme_clients"] = clients
    try:
        with override_settings(SESSIONHUB=setting), caplog.at_level(logging.INFO):
            session = sessionhub.get()
            async with session.get(echo.url_for("/traced")) as response:
                assert response.status == 200
            # A second request: the trace config was frozen with the session.
            async with session.get(echo.url_for("/again")) as response:
                assert response.status == 200
    finally:
        del sys.modules["readme_clients"]
    lines = [r.getMessage() for r in caplog.records if r.name == "readme_clients"]
    assert lines == ["GET /traced: 200", "GET /again: 200"]


def test_the_middleware_composition_is_lifespan_aware() -> None:
    block = python_block("SentryAsgiMiddleware(OpenTelemetryMiddleware(")
    namespace: dict[str, Any] = {
        "SentryAsgiMiddleware": SentryAsgiMiddleware,
        "OpenTelemetryMiddleware": OpenTelemetryMiddleware,
        "get_asgi_application": get_asgi_application,
    }
    exec(compile(block, "docs", "exec"), namespace)
    assert isinstance(hosting.unwrap(namespace["application"]), LifespanASGIHandler)
    module = ModuleType("readme_composition")
    module.application = namespace["application"]  # type: ignore[attr-defined]
    sys.modules["readme_composition"] = module
    try:
        with override_settings(ASGI_APPLICATION="readme_composition.application"):
            assert check_asgi_application(None) == []
    finally:
        del sys.modules["readme_composition"]


async def test_the_stats_example_has_the_keys_stats_gives() -> None:
    block = python_block('"type": "aiohttp.client')
    example = ast.literal_eval(block)
    sessionhub.get()
    assert example.keys() == sessionhub.stats().keys() == {"default"}
    assert example["default"].keys() == sessionhub.stats()["default"].keys()


PROJECT_SETTINGS = """
import os
from pathlib import Path

SECRET_KEY = "readme-project-" + "x" * 50
ROOT_URLCONF = "mysite.urls"
DATABASES = {}
USE_TZ = True
# What the examples leave to the reader.
QUOTES_TOKEN = PAYMENTS_KEY = "not-a-real-key"
INSTALLED_APPS = ["django.contrib.contenttypes"]
MIDDLEWARE = ["django.middleware.common.CommonMiddleware"]
_BEFORE = {"INSTALLED_APPS": INSTALLED_APPS, "MIDDLEWARE": MIDDLEWARE}

exec(Path(os.environ["DOCS_SNIPPET"]).read_text())


def _filled(name):
    # "...," in an example stands for what the project already has.
    return [x for item in globals()[name] for x in (_BEFORE[name] if item is ... else [item])]


INSTALLED_APPS = _filled("INSTALLED_APPS")
MIDDLEWARE = _filled("MIDDLEWARE")
"""


def settings_snippets() -> dict[str, str]:
    """The settings examples, each as a settings module's text."""
    blocks = python_blocks()
    quickstart = ("INSTALLED_APPS", QUOTES, "MIDDLEWARE", "LOGGING")
    (fragment,) = [b for b in blocks if b.startswith('"payments"')]
    (apps,) = [b for b in blocks if b.startswith("INSTALLED_APPS")]
    return {
        "quickstart": "\n".join(
            files(b).get("(before)", "") for b in blocks if b.startswith(quickstart)
        ),
        "settings": apps + next(b for b in blocks if b.startswith(PAYMENTS)),
        # An entry of SESSIONHUB: put in one.
        "allowed origins": apps + f'SESSIONHUB = {{\n"default": {{}},\n{fragment}}}\n',
        "readme": files(python_block("# settings.py\nINSTALLED_APPS"))["settings.py"],
    }


@pytest.mark.parametrize("snippet", list(settings_snippets()))
def test_the_settings_examples_pass_check_deploy_in_a_project(
    snippet: str, tmp_path: Path
) -> None:
    text = settings_snippets()[snippet]
    site = tmp_path / "mysite"
    site.mkdir()
    (site / "__init__.py").touch()
    (site / "settings.py").write_text(PROJECT_SETTINGS, encoding="utf-8")
    (site / "urls.py").write_text("urlpatterns = []\n", encoding="utf-8")
    (site / "asgi.py").write_text(python_asgi_block(), encoding="utf-8")
    (tmp_path / "snippet.py").write_text(text, encoding="utf-8")
    env = {
        "PATH": "",
        "PYTHONDEVMODE": "1",
        "PYTHONPATH": f"{tmp_path}{os.pathsep}{ROOT}",
        "DJANGO_SETTINGS_MODULE": "mysite.settings",
        "DOCS_SNIPPET": str(tmp_path / "snippet.py"),
    }
    command = [sys.executable, "-m", "django", "check", "--deploy", "--tag", "sessionhub"]
    result = subprocess.run(
        [*command, "--fail-level", "WARNING"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "System check identified no issues" in result.stdout


def python_asgi_block() -> str:
    (block,) = [
        b
        for b in python_blocks("application = get_asgi_application()")
        if b.startswith("import os")
    ]
    return block


@pytest.mark.parametrize("snippet", list(settings_snippets()))
async def test_the_settings_examples_build_every_client(snippet: str) -> None:
    namespace: dict[str, Any] = dict(SECRETS)
    exec(compile(settings_snippets()[snippet], "docs", "exec"), namespace)
    if "SESSIONHUB" not in namespace:
        return
    with override_settings(SESSIONHUB=namespace["SESSIONHUB"]):
        clients = [sessionhub.get(name) for name in namespace["SESSIONHUB"]]
    assert len({id(client) for client in clients}) == len(clients)


async def test_the_urls_example_serves_the_health_view(tmp_path: Path, echo: Upstream) -> None:
    urls = example_module(
        tmp_path, "health_urls", python_block('include("sessionhub.urls")'), echo
    )
    sys.modules["health_urls"] = urls
    try:
        with override_settings(ROOT_URLCONF="health_urls"):
            assert resolve("/health/").func is health
            response = await AsyncClient().get("/health/")
    finally:
        del sys.modules["health_urls"]
    assert (response.status_code, response.json()) == (200, {"status": "ok"})


def test_the_gunicorn_config_example_is_one_gunicorn_takes() -> None:
    namespace: dict[str, Any] = {}
    exec(compile(python_block("# gunicorn.conf.py"), "docs", "exec"), namespace)
    config = Config()
    for name, value in namespace.items():
        if not name.startswith("__"):
            config.set(name, value)  # an unknown name raises AttributeError
    assert config.worker_class is UvicornWorker
    assert config.wsgi_app == "mysite.asgi:application"


async def test_the_module_global_example_breaks_on_a_second_loop(
    tmp_path: Path, echo: Upstream
) -> None:
    views = example_module(tmp_path, "global_views", python_block("async def forecast("), echo)
    request = RequestFactory().get("/")
    try:
        # In a thread: each asyncio.run is a loop of its own, as each request
        # of runserver or of the sync test client is.
        first = await asyncio.to_thread(asyncio.run, views.forecast(request))
        assert json.loads(first.content) == {"method": "GET", "path": "/today"}
        with pytest.raises(RuntimeError, match="Event loop is closed"):
            await asyncio.to_thread(asyncio.run, views.forecast(request))
    finally:
        _drop(views.session)


def _drop(session: aiohttp.ClientSession) -> None:
    """Close what a session holds for a loop that is closed, which cannot close it.

    It reaches into aiohttp and asyncio: only so that the broken example leaks
    nothing into the suite, which fails on a leak.
    """
    connector: Any = session.connector
    for protocols in connector._conns.values():
        for protocol, _ in protocols:
            transport = protocol.transport
            transport._sock.close()
            transport._sock = None
    connector._conns.clear()
    connector._closed = True


async def test_the_session_per_request_example_answers(tmp_path: Path, echo: Upstream) -> None:
    views = example_module(tmp_path, "per_request_views", python_block("async def today("), echo)
    response = await views.today(RequestFactory().get("/"))
    assert json.loads(response.content) == {"method": "GET", "path": "/today"}
