"""The models the caller may use (API.md, Health and models)."""
from .._route import Route, Section
from ..models import Model


class Models(Section):
    """Models filtered by the caller's tier; every `model_id` is a model's `id`."""

    list = Route("GET", "/models", kind="page", model=Model)
