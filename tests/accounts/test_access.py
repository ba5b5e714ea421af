"""The interfaces other apps build on: HasTool, key scopes, tier policy, limits, the sharing rule."""
from __future__ import annotations

import asyncio
import threading

import pytest
from asgiref.sync import async_to_sync
from rest_framework.response import Response
from rest_framework.test import APIRequestFactory, force_authenticate
from rest_framework.views import APIView

from apps.accounts import services
from apps.accounts.limits import concurrency_slot, hourly_quota_add, hourly_quota_check, rate_check, slots_in_use
from apps.accounts.models import Role, Tier, UserRole, WorkspaceMember
from apps.accounts.permissions import ANY_KEY, HasTool
from apps.accounts.policy import TierPolicy, policy_cache_clear, tier_policy
from apps.accounts.selectors import can_write, user_has_tool, user_tools, user_workspace_ids, visible_to
from apps.core.errors import RateLimited
from tests.factories import UserFactory, WorkspaceFactory

pytestmark = pytest.mark.django_db


class ChatToolApi(APIView):
    """A route of the `chat` tool, as later apps declare it."""

    permission_classes = [HasTool("chat")]

    def get(self, request):  # type: ignore[no-untyped-def]
        return Response({"ok": True})


class ScopedChatApi(ChatToolApi):
    """A `chat` route that any key may call."""

    required_scope = ANY_KEY


def _call(view: type[APIView], *, user=None, key=None, headers=None):  # type: ignore[no-untyped-def]
    request = APIRequestFactory().get("/x", **(headers or {}))
    if user is not None:
        force_authenticate(request, user=user, token=key)
    return view.as_view()(request)


# ------------------------------------------------------------------------------ HasTool
def test_has_tool_allows_a_user_with_the_tool(user):
    assert _call(ChatToolApi, user=user).status_code == 200


def test_has_tool_answers_401_without_credentials():
    response = _call(ChatToolApi)
    assert response.status_code == 401
    assert response.data["error"]["code"] == "UNAUTHORIZED"


def test_has_tool_answers_403_forbidden_when_roles_lack_the_tool(user):
    UserRole.objects.filter(user=user).delete()
    response = _call(ChatToolApi, user=user)
    assert response.status_code == 403
    assert response.data["error"]["code"] == "FORBIDDEN"
    assert "chat" in response.data["error"]["message"]


def test_has_tool_rejects_an_unknown_tool():
    with pytest.raises(ValueError):
        HasTool("teleport")


def test_has_tool_checks_the_tool_scope_of_api_keys(user):
    knowledge_key, _ = services.api_key_create(user=user, name="k", scopes=["knowledge"])
    chat_key, _ = services.api_key_create(user=user, name="c", scopes=["chat"])
    denied = _call(ChatToolApi, user=user, key=knowledge_key)
    assert denied.status_code == 403 and denied.data["error"]["details"] == {"required_scope": ["chat"]}
    assert _call(ChatToolApi, user=user, key=chat_key).status_code == 200
    assert _call(ScopedChatApi, user=user, key=knowledge_key).status_code == 200


def test_new_users_get_the_user_role_and_free_tier_and_superusers_admin(db):
    from apps.accounts.models import User

    user = User.objects.create_user(email="plain@example.com", password="x-long-password-1")
    root = User.objects.create_superuser(email="root@example.com", password="x-long-password-1")
    assert user.tier_id == "free"
    assert sorted(user.roles.values_list("name", flat=True)) == ["user"]
    assert user_tools(user) == {"chat", "compare", "assistant-architect", "knowledge", "forge", "agents", "workflows", "voice"}
    assert sorted(root.roles.values_list("name", flat=True)) == ["admin", "user"]
    assert user_has_tool(root, "admin") and not user_has_tool(user, "admin")


def test_seeded_roles_grant_the_documented_tools(db):
    assert sorted(Role.objects.get(name="user").tools) == sorted(["chat", "compare", "assistant-architect", "knowledge", "forge", "agents", "workflows", "voice"])
    assert "admin" in Role.objects.get(name="admin").tools


# ------------------------------------------------------------------------------ tier policy
def test_tier_policy_reads_the_users_tier_with_the_seeded_defaults(user):
    policy = tier_policy(user)
    assert isinstance(policy, TierPolicy)
    assert (policy.tier, policy.monthly_credits, policy.chat_rpm, policy.chat_tokens_per_hour, policy.chat_concurrent) == ("free", 200, 100, 100_000, 3)
    assert (policy.compare_rpm, policy.compare_concurrent) == (20, 2)
    assert (policy.architect_rpm, policy.architect_prompts_per_hour, policy.architect_concurrent) == (10, 50, 1)
    assert (policy.upload_rpm, policy.upload_max_bytes) == (10, 10 * 1024 * 1024)
    assert {t.slug: t.monthly_credits for t in Tier.objects.all()} == {"free": 200, "pro": 3000, "enterprise": 20000}


def test_tier_policy_follows_admin_edits_and_tier_changes(user):
    Tier.objects.filter(slug="pro").update(chat_rpm=7)
    policy_cache_clear()
    services.user_tier_set(user=user, tier=Tier.objects.get(slug="pro"))
    assert tier_policy(user).tier == "pro" and tier_policy(user).chat_rpm == 7
    tier = Tier.objects.get(slug="pro")
    tier.chat_rpm = 9
    tier.save()  # a save clears this process's cache at once
    assert tier_policy(user).chat_rpm == 9


# ------------------------------------------------------------------------------ limits
def test_concurrency_slot_refuses_past_the_limit_and_frees_on_exit(user):
    with concurrency_slot(user=user, kind="chat", limit=2):
        with concurrency_slot(user=user, kind="chat", limit=2):
            assert slots_in_use(user=user, kind="chat") == 2
            with pytest.raises(RateLimited) as caught:
                with concurrency_slot(user=user, kind="chat", limit=2):
                    pass
            assert caught.value.status_code == 429
    assert slots_in_use(user=user, kind="chat") == 0
    with concurrency_slot(user=user, kind="chat", limit=1):
        pass  # free again


def test_concurrency_slot_is_released_when_the_body_raises(user):
    with pytest.raises(ZeroDivisionError):
        with concurrency_slot(user=user, kind="compare", limit=1):
            raise ZeroDivisionError("the body failed")
    assert slots_in_use(user=user, kind="compare") == 0


def test_concurrency_slot_works_async_and_is_shared_with_sync_code(user):
    async def scenario() -> None:
        async with concurrency_slot(user=user, kind="architect", limit=1):
            with pytest.raises(RateLimited):
                async with concurrency_slot(user=user, kind="architect", limit=1):
                    pass
            # another thread (another process would do the same: the count is in Redis)
            errors: list[BaseException] = []

            def other() -> None:
                try:
                    with concurrency_slot(user=user, kind="architect", limit=1):
                        pass
                except RateLimited as exc:
                    errors.append(exc)

            thread = threading.Thread(target=other)
            thread.start()
            await asyncio.get_running_loop().run_in_executor(None, thread.join)
            assert len(errors) == 1

    async_to_sync(scenario)()
    assert slots_in_use(user=user, kind="architect") == 0


def test_a_leaked_slot_expires_after_its_ttl(user):
    import time

    leaked = concurrency_slot(user=user, kind="chat", limit=1, ttl=1)
    leaked.__enter__()  # a process that crashes never calls __exit__
    with pytest.raises(RateLimited):
        with concurrency_slot(user=user, kind="chat", limit=1, ttl=1):
            pass
    time.sleep(1.2)
    with concurrency_slot(user=user, kind="chat", limit=1, ttl=1):
        pass


def test_rate_check_applies_the_tiers_per_minute_limit(user):
    Tier.objects.filter(slug="free").update(compare_rpm=2)
    policy_cache_clear()
    request = APIRequestFactory().get("/x")
    request.user = user
    rate_check(request, kind="compare")
    state = rate_check(request, kind="compare")
    assert state is not None and state.limit == 2 and state.remaining == 0
    with pytest.raises(RateLimited):
        rate_check(request, kind="compare")
    policy_cache_clear()


def test_a_views_kind_limit_is_counted_with_the_api_limit_by_the_default_throttle(user):
    """POST /chat counts the API and chat limits in one Redis call (the view no longer counts its own), and refuses past chat_rpm."""
    import redis
    from django.conf import settings
    from rest_framework.test import APIClient

    from apps.accounts.throttling import TierRateThrottle
    from apps.chat.api.views import ChatApi

    Tier.objects.filter(slug="free").update(chat_rpm=2, api_rpm=50)
    policy_cache_clear()
    factory = APIRequestFactory()
    post, get = factory.post("/api/v1/chat"), factory.get("/api/v1/chat")
    for request in (post, get):
        request.user, request.auth = user, None
    limits = TierRateThrottle().limits(post, ChatApi())
    assert [(limit.group, limit.rate) for limit in limits] == [("api-user", "50/m"), ("tier-chat", "2/m")]
    assert [limit.group for limit in TierRateThrottle().limits(get, ChatApi())] == ["api-user"]  # only the method named

    store = redis.Redis.from_url(settings.REDIS_URL)
    client = APIClient()
    client.force_authenticate(user=user)
    incr = lambda: int(store.info("commandstats").get("cmdstat_incr", {}).get("calls", 0))  # noqa: E731
    before = incr()
    for _ in range(2):  # counted before the body is read, as before: a bad body still counts
        answer = client.post("/api/v1/chat", {}, format="json")
        assert answer.status_code == 400 and answer["X-RateLimit-Limit"] == "2"  # the tightest limit is the one shown
    assert incr() - before == 4  # api + chat, twice: each request's two counters, once each
    refused = client.post("/api/v1/chat", {}, format="json")
    assert refused.status_code == 429 and refused.json()["error"]["code"] == "RATE_LIMITED" and int(refused["Retry-After"]) >= 1
    assert client.get("/api/v1/conversations").status_code == 200  # other routes count the API limit only
    assert incr() - before == 7
    policy_cache_clear()


def test_hourly_quota(user):
    assert hourly_quota_check(user=user, kind="chat_tokens", limit=100) == 100
    assert hourly_quota_add(user=user, kind="chat_tokens", amount=60) == 60
    assert hourly_quota_check(user=user, kind="chat_tokens", limit=100) == 40
    hourly_quota_add(user=user, kind="chat_tokens", amount=40)
    with pytest.raises(RateLimited):
        hourly_quota_check(user=user, kind="chat_tokens", limit=100)


# ------------------------------------------------------------------------------ the sharing rule
def test_visible_to_and_can_write_follow_workspace_roles():
    owner, admin, member, outsider = UserFactory(), UserFactory(), UserFactory(), UserFactory()
    workspace = WorkspaceFactory(owner=owner)
    WorkspaceMember.objects.create(workspace=workspace, user=admin, role="admin")
    WorkspaceMember.objects.create(workspace=workspace, user=member, role="member")
    private = WorkspaceFactory(owner=outsider)
    # WorkspaceMember rows stand in for any resource: `user` is the owner, `workspace` the sharing.
    rows = WorkspaceMember.objects.all()
    member_row = WorkspaceMember.objects.get(user=member)
    assert set(visible_to(user=member, queryset=rows, owner_field="user")) == set(workspace.memberships.all())
    assert set(visible_to(user=outsider, queryset=rows, owner_field="user")) == set(private.memberships.all())
    assert list(visible_to(user=outsider, queryset=rows, owner_field="user", workspace_field=None)) == list(private.memberships.all())
    assert can_write(user=member, obj=member_row, owner_field="user")  # its owner
    assert can_write(user=admin, obj=member_row, owner_field="user")  # a workspace admin
    assert can_write(user=owner, obj=member_row, owner_field="user")  # a workspace owner
    owner_row = WorkspaceMember.objects.get(user=owner)
    assert not can_write(user=member, obj=owner_row, owner_field="user")  # a plain member reads only
    assert not can_write(user=outsider, obj=member_row, owner_field="user")
    assert set(user_workspace_ids(member)) == {workspace.id}
