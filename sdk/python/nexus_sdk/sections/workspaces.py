"""Workspaces and their members (API.md, Workspaces)."""
from .._route import Route, Section
from ..models import Invitation, InvitationSent, Member, Workspace


class Workspaces(Section):
    """Workspaces the caller belongs to."""

    list = Route("GET", "/workspaces", kind="page", model=Workspace)
    create = Route("POST", "/workspaces", model=Workspace)
    get = Route("GET", "/workspaces/{id}", model=Workspace)
    update = Route("PATCH", "/workspaces/{id}", model=Workspace)
    delete = Route("DELETE", "/workspaces/{id}")
    members = Route("GET", "/workspaces/{workspace_id}/members", kind="page", model=Member)
    # The server invites by email (202, the same answer whether or not the address has an account);
    # `add_member` is the older name of `invite`, kept so existing callers keep working.
    add_member = Route("POST", "/workspaces/{workspace_id}/members", model=InvitationSent)
    invite = Route("POST", "/workspaces/{workspace_id}/members", model=InvitationSent)
    invitations = Route("GET", "/workspaces/{workspace_id}/invitations", kind="page", model=Invitation)
    revoke_invitation = Route("DELETE", "/workspaces/{workspace_id}/invitations/{invitation_id}")
    remove_member = Route("DELETE", "/workspaces/{workspace_id}/members/{user_id}")
