"""Chat resources through the DRF stack: CRUD, filters, BOLA, the reaper, titles."""
from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from apps.chat.models import Comparison, Conversation, Folder, Message, MessageStatus
from apps.chat.tasks import chat_reap_orphans, conversation_title_generate
from apps.core import streams
from tests.factories import UserFactory, WorkspaceFactory

pytestmark = pytest.mark.django_db


def _client(user) -> APIClient:  # type: ignore[no-untyped-def]
    client = APIClient()
    client.force_authenticate(user=user)
    return client


def _conversation(owner, **extra) -> Conversation:  # type: ignore[no-untyped-def]
    conversation = Conversation.objects.create(owner=owner, title=extra.pop("title", "Trip plans"), **extra)
    Message.objects.create(conversation=conversation, role="user", content="Where should we go in spring?")
    Message.objects.create(conversation=conversation, role="assistant", content="Kyoto.", status=MessageStatus.COMPLETE)
    return conversation


def test_folders_and_conversations_crud_with_filters() -> None:
    user = UserFactory()
    client = _client(user)
    folder = client.post("/api/v1/folders", {"name": "Travel"}, format="json").json()
    created = client.post("/api/v1/conversations", {"title": "Spring", "folder_id": folder["id"]}, format="json")
    assert created.status_code == 201 and created.json()["folder_id"] == folder["id"]
    other = _conversation(user, title="Groceries")
    listed = client.get(f"/api/v1/conversations?folder_id={folder['id']}").json()
    assert [c["title"] for c in listed["results"]] == ["Spring"]
    searched = client.get("/api/v1/conversations?search=kyoto").json()
    assert [c["id"] for c in searched["results"]] == [str(other.pk)]
    moved = client.patch(f"/api/v1/conversations/{other.pk}", {"title": "Food", "folder_id": folder["id"]}, format="json").json()
    assert moved["title"] == "Food" and moved["folder_id"] == folder["id"]
    messages = client.get(f"/api/v1/conversations/{other.pk}/messages").json()
    assert [m["role"] for m in messages["results"]] == ["user", "assistant"]
    assert set(messages["results"][0]) >= {"id", "role", "content", "status", "created_at", "token_usage"}
    assert client.delete(f"/api/v1/conversations/{other.pk}").status_code == 204
    assert not Message.objects.filter(conversation_id=other.pk).exists()
    assert client.delete(f"/api/v1/folders/{folder['id']}").status_code == 204
    assert Conversation.objects.get(title="Spring").folder_id is None


def test_bola_another_users_ids_answer_404_and_no_data() -> None:
    alice, bob = UserFactory(), UserFactory()
    conversation = _conversation(alice)
    folder = Folder.objects.create(owner=alice, name="Secret")
    comparison = Comparison.objects.create(owner=alice, prompt="p", model1_name="a", model2_name="b")
    client = _client(bob)
    routes = [
        ("get", f"/api/v1/conversations/{conversation.pk}"),
        ("patch", f"/api/v1/conversations/{conversation.pk}"),
        ("delete", f"/api/v1/conversations/{conversation.pk}"),
        ("get", f"/api/v1/conversations/{conversation.pk}/messages"),
        ("get", f"/api/v1/conversations/{conversation.pk}/stream"),
        ("post", f"/api/v1/conversations/{conversation.pk}/stop"),
        ("get", f"/api/v1/folders/{folder.pk}"),
        ("patch", f"/api/v1/folders/{folder.pk}"),
        ("delete", f"/api/v1/folders/{folder.pk}"),
        ("get", f"/api/v1/comparisons/{comparison.pk}"),
    ]
    for method, url in routes:
        response = getattr(client, method)(url, {"title": "mine now", "name": "mine now"}, format="json")
        assert response.status_code == 404, (method, url, response.status_code)
        assert response.json()["error"]["code"] == "NOT_FOUND"
        assert "Trip" not in response.content.decode() and "Secret" not in response.content.decode()
    # Bob cannot file his conversation into Alice's folder, nor see her items in lists.
    mine = client.post("/api/v1/conversations", {"title": "Bob's", "folder_id": str(folder.pk)}, format="json")
    assert mine.status_code == 404
    assert client.get("/api/v1/conversations").json()["count"] == 0
    assert client.get("/api/v1/folders").json()["count"] == 0
    assert client.get("/api/v1/comparisons").json()["count"] == 0
    conversation.refresh_from_db()
    assert conversation.title == "Trip plans" and Folder.objects.filter(pk=folder.pk).exists()


def test_workspace_members_read_shared_conversations_but_cannot_change_them() -> None:
    owner, member = UserFactory(), UserFactory()
    workspace = WorkspaceFactory(owner=owner)
    from apps.accounts.models import WorkspaceMember

    WorkspaceMember.objects.create(workspace=workspace, user=member, role="member")
    conversation = _conversation(owner)
    owner_client = _client(owner)
    assert owner_client.patch(f"/api/v1/conversations/{conversation.pk}", {"workspace_id": str(workspace.pk)}, format="json").status_code == 200
    member_client = _client(member)
    assert member_client.get(f"/api/v1/conversations/{conversation.pk}").status_code == 200
    assert member_client.get(f"/api/v1/conversations/{conversation.pk}/messages").json()["count"] == 2
    denied = member_client.patch(f"/api/v1/conversations/{conversation.pk}", {"title": "x"}, format="json")
    assert denied.status_code == 403 and denied.json()["error"]["code"] == "FORBIDDEN"
    assert member_client.delete(f"/api/v1/conversations/{conversation.pk}").status_code == 403
    # Sharing into a workspace one does not belong to is refused.
    stranger_space = WorkspaceFactory()
    refused = owner_client.patch(f"/api/v1/conversations/{conversation.pk}", {"workspace_id": str(stranger_space.pk)}, format="json")
    assert refused.status_code == 400 and "workspace_id" in refused.json()["error"]["details"]


def test_stop_with_nothing_generating_is_a_409() -> None:
    user = UserFactory()
    conversation = _conversation(user)
    response = _client(user).post(f"/api/v1/conversations/{conversation.pk}/stop")
    assert response.status_code == 409 and response.json()["error"]["code"] == "CONFLICT"


def test_stream_with_nothing_generating_is_204() -> None:
    user = UserFactory()
    conversation = _conversation(user)
    assert _client(user).get(f"/api/v1/conversations/{conversation.pk}/stream").status_code == 204


def test_reaper_marks_orphaned_replies_incomplete_and_ends_their_stream(settings) -> None:  # type: ignore[no-untyped-def]
    user = UserFactory()
    conversation = _conversation(user)
    orphan = Message.objects.create(conversation=conversation, role="assistant", content="Half a rep", status=MessageStatus.STREAMING)
    alive = Message.objects.create(conversation=conversation, role="assistant", content="Going", status=MessageStatus.STREAMING)
    Message.objects.filter(pk=orphan.pk).update(updated_at=timezone.now() - timedelta(seconds=settings.CHAT_ORPHAN_SECONDS + 5))
    assert chat_reap_orphans() == 1
    orphan.refresh_from_db()
    alive.refresh_from_db()
    assert orphan.status == "incomplete" and orphan.content == "Half a rep"
    assert alive.status == "streaming"
    events = streams.read_events(streams.stream_key("chat", orphan.pk))
    assert events[-1].final and events[-1].data["status"] == "incomplete"
    assert chat_reap_orphans() == 0  # idempotent


def test_title_from_the_first_words_when_no_title_model(settings) -> None:  # type: ignore[no-untyped-def]
    settings.CHAT_TITLE_MODEL = ""
    user = UserFactory()
    conversation = Conversation.objects.create(owner=user)
    Message.objects.create(conversation=conversation, role="user", content="How do I make a sourdough starter from scratch at home please")
    conversation_title_generate(str(conversation.pk))
    conversation.refresh_from_db()
    assert conversation.title == "How do I make a sourdough starter from…"
    conversation_title_generate(str(conversation.pk))  # a second run changes nothing
    conversation_title_generate(str(uuid.uuid4()))  # a deleted conversation is a no-op


def test_streaming_replies_are_saved_together_in_one_statement(django_assert_num_queries) -> None:  # type: ignore[no-untyped-def]
    """The process's saver writes every live reply's text in one UPDATE; a reply that has ended keeps its end."""
    from apps.chat.generation import replies_save

    user = UserFactory()
    conversation = _conversation(user)
    live = [Message.objects.create(conversation=conversation, role="assistant", content="", status=MessageStatus.STREAMING)
            for _ in range(50)]
    ended = Message.objects.create(conversation=conversation, role="assistant", content="The whole answer.",
                                   status=MessageStatus.COMPLETE)
    batch = [Message(pk=message.pk, content=f"partial {n}", reasoning="", generator="web:1", updated_at=timezone.now())
             for n, message in enumerate([*live, ended])]
    with django_assert_num_queries(1):
        assert replies_save(batch) == 50
    assert [Message.objects.get(pk=message.pk).content for message in live] == [f"partial {n}" for n in range(50)]
    ended.refresh_from_db()
    assert ended.content == "The whole answer." and ended.status == MessageStatus.COMPLETE
