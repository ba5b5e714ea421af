from apps.core.registry import NavEntry, NexusAppConfig


class DashboardConfig(NexusAppConfig):
    """Server-rendered pages for people."""

    name = "apps.dashboard"
    label = "dashboard"
    page_urls = "apps.dashboard.urls"
    urls_last = True  # home, login and logout at the root, after every other app's pages
    navigation = (NavEntry("Home", "dashboard:home", position=10),)
