from apps.core.registry import NavEntry, NexusAppConfig


class SharingConfig(NexusAppConfig):
    """Shared artifacts: a reply, a tool result or a file behind an unguessable, revocable link."""

    name = "apps.sharing"
    label = "sharing"
    api_urls = "apps.sharing.api.urls"
    page_urls = "apps.sharing.urls"
    navigation = (NavEntry("Shared links", "sharing:list", position=90, section="account"),)
