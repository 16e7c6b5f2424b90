"""Django Channels with sessionhub, for daphne, and Channels' documented router for comparison.

The README's own Channels ``asgi.py`` is run as written by tests/test_channels.py.
"""

from __future__ import annotations

import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.compose_settings")

from sessionhub.asgi import get_asgi_application  # noqa: E402

django_app = get_asgi_application()

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402

from tests.compose_app.routing import websocket_urlpatterns  # noqa: E402

websocket = URLRouter(websocket_urlpatterns)  # type: ignore[arg-type]

# The README's pattern: the lifespan goes to sessionhub's handler too.
application = ProtocolTypeRouter(
    {"http": django_app, "websocket": websocket, "lifespan": django_app}
)

# Channels' documented asgi.py, for comparison: no 'lifespan' route.
without_lifespan = ProtocolTypeRouter({"http": django_app, "websocket": websocket})
