"""Writes of the accounts app: users, roles, API keys, JWT pairs, workspaces and members."""
from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta
from typing import Any
from uuid import UUID

from django.conf import settings
from django.contrib.auth import password_validation
from django.contrib.auth.models import update_last_login
from django.contrib.auth.tokens import default_token_generator
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.encoding import force_bytes, force_str
from django.utils.http import urlsafe_base64_decode, urlsafe_base64_encode
from rest_framework_simplejwt.exceptions import TokenError
from rest_framework_simplejwt.settings import api_settings as jwt_settings
from rest_framework_simplejwt.token_blacklist.models import BlacklistedToken
from rest_framework_simplejwt.tokens import RefreshToken, Token
from rest_framework_simplejwt.utils import get_md5_hash_password

from apps.core.errors import Forbidden, NotFound, ValidationError
from apps.core.queues import enqueue
from apps.core.registry import scope_names

from .errors import (
    AlreadyMember,
    EmailTaken,
    InvalidCredentials,
    InvalidRefreshToken,
    InvitationClosed,
    InvitationNotFound,
    InvitationWrongAccount,
    LastOwner,
)
from .models import (
    ApiKey,
    InvitationStatus,
    RefreshFamily,
    Role,
    Tier,
    User,
    UserRole,
    Workspace,
    WorkspaceInvitation,
    WorkspaceMember,
    WorkspaceRole,
)
from .seeds import DEFAULT_ROLES, DEFAULT_TIERS

KEY_PREFIX = "nxk_"
# The visible part of a key: "nxk_" and 8 characters, enough to tell keys apart in a list.
KEY_PREFIX_LENGTH = 12
# last_used_at is written at most this often per key, so authentication stays a read.
KEY_TOUCH_INTERVAL = timedelta(minutes=1)
FAMILY_CLAIM = "fam"


# ------------------------------------------------------------------------------
# Users
# ------------------------------------------------------------------------------
def _password_errors(password: str, user: User) -> list[str]:
    try:
        password_validation.validate_password(password, user)
    except DjangoValidationError as exc:
        return list(exc.messages)
    return []


@transaction.atomic
def user_create(*, email: str, password: str, first_name: str = "", last_name: str = "") -> User:
    """Sign up: validate the password with Django's validators; a taken email is 409."""
    password_login_check()
    email = User.objects.normalize_email(email).strip().lower()
    user = User(email=email, first_name=first_name, last_name=last_name)
    errors = _password_errors(password, user)
    if errors:
        raise ValidationError(f"Invalid input: {errors[0]}", details={"password": errors})
    if User.objects.filter(email__iexact=email).exists():
        raise EmailTaken()
    user.set_password(password)
    try:
        with transaction.atomic():
            user.save()
    except IntegrityError:  # a concurrent sign-up with the same email won the race
        raise EmailTaken() from None
    return user


@transaction.atomic
def user_defaults_apply(*, user: User) -> None:
    """A new user gets the `user` role (and `admin` when superuser); the tier rows must exist."""
    for slug, values in DEFAULT_TIERS.items():
        if slug == user.tier_id:
            Tier.objects.get_or_create(slug=slug, defaults=values)
    names = ["user", "admin"] if user.is_superuser else ["user"]
    for name in names:
        role, _created = Role.objects.get_or_create(name=name, defaults=DEFAULT_ROLES[name])
        UserRole.objects.get_or_create(user=user, role=role)


@transaction.atomic
def user_update(*, user: User, first_name: str | None = None, last_name: str | None = None,
                password: str | None = None, current_password: str | None = None) -> User:
    """Change the profile; a new password needs the current one and passes the validators."""
    fields: list[str] = []
    if first_name is not None:
        user.first_name, fields = first_name, [*fields, "first_name"]
    if last_name is not None:
        user.last_name, fields = last_name, [*fields, "last_name"]
    if password is not None:
        if not current_password or not user.check_password(current_password):
            raise ValidationError("The current password is not correct.", details={"current_password": ["The current password is not correct."]})
        errors = _password_errors(password, user)
        if errors:
            raise ValidationError(f"Invalid input: {errors[0]}", details={"password": errors})
        user.set_password(password)
        fields.append("password")
    if fields:
        user.save(update_fields=fields)
    return user


def user_authenticate(*, email: str, password: str) -> User:
    """The active user with this email and password, else 401 (same answer whichever part is wrong)."""
    user = User.objects.filter(email__iexact=email.strip()).first()
    if user is None:
        User().set_password(password)  # spend the same time as a real check, so timing does not reveal emails
        raise InvalidCredentials()
    if not user.check_password(password) or not user.is_active:
        raise InvalidCredentials()
    password_login_check(user=user)
    return user


def password_login_check(*, user: User | None = None) -> None:
    """403 when the install requires single sign-on (SSO_REQUIRED) and this is not a superuser's password log-in."""
    if settings.SSO_REQUIRED and not (user is not None and user.is_superuser):
        raise Forbidden("This platform requires single sign-on: use your organisation's sign-in button.")


# ------------------------------------------------------------------------------
# Roles and tiers
# ------------------------------------------------------------------------------
@transaction.atomic
def role_assign(*, user: User, role: Role) -> User:
    """Give a user a role (idempotent)."""
    UserRole.objects.get_or_create(user=user, role=role)
    return user


@transaction.atomic
def role_remove(*, user: User, role: Role) -> User:
    """Take a role from a user; a role the user does not hold is 404."""
    deleted, _ = UserRole.objects.filter(user=user, role=role).delete()
    if not deleted:
        raise NotFound("This user does not hold this role.")
    return user


@transaction.atomic
def user_tier_set(*, user: User, tier: Tier) -> User:
    """Move a user to another tier."""
    user.tier = tier
    user.save(update_fields=["tier"])
    return user


# ------------------------------------------------------------------------------
# API keys
# ------------------------------------------------------------------------------
def _validate_scopes(scopes: list[str]) -> list[str]:
    if not scopes:
        raise ValidationError("Give at least one scope.", details={"scopes": ["Give at least one scope, or \"*\" for full access."]})
    known = scope_names()
    unknown = sorted(set(scopes) - {*known, "*"})
    if unknown:
        raise ValidationError(
            f"Unknown scopes: {', '.join(unknown)}.",
            details={"scopes": [f"Unknown scope {scope!r}; known: *, {', '.join(known)}." for scope in unknown]},
        )
    if "*" in scopes and len(set(scopes)) > 1:
        # A key meant to be narrow must never silently become a full-access key.
        raise ValidationError(
            '"*" (full access) cannot be combined with other scopes.',
            details={"scopes": ['Choose "*" alone for full access, or a list of scopes without "*".']},
        )
    return ["*"] if "*" in scopes else sorted(set(scopes))


@transaction.atomic
def api_key_create(*, user: User, name: str, scopes: list[str], expires_in_days: int | None = None,
                   rate_limit: int | None = None) -> tuple[ApiKey, str]:
    """Make a key; returns it with the full secret, which is never stored and never shown again."""
    scopes = _validate_scopes(scopes)
    raw = KEY_PREFIX + secrets.token_urlsafe(32)
    key = ApiKey.objects.create(
        user=user,
        name=name,
        prefix=raw[:KEY_PREFIX_LENGTH],
        digest=hashlib.sha256(raw.encode()).hexdigest(),
        scopes=scopes,
        rate_limit=rate_limit,
        expires_at=timezone.now() + timedelta(days=expires_in_days) if expires_in_days else None,
    )
    return key, raw


@transaction.atomic
def api_key_revoke(*, key: ApiKey) -> ApiKey:
    """Revoke a key: every later request with it answers 401."""
    if key.revoked_at is None:
        key.revoked_at = timezone.now()
        key.save(update_fields=["revoked_at"])
    return key


def api_key_touch(*, key: ApiKey) -> None:
    """Record that a key was used, at most once a minute (a conditional UPDATE, no read-modify-write)."""
    now = timezone.now()
    if key.last_used_at is not None and now - key.last_used_at < KEY_TOUCH_INTERVAL:
        return
    ApiKey.objects.filter(pk=key.pk).filter(Q(last_used_at__isnull=True) | Q(last_used_at__lt=now - KEY_TOUCH_INTERVAL)).update(last_used_at=now)
    key.last_used_at = now


# ------------------------------------------------------------------------------
# Password reset (Django's one-time tokens: they hash the password, so a used link stops working)
# ------------------------------------------------------------------------------
PASSWORD_RESET_PATH = "/password-reset/{uid}/{token}/"


def password_reset_request(*, email: str) -> None:
    """Mail a reset link to the active account with this email, if there is one (the caller is never told)."""
    user = User.objects.filter(email=email.strip().lower(), is_active=True).first()
    if user is not None:
        # Mailed from the worker: the answer takes as long whether the address exists or not.
        enqueue("apps.accounts.tasks.password_reset_mail_send", str(user.pk), on_commit=False)


def password_reset_link(*, user: User) -> str:
    """The one-time reset link of a user, valid PASSWORD_RESET_TIMEOUT seconds."""
    uid = urlsafe_base64_encode(force_bytes(user.pk))
    token = default_token_generator.make_token(user)
    return settings.SITE_URL.rstrip("/") + PASSWORD_RESET_PATH.format(uid=uid, token=token)


def password_reset_mail_send(*, user_id: str) -> None:
    """Send the reset mail through the configured email backend."""
    from django.core.mail import send_mail

    user = User.objects.filter(pk=user_id, is_active=True).first()
    if user is None:
        return
    minutes = settings.PASSWORD_RESET_TIMEOUT // 60
    body = (
        "Someone asked to reset the password of your Nexus account.\n\n"
        f"Choose a new password here (the link works once, for {minutes} minutes):\n{password_reset_link(user=user)}\n\n"
        "If it was not you, ignore this mail: your password stays as it is."
    )
    send_mail("Reset your Nexus password", body, None, [user.email])


def _user_from_uid(uid: str) -> User | None:
    try:
        return User.objects.filter(pk=force_str(urlsafe_base64_decode(uid)), is_active=True).first()
    except (ValueError, TypeError, OverflowError, DjangoValidationError):
        return None


def password_reset_token_valid(*, uid: str, token: str) -> bool:
    """Whether a reset link is still usable (for the page that asks for the new password)."""
    user = _user_from_uid(uid)
    return user is not None and default_token_generator.check_token(user, token)


@transaction.atomic
def password_reset_confirm(*, uid: str, token: str, new_password: str) -> User:
    """Set a new password from a reset link; the link then stops working and every login is revoked."""
    user = _user_from_uid(uid)
    if user is None or not default_token_generator.check_token(user, token):
        raise ValidationError("This reset link is invalid, expired or already used.", details={"token": ["Invalid or expired."]})
    errors = _password_errors(new_password, user)
    if errors:
        raise ValidationError(f"Invalid input: {errors[0]}", details={"new_password": errors})
    user.set_password(new_password)
    user.save(update_fields=["password"])
    # Refresh tokens carry a hash of the old password (CHECK_REVOKE_TOKEN) and sessions one too (Django's
    # session auth hash), so both stop working now; the families are ended too, for the record.
    RefreshFamily.objects.filter(user=user, revoked_at__isnull=True).update(revoked_at=timezone.now(), revoked_reason="password-reset")
    _sessions_end(user=user)
    return user


def _sessions_end(*, user: User) -> None:
    """Delete the user's stored sessions (database sessions; other engines rely on the session auth hash)."""
    if settings.SESSION_ENGINE != "django.contrib.sessions.backends.db":
        return
    from django.contrib.sessions.models import Session

    stale = [s.pk for s in Session.objects.filter(expire_date__gt=timezone.now()).iterator()
             if s.get_decoded().get("_auth_user_id") == str(user.pk)]
    Session.objects.filter(pk__in=stale).delete()


# ------------------------------------------------------------------------------
# JWT pairs (simplejwt with its blacklist; a family id links one login's rotated tokens)
# ------------------------------------------------------------------------------
def _pair(refresh: RefreshToken) -> dict[str, Any]:
    access = refresh.access_token
    return {
        "access_token": str(access),
        "refresh_token": str(refresh),
        "token_type": "bearer",
        "expires_in": int(jwt_settings.ACCESS_TOKEN_LIFETIME.total_seconds()),
    }


@transaction.atomic
def token_pair_issue(*, user: User) -> dict[str, Any]:
    """Log in: a new refresh token family and its first access/refresh pair."""
    family = RefreshFamily.objects.create(user=user)
    refresh = RefreshToken.for_user(user)
    refresh[FAMILY_CLAIM] = str(family.id)
    update_last_login(type(user), user)
    return _pair(refresh)


class _RefreshTokenNoBlacklist(RefreshToken):
    """A refresh token whose signature, expiry and type are verified, but not its blacklist entry.

    `token_refresh` checks the blacklist itself, to tell a reused token (revoke the family) from
    a forged or expired one.
    """

    def verify(self, *args: Any, **kwargs: Any) -> None:
        Token.verify(self, *args, **kwargs)


def token_refresh(*, raw: str) -> dict[str, Any]:
    """Rotate: a new pair for a valid refresh token; reusing a rotated one revokes its whole family."""
    try:
        token = _RefreshTokenNoBlacklist(raw)  # type: ignore[arg-type]  # simplejwt annotates the token as a Token; it takes the raw string
    except TokenError:
        raise InvalidRefreshToken() from None
    family_id = token.get(FAMILY_CLAIM)
    with transaction.atomic():
        # The row lock serialises concurrent refreshes of one login, so exactly one of two
        # simultaneous uses of a token wins and the other counts as reuse.
        family = RefreshFamily.objects.select_for_update().filter(pk=family_id).first() if family_id else None
        if family is None or family.revoked_at is not None:
            raise InvalidRefreshToken()
        if not BlacklistedToken.objects.filter(token__jti=token[jwt_settings.JTI_CLAIM]).exists():
            user = User.objects.filter(pk=token.get(jwt_settings.USER_ID_CLAIM), is_active=True).first()
            if user is None or token.get(jwt_settings.REVOKE_TOKEN_CLAIM) != get_md5_hash_password(user.password):
                raise InvalidRefreshToken()
            token.blacklist()
            new = RefreshToken.for_user(user)
            new[FAMILY_CLAIM] = str(family.id)
            return _pair(new)
        # A rotated token came back: someone else holds a copy. Revoke every token of this login.
        family.revoked_at, family.revoked_reason = timezone.now(), "reuse"
        family.save(update_fields=["revoked_at", "revoked_reason"])
    # Raised after the block so the revocation is committed.
    raise InvalidRefreshToken("This refresh token was already used; its session has been revoked.")


@transaction.atomic
def token_revoke(*, raw: str) -> None:
    """Log out: blacklist the refresh token and end its family; an unusable token is ignored."""
    try:
        token = _RefreshTokenNoBlacklist(raw)  # type: ignore[arg-type]  # simplejwt annotates the token as a Token; it takes the raw string
    except TokenError:
        return
    token.blacklist()
    family_id = token.get(FAMILY_CLAIM)
    if family_id:
        RefreshFamily.objects.filter(pk=family_id, revoked_at__isnull=True).update(revoked_at=timezone.now(), revoked_reason="logout")


# ------------------------------------------------------------------------------
# Workspaces and members
# ------------------------------------------------------------------------------
def _require_writer(*, workspace: Workspace, user: User) -> str:
    role = WorkspaceMember.objects.filter(workspace=workspace, user=user).values_list("role", flat=True).first()
    if role is None:
        raise NotFound()
    if role not in (WorkspaceRole.OWNER, WorkspaceRole.ADMIN):
        raise Forbidden("Only the workspace's owners and admins can do this.")
    return role


@transaction.atomic
def workspace_create(*, user: User, name: str, description: str = "") -> Workspace:
    """Create a workspace; the creator is its owner."""
    workspace = Workspace.objects.create(name=name, description=description, created_by=user)
    WorkspaceMember.objects.create(workspace=workspace, user=user, role=WorkspaceRole.OWNER)
    return workspace


@transaction.atomic
def workspace_update(*, workspace: Workspace, user: User, name: str | None = None, description: str | None = None) -> Workspace:
    """Rename or describe a workspace (owners and admins)."""
    _require_writer(workspace=workspace, user=user)
    if name is not None:
        workspace.name = name
    if description is not None:
        workspace.description = description
    workspace.save()
    return workspace


@transaction.atomic
def workspace_delete(*, workspace: Workspace, user: User) -> None:
    """Delete a workspace (owners only: it takes every member's access to shared resources with it)."""
    role = _require_writer(workspace=workspace, user=user)
    if role != WorkspaceRole.OWNER:
        raise Forbidden("Only the workspace's owners can delete it.")
    workspace.delete()


@transaction.atomic
def workspace_member_add(*, workspace: Workspace, user: User, email: str, role: str) -> WorkspaceMember:
    """Add an existing account as a member at once (internal: fixtures and tests; people are invited).

    Its answer tells whether an account has the email, so no public route calls it: the API and
    the pages invite by email instead (`invitation_create`).
    """
    actor_role = _require_writer(workspace=workspace, user=user)
    if role == WorkspaceRole.OWNER and actor_role != WorkspaceRole.OWNER:
        raise Forbidden("Only owners can add owners.")
    new_user = User.objects.filter(email__iexact=email.strip(), is_active=True).first()
    if new_user is None:
        raise ValidationError("No account has this email.", details={"email": ["No account has this email."]})
    if WorkspaceMember.objects.filter(workspace=workspace, user=new_user).exists():
        raise AlreadyMember()
    return WorkspaceMember.objects.create(workspace=workspace, user=new_user, role=role)


@transaction.atomic
def workspace_member_remove(*, workspace: Workspace, user: User, member_user_id: UUID | str) -> None:
    """Remove a member (owners and admins, or the member leaving); the last owner cannot go (409)."""
    # Lock the workspace's memberships so two removals cannot both pass the last-owner check.
    members = list(WorkspaceMember.objects.select_for_update().filter(workspace=workspace))
    actor = next((m for m in members if m.user_id == user.pk), None)
    if actor is None:
        raise NotFound()
    target = next((m for m in members if str(m.user_id) == str(member_user_id)), None)
    if target is None:
        raise NotFound("This user is not a member of the workspace.")
    if target.user_id != user.pk:
        if actor.role not in (WorkspaceRole.OWNER, WorkspaceRole.ADMIN):
            raise Forbidden("Only the workspace's owners and admins can remove members.")
        if target.role == WorkspaceRole.OWNER and actor.role != WorkspaceRole.OWNER:
            raise Forbidden("Only owners can remove owners.")
    if target.role == WorkspaceRole.OWNER and sum(1 for m in members if m.role == WorkspaceRole.OWNER) == 1:
        raise LastOwner()
    target.delete()


# ------------------------------------------------------------------------------
# Invitations (people join a workspace by a mailed link, so no answer tells who has an account)
# ------------------------------------------------------------------------------
INVITATION_PATH = "/invitations/{token}/"


def invitation_token_digest(raw: str) -> str:
    """The stored SHA-256 digest of an invitation token."""
    return hashlib.sha256(raw.encode()).hexdigest()


def _invitation_token_new(invitation: WorkspaceInvitation) -> str:
    """Give the invitation a new token (earlier links stop working) and return it raw."""
    raw = secrets.token_urlsafe(32)
    invitation.token_digest = invitation_token_digest(raw)
    return raw


@transaction.atomic
def invitation_create(*, workspace: Workspace, user: User, email: str, role: str) -> WorkspaceInvitation:
    """Invite an address (owners and admins; only owners invite owners) and mail it the link.

    No account is looked up: the answer and its timing are the same whether the address has an
    account, belongs to a member already, or to nobody. Inviting an address with an open
    invitation re-sends that one (a new link, the new role, a new expiry) instead of adding another.
    """
    actor_role = _require_writer(workspace=workspace, user=user)
    if role == WorkspaceRole.OWNER and actor_role != WorkspaceRole.OWNER:
        raise Forbidden("Only owners can invite owners.")
    email = User.objects.normalize_email(email).strip().lower()
    now = timezone.now()
    expires_at = now + timedelta(days=settings.WORKSPACE_INVITATION_DAYS)
    open_rows = WorkspaceInvitation.objects.select_for_update().filter(
        workspace=workspace, email=email, accepted_at__isnull=True, revoked_at__isnull=True,
    )
    invitation = open_rows.first()
    if invitation is None:
        invitation = WorkspaceInvitation(workspace=workspace, email=email)
        try:
            with transaction.atomic():
                _invitation_fill(invitation, role=role, user=user, now=now, expires_at=expires_at)
                invitation.save()
        except IntegrityError:  # a concurrent invitation of the same address won the race: re-send that one
            invitation = open_rows.get()
            _invitation_fill(invitation, role=role, user=user, now=now, expires_at=expires_at)
            invitation.save()
    else:
        _invitation_fill(invitation, role=role, user=user, now=now, expires_at=expires_at)
        invitation.save()
    # The worker mints the link's token as it mails it, so the raw token is never stored or queued.
    enqueue("apps.accounts.tasks.invitation_mail_send", str(invitation.pk))
    return invitation


def _invitation_fill(invitation: WorkspaceInvitation, *, role: str, user: User, now: Any, expires_at: Any) -> None:
    invitation.role, invitation.invited_by, invitation.created_at, invitation.expires_at = role, user, now, expires_at
    # A placeholder token nobody knows until the mail is sent; a re-send also kills the old link here.
    _invitation_token_new(invitation)


def invitation_link(*, raw_token: str) -> str:
    """The public link of an invitation token."""
    return settings.SITE_URL.rstrip("/") + INVITATION_PATH.format(token=raw_token)


@transaction.atomic
def invitation_mail_send(*, invitation_id: str) -> None:
    """Mint the invitation's token and mail its link; a revoked, accepted or expired invitation is not mailed."""
    from django.core.mail import send_mail

    invitation = (
        WorkspaceInvitation.objects.select_for_update(of=("self",)).select_related("workspace", "invited_by")
        .filter(pk=invitation_id).first()
    )
    if invitation is None or invitation.status != InvitationStatus.PENDING:
        return
    raw = _invitation_token_new(invitation)
    invitation.save(update_fields=["token_digest"])
    inviter = invitation.invited_by.full_name if invitation.invited_by else "Someone"
    days = settings.WORKSPACE_INVITATION_DAYS
    body = (
        f"{inviter} invited you to the workspace \u201c{invitation.workspace.name}\u201d on Nexus, as {invitation.role}.\n\n"
        f"Accept the invitation here (the link works for {days} day{'s' if days != 1 else ''}):\n{invitation_link(raw_token=raw)}\n\n"
        f"Log in, or create an account, with this address ({invitation.email}) to accept it. "
        "If you did not expect this invitation, ignore this mail."
    )
    send_mail(f"You are invited to {invitation.workspace.name} on Nexus", body, None, [invitation.email])


@transaction.atomic
def invitation_revoke(*, invitation: WorkspaceInvitation, user: User | None) -> WorkspaceInvitation:
    """Revoke an open invitation: its link stops working.

    Owners and admins may (only owners revoke an invitation to be an owner); `user=None` is the
    platform's administrators in the Django admin.
    """
    if user is not None:
        actor_role = _require_writer(workspace=invitation.workspace, user=user)
        if invitation.role == WorkspaceRole.OWNER and actor_role != WorkspaceRole.OWNER:
            raise Forbidden("Only owners can revoke an invitation to be an owner.")
    if invitation.accepted_at is not None:
        raise InvitationClosed("This invitation was already accepted.")
    if invitation.revoked_at is None:
        invitation.revoked_at = timezone.now()
        invitation.save(update_fields=["revoked_at"])
    return invitation


def invitation_for_token(*, raw_token: str) -> WorkspaceInvitation:
    """The invitation a link's token names (with its workspace), whatever its status; 404 when none."""
    invitation = (
        WorkspaceInvitation.objects.select_related("workspace")
        .filter(token_digest=invitation_token_digest(raw_token)).first()
    )
    if invitation is None:
        raise InvitationNotFound()
    return invitation


def invitation_check(*, invitation: WorkspaceInvitation, user: User) -> None:
    """Raise why `user` cannot accept the invitation now (closed, or sent to another address)."""
    if invitation.accepted_at is not None:
        if invitation.accepted_by_id == user.pk:
            return
        raise InvitationClosed("This invitation was already used.")
    if invitation.revoked_at is not None:
        raise InvitationClosed("This invitation was revoked. Ask the workspace's owners for a new one.")
    if invitation.expires_at <= timezone.now():
        raise InvitationClosed("This invitation has expired. Ask the workspace's owners for a new one.")
    if user.email.strip().lower() != invitation.email:
        raise InvitationWrongAccount()


@transaction.atomic
def invitation_accept(*, raw_token: str, user: User) -> WorkspaceMember:
    """Join the workspace with the invitation's role: the signed-in account must have the invited address.

    Accepting again as the same person is a no-op that returns the membership; someone who is a
    member already keeps their role (the invitation is marked used, no second membership is made).
    """
    found = invitation_for_token(raw_token=raw_token)
    # Lock the row so two simultaneous accepts of one link make one membership.
    invitation = WorkspaceInvitation.objects.select_for_update().get(pk=found.pk)
    invitation_check(invitation=invitation, user=user)
    member, _created = WorkspaceMember.objects.get_or_create(
        workspace_id=invitation.workspace_id, user=user, defaults={"role": invitation.role},
    )
    if invitation.accepted_at is None:
        invitation.accepted_at, invitation.accepted_by = timezone.now(), user
        invitation.save(update_fields=["accepted_at", "accepted_by"])
    return member
