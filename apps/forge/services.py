"""Forge writes: starting builds (from a prompt or a template), cancelling, deleting, deploying, reaping."""
from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.core.files.storage import default_storage
from django.db import transaction
from django.utils import timezone

from apps.accounts.limits import hourly_quota_add, hourly_quota_check
from apps.accounts.policy import tier_policy
from apps.billing.metering import credits_require
from apps.core.errors import Conflict, ModelUnavailable, RateLimited, ValidationError
from apps.core.queues import enqueue
from apps.core.runs import cancel_request
from apps.core.streams import streams_available
from apps.llm.selectors import ModelEntry, model_list_for_user, model_resolve_for_user
from apps.llm.tokens import estimate_tokens

from .errors import BuildNotFinished, PromptTooLong
from .models import FINAL_STATUSES, Build, BuildStatus, Deployment, DeploymentStatus, Template
from .runner import build_fail, stale_reap
from .selectors import build_cancel_key, running_count
from .sites import site_publish, site_unpublish
from .spec import config_clean, config_errors

if TYPE_CHECKING:
    from apps.accounts.models import User

ENVIRONMENTS = ("preview", "staging", "production")
# The smallest build: analysis, specification, one file (each a prompt of about this size and a 16-token answer).
MINIMAL_CALLS = 3
PROMPT_OVERHEAD_TOKENS = 600


def forge_model(*, user: User) -> ModelEntry:
    """FORGE_MODEL when set, else the best chat model the user's tier allows (priciest first; offline responder last)."""
    if settings.FORGE_MODEL:
        return model_resolve_for_user(user=user, model=settings.FORGE_MODEL)
    usable = [entry for entry in model_list_for_user(user=user)
              if not entry.capabilities or "chat" in entry.capabilities]
    if not usable:
        raise ModelUnavailable("No chat model is available to your tier for Forge.")
    return max(usable, key=lambda e: (e.provider_kind != "local", e.output_cost + e.input_cost, e.context_window, e.name))


def tier_limits(*, user: User) -> dict[str, int]:
    """Builds per hour and concurrent builds of the user's tier."""
    limits = settings.FORGE_TIER_LIMITS
    return dict(limits.get(tier_policy(user).tier) or limits["free"])


def _minimum_cost(*, model: ModelEntry, prompt: str) -> Decimal:
    tokens = Decimal(estimate_tokens(prompt) + PROMPT_OVERHEAD_TOKENS)
    return MINIMAL_CALLS * (tokens * model.input_cost + 16 * model.output_cost) / Decimal(1_000_000)


def _clean_prompt(prompt: Any) -> str:
    if not isinstance(prompt, str) or not prompt.strip():
        raise ValidationError("Describe the app to build.", details={"prompt": ["Required."]})
    if len(prompt) > settings.FORGE_MAX_PROMPT_CHARS:
        raise PromptTooLong(f"The prompt has {len(prompt)} characters; the limit is {settings.FORGE_MAX_PROMPT_CHARS}.",
                            details={"prompt": [f"At most {settings.FORGE_MAX_PROMPT_CHARS} characters."]})
    return prompt.strip()


def build_start(*, user: User, prompt: Any, config: Any = None, template: Template | None = None) -> Build:
    """Check the input, limits and credits; create the build and queue it on the `builds` queue after commit."""
    clean_prompt = _clean_prompt(prompt)
    errors = config_errors(config)
    if errors:
        first = next(iter(errors.items()))
        raise ValidationError(f"Invalid config: {first[0]}: {first[1][0]}", details=errors)
    streams_available()  # progress goes through Redis: 503 now rather than a build nobody can follow
    model = forge_model(user=user)
    limits = tier_limits(user=user)
    hourly_quota_check(user=user, kind="forge_builds", limit=limits["builds_per_hour"])
    if running_count(user=user) >= limits["concurrent"]:
        raise RateLimited(f"You already have {limits['concurrent']} build(s) running; wait for one to finish.",
                          retry_after=10, details={"kind": ["forge"], "limit": [str(limits["concurrent"])]})
    credits_require(user=user, minimum=_minimum_cost(model=model, prompt=clean_prompt), what="A build")
    with transaction.atomic():
        build = Build.objects.create(owner=user, prompt=clean_prompt, config=config_clean(config), template=template,
                                     model_name=model.name, message="Queued")
        hourly_quota_add(user=user, kind="forge_builds", amount=1)
        enqueue("apps.forge.tasks.build_run", str(build.pk))
    return build


def build_start_from_template(*, user: User, template: Template, customizations: Any = None) -> Build:
    """A build from a template's prompt and config, with the caller's customisations appended to the prompt."""
    if customizations is not None and not isinstance(customizations, dict):
        raise ValidationError("`customizations` must be an object.", details={"customizations": ["Must be an object."]})
    custom = dict(customizations or {})
    config = {**template.config, **{k: custom.pop(k) for k in ("stack", "styling") if k in custom}}
    prompt = template.example_prompt
    if custom:
        lines = "\n".join(f"- {key}: {value}" for key, value in custom.items())
        prompt = f"{prompt}\n\nCustomisations:\n{lines}"
    return build_start(user=user, prompt=prompt[: settings.FORGE_MAX_PROMPT_CHARS], config=config, template=template)


def build_cancel_or_delete(*, build: Build) -> str:
    """DELETE: a build that has not ended is cancelled (its worker stops within the poll interval); an ended one is deleted."""
    if build.status in FINAL_STATUSES:
        build_delete(build=build)
        return "deleted"
    cancel_request(build_cancel_key(build.pk), ttl=settings.FORGE_BUILD_TIMEOUT_SECONDS + 600)
    # Not claimed by a worker yet: it ends now (the claim only takes `initializing` builds).
    if build_fail(build_id=build.pk, phase=BuildStatus.INITIALIZING, code="BUILD_CANCELLED", message="The build was cancelled.",
                  only_if={"status": BuildStatus.INITIALIZING}, status=BuildStatus.CANCELLED):
        return BuildStatus.CANCELLED
    return "cancelling"


def build_delete(*, build: Build) -> None:
    """Delete an ended build, its files, package and deployment."""
    deployment = Deployment.objects.filter(build=build).first()
    if deployment is not None and deployment.status == DeploymentStatus.DEPLOYED:
        site_unpublish(deployment=deployment)
    images = [*(build.screenshots or []), *(build.mockups or [])]
    for key in [build.package_key, *[image.get("key", "") for image in images]]:
        if not key:
            continue
        try:
            default_storage.delete(key)
        except Exception:  # an orphaned file costs disk, not correctness
            pass
    build.delete()


def build_deploy(*, build: Build, environment: Any = "production", domain: Any = "") -> Deployment:
    """Publish (or republish, atomically) a completed build's app at /apps/<slug>/."""
    if build.status != BuildStatus.COMPLETED:
        raise BuildNotFinished("Only a completed build can be deployed.")
    environment = environment or "production"
    if environment not in ENVIRONMENTS:
        raise ValidationError(f"Unknown environment; use one of {', '.join(ENVIRONMENTS)}.",
                              details={"environment": [f"Must be one of {', '.join(ENVIRONMENTS)}."]})
    if domain is not None and not isinstance(domain, str):
        raise ValidationError("`domain` must be a host name.", details={"domain": ["Must be a string."]})
    files = [(f.path, f.content) for f in build.files.order_by("path") if not f.path.endswith(".py")]
    if not files:
        raise Conflict("This build has no files to deploy.")
    return site_publish(build=build, files=files, environment=environment, domain=(domain or "")[:253])


def build_undeploy(*, build: Build) -> Deployment:
    """Stop serving a build's app."""
    deployment = Deployment.objects.filter(build=build, status=DeploymentStatus.DEPLOYED).first()
    if deployment is None:
        raise BuildNotFinished("This build is not deployed.")
    return site_unpublish(deployment=deployment)


def build_reap_stale() -> dict[str, int]:
    """Fail builds whose worker died (retry_possible: true); queue again builds no worker took (a lost message)."""
    counts = stale_reap()
    now = timezone.now()
    waiting = Build.objects.filter(status=BuildStatus.INITIALIZING, created_at__lt=now - timedelta(seconds=settings.FORGE_STALE_SECONDS))
    counts["requeued"] = counts["expired"] = 0
    for build_id, created_at in waiting.values_list("pk", "created_at"):
        if created_at < now - timedelta(seconds=settings.FORGE_BUILD_TIMEOUT_SECONDS):
            if build_fail(build_id=build_id, phase=BuildStatus.INITIALIZING, code="BUILD_TIMEOUT",
                          message="No worker took the build in time; start it again.", only_if={"status": BuildStatus.INITIALIZING}):
                counts["expired"] += 1
        else:
            enqueue("apps.forge.tasks.build_run", str(build_id), on_commit=False)  # the claim makes a double delivery a no-op
            counts["requeued"] += 1
    return counts
