"""``path("", include("sessionhub.urls"))`` serves the health view at ``health/``."""

from __future__ import annotations

from django.urls import path

from sessionhub import views

app_name = "sessionhub"
urlpatterns = [path("health/", views.health, name="health")]
