"""Accounts: the custom user (email login, UUID ids), tiers, roles and tools, workspaces, API keys."""
from __future__ import annotations

import uuid
from typing import Any

from django.contrib.auth.base_user import AbstractBaseUser, BaseUserManager
from django.contrib.auth.models import PermissionsMixin
from django.contrib.postgres.fields import ArrayField
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import models
from django.db.models.functions import Lower
from django.utils import timezone

from apps.core.registry import scope_names, tool_names


class UserManager(BaseUserManager["User"]):
    """Creates users by email; emails are stored lower-cased so logins are case-insensitive."""

    use_in_migrations = True

    def _create_user(self, email: str, password: str | None, **extra: Any) -> User:
        if not email:
            raise ValueError("An email address is required.")
        user = self.model(email=self.normalize_email(email).lower(), **extra)
        user.set_password(password)
        user.save(using=self._db)
        return user

    def create_user(self, email: str, password: str | None = None, **extra: Any) -> User:
        """A regular user."""
        extra.setdefault("is_staff", False)
        extra.setdefault("is_superuser", False)
        return self._create_user(email, password, **extra)

    def create_superuser(self, email: str, password: str | None = None, **extra: Any) -> User:
        """A user with every permission and access to the Django admin."""
        extra.setdefault("is_staff", True)
        extra.setdefault("is_superuser", True)
        if not extra["is_staff"] or not extra["is_superuser"]:
            raise ValueError("A superuser must have is_staff and is_superuser.")
        return self._create_user(email, password, **extra)


class User(AbstractBaseUser, PermissionsMixin):
    """A person who signs in with an email address."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    email = models.EmailField("email address", max_length=254, unique=True)
    first_name = models.CharField(max_length=150, blank=True)
    last_name = models.CharField(max_length=150, blank=True)
    is_staff = models.BooleanField(default=False, help_text="Can log into the Django admin.")
    is_active = models.BooleanField(default=True)
    date_joined = models.DateTimeField(default=timezone.now)
    # A new user is on the free tier; the row is seeded by a migration and re-ensured on user creation.
    tier = models.ForeignKey("accounts.Tier", on_delete=models.PROTECT, default="free", related_name="users")
    roles = models.ManyToManyField("accounts.Role", through="accounts.UserRole", blank=True, related_name="users")

    objects = UserManager()

    USERNAME_FIELD = "email"
    EMAIL_FIELD = "email"
    REQUIRED_FIELDS = []

    class Meta:
        ordering = ["email"]
        constraints = [models.UniqueConstraint(Lower("email"), name="accounts_user_email_ci_unique")]

    def __str__(self) -> str:
        return self.email

    @property
    def full_name(self) -> str:
        """First and last name, or the email when both are empty."""
        return f"{self.first_name} {self.last_name}".strip() or self.email


def __getattr__(name: str) -> Any:
    # TOOLS (a role can grant; a route of a tool the caller's roles lack answers 403 FORBIDDEN) and SCOPES
    # (an API key can carry; "*" covers every one) are declared by the apps: apps.core.registry.
    if name == "TOOLS":
        return tool_names()
    if name == "SCOPES":
        return scope_names()
    raise AttributeError(name)


class Tier(models.Model):
    """A service tier (free, pro, enterprise): monthly credits, price and per-user limits, admin-editable."""

    slug = models.SlugField(primary_key=True, max_length=40)
    name = models.CharField(max_length=80)
    monthly_credits = models.PositiveIntegerField(default=0)
    price_cents = models.PositiveIntegerField(default=0)
    currency = models.CharField(max_length=3, default="usd")
    position = models.PositiveSmallIntegerField(default=0, help_text="Order in plan lists, cheapest first.")
    # Per-user limits; every app asks `apps.accounts.policy.tier_policy(user)` rather than inventing its own.
    api_rpm = models.PositiveIntegerField(default=600, help_text="Requests per minute on any authenticated /api/v1/ route.")
    chat_rpm = models.PositiveIntegerField(default=100)
    chat_tokens_per_hour = models.PositiveIntegerField(default=100_000)
    chat_concurrent = models.PositiveSmallIntegerField(default=3)
    compare_rpm = models.PositiveIntegerField(default=20)
    compare_concurrent = models.PositiveSmallIntegerField(default=2)
    architect_rpm = models.PositiveIntegerField(default=10)
    architect_prompts_per_hour = models.PositiveIntegerField(default=50)
    architect_concurrent = models.PositiveSmallIntegerField(default=1)
    upload_rpm = models.PositiveIntegerField(default=10)
    upload_max_bytes = models.PositiveBigIntegerField(default=10 * 1024 * 1024)

    class Meta:
        ordering = ["position", "slug"]

    def __str__(self) -> str:
        return self.name


class Role(models.Model):
    """A named set of tools; a user's tools are the union over their roles."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    name = models.SlugField(max_length=60, unique=True)
    description = models.CharField(max_length=200, blank=True)
    tools = ArrayField(models.CharField(max_length=40), default=list, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        unknown = sorted(set(self.tools) - set(tool_names()))
        if unknown:
            raise DjangoValidationError({"tools": f"Unknown tools: {', '.join(unknown)}. Known: {', '.join(tool_names())}."})


class UserRole(models.Model):
    """That a user holds a role (the through table of User.roles)."""

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="role_links")
    role = models.ForeignKey(Role, on_delete=models.CASCADE, related_name="user_links")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "role"], name="accounts_userrole_unique")]

    def __str__(self) -> str:
        return f"{self.user} is {self.role}"


class Workspace(models.Model):
    """A group of users that resources can be shared with."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    name = models.CharField(max_length=120)
    description = models.CharField(max_length=500, blank=True)
    created_by = models.ForeignKey(User, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name", "id"]

    def __str__(self) -> str:
        return self.name


class WorkspaceRole(models.TextChoices):
    """What a member may do in a workspace."""

    OWNER = "owner", "Owner"
    ADMIN = "admin", "Admin"
    MEMBER = "member", "Member"


# Roles that may change a workspace, its members, and resources shared with it.
WORKSPACE_WRITERS: tuple[str, ...] = (WorkspaceRole.OWNER, WorkspaceRole.ADMIN)


class WorkspaceMember(models.Model):
    """A user's membership of a workspace, with their role there."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="workspace_memberships")
    role = models.CharField(max_length=10, choices=WorkspaceRole.choices, default=WorkspaceRole.MEMBER)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at", "id"]
        constraints = [models.UniqueConstraint(fields=["workspace", "user"], name="accounts_member_unique")]
        indexes = [models.Index(fields=["user", "workspace"], name="accounts_member_user_idx")]

    def __str__(self) -> str:
        return f"{self.user} in {self.workspace} ({self.role})"


class ApiKey(models.Model):
    """An `nxk_` API key: only its SHA-256 digest is stored, with a visible prefix for people."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="api_keys")
    name = models.CharField(max_length=100)
    prefix = models.CharField(max_length=16, help_text="The first characters of the key, to recognise it.")
    # SHA-256 of the whole key: keys carry 256 random bits, so a fast digest is as safe as a slow
    # hash here and lets every request find its key with one indexed lookup.
    digest = models.CharField(max_length=64, unique=True, editable=False)
    scopes = ArrayField(models.CharField(max_length=20), default=list)
    rate_limit = models.PositiveIntegerField(null=True, blank=True, help_text="Requests per minute; empty uses the tier's limit.")
    expires_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "id"]
        indexes = [models.Index(fields=["user", "-created_at"], name="accounts_apikey_user_idx")]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    @property
    def is_active(self) -> bool:
        """Neither revoked nor expired."""
        return self.revoked_at is None and (self.expires_at is None or self.expires_at > timezone.now())

    def allows(self, scope: str) -> bool:
        """Whether this key's scopes cover `scope` ("*" covers all; "billing" covers "billing:read")."""
        if "*" in self.scopes or scope in self.scopes:
            return True
        return scope == "billing:read" and "billing" in self.scopes


class RefreshFamily(models.Model):
    """One login's chain of rotated refresh tokens; reusing a rotated token revokes the whole chain."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="refresh_families")
    created_at = models.DateTimeField(auto_now_add=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    revoked_reason = models.CharField(max_length=40, blank=True)

    def __str__(self) -> str:
        return f"refresh family {self.id} of {self.user}"


class InvitationStatus(models.TextChoices):
    """Where an invitation stands (derived from its timestamps, never stored)."""

    PENDING = "pending", "Pending"
    ACCEPTED = "accepted", "Accepted"
    REVOKED = "revoked", "Revoked"
    EXPIRED = "expired", "Expired"


class WorkspaceInvitation(models.Model):
    """An invitation to join a workspace, mailed to an address; only a SHA-256 digest of its token is stored."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="invitations")
    email = models.EmailField(max_length=254, help_text="Lower-cased; whoever accepts must sign in with this address.")
    role = models.CharField(max_length=10, choices=WorkspaceRole.choices, default=WorkspaceRole.MEMBER)
    invited_by = models.ForeignKey(User, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    # SHA-256 of the token in the mailed link: tokens carry 256 random bits, so a fast digest is enough
    # and the link is found with one indexed lookup. Each (re-)send mints a new token.
    token_digest = models.CharField(max_length=64, unique=True, editable=False)
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()
    accepted_at = models.DateTimeField(null=True, blank=True)
    accepted_by = models.ForeignKey(User, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "id"]
        constraints = [
            # One open invitation per address and workspace: inviting again re-sends it.
            models.UniqueConstraint(
                fields=["workspace", "email"],
                condition=models.Q(accepted_at__isnull=True, revoked_at__isnull=True),
                name="accounts_invitation_pending_unique",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.email} to {self.workspace} ({self.role})"

    @property
    def status(self) -> str:
        """pending, accepted, revoked or expired."""
        if self.accepted_at is not None:
            return InvitationStatus.ACCEPTED
        if self.revoked_at is not None:
            return InvitationStatus.REVOKED
        if self.expires_at <= timezone.now():
            return InvitationStatus.EXPIRED
        return InvitationStatus.PENDING
