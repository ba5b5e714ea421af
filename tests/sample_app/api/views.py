"""One route behind the sample tool (API keys need the `sample` scope)."""
from __future__ import annotations

from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.accounts.permissions import HasTool


class PingApi(APIView):
    """Answers who asked."""

    permission_classes = [HasTool("sample")]

    def get(self, request: Request) -> Response:
        return Response({"pong": True, "email": request.user.email})
