"""Domain errors of the knowledge app."""
from __future__ import annotations

from apps.core.errors import Conflict, PayloadTooLarge, ServiceUnavailable, UnsupportedMediaType


class EmbeddingUnavailable(ServiceUnavailable):
    """The embedding backend cannot embed right now (missing files, endpoint down, wrong width)."""

    default_message = "The embedding model is unavailable."


class UnsupportedFileType(UnsupportedMediaType):
    """The file's content is not one of the allowed types, or does not match the type it claims."""

    default_message = "This file type is not supported."


class FileTooLarge(PayloadTooLarge):
    """The file is larger than the upload limit."""

    default_message = "The file is larger than the upload limit."


class PresignedUploadsDisabled(Conflict):
    """Presigned uploads need S3 storage; this install stores files locally."""

    default_message = (
        "Presigned uploads need S3 storage (set AWS_STORAGE_BUCKET_NAME). "
        "Upload the file with multipart to POST /api/v1/knowledge/{id}/documents instead."
    )
