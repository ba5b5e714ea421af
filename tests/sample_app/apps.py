from apps.core.registry import NavEntry, NexusAppConfig, Scope, Tool


class SampleConfig(NexusAppConfig):
    """A test-only app: one API route, one page, a nav entry, a tool with its scope, a queue, a beat entry."""

    name = "tests.sample_app"
    label = "sample_app"
    api_urls = "tests.sample_app.api.urls"
    page_urls = "tests.sample_app.urls"
    navigation = (NavEntry("Sample", "sample:page", tool="sample"),)
    tools = (Tool("sample", scope="sample"),)
    scopes = (Scope("sample"),)
    queues = ("sample",)
    beat = {"sample-tick": {"task": "tests.sample_app.tasks.tick", "schedule": 60.0, "options": {"queue": "sample"}}}
