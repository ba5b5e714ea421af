"""General Django settings: debug, hosts, time, installed apps, auth, middleware, templates."""
from __future__ import annotations

from .environment import BASE_DIR, env

__all__ = [
    "ALLOWED_HOSTS", "ASGI_APPLICATION", "AUTH_PASSWORD_VALIDATORS", "AUTH_USER_MODEL", "DEBUG", "DJANGO_APPS",
    "INSTALLED_APPS", "LANGUAGE_CODE", "LOCAL_APPS", "LOGIN_REDIRECT_URL", "LOGIN_URL", "LOGOUT_REDIRECT_URL",
    "ASGI_REQUEST_THREADS", "ASGI_SYNC_VIEWS_GRACE_MS", "ASGI_SYNC_VIEWS_MAX", "GC_FREEZE_AT_START", "GC_THRESHOLD_YOUNG", "MIDDLEWARE", "ROOT_URLCONF", "SECRET_KEY",
    "SITE_URL", "TEMPLATES", "THIRD_PARTY_APPS", "TIME_ZONE", "USE_I18N", "USE_TZ", "WRITE_BEHIND_LINGER_MS", "WSGI_APPLICATION",
]

DEBUG = env.bool("DJANGO_DEBUG", default=False)
SECRET_KEY = env("DJANGO_SECRET_KEY", default="insecure-dev-key-change-me-0123456789abcdefghijklmnopqrstuv")
ALLOWED_HOSTS = env.list("DJANGO_ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]"])
TIME_ZONE = "UTC"
LANGUAGE_CODE = "en-us"
USE_I18N = True
USE_TZ = True
SITE_URL = env("SITE_URL", default="http://localhost:8000")

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
    "drf_spectacular_sidecar",  # Swagger UI and Redoc assets, served as static files
    "channels",
    # Single sign-on (OpenID Connect, GitHub); configured from OIDC_* / GITHUB_* in accounts.py.
    "allauth",
    "allauth.account",
    "allauth.socialaccount",
    "allauth.socialaccount.providers.openid_connect",
    "allauth.socialaccount.providers.github",
    "django_celery_beat",  # workflow schedules: beat reads its entries from the database
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
    "apps.forge",
    "apps.agents",
    "apps.workflows",
    "apps.integrations",
    "apps.sharing",
    "apps.voice",
    "apps.tools",
    "apps.dashboard",
]
# The JWT blacklist (refresh-token rotation, see accounts.py) comes last, as it always has.
INSTALLED_APPS = DJANGO_APPS + THIRD_PARTY_APPS + LOCAL_APPS + ["rest_framework_simplejwt.token_blacklist"]

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
    "allauth.account.middleware.AccountMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "apps.core.middleware.RateLimitHeadersMiddleware",
]

ROOT_URLCONF = "config.urls"
ASGI_APPLICATION = "config.asgi.application"
# Idle request threads each web process keeps for the next requests (apps.core.asgi): a request's
# sync code runs in a thread of its own, taken from this pool instead of started and joined per request.
ASGI_REQUEST_THREADS = env.int("ASGI_REQUEST_THREADS", default=64)
# Sync views (DRF's, the pages) running at once in a web process (0: no bound); requests beyond it
# wait on the event loop (no thread, no connection) for one to finish. At 256 connections of keyed
# reads, 256 threads fought over the GIL (bench `auth`). A view still running after the grace
# period gives its place back as it goes on, so views that wait seconds on providers or agents
# (compare, voice, A2A message/send) do not hold the bound.
ASGI_SYNC_VIEWS_MAX = env.int("ASGI_SYNC_VIEWS_MAX", default=16)
ASGI_SYNC_VIEWS_GRACE_MS = env.int("ASGI_SYNC_VIEWS_GRACE_MS", default=100)
# The web process's garbage collector (apps.core.asgi.gc_settle): what exists once the app has
# loaded is frozen out of collections, and the youngest generation is collected every
# GC_THRESHOLD_YOUNG allocations instead of Python's 700. Full collections over the ~400 000
# objects of the loaded app stalled every stream of a process for 200-400 ms (bench `chat`).
GC_FREEZE_AT_START = env.bool("GC_FREEZE_AT_START", default=True)
GC_THRESHOLD_YOUNG = env.int("GC_THRESHOLD_YOUNG", default=10_000)
# How long the loop's write-behind writer (apps.core.writebehind) waits before each batch, so that
# one hop and one commit carry the bookkeeping of the calls that end meanwhile: sequential gateway
# calls share a batch by the score (fewer thread hops, commits and context switches); usage records
# and balances show a call a tenth of a second after its answer, plus the time the batch takes.
WRITE_BEHIND_LINGER_MS = env.int("WRITE_BEHIND_LINGER_MS", default=100)
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
