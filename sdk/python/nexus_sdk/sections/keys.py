"""API keys (API.md, Authentication)."""
from .._route import Route, Section
from ..models import ApiKey


class Keys(Section):
    """The caller's API keys (`*` scope needed)."""

    list = Route("GET", "/keys", kind="page", model=ApiKey)
    create = Route("POST", "/keys", model=ApiKey, doc="name, scopes, expires_in_days?, rate_limit? -> the key, shown once")
    get = Route("GET", "/keys/{id}", model=ApiKey)
    revoke = Route("DELETE", "/keys/{id}")
