"""Workspaces and their members (API.md, Workspaces)."""
from .._route import Route, Section
from ..models import Member, Workspace


class Workspaces(Section):
    """Workspaces the caller belongs to."""

    list = Route("GET", "/workspaces", kind="page", model=Workspace)
    create = Route("POST", "/workspaces", model=Workspace)
    get = Route("GET", "/workspaces/{id}", model=Workspace)
    update = Route("PATCH", "/workspaces/{id}", model=Workspace)
    delete = Route("DELETE", "/workspaces/{id}")
    members = Route("GET", "/workspaces/{workspace_id}/members", kind="page", model=Member)
    add_member = Route("POST", "/workspaces/{workspace_id}/members", model=Member)
    remove_member = Route("DELETE", "/workspaces/{workspace_id}/members/{user_id}")
