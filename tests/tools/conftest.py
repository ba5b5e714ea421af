"""Platform tools fixtures: callers with keys, a knowledge repository with chunks, a loopback web page."""
from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from rest_framework.test import APIClient

from apps.accounts import services as account_services


def key_client(user: Any, scopes: list[str]) -> APIClient:
    """An API client authenticated by a new key of `user` with `scopes`."""
    _key, raw = account_services.api_key_create(user=user, name="tools test", scopes=scopes)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    return client


def knowledge_repository(owner: Any, name: str = "handbook") -> Any:
    """A repository of `owner` with two embedded chunks about the office."""
    from apps.knowledge import embeddings
    from apps.knowledge import services as knowledge
    from apps.knowledge.models import Chunk, Document

    repository = knowledge.repository_create(user=owner, name=name)
    document = Document.objects.create(repository=repository, filename=f"{name}.txt", content_type="text/plain", size=1,
                                       file_key="k", status="ready")
    texts = ["Employees get 25 days of paid vacation per year.", "The office closes at 7 pm on Fridays."]
    for position, (text, vector) in enumerate(zip(texts, embeddings.embed(texts), strict=True)):
        Chunk.objects.create(document=document, repository=repository, position=position, content=text, embedding=vector,
                             embedding_model=embeddings.model_name(), metadata={"page": None, "heading": None})
    return repository


class _Page(BaseHTTPRequestHandler):
    big = b"x" * (1024 * 1024 + 5000)

    def do_GET(self) -> None:  # noqa: N802  (the stdlib's name)
        if self.path == "/to-private":
            self.send_response(302)
            self.send_header("Location", "http://10.0.0.1/")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        body = self.big if self.path == "/big" else b"<html><body>Opening hours: 9 to 5.</body></html>"
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def web_page() -> Iterator[str]:
    """A loopback web server: `/` a small page, `/big` a page over 1 MB, `/to-private` a redirect to 10.0.0.1."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Page)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


# The live chat tests use the chat fixtures: the fake provider, its models, callers with keys.
from tests.chat.conftest import Caller, SseReader, caller, make_caller  # noqa: E402,F401
from tests.llm.conftest import (  # noqa: E402,F401
    FakeModels,
    committed_db,
    fake_llm,
    fake_llm_server,
    fake_models,
    fresh_llm_state,
)
