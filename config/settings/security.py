"""Cookie and header hardening shared by every environment (production.py adds HTTPS)."""
from __future__ import annotations

from .environment import env

__all__ = ["CSRF_COOKIE_HTTPONLY", "CSRF_TRUSTED_ORIGINS", "SECURE_CONTENT_TYPE_NOSNIFF", "SESSION_COOKIE_HTTPONLY", "X_FRAME_OPTIONS"]

SESSION_COOKIE_HTTPONLY = True
CSRF_COOKIE_HTTPONLY = False
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])
