"""The Slack Web API through the official `slack-sdk` (the only module of Nexus that imports it).

`SLACK_API_URL` sets the SDK's `base_url` (tests point it at the loopback fake in tests/fakes/). Slack
answers most failures as HTTP 200 with `{"ok": false, "error": "<code>"}`; the SDK raises
`SlackApiError` for those, and they are mapped here to the integration errors a tool can hand a model.
"""
from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError

from apps.core.errors import RateLimited

from .errors import IntegrationBadRequest, IntegrationRefused, IntegrationUnavailable

# Slack error codes that mean the saved token is the problem (the user must replace the connection).
TOKEN_ERRORS = frozenset({
    "invalid_auth", "not_authed", "account_inactive", "token_revoked", "token_expired", "no_permission",
    "missing_scope", "not_allowed_token_type", "ekm_access_denied", "team_access_not_granted",
})


@dataclass(frozen=True)
class SlackPosted:
    """Where Slack put a message: the channel id and the message's timestamp id."""

    channel: str
    ts: str


def _retry_after(headers: dict[str, str]) -> int:
    for name, value in headers.items():
        if name.lower() == "retry-after" and str(value).strip().isdigit():
            return max(1, int(value))
    return 30


def _client(token: str) -> WebClient:
    base_url = settings.SLACK_API_URL if settings.SLACK_API_URL.endswith("/") else settings.SLACK_API_URL + "/"
    return WebClient(token=token, base_url=base_url, timeout=settings.SLACK_TIMEOUT_SECONDS)


def slack_post(*, token: str, channel: str, text: str) -> SlackPosted:
    """Post `text` to `channel` with a bot token (`chat.postMessage`)."""
    try:
        response = _client(token).chat_postMessage(channel=channel, text=text)
    except SlackApiError as exc:
        code = str(exc.response.get("error") or "unknown_error") if exc.response is not None else "unknown_error"
        status = exc.response.status_code if exc.response is not None else 0
        if status == 429 or code == "ratelimited":
            retry_after = _retry_after(exc.response.headers if exc.response is not None else {})
            raise RateLimited(f"Slack is rate limiting this workspace; retry in {retry_after} s.", retry_after=retry_after) from None
        if code in TOKEN_ERRORS:
            raise IntegrationRefused(
                f"Slack refused the saved bot token ({code}): replace the slack connection with a valid token.",
                details={"slack_error": code}) from None
        if status >= 500:
            raise IntegrationUnavailable(f"Slack failed ({status}); try again later.", details={"slack_error": code}) from None
        raise IntegrationBadRequest(f"Slack refused the message ({code}).", details={"slack_error": code}) from None
    except (SlackClientError, OSError) as exc:  # connection refused, timeout, TLS: Slack is out of reach
        raise IntegrationUnavailable(f"Slack could not be reached ({type(exc).__name__}).") from None
    return SlackPosted(channel=str(response.get("channel") or channel), ts=str(response.get("ts") or ""))
