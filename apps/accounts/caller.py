"""The signed-in caller of a request, typed as the user model for the services and selectors it is passed to."""
from __future__ import annotations

from django.http import HttpRequest
from rest_framework.request import Request

from apps.core.errors import Unauthorized

from .models import User


def request_user(request: HttpRequest | Request) -> User:
    """The request's user; views call it behind an authentication check, so an anonymous caller is 401."""
    user = request.user
    if not isinstance(user, User):
        raise Unauthorized("Authentication credentials were not provided.")
    return user
