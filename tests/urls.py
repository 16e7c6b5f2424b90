from __future__ import annotations

from django.urls import include, path

from tests import views

urlpatterns = [
    path("fetch/<str:client>/", views.fetch, name="fetch"),
    path("search/", views.search, name="search"),
    path("upload/", views.upload, name="upload"),
    path("", include("config.urls")),
]
