from django.apps import AppConfig


class ChatConfig(AppConfig):
    """Folders, conversations, messages, the chat stream, model compare."""

    name = "apps.chat"
    label = "chat"
