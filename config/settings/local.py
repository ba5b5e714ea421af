"""Settings for `make run`: embedded services by default; debug pages only with DJANGO_DEBUG=true.

`make run` is how people run the platform, so it serves like one: Django's debug 404 page lists
every URL pattern, and a debug 500 page shows settings and source. Static files are still
served (daphne serves them through Django's static files handler, with or without DEBUG).
"""
from .base import *  # noqa: F401,F403
from .base import env

DEBUG = env.bool("DJANGO_DEBUG", default=False)
