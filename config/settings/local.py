"""Settings for `make run` on a developer's machine: debug on, embedded services by default."""
from .base import *  # noqa: F401,F403
from .base import env

DEBUG = env.bool("DJANGO_DEBUG", default=True)
