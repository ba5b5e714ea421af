"""Contract-test fixtures: a user per role with an access token, the loopback fakes, and a case count."""
from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.fakes.embeddings_server import embeddings_server
from tests.fakes.stripe_server import FakeStripe

# role -> operation label -> the status of each case sent (reported at the end of the run)
CASES: dict[str, dict[str, list[int]]] = {}


@dataclass
class Caller:
    """Who the generated requests are sent as."""

    role: str
    user: Any
    token: str

    @property
    def headers(self) -> dict[str, str]:
        """The access JWT as a bearer token."""
        return {"Authorization": f"Bearer {self.token}"}


@pytest.fixture(params=["user", "admin"])
def caller(request: pytest.FixtureRequest, fake_models: Any, contract_fakes: None) -> Caller:
    """A committed plain user or admin, with a tier limit high enough that fuzzing is not throttled."""
    from apps.accounts import services
    from apps.accounts.models import Tier
    from tests.factories import AdminUserFactory, UserFactory

    # The contract run sends hundreds of requests a minute; the throttle has its own tests.
    Tier.objects.update(api_rpm=10**6, chat_rpm=10**6)
    user = (AdminUserFactory if request.param == "admin" else UserFactory)()
    token = services.token_pair_issue(user=user)["access_token"]
    return Caller(role=request.param, user=user, token=token)


@pytest.fixture
def contract_fakes(settings: Any, tmp_path: Path) -> Iterator[None]:
    """Stripe and the embeddings endpoint on loopback fakes; uploads in a folder of this test."""
    stripe = FakeStripe(api_key="sk_test_contract", webhook_secret="whsec_contract").start()
    settings.STRIPE_SECRET_KEY = "sk_test_contract"
    settings.STRIPE_API_BASE = stripe.url
    settings.STRIPE_WEBHOOK_SECRET = "whsec_contract"
    settings.STRIPE_MAX_NETWORK_RETRIES = 0
    settings.CRON_SECRET = "cron-secret-contract"
    settings.MEDIA_ROOT = str(tmp_path / "media")
    with embeddings_server() as embeddings:
        settings.KNOWLEDGE_EMBEDDINGS_BACKEND = "openai"
        settings.KNOWLEDGE_EMBEDDINGS_URL = embeddings.url
        settings.KNOWLEDGE_EMBEDDINGS_MODEL = "nomic-embed-text"
        settings.KNOWLEDGE_EMBEDDINGS_API_KEY = "test-embeddings-key"
        try:
            yield
        finally:
            stripe.stop()


@dataclass
class Seeded:
    """One of each resource the caller owns, so that `{id}` routes answer 200 and lists are not empty."""

    ids: dict[str, str]

    def path_parameters(self, path: str, names: list[str]) -> dict[str, str] | None:
        """Real ids for every parameter of `path` (the template up to each `{name}` picks the resource)."""
        found: dict[str, str] = {}
        for name in names:
            prefix = path[: path.index("{" + name + "}") + len(name) + 2]
            if prefix not in self.ids:
                return None
            found[name] = self.ids[prefix]
        return found


@pytest.fixture
def seeded(caller: Caller, fake_models: Any) -> Seeded:
    """A folder, a conversation with messages, a repository with a document, a run tool, a key, a workspace."""
    from django.core.files.uploadedfile import SimpleUploadedFile

    from apps.accounts import services as accounts
    from apps.accounts.models import Role
    from apps.architect import services as architect
    from apps.chat import services as chat
    from apps.chat.models import Message, MessageStatus
    from apps.knowledge import services as knowledge
    from tests.architect.conftest import chain_body
    from tests.factories import UserFactory

    user = caller.user
    folder = chat.folder_create(user=user, name="Trips")
    conversation = chat.conversation_create(user=user, title="Spring", folder_id=folder.id)
    Message.objects.create(conversation=conversation, role="user", content="Where should we go in spring?")
    Message.objects.create(conversation=conversation, role="assistant", content="Kyoto.", status=MessageStatus.COMPLETE)
    repository = knowledge.repository_create(user=user, name="Handbook")
    document = knowledge.document_upload(user=user, repository=repository,
                                         upload=SimpleUploadedFile("rivers.txt", b"A document about rivers.", "text/plain"))
    body = chain_body()
    tool = architect.tool_create(user=user, **{k: body[k] for k in ("name", "status", "input_fields", "prompts")})
    execution = architect.execution_start(user=user, tool=tool, inputs={"topic": "dogs"})
    key, _raw = accounts.api_key_create(user=user, name="contract", scopes=["*"])
    workspace = accounts.workspace_create(user=user, name="Team")
    member = UserFactory()
    accounts.workspace_member_add(workspace=workspace, user=user, email=member.email, role="member")
    from apps.integrations import services as integrations
    from apps.sharing import services as sharing

    connection = integrations.connection_create(user=user, kind="slack", name="Team", secret="xoxb-contract-token")
    artifact, share_token = sharing.artifact_create(user=user, title="Shared", content_type="text/plain", content="Kyoto.")
    api = "/api/v1"
    return Seeded(ids={
        f"{api}/connections/{{id}}": str(connection.id),
        f"{api}/artifacts/{{id}}": str(artifact.id),
        f"{api}/shared/{{token}}": share_token,
        f"{api}/folders/{{id}}": str(folder.id),
        f"{api}/conversations/{{id}}": str(conversation.id),
        f"{api}/knowledge/{{id}}": str(repository.id),
        f"{api}/knowledge/{{repository_id}}": str(repository.id),
        f"{api}/documents/{{id}}": str(document.id),
        f"{api}/documents/{{document_id}}": str(document.id),
        f"{api}/architect/tools/{{id}}": str(tool.id),
        f"{api}/architect/executions/{{id}}": str(execution.id),
        f"{api}/keys/{{id}}": str(key.id),
        f"{api}/workspaces/{{id}}": str(workspace.id),
        f"{api}/workspaces/{{workspace_id}}": str(workspace.id),
        f"{api}/workspaces/{{workspace_id}}/members/{{user_id}}": str(member.id),
        f"{api}/admin/models/{{id}}": str(fake_models.models["openai"].id),
        f"{api}/admin/providers/{{id}}": str(fake_models.providers["openai"].id),
        f"{api}/admin/providers/{{provider_id}}": str(fake_models.providers["openai"].id),
        f"{api}/admin/users/{{user_id}}": str(member.id),
        f"{api}/admin/users/{{user_id}}/roles/{{role_id}}": str(Role.objects.get(name="user").id),
    })


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """How many operations and cases the contract run covered, per role."""
    for role, operations in sorted(CASES.items()):
        cases = sum(len(statuses) for statuses in operations.values())
        succeeded = sum(1 for statuses in operations.values() if any(200 <= status < 300 for status in statuses))
        terminalreporter.write_line(
            f"schemathesis as {role}: {len(operations)} operations, {cases} cases, {succeeded} operations answered 2xx"
        )
