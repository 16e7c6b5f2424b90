"""A URLconf without sessionhub's health view."""

from __future__ import annotations

from django.urls import URLPattern

urlpatterns: list[URLPattern] = []
