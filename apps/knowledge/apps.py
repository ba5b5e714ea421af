from apps.core.registry import NavEntry, NexusAppConfig, Scope, Tool


class KnowledgeConfig(NexusAppConfig):
    """Repositories, documents, chunks (pgvector), extraction, embeddings, hybrid search."""

    name = "apps.knowledge"
    label = "knowledge"
    api_urls = "apps.knowledge.api.urls"
    page_urls = "apps.knowledge.urls"  # repositories, documents, retrieval debugger
    navigation = (
        NavEntry("Knowledge", "knowledge:repositories", tool="knowledge", position=20),
        NavEntry("Retrieval debugger", "knowledge:debugger", tool="knowledge", position=30),
    )
    tools = (Tool("knowledge", scope="knowledge", position=40),)
    scopes = (Scope("knowledge", position=20),)
    queues = ("ingest",)
    beat = {
        "knowledge-reap-stuck-documents": {
            "task": "apps.knowledge.tasks.document_reap_stuck",
            "schedule": 60.0,
            "options": {"queue": "ingest"},
        },
    }
