"""Permission classes: tools granted by roles (`HasTool`) and API key scopes (`ApiKeyScope`).

A view says which key scope it needs with `required_scope`:

    class ChatApi(APIView):
        permission_classes = [HasTool("chat")]      # tool `chat`; keys need scope `chat`
        required_scope = "chat"                     # optional: HasTool implies the tool's scope

`required_scope` is a scope name, `ANY_KEY` (every valid key may call the route), or a dict by
HTTP method (`{"GET": ANY_KEY, "PATCH": "*"}`). Without one, keys need `*` (full access) under
the default `ApiKeyScope` and the tool's scope under `HasTool`. Sessions and JWTs have no scopes:
only key-authenticated requests are checked. A view that replaces `permission_classes` must keep
one of these two classes first, or keys would pass unchecked.
"""
from __future__ import annotations

from typing import Any

from rest_framework.permissions import BasePermission
from rest_framework.request import Request

from apps.core.registry import tool_names, tool_scopes

from .errors import InsufficientScope, MissingTool
from .models import ApiKey
from .selectors import user_has_tool

ANY_KEY = "any"
FULL_ACCESS = "*"

def __getattr__(name: str) -> Any:
    # TOOL_SCOPES, the key scope that covers each tool's routes, is declared by the apps (apps.core.registry).
    if name == "TOOL_SCOPES":
        return tool_scopes()
    raise AttributeError(name)


def required_scope_for(request: Request, view: Any, default: str = FULL_ACCESS) -> str:
    """The key scope the view needs for this request's method."""
    declared = getattr(view, "required_scope", None)
    if isinstance(declared, dict):
        method = "GET" if request.method in ("HEAD", "OPTIONS") else request.method
        declared = declared.get(method, declared.get("*"))
    return declared or default


def check_key_scope(request: Request, view: Any, *, default: str = FULL_ACCESS) -> None:
    """Raise 403 when the request is authenticated by an API key whose scopes do not cover the view."""
    key = request.auth
    if not isinstance(key, ApiKey):
        return
    scope = required_scope_for(request, view, default)
    if scope == ANY_KEY or key.allows(scope):
        return
    raise InsufficientScope(f"This API key's scopes do not cover this route (it needs `{scope}`).", details={"required_scope": [scope]})


def _authenticated(request: Request) -> bool:
    return bool(request.user and request.user.is_authenticated)


class ApiKeyScope(BasePermission):
    """The default: the caller is authenticated, and an API key's scopes cover the view's `required_scope`."""

    def has_permission(self, request: Request, view: Any) -> bool:
        if not _authenticated(request):
            return False  # DRF answers 401 because an authenticator exists
        check_key_scope(request, view)
        return True


class HasTool(BasePermission):
    """The caller's roles grant `tool` (else 403 FORBIDDEN); keys need the tool's scope.

    Use the instance directly: `permission_classes = [HasTool("chat")]`. DRF instantiates each
    entry, so calling the instance returns itself.
    """

    def __init__(self, tool: str) -> None:
        if tool not in tool_names():
            raise ValueError(f"Unknown tool {tool!r}; known: {', '.join(tool_names())}")
        self.tool = tool

    def __call__(self) -> HasTool:
        return self

    def __repr__(self) -> str:
        return f"HasTool({self.tool!r})"

    def has_permission(self, request: Request, view: Any) -> bool:
        if not _authenticated(request):
            return False
        check_key_scope(request, view, default=tool_scopes()[self.tool])
        if not user_has_tool(request.user, self.tool):
            raise MissingTool(f"Your roles do not grant the `{self.tool}` tool.", details={"required_tool": [self.tool]})
        return True


class IsAdminRole(HasTool):
    """Shorthand for HasTool("admin"), for the administration routes."""

    def __init__(self) -> None:
        super().__init__("admin")
