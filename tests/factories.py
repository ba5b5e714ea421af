"""factory_boy factories shared by the test suite."""
from __future__ import annotations

import factory

from apps.accounts.models import User


class UserFactory(factory.django.DjangoModelFactory):
    """A user with a unique email and the password `correct-horse-battery`."""

    class Meta:
        model = User
        skip_postgeneration_save = True

    email = factory.Sequence(lambda n: f"user{n}@example.com")
    first_name = factory.Faker("first_name")
    last_name = factory.Faker("last_name")
    password = factory.PostGenerationMethodCall("set_password", "correct-horse-battery")

    @factory.post_generation
    def _save(obj, create, extracted, **kwargs):  # type: ignore[no-untyped-def]
        if create:
            obj.save()


class AdminUserFactory(UserFactory):
    """A user who also holds the `admin` role (every tool)."""

    @factory.post_generation
    def _admin_role(obj, create, extracted, **kwargs):  # type: ignore[no-untyped-def]
        if create:
            from apps.accounts.models import Role, UserRole
            from apps.accounts.seeds import DEFAULT_ROLES

            role, _ = Role.objects.get_or_create(name="admin", defaults=DEFAULT_ROLES["admin"])
            UserRole.objects.get_or_create(user=obj, role=role)


class WorkspaceFactory(factory.django.DjangoModelFactory):
    """A workspace; pass `owner=` to make its owner (else a new user)."""

    class Meta:
        model = "accounts.Workspace"
        skip_postgeneration_save = True

    name = factory.Sequence(lambda n: f"Workspace {n}")

    @factory.post_generation
    def owner(obj, create, extracted, **kwargs):  # type: ignore[no-untyped-def]
        if create:
            from apps.accounts.models import WorkspaceMember

            WorkspaceMember.objects.create(workspace=obj, user=extracted or UserFactory(), role="owner")
