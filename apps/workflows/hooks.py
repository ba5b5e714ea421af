"""The webhook trigger: a delivery signed with the workflow's trigger secret starts a run (once per Idempotency-Key)."""
from __future__ import annotations

import hashlib
import hmac
import json
import time
from typing import Any

from apps.core.errors import Forbidden, NotFound, Unauthorized, ValidationError

from .models import Trigger, Workflow
from .services import run_start, trigger_secret

SIGNATURE_TOLERANCE_SECONDS = 300


def signature_header(*, secret: str, body: bytes, timestamp: int | None = None) -> str:
    """The `X-Nexus-Signature` value of `body` (what a sender computes)."""
    t = int(time.time()) if timestamp is None else timestamp
    digest = hmac.new(secret.encode(), f"{t}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={t},v1={digest}"


def _signature_valid(*, secret: str, body: bytes, header: str) -> bool:
    parts: dict[str, list[str]] = {}
    for item in header.split(","):
        key, _, value = item.strip().partition("=")
        parts.setdefault(key, []).append(value)
    try:
        t = int(parts.get("t", [""])[0])
    except ValueError:
        return False
    if abs(time.time() - t) > SIGNATURE_TOLERANCE_SECONDS:
        return False  # stale (or from the future): a captured delivery cannot be replayed later
    expected = hmac.new(secret.encode(), f"{t}.".encode() + body, hashlib.sha256).hexdigest()
    return any(hmac.compare_digest(expected, given) for given in parts.get("v1", []))


def _input_of(body: bytes, query: dict[str, Any]) -> dict[str, Any]:
    if not body.strip():
        return {k: v for k, v in query.items() if k != "token"}
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return {"body": body.decode("utf-8", "replace")}
    if not isinstance(data, dict):
        raise ValidationError("The body must be a JSON object.", details={"body": ["A JSON object."]})
    return data


def hook_receive(*, workflow_id: Any, body: bytes, signature: str | None, token: str | None, idempotency_key: str,
                 query: dict[str, Any]) -> tuple[Any, bool]:
    """Check the delivery's secret (401 missing, 403 wrong or stale) and start a run as the workflow's owner."""
    if not signature and not token:
        raise Unauthorized("The trigger secret is missing: send X-Nexus-Signature or ?token=.")
    try:
        workflow = Workflow.objects.select_related("owner").get(pk=workflow_id)
    except (Workflow.DoesNotExist, ValueError, TypeError, Exception):
        raise NotFound("Workflow not found.") from None
    secret = trigger_secret(workflow=workflow)
    if signature:
        valid = _signature_valid(secret=secret, body=body, header=signature)
    else:
        valid = hmac.compare_digest(secret.encode(), (token or "").encode())
    if not valid:
        raise Forbidden("The trigger signature is wrong or stale.")
    return run_start(user=workflow.owner, workflow=workflow, input=_input_of(body, query), trigger=Trigger.WEBHOOK,
                     idempotency_key=idempotency_key)
