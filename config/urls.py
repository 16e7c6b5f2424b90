from __future__ import annotations

from django.urls import include, path

from config import views

urlpatterns = [
    path("", views.demo, name="demo"),
    path("upstream/", views.upstream, name="upstream"),
    path("", include("sessionhub.urls")),
]
