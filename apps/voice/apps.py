from apps.core.registry import NavEntry, NexusAppConfig, Scope, Tool


class VoiceAppConfig(NexusAppConfig):
    """Voice: spoken turns over WebSocket (speech to text, the chat reply, text to speech), one-shot audio routes, telephony webhooks."""

    name = "apps.voice"
    label = "voice"
    verbose_name = "Voice"
    api_urls = "apps.voice.api.urls"
    page_urls = "apps.voice.urls"
    navigation = (NavEntry("Voice", "voice:home", tool="voice", position=52),)
    tools = (Tool("voice", scope="voice", position=75),)
    scopes = (Scope("voice", position=65),)
    beat = {
        "voice-sessions-expire": {
            "task": "apps.voice.tasks.voice_sessions_expire",
            "schedule": 60.0,
            "options": {"queue": "default"},
        },
    }
