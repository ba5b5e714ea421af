"""Settings shared by every environment, read from the environment with django-environ."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import environ

BASE_DIR = Path(__file__).resolve().parent.parent.parent
APPS_DIR = BASE_DIR / "apps"

env = environ.Env()
# A local .env is read when present (never committed); the process environment wins.
if (BASE_DIR / ".env").exists():
    env.read_env(str(BASE_DIR / ".env"), overwrite=False)

NEXUS_VERSION = "0.1.0"

# ------------------------------------------------------------------------------
# GENERAL
# ------------------------------------------------------------------------------
DEBUG = env.bool("DJANGO_DEBUG", default=False)
SECRET_KEY = env("DJANGO_SECRET_KEY", default="insecure-dev-key-change-me-0123456789abcdefghijklmnopqrstuv")
ALLOWED_HOSTS = env.list("DJANGO_ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]"])
TIME_ZONE = "UTC"
LANGUAGE_CODE = "en-us"
USE_I18N = True
USE_TZ = True
SITE_URL = env("SITE_URL", default="http://localhost:8000")

# ------------------------------------------------------------------------------
# DATABASES: PostgreSQL with pgvector only. The embedded runtime exports DATABASE_URL.
# ------------------------------------------------------------------------------
DATABASES = {"default": env.db("DATABASE_URL", default="postgres://postgres@127.0.0.1:54329/nexus")}
DATABASES["default"]["ATOMIC_REQUESTS"] = False
# Under ASGI every request's sync code runs in a fresh thread, and Django's connections are per
# thread: persistent connections (CONN_MAX_AGE) leak there, since a thread that ended never closes
# its connection (measured: 139 idle connections after one burst). psycopg's pool keeps them per
# process instead: a request's connection goes back at request end, code on the loop's executor
# threads hands it back after each call (apps.core.db.db_sync_to_async). On by default; the pool is
# the bound on PostgreSQL connections per process (DATABASE_POOL_MAX; 0 turns it off).
DATABASE_POOL_MAX = env.int("DATABASE_POOL_MAX", default=16)
if DATABASE_POOL_MAX > 0:
    DATABASES["default"]["CONN_MAX_AGE"] = 0
    # A burst (hundreds of requests at once) queues for a connection rather than failing.
    DATABASES["default"].setdefault("OPTIONS", {})["pool"] = {
        "min_size": min(2, DATABASE_POOL_MAX), "max_size": DATABASE_POOL_MAX,
        "timeout": env.float("DATABASE_POOL_TIMEOUT", default=5.0),
    }
    # Django gives the pool `check_connection`: a connection is checked when handed out, so after a
    # PostgreSQL restart a dead one is replaced, never given to a request (the pool is never left broken).
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
else:
    DATABASES["default"]["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=0)
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# ------------------------------------------------------------------------------
# REDIS: broker, channel layer, cache and run event streams.
# ------------------------------------------------------------------------------
REDIS_URL = env("REDIS_URL", default="redis://127.0.0.1:63790/0")
# The one Redis client of each process (apps.core.redis_client): connect and read timeouts, and the
# size of its async pool (one connection per run stream being followed, plus limits and replays).
REDIS_CONNECT_TIMEOUT = env.float("REDIS_CONNECT_TIMEOUT", default=1.0)
REDIS_SOCKET_TIMEOUT = env.float("REDIS_SOCKET_TIMEOUT", default=5.0)
REDIS_MAX_CONNECTIONS = env.int("REDIS_MAX_CONNECTIONS", default=2000)
# How often a running job (chat reply, chain execution, ...) looks at its cancel flag (apps.core.runs).
RUN_CANCEL_POLL_SECONDS = env.float("RUN_CANCEL_POLL_SECONDS", default=0.2)

CACHES = {
    "default": {
        "BACKEND": "apps.core.cache.SharedPoolRedisCache",
        "LOCATION": REDIS_URL,
        "KEY_PREFIX": "nexus",
        "OPTIONS": {"socket_connect_timeout": 1, "socket_timeout": 2},
    }
}

CHANNEL_LAYERS = {
    "default": {
        "BACKEND": "channels_redis.core.RedisChannelLayer",
        "CONFIG": {"hosts": [REDIS_URL], "prefix": "nexus:asgi"},
    }
}

# ------------------------------------------------------------------------------
# APPS
# ------------------------------------------------------------------------------
DJANGO_APPS = [
    "daphne",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.admin",
    "django.contrib.postgres",
]
THIRD_PARTY_APPS = [
    "rest_framework",
    "drf_spectacular",
    "channels",
]
LOCAL_APPS = [
    "apps.core",
    "apps.accounts",
    "apps.llm",
    "apps.knowledge",
    "apps.billing",
    "apps.chat",
    "apps.architect",
    "apps.gateway",
    "apps.dashboard",
]
INSTALLED_APPS = DJANGO_APPS + THIRD_PARTY_APPS + LOCAL_APPS

AUTH_USER_MODEL = "accounts.User"
LOGIN_URL = "dashboard:login"
LOGIN_REDIRECT_URL = "dashboard:home"
LOGOUT_REDIRECT_URL = "dashboard:login"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

# ------------------------------------------------------------------------------
# MIDDLEWARE: request ids first so every later log line and error carries one.
# ------------------------------------------------------------------------------
MIDDLEWARE = [
    "apps.core.middleware.RequestIdMiddleware",
    "apps.core.middleware.ApiErrorEnvelopeMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "apps.core.middleware.RateLimitHeadersMiddleware",
]

ROOT_URLCONF = "config.urls"
# The module whose `websocket_urlpatterns` the ASGI application routes (tests add test-only consumers).
WEBSOCKET_URLCONF = "config.routing"
# A WebSocket message is bounded like an HTTP JSON body (apps.core.consumers): bytes, and JSON_MAX_DEPTH.
WEBSOCKET_MAX_MESSAGE_BYTES = env.int("WEBSOCKET_MAX_MESSAGE_BYTES", default=256 * 1024)
ASGI_APPLICATION = "config.asgi.application"
WSGI_APPLICATION = None

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "apps.dashboard.context_processors.navigation",
            ],
        },
    }
]

# ------------------------------------------------------------------------------
# STATIC AND MEDIA
# ------------------------------------------------------------------------------
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

# ------------------------------------------------------------------------------
# DJANGO REST FRAMEWORK AND OPENAPI
# ------------------------------------------------------------------------------
# JSON bodies (HTTP and WebSocket) nested deeper than this answer 400 before they are parsed.
JSON_MAX_DEPTH = env.int("JSON_MAX_DEPTH", default=64)

REST_FRAMEWORK = {
    # API key first: its 401 challenge is the one clients see; JWT next; the session (with CSRF) last.
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "apps.accounts.authentication.ApiKeyAuthentication",
        "apps.accounts.authentication.JwtAuthentication",
        "apps.accounts.authentication.CsrfSessionAuthentication",
    ],
    # Authenticated, and an API key's scopes must cover the view's `required_scope` (default "*").
    "DEFAULT_PERMISSION_CLASSES": ["apps.accounts.permissions.ApiKeyScope"],
    # The per-user (or per-key) limit of the caller's tier on every authenticated route.
    "DEFAULT_THROTTLE_CLASSES": ["apps.accounts.throttling.TierRateThrottle"],
    "DEFAULT_PARSER_CLASSES": [
        "apps.core.parsers.LimitedJSONParser",
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    # Never 406: SSE clients send `Accept: text/event-stream`; errors are always the JSON envelope.
    "DEFAULT_CONTENT_NEGOTIATION_CLASS": "apps.core.negotiation.EnvelopeContentNegotiation",
    "DEFAULT_PAGINATION_CLASS": "apps.core.pagination.LimitOffsetPagination",
    "PAGE_SIZE": 50,
    "EXCEPTION_HANDLER": "apps.core.exception_handler.exception_handler",
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_RENDERER_CLASSES": [
        "rest_framework.renderers.JSONRenderer",
        "rest_framework.renderers.BrowsableAPIRenderer",
    ],
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
}

SPECTACULAR_SETTINGS: dict[str, Any] = {
    "TITLE": "Nexus API",
    "DESCRIPTION": "Self-hosted AI platform: chat, knowledge, prompt chains, billing, agents and workflows.",
    "VERSION": NEXUS_VERSION,
    "SERVE_INCLUDE_SCHEMA": True,  # API.md: /api/v1/schema is itself a route of the API
    "SCHEMA_PATH_PREFIX": "/api/v1",
    "COMPONENT_SPLIT_REQUEST": True,
    "PREPROCESSING_HOOKS": ["apps.core.openapi.only_api_routes"],
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "apps.core.openapi.add_error_responses",
        "apps.gateway.openapi.add_openai_gateway",
    ],
}

# ------------------------------------------------------------------------------
# CELERY: queues are named once, in apps.core.queues.
# ------------------------------------------------------------------------------
CELERY_BROKER_URL = env("CELERY_BROKER_URL", default=REDIS_URL)
CELERY_RESULT_BACKEND = None
CELERY_TASK_IGNORE_RESULT = True
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_DEFAULT_QUEUE = "default"
CELERY_TASK_ALWAYS_EAGER = False
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# A task that is not acked within this window is redelivered; longer than any task may run.
CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": env.int("CELERY_VISIBILITY_TIMEOUT", default=3600)}
CELERY_BEAT_SCHEDULE: dict = {}
CELERY_TIMEZONE = TIME_ZONE
CELERY_WORKER_HIJACK_ROOT_LOGGER = False

# Seconds between a worker's heartbeats in Redis, and how long one stays valid.
WORKER_HEARTBEAT_INTERVAL = env.int("WORKER_HEARTBEAT_INTERVAL", default=10)
WORKER_HEARTBEAT_TTL = env.int("WORKER_HEARTBEAT_TTL", default=30)

# ------------------------------------------------------------------------------
# STREAMS: replayable run event streams on Redis Streams.
# ------------------------------------------------------------------------------
STREAM_MAXLEN = env.int("STREAM_MAXLEN", default=10_000)
STREAM_TTL_SECONDS = env.int("STREAM_TTL_SECONDS", default=24 * 3600)
SSE_KEEPALIVE_SECONDS = env.float("SSE_KEEPALIVE_SECONDS", default=15.0)

# ------------------------------------------------------------------------------
# SECURITY
# ------------------------------------------------------------------------------
SESSION_COOKIE_HTTPONLY = True
CSRF_COOKIE_HTTPONLY = False
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

# ------------------------------------------------------------------------------
# LOGGING: one line per record, request id in each; JSON when LOG_FORMAT=json.
# ------------------------------------------------------------------------------
LOG_FORMAT = env("LOG_FORMAT", default="text")
LOG_LEVEL = env("LOG_LEVEL", default="INFO")
LOGGING: dict[str, Any] = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"request_id": {"()": "apps.core.logging.RequestIdFilter"}},
    "formatters": {
        "text": {"format": "%(asctime)s %(levelname)s [%(request_id)s] %(name)s: %(message)s"},
        "json": {"()": "apps.core.logging.JsonFormatter"},
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": "json" if LOG_FORMAT == "json" else "text",
            "filters": ["request_id"],
        }
    },
    "root": {"level": LOG_LEVEL, "handlers": ["console"]},
    "loggers": {
        "django.db.backends": {"level": "WARNING"},
        "daphne": {"level": "WARNING"},
        "celery": {"level": "INFO"},
        "httpx": {"level": "WARNING"},
        "httpcore": {"level": "WARNING"},
    },
}

# ------------------------------------------------------------------------------
# ACCOUNTS (issue "Accounts"): JWT, API keys, tiers
# ------------------------------------------------------------------------------
from datetime import timedelta  # noqa: E402

INSTALLED_APPS += ["rest_framework_simplejwt.token_blacklist"]

SIMPLE_JWT = {
    "ACCESS_TOKEN_LIFETIME": timedelta(minutes=env.int("JWT_ACCESS_MINUTES", default=15)),
    "REFRESH_TOKEN_LIFETIME": timedelta(days=env.int("JWT_REFRESH_DAYS", default=14)),
    # Each refresh returns a new refresh token and blacklists the old one; reuse revokes the family.
    "ROTATE_REFRESH_TOKENS": True,
    "BLACKLIST_AFTER_ROTATION": True,
    "UPDATE_LAST_LOGIN": False,  # the login service records last_login itself
    "ALGORITHM": "HS256",
    "SIGNING_KEY": env("JWT_SIGNING_KEY", default=SECRET_KEY),
    "AUTH_HEADER_TYPES": ("Bearer",),
    "USER_ID_FIELD": "id",
    "USER_ID_CLAIM": "user_id",
    # Changing the password invalidates every token issued before.
    "CHECK_REVOKE_TOKEN": True,
}

# Sign-up and login attempts per minute, counted per client IP and per email address.
AUTH_RATE_PER_IP = env("AUTH_RATE_PER_IP", default="10/m")
AUTH_RATE_PER_EMAIL = env("AUTH_RATE_PER_EMAIL", default="10/m")
# Seconds a tier's policy is cached in each process (admin edits show up after at most this long).
TIER_POLICY_CACHE_SECONDS = env.int("TIER_POLICY_CACHE_SECONDS", default=30)
# Seconds an API-key lookup (key, user, roles) is cached in each process; 0 disables. Revoking a key or
# changing its user applies at once in the process that made the change, in others within this time.
API_KEY_CACHE_SECONDS = env.int("API_KEY_CACHE_SECONDS", default=5)
API_KEY_CACHE_MAX_ENTRIES = env.int("API_KEY_CACHE_MAX_ENTRIES", default=10_000)
# A concurrency slot not released within this many seconds (a crashed process) frees itself.
CONCURRENCY_SLOT_TTL_SECONDS = env.int("CONCURRENCY_SLOT_TTL_SECONDS", default=20 * 60)
# Several apps have a `role` choice field; give the workspace one its own schema name.
SPECTACULAR_SETTINGS["ENUM_NAME_OVERRIDES"] = {
    **SPECTACULAR_SETTINGS.get("ENUM_NAME_OVERRIDES", {}),
    "WorkspaceRoleEnum": "apps.accounts.models.WorkspaceRole",
}

# ------------------------------------------------------------------------------
# LLM (issue "LLM gateway"): providers, encryption key, timeouts
# ------------------------------------------------------------------------------
# Fernet keys for provider API keys at rest, newest first; empty derives one from SECRET_KEY.
# Rotate: put a new key first, keep the old ones after it, run `manage.py llm_rotate_keys`.
LLM_ENCRYPTION_KEYS = env.list("LLM_ENCRYPTION_KEYS", default=[])
# Providers configured from the environment at start-up (`manage.py seed`).
OPENAI_API_KEY = env("OPENAI_API_KEY", default="")
OPENAI_BASE_URL = env("OPENAI_BASE_URL", default="")
ANTHROPIC_API_KEY = env("ANTHROPIC_API_KEY", default="")
ANTHROPIC_BASE_URL = env("ANTHROPIC_BASE_URL", default="")
GEMINI_API_KEY = env("GEMINI_API_KEY", default="")
GEMINI_BASE_URL = env("GEMINI_BASE_URL", default="")
# Default seconds before a provider call times out (each provider can set its own).
LLM_DEFAULT_TIMEOUT = env.float("LLM_DEFAULT_TIMEOUT", default=60.0)
# Upstream 429s are retried this many times with backoff before answering RATE_LIMITED.
LLM_RATE_LIMIT_RETRIES = env.int("LLM_RATE_LIMIT_RETRIES", default=2)
# Seconds the model registry is cached in each process (admin edits clear it at once).
LLM_REGISTRY_CACHE_SECONDS = env.float("LLM_REGISTRY_CACHE_SECONDS", default=30.0)
# The SDKs' HTTP clients log every request at INFO; one line per token stream is noise.
LOGGING["loggers"]["httpx2"] = {"level": "WARNING"}

# ------------------------------------------------------------------------------
# KNOWLEDGE (issue "Knowledge"): uploads, embeddings, search
# ------------------------------------------------------------------------------
# Uploads: the kinds accepted (pdf, docx, txt, md, html, csv, json) and the largest file.
KNOWLEDGE_ALLOWED_TYPES = env.list("KNOWLEDGE_ALLOWED_TYPES", default=["pdf", "docx", "txt", "md", "html", "csv", "json"])
KNOWLEDGE_MAX_UPLOAD_BYTES = env.int("KNOWLEDGE_MAX_UPLOAD_BYTES", default=10 * 1024 * 1024)
KNOWLEDGE_PRESIGNED_EXPIRES_SECONDS = env.int("KNOWLEDGE_PRESIGNED_EXPIRES_SECONDS", default=900)
# Embeddings: "onnx" (MiniLM int8 shipped in wheels, offline) or "openai" (any OpenAI-compatible /embeddings).
KNOWLEDGE_EMBEDDINGS_BACKEND = env("KNOWLEDGE_EMBEDDINGS_BACKEND", default="onnx")
KNOWLEDGE_EMBEDDINGS_URL = env("KNOWLEDGE_EMBEDDINGS_URL", default="")
KNOWLEDGE_EMBEDDINGS_MODEL = env("KNOWLEDGE_EMBEDDINGS_MODEL", default="")
KNOWLEDGE_EMBEDDINGS_API_KEY = env("KNOWLEDGE_EMBEDDINGS_API_KEY", default="")
KNOWLEDGE_EMBEDDINGS_SEND_DIMENSIONS = env.bool("KNOWLEDGE_EMBEDDINGS_SEND_DIMENSIONS", default=False)
KNOWLEDGE_EMBEDDINGS_TIMEOUT = env.float("KNOWLEDGE_EMBEDDINGS_TIMEOUT", default=30.0)
KNOWLEDGE_EMBED_BATCH_SIZE = env.int("KNOWLEDGE_EMBED_BATCH_SIZE", default=32)
KNOWLEDGE_ONNX_THREADS = env.int("KNOWLEDGE_ONNX_THREADS", default=0)  # 0: onnxruntime decides
# Chunking, in the embedding model's tokens.
KNOWLEDGE_CHUNK_TOKENS = env.int("KNOWLEDGE_CHUNK_TOKENS", default=200)
KNOWLEDGE_CHUNK_OVERLAP_TOKENS = env.int("KNOWLEDGE_CHUNK_OVERLAP_TOKENS", default=40)
KNOWLEDGE_MAX_CHUNKS_PER_DOCUMENT = env.int("KNOWLEDGE_MAX_CHUNKS_PER_DOCUMENT", default=20_000)
# Extraction runs in a child process bounded in time and address space.
KNOWLEDGE_EXTRACT_TIMEOUT_SECONDS = env.float("KNOWLEDGE_EXTRACT_TIMEOUT_SECONDS", default=60.0)
KNOWLEDGE_EXTRACT_MEMORY_MB = env.int("KNOWLEDGE_EXTRACT_MEMORY_MB", default=1024)
# A document in `processing` longer than this is taken to have lost its worker; retried up to the attempts.
KNOWLEDGE_INGEST_STALE_SECONDS = env.int("KNOWLEDGE_INGEST_STALE_SECONDS", default=900)
KNOWLEDGE_INGEST_MAX_ATTEMPTS = env.int("KNOWLEDGE_INGEST_MAX_ATTEMPTS", default=3)
# Search: pgvector HNSW candidate list size. pgvector's default (40) measured recall@10 0.93 on 100k
# chunks; 100 gave 0.99 with p95 under 10 ms (bench/bench_knowledge.py).
KNOWLEDGE_HNSW_EF_SEARCH = env.int("KNOWLEDGE_HNSW_EF_SEARCH", default=100)
CELERY_BEAT_SCHEDULE["knowledge-reap-stuck-documents"] = {
    "task": "apps.knowledge.tasks.document_reap_stuck",
    "schedule": 60.0,
    "options": {"queue": "ingest"},
}

# ------------------------------------------------------------------------------
# CHAT (issue "Chat"): message size, reply persistence, orphan reaper
# ------------------------------------------------------------------------------
CHAT_MAX_MESSAGE_CHARS = env.int("CHAT_MAX_MESSAGE_CHARS", default=100_000)
# A streaming reply not saved for this long belongs to a dead process; the reaper marks it incomplete.
CHAT_ORPHAN_SECONDS = env.int("CHAT_ORPHAN_SECONDS", default=30)
# A cheap model (registry name) that titles new conversations; empty: the first words are the title.
CHAT_TITLE_MODEL = env("CHAT_TITLE_MODEL", default="")
CELERY_BEAT_SCHEDULE["chat-reap-orphans"] = {"task": "apps.chat.tasks.chat_reap_orphans", "schedule": 30.0}

# ------------------------------------------------------------------------------
# BILLING (issue "Billing"): Stripe, cron secret, resets, reservations
# ------------------------------------------------------------------------------
from celery.schedules import crontab  # noqa: E402

# Stripe: the secret API key, the webhook endpoint's signing secret, and (tests only) another API base URL.
STRIPE_SECRET_KEY = env("STRIPE_SECRET_KEY", default="")
STRIPE_WEBHOOK_SECRET = env("STRIPE_WEBHOOK_SECRET", default="")
STRIPE_API_BASE = env("STRIPE_API_BASE", default="")
STRIPE_WEBHOOK_TOLERANCE = env.int("STRIPE_WEBHOOK_TOLERANCE", default=300)
STRIPE_MAX_NETWORK_RETRIES = env.int("STRIPE_MAX_NETWORK_RETRIES", default=2)
# Optional Stripe price ids per tier ("pro=price_...,enterprise=price_..."); without one, Checkout sends the
# tier's price inline. Needed for plan switches in the Stripe portal (webhooks map these ids back to tiers).
STRIPE_TIER_PRICE_IDS = env.dict("STRIPE_TIER_PRICE_IDS", default={})
# Bearer token of POST /api/v1/cron/reset-credits; empty keeps the route closed (401).
CRON_SECRET = env("CRON_SECRET", default="")
# A credit hold not settled within this many seconds (its process died) is released.
BILLING_RESERVATION_TTL_SECONDS = env.int("BILLING_RESERVATION_TTL_SECONDS", default=3600)
# Daily: the reset itself happens once per account and period, so a missed day is caught up the next.
CELERY_BEAT_SCHEDULE["billing-reset-monthly-credits"] = {
    "task": "apps.billing.tasks.credits_reset_monthly",
    "schedule": crontab(minute=5, hour=0),
    "options": {"queue": "default"},
}
CELERY_BEAT_SCHEDULE["billing-expire-reservations"] = {
    "task": "apps.billing.tasks.credit_reservations_expire",
    "schedule": 300.0,
    "options": {"queue": "default"},
}

# ------------------------------------------------------------------------------
# ARCHITECT (issue "Assistant Architect"): limits, timeout, heartbeats, reaper
# ------------------------------------------------------------------------------
ARCHITECT_MAX_INPUT_BYTES = env.int("ARCHITECT_MAX_INPUT_BYTES", default=100 * 1024)
ARCHITECT_MAX_INPUT_FIELDS = env.int("ARCHITECT_MAX_INPUT_FIELDS", default=50)
# An execution stops (execution_failed, EXECUTION_TIMEOUT) this long after it was started.
ARCHITECT_EXECUTION_TIMEOUT_SECONDS = env.int("ARCHITECT_EXECUTION_TIMEOUT_SECONDS", default=900)
# The running worker renews the execution's heartbeat this often; older than STALE means its worker vanished.
ARCHITECT_HEARTBEAT_SECONDS = env.float("ARCHITECT_HEARTBEAT_SECONDS", default=10.0)
ARCHITECT_STALE_SECONDS = env.float("ARCHITECT_STALE_SECONDS", default=60.0)
# Runs of one execution (first + re-queues by the reaper) before it is failed with WORKER_LOST.
ARCHITECT_MAX_ATTEMPTS = env.int("ARCHITECT_MAX_ATTEMPTS", default=2)
CELERY_BEAT_SCHEDULE["architect-reap-stale-executions"] = {
    "task": "apps.architect.tasks.execution_reap_stale",
    "schedule": 30.0,
    "options": {"queue": "default"},
}
