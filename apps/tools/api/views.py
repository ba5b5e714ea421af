"""Platform tools over HTTP: the tools the caller may use, and one call of a tool."""
from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.generics import ListAPIView
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.accounts.caller import request_user
from apps.accounts.models import ApiKey
from apps.accounts.permissions import ANY_KEY
from apps.core.errors import ValidationError
from apps.core.openapi import error_responses
from apps.core.serializers import Serializer

from ..registry import ToolContext, tool_list_for, tool_run


def _context(request: Request) -> ToolContext:
    return ToolContext(user=request_user(request), api_key=request.auth if isinstance(request.auth, ApiKey) else None)


class PlatformToolSerializer(Serializer):
    """A platform tool: its name, what it does, and its arguments as a JSON Schema."""

    name = serializers.CharField()
    description = serializers.CharField()
    parameters = serializers.DictField(help_text="JSON Schema of the tool's arguments.")


class ToolListApi(ListAPIView):
    """The platform tools the caller may use (their roles grant the feature and their key's scopes cover it)."""

    required_scope = ANY_KEY  # the list itself is filtered by the key's scopes
    serializer_class = PlatformToolSerializer

    def get_queryset(self) -> Any:
        return [tool.describe() for tool in tool_list_for(context=_context(self.request))]

    @extend_schema(operation_id="tools_list")
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().get(request, *args, **kwargs)


class ToolRunApi(APIView):
    """Call one platform tool as the caller: `{arguments}` -> `{result}`."""

    required_scope = ANY_KEY  # each tool checks the scope of its own feature (403)

    class InputSerializer(Serializer):
        arguments = serializers.JSONField(required=False, help_text="The tool's arguments (see its `parameters`).")

        class Meta:
            ref_name = "ToolRunInput"

    class OutputSerializer(Serializer):
        result = serializers.DictField(help_text="What the tool answered.")

        class Meta:
            ref_name = "ToolRunOutput"

    @extend_schema(operation_id="tools_run", request=InputSerializer,
                   responses={200: OutputSerializer, **error_responses(400, 402, 403, 404, 409, 503)})
    def post(self, request: Request, name: str) -> Response:
        if not isinstance(request.data, dict):
            raise ValidationError("The body must be a JSON object.")
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        arguments = data.validated_data.get("arguments", {})
        return Response({"result": tool_run(context=_context(request), name=name, arguments=arguments)})
