"""Runs one build inside a Celery task: analyse, specify, generate files, check and fix, package, publish a preview.

Idempotent per build: the worker first *claims* the build (only an `initializing` build can be
claimed), so a redelivered task never runs beside a live one or restarts a finished one. While it
runs, `core.runs.run_watch` renews the heartbeat, polls the cancel flag and enforces the deadline;
cancelling closes the provider calls in flight (they are metered as stopped). A build whose worker
died is ended `failed` with `retry_possible: true` by `stale_reap` (beat), never left running.

Every model call goes through `apps.llm` and is paid through `billing.metering`: a hold per call
(`ref=<build>:<step>`), settled from the call's usage as soon as it ends. Events go to the build's
`core.streams` stream as `{type, data}`; the WebSocket adds each event's number as `seq`.
"""
from __future__ import annotations

import asyncio
import json
import logging
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from asgiref.sync import async_to_sync
from django.conf import settings
from django.db.models import Count, F, Sum
from django.utils import timezone

from apps.billing.metering import acall_hold, call_settle, hold_settle
from apps.billing.models import CreditReservation
from apps.core.db import db_sync_to_async
from apps.core.errors import ApplicationError
from apps.core.runs import cancel_clear, run_watch, shielded, worker_id
from apps.core.streams import apublish, publish
from apps.llm.client import IMAGE_OUTPUT_TOKENS_ESTIMATE, achat_prepare, generate_image_prepared, stream_prepared
from apps.llm.models import UsageRecord
from apps.llm.selectors import (
    model_entry_lookup,
    model_list_for_user,
    model_resolve_for_user,
    usage_record_for_request,
    usage_summary,
)

from .models import FINAL_STATUSES, RUNNING_STATUSES, Build, BuildFile, BuildStatus
from .screenshots import capture
from .selectors import build_cancel_key, build_stream_key
from .sites import deployment_url, image_save, package_save, site_publish
from .spec import (
    STACKS,
    STYLINGS,
    file_check,
    file_language,
    package_zip,
    parse_json_answer,
    slugify_name,
    spec_errors,
    spec_schema,
    strip_fence,
)

logger = logging.getLogger("nexus.forge")

SYSTEM_PROMPT = (
    "You are Forge, a careful senior web engineer who builds small, complete, working web apps. "
    "Generated apps are served from a sandboxed origin: they cannot use cookies, localStorage may be unavailable "
    "(wrap it in try/catch), and they cannot call other servers, so keep data in memory or in the page."
)
NEXT_PHASE = {
    BuildStatus.ANALYZING: BuildStatus.GENERATING_SPEC, BuildStatus.GENERATING_SPEC: BuildStatus.BUILDING,
    BuildStatus.BUILDING: BuildStatus.OPTIMIZING, BuildStatus.OPTIMIZING: BuildStatus.DEPLOYING, BuildStatus.DEPLOYING: None,
}


class BuildFailed(Exception):
    """The build cannot go on: a phase, an error code for the client, a readable message."""

    def __init__(self, phase: str, code: str, message: str, *, retry_possible: bool = True) -> None:
        super().__init__(message)
        self.phase, self.code, self.message, self.retry_possible = phase, code, message, retry_possible


@dataclass
class Run:
    """One claimed build being run by this worker."""

    build: Build
    worker: str
    key: str
    phase: str = BuildStatus.ANALYZING
    stop_reason: str | None = None
    max_output_tokens: int = 0
    image_model: str = ""
    image_max_tokens: int = 0
    progress: int = 0
    # Files finish in parallel: progress lines are saved and published one at a time, never going back.
    progress_lock: asyncio.Lock = field(default_factory=asyncio.Lock)


def request_prefix(build_id: Any) -> str:
    """The start of the llm request id of every call of a build (usage records are found by it)."""
    return f"forge.{build_id}."


def _claim(build_id: Any, worker: str) -> Build | None:
    now = timezone.now()
    claimed = Build.objects.filter(pk=build_id, status=BuildStatus.INITIALIZING).update(
        status=BuildStatus.ANALYZING, worker=worker, heartbeat_at=now, started_at=now, attempts=F("attempts") + 1,
        progress=1, message="Starting")
    if not claimed:
        return None  # finished, cancelled, or already running on a worker (a redelivered task)
    return Build.objects.select_related("owner").get(pk=build_id)


def build_run(*, build_id: Any) -> str:
    """Run a build to its end on this worker (or do nothing when it is not ours to run); returns its status."""
    worker = worker_id()
    build = _claim(build_id, worker)
    if build is None:
        return "skipped"
    run = Run(build=build, worker=worker, key=build_stream_key(build.pk))
    try:  # read here, in sync code: the registry may load from the database
        run.max_output_tokens = model_entry_lookup(build.model_name).max_output_tokens
    except ApplicationError:
        pass  # the first call reports the missing model as the build's error
    image = image_model_for(user=build.owner)
    if image is not None:
        run.image_model, run.image_max_tokens = image.name, min(4 * IMAGE_OUTPUT_TOKENS_ESTIMATE, image.max_output_tokens)
    return async_to_sync(_run)(run)


def image_model_for(*, user: Any) -> Any:
    """FORGE_IMAGE_MODEL, else the first model with the `image` capability the user's tier allows (None: no mockups)."""
    if settings.FORGE_IMAGE_MODEL:
        try:
            return model_resolve_for_user(user=user, model=settings.FORGE_IMAGE_MODEL)
        except ApplicationError:
            return None
    return next((entry for entry in model_list_for_user(user=user) if "image" in entry.capabilities), None)


async def _run(run: Run) -> str:
    build = run.build
    main = asyncio.ensure_future(_pipeline(run))
    deadline = time.time() + settings.FORGE_BUILD_TIMEOUT_SECONDS
    watcher = asyncio.ensure_future(run_watch(
        build_cancel_key(build.pk), main, beat=lambda: _beat(run), beat_every=settings.FORGE_HEARTBEAT_SECONDS,
        check=lambda: "timeout" if time.time() >= deadline else None,
    ))
    failure: BuildFailed | None = None
    try:
        await main
    except asyncio.CancelledError:
        if not main.cancelled():
            raise  # this task itself is being cancelled (worker shutdown)
    except BuildFailed as exc:
        failure = exc
    except ApplicationError as exc:  # a provider or a check of apps.llm / billing: a clean, readable failure
        failure = BuildFailed(run.phase, exc.code, exc.message, retry_possible=exc.status_code in (402, 429, 503))
    except Exception:
        logger.exception("Build %s failed", build.pk)
        failure = BuildFailed(run.phase, "INTERNAL_ERROR", "The build failed because of an error on our side.")
    finally:
        if watcher.done() and not watcher.cancelled() and watcher.exception() is None:
            run.stop_reason = watcher.result()
        watcher.cancel()
    return await _finish(run, failure=failure)


# ------------------------------------------------------------------------------------------------
# Events and state
# ------------------------------------------------------------------------------------------------

def _now_iso() -> str:
    return timezone.now().isoformat().replace("+00:00", "Z")


@db_sync_to_async
def _save_state(run: Run, **fields: Any) -> bool:
    return bool(Build.objects.filter(pk=run.build.pk, worker=run.worker, status__in=RUNNING_STATUSES).update(
        heartbeat_at=timezone.now(), **fields))


async def _progress(run: Run, progress: int, message: str, *, phase: str | None = None) -> None:
    async with run.progress_lock:
        if phase is not None:
            run.phase = phase
        run.progress = max(run.progress, progress)
        await _save_state(run, status=run.phase, progress=run.progress, message=message[:300])
        await apublish(run.key, {"type": "progress_update",
                                 "data": {"phase": run.phase, "progress": run.progress, "message": message, "timestamp": _now_iso()}})


async def _phase_done(run: Run, results: dict[str, Any]) -> None:
    following = NEXT_PHASE[BuildStatus(run.phase)]
    await apublish(run.key, {"type": "phase_completed",
                             "data": {"phase": run.phase, "results": results, "next_phase": str(following) if following else None}})


async def _beat(run: Run) -> bool:
    """Renew the heartbeat; False when the build is no longer ours (reaped)."""
    return await _save_state(run)


# ------------------------------------------------------------------------------------------------
# One model call: prepare, hold, stream, settle
# ------------------------------------------------------------------------------------------------

async def _call(run: Run, step: str, content: str, *, response_format: dict[str, Any] | None = None,
                max_tokens: int | None = None) -> str:
    build = run.build
    prepared = await achat_prepare(
        user=build.owner, model=build.model_name, messages=[{"role": "user", "content": content}], system_prompt=SYSTEM_PROMPT,
        request_id=f"{request_prefix(build.pk)}{step}.{uuid.uuid4().hex[:8]}", origin="forge", response_format=response_format,
        max_tokens=max_tokens,
    )
    hold = await acall_hold(user=build.owner, prepared=prepared, origin="forge", ref=f"{build.pk}:{step}")
    text: list[str] = []
    finish = None
    stream = stream_prepared(prepared)
    try:
        async for event in stream:
            if event.type == "text-delta":
                text.append(event.content)
            elif event.type == "finish":
                finish = event
    except BaseException:
        # Close the provider stream first (it meters what was produced), then charge that.
        await shielded(stream.aclose())
        await shielded(call_settle(reservation=hold, prepared=prepared, finish=None))
        raise
    await call_settle(reservation=hold, prepared=prepared, finish=finish)
    return "".join(text)


def _budget(run: Run, wanted: int) -> int:
    """An output budget the model allows."""
    return min(wanted, run.max_output_tokens) if run.max_output_tokens else wanted


def _request_text(build: Build) -> str:
    stack = build.config.get("stack", "static")
    styling = build.config.get("styling", "modern")
    return (f"The user's request:\n<<<\n{build.prompt}\n>>>\n"
            f"Stack: {stack} ({STACKS.get(stack, '')}). Styling: {styling} ({STYLINGS.get(styling, '')}).")


# ------------------------------------------------------------------------------------------------
# The phases
# ------------------------------------------------------------------------------------------------

async def _pipeline(run: Run) -> None:
    await apublish(run.key, {"type": "progress_update", "data": {
        "phase": BuildStatus.ANALYZING.value, "progress": 1, "message": "Build started", "timestamp": _now_iso()}})
    analysis = await _analyze(run)
    spec = await _specify(run, analysis)
    await _generate(run, spec)
    await _optimize(run, spec)
    url, screenshots = await _deploy(run, spec)
    await _complete(run, spec, url, screenshots)


async def _analyze(run: Run) -> str:
    await _progress(run, 5, "Analysing the request", phase=BuildStatus.ANALYZING)
    text = await _call(run, "analyze", (
        "[forge:analyze]\n" + _request_text(run.build) + "\n\nAnalyse this request in at most 200 words: the app's purpose, "
        "its users, the main screens and features, and anything ambiguous with the choice you make for it."),
        max_tokens=_budget(run, 800))
    analysis = text.strip()[:4000]
    if not analysis:
        raise BuildFailed(BuildStatus.ANALYZING, "BAD_MODEL_OUTPUT", "The model returned an empty analysis.")
    await _save_state(run, analysis=analysis, progress=15, message="Request analysed")
    await _phase_done(run, {"summary": analysis[:500]})
    return analysis


async def _specify(run: Run, analysis: str) -> dict[str, Any]:
    await _progress(run, 18, "Writing the specification", phase=BuildStatus.GENERATING_SPEC)
    stack = run.build.config.get("stack", "static")
    schema = spec_schema(max_files=settings.FORGE_MAX_FILES)
    response_format = {"type": "json_schema", "json_schema": {"name": "app_specification", "schema": schema, "strict": False}}
    ask = ("[forge:spec]\n" + _request_text(run.build) + f"\n\nAnalysis:\n{analysis}\n\n"
           "Write the app's specification as one JSON object matching this JSON Schema (no other text):\n"
           f"{json.dumps(schema)}\n"
           f"List in `files` every file of the app (at most {settings.FORGE_MAX_FILES}); the entry page is index.html at the root.")
    answer = await _call(run, "spec", ask, response_format=response_format, max_tokens=_budget(run, 4000))
    spec, problems = _spec_of(answer, stack)
    if problems:
        await _progress(run, 24, f"Repairing the specification: {problems[0]}")
        repair = (ask + "\n\n[forge:spec-repair]\nYour previous answer was not a valid specification:\n"
                  + "\n".join(f"- {p}" for p in problems[:10]) + f"\nYour previous answer:\n{answer[:6000]}\n"
                  "Answer again with the corrected JSON object only.")
        answer = await _call(run, "spec-repair", repair, response_format=response_format, max_tokens=_budget(run, 4000))
        spec, problems = _spec_of(answer, stack)
        if problems:
            raise BuildFailed(BuildStatus.GENERATING_SPEC, "BAD_MODEL_OUTPUT",
                              f"The model did not return a usable specification, even after a repair: {problems[0]}")
    assert spec is not None
    await _save_state(run, spec=spec, app_name=spec["name"][:120], progress=28, message="Specification ready")
    run.build.app_name = spec["name"][:120]
    mockups = await _mockups(run, spec)
    await _phase_done(run, {"name": spec["name"], "features": len(spec["features"]), "pages": len(spec["pages"]),
                            "files_planned": len(spec["files"]), "mockups": mockups})
    return spec


async def _mockups(run: Run, spec: dict[str, Any]) -> int:
    """One mockup image per page when an `image` model is available; a failed image is skipped, never the build."""
    pages = spec["pages"][: settings.FORGE_MAX_MOCKUPS]
    if not run.image_model or not pages:
        return 0
    await _progress(run, 29, f"Drawing {len(pages)} mockup(s)")
    styling = run.build.config.get("styling", "modern")

    async def one(index: int, page: dict[str, Any]) -> tuple[str, bytes] | None:
        prompt = (f"[forge:mockup] A clean UI mockup of the page '{page['name']}' of the web app '{spec['name']}': "
                  f"{page['description']}. Styling: {STYLINGS.get(styling, styling)}. A flat screenshot of a desktop browser window.")
        try:
            prepared = await achat_prepare(user=run.build.owner, model=run.image_model, messages=[{"role": "user", "content": prompt}],
                                           request_id=f"{request_prefix(run.build.pk)}mockup-{index}.{uuid.uuid4().hex[:8]}",
                                           origin="forge", max_tokens=run.image_max_tokens or None)
            hold = await acall_hold(user=run.build.owner, prepared=prepared, origin="forge", ref=f"{run.build.pk}:mockup-{index}")
            try:
                image = await generate_image_prepared(prepared)
            except BaseException:
                await shielded(call_settle(reservation=hold, prepared=prepared, finish=None))
                raise
            await call_settle(reservation=hold, prepared=prepared, finish=image)
            return str(page["name"]), image.data
        except ApplicationError as exc:
            await _progress(run, run.progress, f"No mockup of {page['name']}: {exc.message}"[:300])
            return None

    made = [item for item in await asyncio.gather(*(one(i, page) for i, page in enumerate(pages))) if item is not None]
    await _mockups_save(run.build, made)
    await _progress(run, 30, f"{len(made)} mockup(s) drawn")
    return len(made)


@db_sync_to_async
def _mockups_save(build: Build, made: list[tuple[str, bytes]]) -> None:
    saved = []
    for index, (name, data) in enumerate(made):
        key = image_save(build=build, kind="mockups", index=index, data=data)
        saved.append({"page": name, "key": key, "url": f"/api/v1/forge/builds/{build.pk}/mockups/{index}"})
    Build.objects.filter(pk=build.pk).update(mockups=saved)


def _spec_of(answer: str, stack: str) -> tuple[dict[str, Any] | None, list[str]]:
    try:
        spec = parse_json_answer(answer)
    except ValueError as exc:
        return None, [f"The answer is not JSON ({exc})."[:300]]
    problems = spec_errors(spec, max_files=settings.FORGE_MAX_FILES, stack=stack)
    return (spec if not problems else None), problems


def _file_prompt(run: Run, spec: dict[str, Any], path: str, purpose: str) -> str:
    others = ", ".join(f["path"] for f in spec["files"] if f["path"] != path)
    return ("[forge:file] " + path + "\n" + _request_text(run.build) + f"\n\nSpecification:\n{json.dumps(spec)}\n\n"
            f"Write the complete content of the file `{path}` ({purpose}). The other files are: {others or 'none'}; "
            "refer to them by relative paths. Answer with the file's content only: no explanations, no Markdown fence.")


@db_sync_to_async
def _file_save(build: Build, path: str, purpose: str, content: str) -> None:
    BuildFile.objects.update_or_create(build=build, path=path, defaults={
        "purpose": purpose[:300], "language": file_language(path) or "", "content": content})


async def _generate(run: Run, spec: dict[str, Any]) -> None:
    await _progress(run, 32, f"Generating {len(spec['files'])} files", phase=BuildStatus.BUILDING)
    total = len(spec["files"])
    done = 0
    gate = asyncio.Semaphore(max(1, settings.FORGE_PARALLEL_FILES))

    async def one(index: int, item: dict[str, Any]) -> None:
        nonlocal done
        async with gate:
            text = await _call(run, f"file-{index}", _file_prompt(run, spec, item["path"], item["purpose"]),
                               max_tokens=_budget(run, 8000))
        await _file_save(run.build, item["path"], item["purpose"], strip_fence(text))
        done += 1
        await _progress(run, 32 + int(48 * done / total), f"Generated {item['path']} ({done}/{total})")

    tasks = [asyncio.ensure_future(one(index, item)) for index, item in enumerate(spec["files"])]  # independent files: generated in parallel
    try:
        await asyncio.gather(*tasks)
    except BaseException:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        raise
    await _phase_done(run, {"code_files": total})


@db_sync_to_async
def _files_of(build: Build) -> list[BuildFile]:
    return list(BuildFile.objects.filter(build=build).order_by("path"))


@db_sync_to_async
def _file_update(item: BuildFile, **fields: Any) -> None:
    BuildFile.objects.filter(pk=item.pk).update(**fields)


async def _optimize(run: Run, spec: dict[str, Any]) -> None:
    await _progress(run, 82, "Checking the files", phase=BuildStatus.OPTIMIZING)
    files = await _files_of(run.build)
    broken = [(item, error) for item in files if (error := file_check(item.path, item.content))]

    async def fix(index: int, item: BuildFile, error: str) -> None:
        await _progress(run, 84, f"Fixing {item.path}: {error}"[:300])
        text = await _call(run, f"fix-{index}", (
            f"[forge:fix] {item.path}\nThe file `{item.path}` of the app `{spec['name']}` fails its check: {error}\n"
            f"The file:\n<<<\n{item.content[:60000]}\n>>>\nAnswer with the corrected complete file only: no explanations, no fence."),
            max_tokens=_budget(run, 8000))
        content = strip_fence(text)
        still = file_check(item.path, content)
        await _file_update(item, content=content, fixed=True, check_error=still or "")
        if still:
            raise BuildFailed(BuildStatus.OPTIMIZING, "BAD_MODEL_OUTPUT",
                              f"The file {item.path} is still broken after a fix: {still}")

    tasks = [asyncio.ensure_future(fix(index, item, error)) for index, (item, error) in enumerate(broken)]
    try:
        await asyncio.gather(*tasks)
    except BaseException:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        raise
    await _progress(run, 90, f"{len(files)} files checked, {len(broken)} fixed")
    await _phase_done(run, {"checked": len(files), "fixed": len(broken)})


@db_sync_to_async
def _package_and_publish(build: Build, spec: dict[str, Any]) -> str:
    files = [(f.path, f.content) for f in BuildFile.objects.filter(build=build).order_by("path")]
    key = package_save(build=build, data=package_zip(files, folder=slugify_name(spec["name"])))
    Build.objects.filter(pk=build.pk).update(package_key=key)
    static = [(path, content) for path, content in files if not path.endswith(".py")]
    return deployment_url(site_publish(build=build, files=static).slug)


@db_sync_to_async
def _screenshots_save(build: Build, shots: list[tuple[str, str, bytes]]) -> list[dict[str, Any]]:
    saved = []
    for index, (name, path, data) in enumerate(shots):
        key = image_save(build=build, kind="screenshots", index=index, data=data)
        saved.append({"page": name, "path": path, "key": key, "url": f"/api/v1/forge/builds/{build.pk}/screenshots/{index}"})
    Build.objects.filter(pk=build.pk).update(screenshots=saved)
    return saved


async def _deploy(run: Run, spec: dict[str, Any]) -> tuple[str, int]:
    await _progress(run, 92, "Packaging and publishing a preview", phase=BuildStatus.DEPLOYING)
    url = await _package_and_publish(run.build, spec)
    await _progress(run, 95, "Preview published; taking screenshots")
    files = {item.path: item.content for item in await _files_of(run.build)}
    shots = await _screenshots_save(run.build, await capture(files=files, pages=spec.get("pages") or []))
    await _progress(run, 99, f"{len(shots)} screenshot(s) taken")
    await _phase_done(run, {"deployment_url": url, "screenshots": len(shots)})
    return url, len(shots)


def _totals(build_id: Any) -> dict[str, Any]:
    row = UsageRecord.objects.filter(request_id__startswith=request_prefix(build_id)).aggregate(
        cost=Sum("cost"), prompt=Sum("prompt_tokens"), completion=Sum("completion_tokens"), calls=Count("id"))
    return {"cost": row["cost"] or Decimal(0), "total_tokens": (row["prompt"] or 0) + (row["completion"] or 0), "calls": row["calls"] or 0}


@db_sync_to_async
def _end(run: Run, *, status: str, error: dict[str, Any] | None, progress: int | None = None) -> Build | None:
    fields: dict[str, Any] = {"status": status, "error": error, "finished_at": timezone.now(), **_totals(run.build.pk)}
    if progress is not None:
        fields["progress"] = progress
    if not Build.objects.filter(pk=run.build.pk, worker=run.worker, status__in=RUNNING_STATUSES).update(**fields):
        return None
    return Build.objects.get(pk=run.build.pk)


def _human(seconds: float) -> str:
    minutes, rest = divmod(int(round(seconds)), 60)
    return f"{minutes} minutes {rest} seconds" if minutes else f"{rest} seconds"


async def _complete(run: Run, spec: dict[str, Any], url: str, screenshots: int) -> None:
    from apps.llm.client import usage_flush

    await usage_flush()
    build = await _end(run, status=BuildStatus.COMPLETED, error=None, progress=100)
    if build is None:
        return
    summary = {"name": spec["name"], "specification": "Generated", "features": len(spec["features"]),
               "code_files": len(spec["files"]), "screenshots": screenshots, "mockups": len(build.mockups or []), "deployment": "Preview published",
               "cost": float(build.cost), "total_tokens": build.total_tokens}
    await apublish(run.key, {"type": "build_completed", "data": {
        "deployment_url": url, "total_time": _human(build.duration_seconds or 0), "summary": summary}}, final=True)
    await cancel_clear(build_cancel_key(build.pk))


async def _finish(run: Run, *, failure: BuildFailed | None) -> str:
    if run.stop_reason == "lost":
        return "lost"  # the reaper ended it and published its end
    if failure is None and run.stop_reason is None:
        return BuildStatus.COMPLETED
    from apps.llm.client import usage_flush

    await usage_flush()
    if run.stop_reason == "cancelled":
        status = BuildStatus.CANCELLED
        error = {"phase": run.phase, "error_code": "BUILD_CANCELLED", "message": "The build was cancelled.", "retry_possible": True}
    elif run.stop_reason == "timeout":
        status = BuildStatus.FAILED
        error = {"phase": run.phase, "error_code": "BUILD_TIMEOUT",
                 "message": f"The build did not finish within {settings.FORGE_BUILD_TIMEOUT_SECONDS} seconds.", "retry_possible": True}
    else:
        assert failure is not None
        status = BuildStatus.FAILED
        error = {"phase": failure.phase, "error_code": failure.code, "message": failure.message, "retry_possible": failure.retry_possible}
    build = await _end(run, status=status, error=error)
    if build is None:
        return "lost"
    await apublish(run.key, {"type": "error", "data": error}, final=True)
    await cancel_clear(build_cancel_key(build.pk))
    return str(status)


# ------------------------------------------------------------------------------------------------
# Ending builds from outside their run: the reaper of dead workers
# ------------------------------------------------------------------------------------------------

def build_fail(*, build_id: Any, phase: str, code: str, message: str, retry_possible: bool = True,
               only_if: dict[str, Any] | None = None, status: str = BuildStatus.FAILED) -> bool:
    """End a build that has not ended (reaper, cancel before start); publishes its `error`. False if it had ended."""
    error = {"phase": phase, "error_code": code, "message": message, "retry_possible": retry_possible}
    updated = Build.objects.filter(pk=build_id, **(only_if or {})).exclude(status__in=FINAL_STATUSES).update(
        status=status, error=error, finished_at=timezone.now(), **_totals(build_id))
    if updated:
        _holds_close(build_id)
        publish(build_stream_key(build_id), {"type": "error", "data": error}, final=True)
    return bool(updated)


def _holds_close(build_id: Any) -> None:
    """Settle the holds a dead run left open: what each call's usage record shows was produced, else nothing."""
    for hold in CreditReservation.objects.filter(reference__startswith=f"forge:{build_id}:", status="held"):
        step = hold.reference.split(":", 2)[2]
        record = usage_record_for_request(request_id=f"{request_prefix(build_id)}{step}.", prefix=True)
        hold_settle(reservation=hold, usage=usage_summary(record))


def stale_reap(*, now: datetime | None = None) -> dict[str, int]:
    """Fail running builds whose worker stopped renewing the heartbeat (retry_possible: true)."""
    now = now or timezone.now()
    stale_before = now - timedelta(seconds=settings.FORGE_STALE_SECONDS)
    counts = {"failed": 0}
    stale = Build.objects.filter(status__in=RUNNING_STATUSES, heartbeat_at__lt=stale_before).exclude(status=BuildStatus.INITIALIZING)
    for build_id, phase in stale.values_list("pk", "status"):
        if build_fail(build_id=build_id, phase=phase, code="WORKER_LOST",
                      message="The worker running this build stopped; start the build again.",
                      only_if={"heartbeat_at__lt": stale_before}):
            counts["failed"] += 1
    return counts
