"""Health and the OpenAPI document (API.md, Health and models)."""
from .._route import Route, Section


class System(Section):
    """Platform health and the schema."""

    health = Route("GET", "/health")
    schema = Route("GET", "/schema", doc="the OpenAPI 3 document (pass params={'format': 'json'})")
