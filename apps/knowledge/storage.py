"""Where document bytes live: Django's default storage (local files, or S3 through django-storages).

Presigned uploads exist only with S3: the browser posts the file straight to the bucket under a
key we chose, and `confirm` inspects the object with the bucket's own client.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import storages


def default_storage() -> Any:
    """The configured default storage (resolved per call so settings overrides take effect)."""
    return storages["default"]


def s3_enabled() -> bool:
    """True when files go to an S3 bucket (AWS_STORAGE_BUCKET_NAME set and the S3 backend on)."""
    storage = default_storage()
    return bool(settings.AWS_STORAGE_BUCKET_NAME) and hasattr(storage, "bucket_name")


def file_save(name: str, data: bytes) -> str:
    """Store `data` under `name`; returns the name actually used."""
    return str(default_storage().save(name, ContentFile(data)))


def file_read(name: str, *, max_bytes: int) -> bytes:
    """At most `max_bytes` + 1 bytes of a stored file (the caller refuses a longer one)."""
    with default_storage().open(name, "rb") as handle:
        return bytes(handle.read(max_bytes + 1))


def file_open(name: str) -> Any:
    """An open binary file object for streaming a stored file back."""
    return default_storage().open(name, "rb")


def file_delete(name: str) -> None:
    """Delete a stored file; a file already gone is not an error."""
    storage = default_storage()
    try:
        storage.delete(name)
    except FileNotFoundError:
        pass


def _s3() -> tuple[Any, Any]:
    storage = default_storage()
    return storage, storage.connection.meta.client


def s3_key(name: str) -> str:
    """The bucket key of a storage name (applies the storage's AWS_LOCATION prefix)."""
    from storages.utils import clean_name

    storage, _client = _s3()
    return str(storage._normalize_name(clean_name(name)))


@dataclass(frozen=True)
class PresignedPost:
    """A presigned POST: the URL and the form fields the browser must send with the file."""

    url: str
    fields: dict[str, str]


def presigned_post(*, key: str, content_type: str, size: int, expires_in: int) -> PresignedPost:
    """A POST policy that only accepts exactly `size` bytes of `content_type` under `key`."""
    storage, client = _s3()
    answer = client.generate_presigned_post(
        Bucket=storage.bucket_name,
        Key=key,
        Fields={"Content-Type": content_type},
        Conditions=[{"Content-Type": content_type}, ["content-length-range", size, size]],
        ExpiresIn=expires_in,
    )
    return PresignedPost(url=answer["url"], fields=dict(answer["fields"]))


def s3_object_size(key: str) -> int | None:
    """The size of an object in the bucket, or None when there is none."""
    from botocore.exceptions import ClientError

    storage, client = _s3()
    try:
        head = client.head_object(Bucket=storage.bucket_name, Key=key)
    except ClientError as exc:
        if exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") in (403, 404):
            return None
        raise
    return int(head["ContentLength"])


def s3_object_head(key: str, length: int) -> bytes:
    """The first `length` bytes of an object (a ranged GET: the rest never leaves the bucket)."""
    storage, client = _s3()
    answer = client.get_object(Bucket=storage.bucket_name, Key=key, Range=f"bytes=0-{length - 1}")
    return bytes(answer["Body"].read(length))


def s3_object_delete(key: str) -> None:
    """Delete an object by key."""
    storage, client = _s3()
    client.delete_object(Bucket=storage.bucket_name, Key=key)
