from django.apps import AppConfig


class KnowledgeConfig(AppConfig):
    """Repositories, documents, chunks (pgvector), extraction, embeddings, hybrid search."""

    name = "apps.knowledge"
    label = "knowledge"
