"""Deployed apps in storage (local disk or S3): publish a version, switch to it atomically, read files, remove.

A deployment's files live under `forge/sites/<slug>/<version>/`. Publishing writes a fresh version
folder first and then switches `Deployment.version` in one UPDATE, so a visitor gets either the old
app or the new one, never a mix; the old folder is removed after the switch commits.
"""
from __future__ import annotations

import mimetypes
import uuid
from typing import Any

from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import transaction

from .models import Build, Deployment, DeploymentStatus
from .spec import slugify_name

ROOT = "forge/sites"


def _key(slug: str, version: str, path: str) -> str:
    return f"{ROOT}/{slug}/{version}/{path}"


def deployment_url(slug: str) -> str:
    """The public address of a deployed app."""
    return f"{settings.SITE_URL.rstrip('/')}/apps/{slug}/"


def _remove(slug: str, version: str, paths: list[str]) -> None:
    for path in paths:
        try:
            default_storage.delete(_key(slug, version, path))
        except Exception:  # an orphaned file costs disk, not correctness
            pass


def site_publish(*, build: Build, files: list[tuple[str, str]], environment: str = "preview", domain: str = "") -> Deployment:
    """Write the files as a new version and make it the one served (creating the deployment on first use)."""
    version = uuid.uuid4().hex[:12]
    existing = Deployment.objects.filter(build=build).first()
    slug = existing.slug if existing else f"{slugify_name(build.app_name or 'app')}-{build.pk.hex[:8]}"
    for path, content in files:
        default_storage.save(_key(slug, version, path), ContentFile(content.encode()))
    with transaction.atomic():
        deployment, _ = Deployment.objects.select_for_update().get_or_create(
            build=build, defaults={"owner_id": build.owner_id, "slug": slug})
        old_version, old_files = deployment.version, list(deployment.files or [])
        deployment.version = version
        deployment.files = [path for path, _ in files]
        deployment.environment = environment
        deployment.domain = domain
        deployment.status = DeploymentStatus.DEPLOYED
        deployment.save()
        if old_version:
            transaction.on_commit(lambda: _remove(slug, old_version, old_files))
    return deployment


def site_unpublish(*, deployment: Deployment) -> Deployment:
    """Stop serving a deployment and remove its files."""
    with transaction.atomic():
        locked = Deployment.objects.select_for_update().get(pk=deployment.pk)
        version, paths = locked.version, list(locked.files or [])
        locked.status = DeploymentStatus.UNDEPLOYED
        locked.version = ""
        locked.files = []
        locked.save()
        if version:
            transaction.on_commit(lambda: _remove(locked.slug, version, paths))
    return locked


def site_file(*, deployment: Deployment, path: str) -> tuple[bytes, str] | None:
    """The bytes and content type of one file of the served version (None: not part of it)."""
    path = path or "index.html"
    if path.endswith("/"):
        path += "index.html"
    if path not in (deployment.files or []) or not deployment.version:
        return None
    try:
        with default_storage.open(_key(deployment.slug, deployment.version, path), "rb") as handle:
            data: Any = handle.read()
    except (FileNotFoundError, OSError):
        return None
    content_type = mimetypes.guess_type(path)[0] or "application/octet-stream"
    if content_type.startswith("text/") or content_type in ("application/javascript", "application/json", "image/svg+xml"):
        content_type += "; charset=utf-8"
    return bytes(data), content_type


def package_save(*, build: Build, data: bytes) -> str:
    """Store a build's zip; returns its storage key."""
    key = f"forge/builds/{build.pk}/{slugify_name(build.app_name or 'app')}.zip"
    if default_storage.exists(key):
        default_storage.delete(key)
    return default_storage.save(key, ContentFile(data))


def image_save(*, build: Build, kind: str, index: int, data: bytes) -> str:
    """Store one screenshot or mockup of a build; returns its storage key."""
    key = f"forge/builds/{build.pk}/{kind}/{index}.png"
    if default_storage.exists(key):
        default_storage.delete(key)
    return default_storage.save(key, ContentFile(data))
