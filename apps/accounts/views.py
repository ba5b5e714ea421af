"""Dashboard pages of the accounts app: sign-up, profile, API keys, workspaces and members.

Pages post ordinary forms (with CSRF) and call the same services as the API; a domain error is
shown to the person as a message on the page.
"""
from __future__ import annotations

from typing import Any
from uuid import UUID

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import login, update_session_auth_hash
from django.contrib.auth.decorators import login_required
from django.contrib.auth.views import redirect_to_login
from django.forms import Form
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST

from apps.core.errors import ApplicationError, RateLimited
from apps.core.ratelimit import ratelimit_hit

from . import services
from .caller import request_user
from .errors import InvitationClosed, InvitationNotFound, InvitationWrongAccount
from .forms import (
    ApiKeyForm,
    MemberForm,
    PasswordForm,
    PasswordResetConfirmForm,
    PasswordResetForm,
    ProfileForm,
    SignupForm,
    WorkspaceForm,
)
from .models import Workspace
from .policy import tier_policy
from .selectors import (
    api_key_list,
    user_roles,
    user_tools,
    workspace_invitation_get,
    workspace_invitations_pending,
    workspace_list,
    workspace_members,
)

# The session key holding a just-created API key until the next page shows it (once).
NEW_KEY_SESSION = "accounts_new_key"


def _apply_errors(form: Form, error: ApplicationError) -> None:
    """Put a domain error's field details on the form, or its message on the whole form."""
    placed = False
    for field, problems in (error.details or {}).items():
        if field in form.fields:
            for problem in problems if isinstance(problems, list) else [problems]:
                form.add_error(field, str(problem))
                placed = True
    if not placed:
        form.add_error(None, error.message)


def signup(request: HttpRequest) -> HttpResponse:
    """Create an account and sign in."""
    next_url = _safe_next(request)
    if request.user.is_authenticated:
        return redirect(next_url or "dashboard:home")
    form = SignupForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            user = services.user_create(**form.cleaned_data)
        except ApplicationError as error:
            _apply_errors(form, error)
        else:
            login(request, user, backend="django.contrib.auth.backends.ModelBackend")
            messages.success(request, "Welcome to Nexus! Your account is ready.")
            return redirect(next_url or "dashboard:home")
    return render(request, "accounts/signup.html", {"form": form, "next": next_url})


def _safe_next(request: HttpRequest) -> str:
    """The `next` page to go back to after sign-up (an invitation link), if it is on this site."""
    candidate = request.POST.get("next") or request.GET.get("next") or ""
    if candidate and url_has_allowed_host_and_scheme(candidate, allowed_hosts={request.get_host()}, require_https=request.is_secure()):
        return candidate
    return ""


def password_reset(request: HttpRequest) -> HttpResponse:
    """Ask for a reset link by mail; the page says the same whether the address has an account or not."""
    form = PasswordResetForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        email = form.cleaned_data["email"]
        try:
            ratelimit_hit(request, group="auth-reset-ip", key=request.META.get("REMOTE_ADDR") or "unknown",
                          rate=settings.PASSWORD_RESET_RATE_PER_IP)
            ratelimit_hit(request, group="auth-reset-email", key=email.strip().lower(), rate=settings.PASSWORD_RESET_RATE_PER_EMAIL)
        except RateLimited as error:
            form.add_error(None, error.message)
        else:
            services.password_reset_request(email=email)
            return render(request, "accounts/password_reset.html", {"sent": True, "email": email})
    return render(request, "accounts/password_reset.html", {"form": form})


def password_reset_confirm(request: HttpRequest, uid: str, token: str) -> HttpResponse:
    """Choose a new password from a mailed link (which works once)."""
    if not services.password_reset_token_valid(uid=uid, token=token):
        return render(request, "accounts/password_reset_confirm.html", {"invalid": True}, status=400)
    form = PasswordResetConfirmForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            services.password_reset_confirm(uid=uid, token=token, new_password=form.cleaned_data["new_password"])
        except ApplicationError as error:
            _apply_errors(form, error)
        else:
            messages.success(request, "Your password has been changed. Log in with it.")
            return redirect("dashboard:login")
    return render(request, "accounts/password_reset_confirm.html", {"form": form})


@login_required
def profile(request: HttpRequest) -> HttpResponse:
    """The caller's profile: names, password, tier and roles."""
    user = request_user(request)
    profile_form = ProfileForm(initial={"first_name": user.first_name, "last_name": user.last_name})
    password_form = PasswordForm()
    if request.method == "POST" and request.POST.get("form") == "profile":
        profile_form = ProfileForm(request.POST)
        if profile_form.is_valid():
            services.user_update(user=user, **profile_form.cleaned_data)
            messages.success(request, "Profile saved.")
            return redirect("accounts:profile")
    elif request.method == "POST" and request.POST.get("form") == "password":
        password_form = PasswordForm(request.POST)
        if password_form.is_valid():
            try:
                services.user_update(user=user, **password_form.cleaned_data)
            except ApplicationError as error:
                _apply_errors(password_form, error)
            else:
                update_session_auth_hash(request, user)  # stay signed in here; other sessions and tokens end
                messages.success(request, "Password changed.")
                return redirect("accounts:profile")
    context = {
        "profile_form": profile_form,
        "password_form": password_form,
        "roles": user_roles(user=user),
        "tools": sorted(user_tools(user)),
        "policy": tier_policy(user),
    }
    return render(request, "accounts/profile.html", context)


@login_required
def api_keys(request: HttpRequest) -> HttpResponse:
    """The caller's API keys; a new key is shown once, right after it was created."""
    user = request_user(request)
    form = ApiKeyForm(request.POST or None, held_tools=set(user_tools(user)))
    if request.method == "POST" and form.is_valid():
        try:
            _key, raw = services.api_key_create(user=request_user(request), **form.cleaned_data)
        except ApplicationError as error:
            _apply_errors(form, error)
        else:
            # Post/redirect/get: the key survives exactly one page view, so a reload does not show it again.
            request.session[NEW_KEY_SESSION] = raw
            return redirect("accounts:keys")
    new_key = request.session.pop(NEW_KEY_SESSION, None)
    keys = api_key_list(user=request_user(request))
    return render(request, "accounts/keys.html", {"form": form, "keys": keys, "new_key": new_key})


@login_required
@require_POST
def api_key_revoke(request: HttpRequest, key_id: UUID) -> HttpResponseRedirect:
    """Revoke one of the caller's keys."""
    key = api_key_list(user=request_user(request)).filter(pk=key_id).first()
    if key is None:
        raise Http404
    services.api_key_revoke(key=key)
    messages.success(request, f"Revoked “{key.name}”. Requests with it now answer 401.")
    return redirect("accounts:keys")


@login_required
def workspaces(request: HttpRequest) -> HttpResponse:
    """The caller's workspaces, and a form to create one."""
    form = WorkspaceForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        workspace = services.workspace_create(user=request_user(request), **form.cleaned_data)
        messages.success(request, f"Created “{workspace.name}”. You are its owner.")
        return redirect("accounts:workspace", workspace_id=workspace.pk)
    return render(request, "accounts/workspaces.html", {"form": form, "workspaces": workspace_list(user=request_user(request))})


def _my_workspace(request: HttpRequest, workspace_id: UUID) -> Workspace:
    workspace = workspace_list(user=request_user(request)).filter(pk=workspace_id).first()
    if workspace is None:
        raise Http404  # not a member: the workspace does not exist for this person
    return workspace


@login_required
def workspace_detail(request: HttpRequest, workspace_id: UUID) -> HttpResponse:
    """One workspace: its members; owners and admins invite, revoke invitations, remove and rename."""
    workspace = _my_workspace(request, workspace_id)
    member_form = MemberForm()
    rename_form = WorkspaceForm(initial={"name": workspace.name, "description": workspace.description})
    if request.method == "POST":
        action = request.POST.get("action")
        try:
            if action == "add":
                member_form = MemberForm(request.POST)
                if member_form.is_valid():
                    ratelimit_hit(request, group="workspace-invite", key=str(request.user.pk), rate=settings.WORKSPACE_INVITATION_RATE)
                    # Always an invitation: the page never tells whether the address has an account.
                    invitation = services.invitation_create(workspace=workspace, user=request_user(request), **member_form.cleaned_data)
                    messages.success(request, f"Invitation sent to {invitation.email}.")
                    return redirect("accounts:workspace", workspace_id=workspace.pk)
            elif action == "revoke_invitation":
                invitation = workspace_invitation_get(
                    user=request_user(request), workspace=workspace, invitation_id=request.POST.get("invitation_id", ""),
                )
                services.invitation_revoke(invitation=invitation, user=request_user(request))
                messages.success(request, f"Invitation to {invitation.email} revoked.")
                return redirect("accounts:workspace", workspace_id=workspace.pk)
            elif action == "remove":
                leaving = request.POST.get("user_id") == str(request.user.pk)
                services.workspace_member_remove(workspace=workspace, user=request_user(request), member_user_id=request.POST.get("user_id", ""))
                messages.success(request, "You left the workspace." if leaving else "Member removed.")
                if leaving:
                    return redirect("accounts:workspaces")
                return redirect("accounts:workspace", workspace_id=workspace.pk)
            elif action == "rename":
                rename_form = WorkspaceForm(request.POST)
                if rename_form.is_valid():
                    services.workspace_update(workspace=workspace, user=request_user(request), **rename_form.cleaned_data)
                    messages.success(request, "Workspace saved.")
                    return redirect("accounts:workspace", workspace_id=workspace.pk)
            elif action == "delete":
                services.workspace_delete(workspace=workspace, user=request_user(request))
                messages.success(request, f"Deleted “{workspace.name}”.")
                return redirect("accounts:workspaces")
        except ApplicationError as error:
            target: Form = member_form if action == "add" else rename_form
            if action in ("add", "rename") and error.details:
                _apply_errors(target, error)  # a field problem: shown next to the field
            else:
                messages.error(request, error.message)
    can_manage = workspace.my_role in ("owner", "admin")  # type: ignore[attr-defined]  # my_role is annotated by workspace_list
    context: dict[str, Any] = {
        "workspace": workspace,
        "members": workspace_members(workspace=workspace),
        "invitations": workspace_invitations_pending(user=request_user(request), workspace=workspace) if can_manage else [],
        "invitation_days": settings.WORKSPACE_INVITATION_DAYS,
        "can_manage": can_manage,
        "is_owner": workspace.my_role == "owner",  # type: ignore[attr-defined]  # my_role is annotated by workspace_list
        "member_form": member_form,
        "rename_form": rename_form,
    }
    return render(request, "accounts/workspace_detail.html", context)


def invitation_accept(request: HttpRequest, token: str) -> HttpResponse:
    """A mailed invitation link: log in (or sign up) first, then accept it with the invited address."""
    if not request.user.is_authenticated:
        # Back here after logging in; the log-in page's sign-up link carries `next` too.
        return redirect_to_login(request.get_full_path())
    user = request_user(request)
    context: dict[str, Any] = {"invitation": None, "problem": "", "problem_kind": ""}
    try:
        invitation = services.invitation_for_token(raw_token=token)
        context["invitation"] = invitation
        services.invitation_check(invitation=invitation, user=user)
        if invitation.accepted_at is not None:  # accepted by this person already: the link just leads there
            return redirect("accounts:workspace", workspace_id=invitation.workspace_id)
        if request.method == "POST":
            member = services.invitation_accept(raw_token=token, user=user)
            messages.success(request, f"You joined “{invitation.workspace.name}” as {member.role}.")
            return redirect("accounts:workspace", workspace_id=invitation.workspace_id)
    except InvitationNotFound as error:
        context.update(problem=error.message, problem_kind="invalid", invitation=None)
        return render(request, "accounts/invitation.html", context, status=404)
    except InvitationWrongAccount as error:
        # Which address it was sent to stays unsaid: the link may have been forwarded.
        context.update(problem=error.message, problem_kind="wrong-account", invitation=None)
        return render(request, "accounts/invitation.html", context, status=403)
    except InvitationClosed as error:
        context.update(problem=error.message, problem_kind="closed", invitation=None)
        return render(request, "accounts/invitation.html", context, status=410)
    return render(request, "accounts/invitation.html", context)
