"""Settings for the test suite (`pytest --ds=config.settings.test`)."""
from .base import *  # noqa: F401,F403
from .base import env

DEBUG = False
SECRET_KEY = env("DJANGO_SECRET_KEY", default="test-only-secret-key-0123456789abcdefghijklmnopqrstuvwxyz")
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
# Unit tests run Celery eagerly; tests marked `worker` start a real worker on the real broker.
CELERY_TASK_ALWAYS_EAGER = env.bool("CELERY_TASK_ALWAYS_EAGER", default=True)
CELERY_TASK_EAGER_PROPAGATES = True
# Tests that check the WebSocket Origin rule start daphne with a real host list.
ALLOWED_HOSTS = env.list("DJANGO_ALLOWED_HOSTS", default=["*"])
MEDIA_ROOT = env("MEDIA_ROOT", default="/tmp/nexus-test-media")
# Test-only routes (tests/urls.py) are mounted by the processes the tests start.
ROOT_URLCONF = env("DJANGO_ROOT_URLCONF", default="config.urls")
WEBSOCKET_URLCONF = env("DJANGO_WEBSOCKET_URLCONF", default="config.routing")
# The test process runs many event loops and threads (live servers, eager tasks) against one test
# database; tests use plain per-thread connections unless DATABASE_POOL_MAX is set (the connection
# tests start daphne with a pool). The loop's own pool likewise: only the daphne processes the tests
# start have one (conftest.start_daphne); a pool on the test process's short-lived loops would outlive them.
if env.int("DATABASE_POOL_MAX", default=0) == 0:
    DATABASES["default"].get("OPTIONS", {}).pop("pool", None)  # noqa: F405
    DATABASES["default"]["CONN_MAX_AGE"] = 0  # noqa: F405
    DATABASE_ASYNC_POOL_MAX = env.int("DATABASE_ASYNC_POOL_MAX", default=0)
