"""Static files, media (local disk or S3) and request/upload size limits."""
from __future__ import annotations

from .environment import BASE_DIR, env

__all__ = [
    "AWS_S3_ENDPOINT_URL", "AWS_S3_REGION_NAME", "AWS_STORAGE_BUCKET_NAME", "DATA_UPLOAD_MAX_MEMORY_SIZE",
    "FILE_UPLOAD_MAX_MEMORY_SIZE", "MAX_REQUEST_BYTES", "MEDIA_ROOT", "MEDIA_URL", "STATICFILES_DIRS", "STATIC_ROOT",
    "STATIC_URL", "STORAGES",
]

STATIC_URL = "/static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
MEDIA_URL = "/media/"
MEDIA_ROOT = env("MEDIA_ROOT", default=str(BASE_DIR / "var" / "media"))

AWS_STORAGE_BUCKET_NAME = env("AWS_STORAGE_BUCKET_NAME", default="")
AWS_S3_ENDPOINT_URL = env("AWS_S3_ENDPOINT_URL", default=None)
AWS_S3_REGION_NAME = env("AWS_S3_REGION_NAME", default="us-east-1")
if AWS_STORAGE_BUCKET_NAME:
    _default_storage = {"BACKEND": "storages.backends.s3.S3Storage"}
else:
    _default_storage = {"BACKEND": "django.core.files.storage.FileSystemStorage"}
STORAGES = {
    "default": _default_storage,
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}

# Largest request body any /api/ route accepts; bigger answers 413 before it is read.
MAX_REQUEST_BYTES = env.int("MAX_REQUEST_BYTES", default=12 * 1024 * 1024)
DATA_UPLOAD_MAX_MEMORY_SIZE = env.int("DATA_UPLOAD_MAX_MEMORY_SIZE", default=2 * 1024 * 1024)
FILE_UPLOAD_MAX_MEMORY_SIZE = 2 * 1024 * 1024
