from apps.core.registry import NavEntry, NexusAppConfig, Scope, Tool


class ChatConfig(NexusAppConfig):
    """Folders, conversations, messages, the chat stream, model compare."""

    name = "apps.chat"
    label = "chat"
    api_urls = "apps.chat.api.urls"
    page_urls = "apps.chat.urls"  # chat and compare pages
    navigation = (
        NavEntry("Chat", "chat:chat", tool="chat", position=50),
        NavEntry("Compare", "chat:compare", tool="compare", position=60),
    )
    tools = (Tool("chat", scope="chat", position=10), Tool("compare", scope="chat", position=20))
    scopes = (Scope("chat", position=10),)
    ledger_links = {"chat": "apps.chat.ledger.conversation_urls"}  # a reply's charge links to its conversation
    beat = {"chat-reap-orphans": {"task": "apps.chat.tasks.chat_reap_orphans", "schedule": 30.0}}
