"""Fixtures of the knowledge tests: repositories, local and S3 storage, on-commit execution."""
from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from apps.knowledge import services
from apps.knowledge.models import Repository
from tests.fakes.s3 import FakeS3, moto_server


@pytest.fixture
def media_root(settings, tmp_path: Path) -> Path:  # type: ignore[no-untyped-def]
    """Local file storage in a folder of this test, so tests can look at what was stored."""
    root = tmp_path / "media"
    root.mkdir()
    settings.MEDIA_ROOT = str(root)
    return root


@pytest.fixture
def repository(user, media_root) -> Repository:  # type: ignore[no-untyped-def]
    """A repository owned by `user`."""
    return services.repository_create(user=user, name="Handbook", description="Team docs")


@pytest.fixture
def other_repository(other_user, media_root) -> Repository:  # type: ignore[no-untyped-def]
    """A repository owned by `other_user`."""
    return services.repository_create(user=other_user, name="Not yours")


@pytest.fixture
def run_on_commit(django_capture_on_commit_callbacks):  # type: ignore[no-untyped-def]
    """Run on-commit callbacks (the eager ingestion task) as they would run after a real commit."""
    return lambda: django_capture_on_commit_callbacks(execute=True)


@pytest.fixture(scope="session")
def fake_s3_server() -> Iterator[FakeS3]:
    """One moto S3 server on loopback for the session."""
    with moto_server() as server:
        yield server


@pytest.fixture
def s3(settings, fake_s3_server: FakeS3) -> FakeS3:  # type: ignore[no-untyped-def]
    """Files go to a fresh bucket of the loopback S3 through django-storages (as AWS_STORAGE_BUCKET_NAME would)."""
    bucket = f"nexus-test-{uuid.uuid4().hex[:12]}"
    fake_s3_server.create_bucket(bucket)
    settings.AWS_STORAGE_BUCKET_NAME = bucket
    settings.AWS_S3_ENDPOINT_URL = fake_s3_server.endpoint_url
    settings.AWS_ACCESS_KEY_ID = fake_s3_server.access_key
    settings.AWS_SECRET_ACCESS_KEY = fake_s3_server.secret_key
    settings.AWS_S3_REGION_NAME = fake_s3_server.region
    settings.AWS_S3_ADDRESSING_STYLE = "path"
    settings.STORAGES = {**settings.STORAGES, "default": {"BACKEND": "storages.backends.s3.S3Storage"}}
    return fake_s3_server
