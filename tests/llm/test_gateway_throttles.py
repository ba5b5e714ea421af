"""The gateway runs every throttle in DEFAULT_THROTTLE_CLASSES, as the other routes do, not only the built-in one."""
from __future__ import annotations

from typing import Any

from django.test import Client, override_settings
from rest_framework.exceptions import Throttled
from rest_framework.settings import api_settings
from rest_framework.throttling import BaseThrottle

from apps.accounts import services as account_services
from apps.core.exception_handler import exception_handler
from tests.factories import UserFactory

REFUSED: list[str] = []


class RefuseEveryone(BaseThrottle):
    """An operator's own throttle: says no, with a wait."""

    def allow_request(self, request: Any, view: Any) -> bool:
        REFUSED.append(request.user.email)
        return False

    def wait(self) -> float:
        return 6.2


def _post(client: Client, raw: str) -> Any:
    return client.post("/api/v1/openai/chat/completions", data={"model": "any", "messages": [{"role": "user", "content": "Hi"}]},
                       content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {raw}")


def test_a_throttle_added_to_the_settings_refuses_gateway_calls_in_openai_shape(committed_db: None) -> None:  # the view reads in its own thread
    user = UserFactory()
    _key, raw = account_services.api_key_create(user=user, name="sdk", scopes=["chat"])
    throttles = [*api_settings.user_settings.get("DEFAULT_THROTTLE_CLASSES", []), f"{__name__}.RefuseEveryone"]
    REFUSED.clear()
    with override_settings(REST_FRAMEWORK={**api_settings.user_settings, "DEFAULT_THROTTLE_CLASSES": throttles}):
        response = _post(Client(), raw)
        models = Client().get("/api/v1/openai/models", HTTP_AUTHORIZATION=f"Bearer {raw}")
    assert response.status_code == 429 and response["Retry-After"] == "7"  # the wait (6.2 s) rounded up
    assert response.json()["error"]["type"] == "rate_limit_error"
    assert models.status_code == 429  # every gateway route, as every other route
    assert REFUSED == [user.email, user.email]
    # Back to the default throttles: the same call gets past the limits (to the model check).
    assert _post(Client(), raw).status_code == 404


def test_the_other_routes_round_a_throttles_wait_up_as_the_gateway_does() -> None:
    """DRF views take their throttle classes when imported, so the envelope's header is checked on the handler itself."""
    response = exception_handler(Throttled(wait=6.2), {})
    assert response is not None and response.status_code == 429 and response["Retry-After"] == "7"
    assert response.data["error"]["code"] == "RATE_LIMITED"
    assert exception_handler(Throttled(wait=0.2), {})["Retry-After"] == "1"  # type: ignore[index]
