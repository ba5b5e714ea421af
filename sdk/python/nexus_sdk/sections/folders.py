"""Conversation folders (API.md, Chat)."""
from .._route import Route, Section
from ..models import Folder


class Folders(Section):
    """Folders that group conversations."""

    list = Route("GET", "/folders", kind="page", model=Folder)
    create = Route("POST", "/folders", model=Folder)
    get = Route("GET", "/folders/{id}", model=Folder)
    update = Route("PATCH", "/folders/{id}", model=Folder)
    delete = Route("DELETE", "/folders/{id}")
