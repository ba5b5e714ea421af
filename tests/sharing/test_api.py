"""Shared artifacts: create, list, revoke, expire; the public read needs no credentials; the CSP on HTML."""
from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection as db
from django.utils import timezone
from rest_framework.test import APIClient

from apps.chat import services as chat
from apps.chat.models import Message, MessageStatus
from apps.sharing.models import Artifact

pytestmark = pytest.mark.django_db


def _share(client, **body):  # type: ignore[no-untyped-def]
    return client.post("/api/v1/artifacts", body, format="json")


def _reply(owner, content: str = "Kyoto in **April**.", status: str = MessageStatus.COMPLETE) -> Message:  # type: ignore[no-untyped-def]
    conversation = chat.conversation_create(user=owner, title="Spring trip")
    Message.objects.create(conversation=conversation, role="user", content="Where in spring?")
    return Message.objects.create(conversation=conversation, role="assistant", content=content, status=status)


def test_share_content_then_read_it_without_credentials(auth_client) -> None:  # type: ignore[no-untyped-def]
    created = _share(auth_client, title="Notes", content_type="text/plain", content="  line one\nline two  ")
    assert created.status_code == 201, created.content
    body = created.json()
    assert {"id", "token", "url", "expires_at"} <= set(body) and body["expires_at"] is None
    assert len(body["token"]) >= 40 and body["url"].endswith(f"/s/{body['token']}")

    anonymous = APIClient()
    shared = anonymous.get(f"/api/v1/shared/{body['token']}")
    assert shared.status_code == 200
    assert shared.json()["content"] == "  line one\nline two  " and shared.json()["title"] == "Notes"
    assert "owner" not in shared.json() and shared["Cache-Control"] == "no-store"
    # Credentials that do not match are irrelevant to a public link (never a 401).
    assert anonymous.get(f"/api/v1/shared/{body['token']}", HTTP_AUTHORIZATION="Bearer nxk_wrong").status_code == 200


def test_token_is_stored_hashed_and_unknown_tokens_are_404(auth_client) -> None:  # type: ignore[no-untyped-def]
    token = _share(auth_client, title="T", content_type="text/plain", content="x").json()["token"]
    with db.cursor() as cursor:
        cursor.execute("SELECT token_digest, token_encrypted FROM sharing_artifact")
        digest, encrypted = cursor.fetchone()
    assert token not in digest and token not in encrypted
    missing = APIClient().get("/api/v1/shared/" + "A" * 43)
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "NOT_FOUND"


def test_list_and_revoke(auth_client) -> None:  # type: ignore[no-untyped-def]
    first = _share(auth_client, title="One", content_type="text/markdown", content="# One").json()
    _share(auth_client, title="Two", content_type="application/json", content='{"a": 1}')
    listed = auth_client.get("/api/v1/artifacts").json()
    assert [item["title"] for item in listed["results"]] == ["Two", "One"]
    assert listed["results"][1]["token"] == first["token"] and listed["results"][1]["url"] == first["url"]

    assert auth_client.delete(f"/api/v1/artifacts/{first['id']}").status_code == 204
    assert APIClient().get(f"/api/v1/shared/{first['token']}").status_code == 404
    assert APIClient().get(f"/s/{first['token']}").status_code == 404
    assert auth_client.get("/api/v1/artifacts").json()["count"] == 1
    assert auth_client.delete(f"/api/v1/artifacts/{first['id']}").status_code == 404


def test_expired_link_is_404(auth_client) -> None:  # type: ignore[no-untyped-def]
    created = _share(auth_client, title="Soon gone", content_type="text/plain", content="x", expires_in=60).json()
    assert created["expires_at"] is not None
    assert APIClient().get(f"/api/v1/shared/{created['token']}").status_code == 200
    Artifact.objects.filter(pk=created["id"]).update(expires_at=timezone.now() - timedelta(seconds=1))
    assert APIClient().get(f"/api/v1/shared/{created['token']}").status_code == 404
    assert APIClient().get(f"/s/{created['token']}/raw").status_code == 404
    assert auth_client.get("/api/v1/artifacts").json()["results"][0]["expired"] is True


def test_share_a_message(auth_client, user) -> None:  # type: ignore[no-untyped-def]
    reply = _reply(user)
    created = _share(auth_client, message_id=str(reply.id))
    assert created.status_code == 201, created.content
    shared = APIClient().get(f"/api/v1/shared/{created.json()['token']}").json()
    assert shared == {**shared, "content": "Kyoto in **April**.", "content_type": "text/markdown", "title": "Spring trip"}
    # A copy: editing the message later does not change what was shared.
    Message.objects.filter(pk=reply.pk).update(content="changed")
    assert APIClient().get(f"/api/v1/shared/{created.json()['token']}").json()["content"] == "Kyoto in **April**."


def test_another_users_message_is_404(auth_client, other_user) -> None:  # type: ignore[no-untyped-def]
    theirs = _reply(other_user)
    refused = _share(auth_client, title="Stolen", message_id=str(theirs.id))
    assert refused.status_code == 404 and refused.json()["error"]["code"] == "NOT_FOUND"
    assert not Artifact.objects.exists()


def test_streaming_message_is_409_and_bad_bodies_are_400(auth_client, user) -> None:  # type: ignore[no-untyped-def]
    assert _share(auth_client, message_id=str(_reply(user, status=MessageStatus.STREAMING).id)).status_code == 409
    assert _share(auth_client, title="x").status_code == 400  # neither content nor message
    assert _share(auth_client, title="x", content_type="text/plain", content="y", message_id=str(_reply(user).id)).status_code == 400
    assert _share(auth_client, title="x", content_type="application/pdf", content="y").status_code == 400
    assert _share(auth_client, title="x", content_type="application/json", content="{nope").status_code == 400
    assert _share(auth_client, title="", content_type="text/plain", content="y").status_code == 400
    assert _share(auth_client, title="x", content_type="text/plain", content="y", expires_in=0).status_code == 400


def test_content_over_the_cap_is_413(auth_client, settings) -> None:  # type: ignore[no-untyped-def]
    settings.SHARING_MAX_CONTENT_BYTES = 1000
    assert _share(auth_client, title="ok", content_type="text/plain", content="é" * 500).status_code == 201  # 1000 bytes
    too_big = _share(auth_client, title="big", content_type="text/plain", content="é" * 501)
    assert too_big.status_code == 413 and too_big.json()["error"]["code"] == "PAYLOAD_TOO_LARGE"


def test_other_users_artifacts_are_invisible(auth_client, other_user) -> None:  # type: ignore[no-untyped-def]
    created = _share(auth_client, title="Mine", content_type="text/plain", content="x").json()
    other = APIClient()
    other.force_authenticate(user=other_user)
    assert other.get("/api/v1/artifacts").json()["count"] == 0
    assert other.delete(f"/api/v1/artifacts/{created['id']}").status_code == 404
    assert APIClient().get(f"/api/v1/shared/{created['token']}").status_code == 200


def test_html_is_served_sandboxed(auth_client) -> None:  # type: ignore[no-untyped-def]
    html = "<h1>Report</h1><script>document.title = document.cookie</script>"
    token = _share(auth_client, title="Report", content_type="text/html", content=html).json()["token"]
    anonymous = APIClient()
    raw = anonymous.get(f"/s/{token}/raw")
    assert raw.status_code == 200 and raw.content.decode() == html
    assert raw["Content-Type"].startswith("text/html")
    csp = raw["Content-Security-Policy"]
    sandbox = next(part.strip() for part in csp.split(";") if part.strip().startswith("sandbox"))
    assert "allow-same-origin" not in sandbox and "frame-ancestors 'self'" in csp
    assert raw["X-Frame-Options"] == "SAMEORIGIN" and raw["X-Content-Type-Options"] == "nosniff"

    page = anonymous.get(f"/s/{token}")
    assert page.status_code == 200
    text = page.content.decode()
    assert "<script>document.title" not in text  # the HTML never enters the Nexus page
    assert f'src="/s/{token}/raw"' in text and 'sandbox="allow-scripts allow-popups allow-modals"' in text
    assert "script-src 'self'" in page["Content-Security-Policy"] and page["Referrer-Policy"] == "no-referrer"


def test_list_page_and_revoke_form(client, user) -> None:  # type: ignore[no-untyped-def]
    client.force_login(user)
    api = APIClient()
    api.force_authenticate(user=user)
    created = _share(api, title="Page link", content_type="text/plain", content="x").json()
    page = client.get("/shared/")
    assert page.status_code == 200 and created["url"] in page.content.decode()
    assert client.post(f"/shared/{created['id']}/revoke").status_code == 302
    assert APIClient().get(f"/s/{created['token']}").status_code == 404


def test_public_reads_are_limited_per_client_address(auth_client, settings) -> None:  # type: ignore[no-untyped-def]
    settings.SHARING_PUBLIC_RATE = "2/m"
    token = _share(auth_client, title="Popular", content_type="text/plain", content="x").json()["token"]
    reader = APIClient(REMOTE_ADDR="203.0.113.7")
    assert reader.get(f"/api/v1/shared/{token}").status_code == 200
    assert reader.get(f"/s/{token}").status_code == 200
    limited = reader.get(f"/api/v1/shared/{token}")
    assert limited.status_code == 429 and limited.json()["error"]["code"] == "RATE_LIMITED" and int(limited["Retry-After"]) > 0
    page = reader.get(f"/s/{token}/raw")
    assert page.status_code == 429 and int(page["Retry-After"]) > 0
    assert APIClient(REMOTE_ADDR="203.0.113.8").get(f"/api/v1/shared/{token}").status_code == 200  # another address


def test_a_workspace_member_can_share_a_message_of_a_shared_conversation(user, other_user) -> None:  # type: ignore[no-untyped-def]
    from apps.accounts import services as accounts

    workspace = accounts.workspace_create(user=other_user, name="Team")
    accounts.workspace_member_add(workspace=workspace, user=other_user, email=user.email, role="member")
    conversation = chat.conversation_create(user=other_user, title="Team plan", workspace_id=workspace.id)
    reply = Message.objects.create(conversation=conversation, role="assistant", content="Ship Friday.")
    member = APIClient()
    member.force_authenticate(user=user)
    created = _share(member, message_id=str(reply.id))
    assert created.status_code == 201, created.content
    assert Artifact.objects.get().owner == user  # the link is the sharer's to revoke
    assert APIClient().get(f"/api/v1/shared/{created.json()['token']}").json()["content"] == "Ship Friday."


def test_text_that_looks_like_html_is_never_served_as_html(auth_client) -> None:  # type: ignore[no-untyped-def]
    text = "<script>alert(document.cookie)</script>"
    token = _share(auth_client, title="Not HTML", content_type="text/markdown", content=text).json()["token"]
    raw = APIClient().get(f"/s/{token}/raw")
    assert raw["Content-Type"].startswith("text/plain") and raw["X-Content-Type-Options"] == "nosniff"
    assert "sandbox" in raw["Content-Security-Policy"]
    page = APIClient().get(f"/s/{token}").content.decode()
    assert "<script>alert" not in page and "&lt;script&gt;alert" in page
