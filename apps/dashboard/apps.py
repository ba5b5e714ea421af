from django.apps import AppConfig


class DashboardConfig(AppConfig):
    """Server-rendered pages for people."""

    name = "apps.dashboard"
    label = "dashboard"
