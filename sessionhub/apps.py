from __future__ import annotations

from django.apps import AppConfig
from django.core import checks


class SessionhubConfig(AppConfig):
    name = "sessionhub"
    verbose_name = "sessionhub"

    def ready(self) -> None:
        from django.core.signals import setting_changed

        from sessionhub import conf, options
        from sessionhub.checks import check_asgi_application, check_settings

        setting_changed.connect(conf.forget, dispatch_uid="sessionhub.conf.forget")
        setting_changed.connect(options.forget, dispatch_uid="sessionhub.options.forget")
        checks.register(check_settings, "sessionhub")
        # It imports the project's ASGI module: only for check --deploy.
        checks.register(check_asgi_application, "sessionhub", deploy=True)
