from __future__ import annotations

from django.urls import path

from bench.project import views

# sessionhub's pattern is tried last, so it pays the most for URL resolution.
urlpatterns = [
    path("per-request/", views.per_request),
    path("module-global/", views.module_global),
    path("django-asgi-lifespan/", views.django_asgi_lifespan),
    path("sessionhub/", views.sessionhub_get),
]
