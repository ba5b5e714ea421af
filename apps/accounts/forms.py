"""Forms of the accounts dashboard pages (parsing only; the services decide)."""
from __future__ import annotations

from typing import Any

from django import forms
from django.contrib.auth.forms import AuthenticationForm

from apps.core.registry import scope_names, tool_scopes

from .models import WorkspaceRole


class LoginForm(AuthenticationForm):
    """The dashboard's email and password form; refused when the install requires single sign-on."""

    def confirm_login_allowed(self, user: Any) -> None:
        """Django's checks, then the SSO rule."""
        super().confirm_login_allowed(user)
        from apps.core.errors import ApplicationError

        from .services import password_login_check

        try:
            password_login_check(user=user)
        except ApplicationError as error:
            raise forms.ValidationError(error.message, code="sso_required") from None


class SignupForm(forms.Form):
    """Create an account."""

    email = forms.EmailField(max_length=254)
    password = forms.CharField(max_length=128, strip=False, widget=forms.PasswordInput)
    first_name = forms.CharField(max_length=150, required=False)
    last_name = forms.CharField(max_length=150, required=False)


class PasswordResetForm(forms.Form):
    """Ask for a password reset link."""

    email = forms.EmailField(max_length=254)


class PasswordResetConfirmForm(forms.Form):
    """Choose a new password from a reset link."""

    new_password = forms.CharField(label="New password", max_length=128, strip=False, widget=forms.PasswordInput)


class ProfileForm(forms.Form):
    """Change the names on the profile."""

    first_name = forms.CharField(max_length=150, required=False)
    last_name = forms.CharField(max_length=150, required=False)


class PasswordForm(forms.Form):
    """Change the password (needs the current one)."""

    current_password = forms.CharField(max_length=128, strip=False, widget=forms.PasswordInput)
    password = forms.CharField(label="New password", max_length=128, strip=False, widget=forms.PasswordInput)


def _scope_choices(held_tools: set[str] | None = None) -> list[tuple[str, str]]:
    """`*` and the scopes the apps declare; given the user's tools, only scopes of those tools or of no tool."""
    covering: dict[str, set[str]] = {}
    for tool, scope in tool_scopes().items():
        covering.setdefault(scope, set()).add(tool)
    scopes = [
        scope for scope in scope_names()
        if held_tools is None or scope not in covering or covering[scope] & held_tools
    ]
    return [("*", "* (full access: every feature you hold)"), *[(scope, scope) for scope in scopes]]


class ApiKeyForm(forms.Form):
    """Create an API key."""

    name = forms.CharField(max_length=100)
    scopes = forms.MultipleChoiceField(
        choices=_scope_choices,
        widget=forms.CheckboxSelectMultiple,
        # Nothing ticked: the person chooses what the key may do ("*" alone, or a list).
        help_text='"*" alone gives full access; otherwise the key can call only the features ticked.',
    )
    expires_in_days = forms.IntegerField(min_value=1, max_value=3650, required=False, label="Expires after (days)")
    rate_limit = forms.IntegerField(min_value=1, max_value=100_000, required=False, label="Rate limit (requests/min)")

    def __init__(self, *args: Any, held_tools: set[str] | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields["scopes"]
        assert isinstance(field, forms.MultipleChoiceField)  # declared above
        # A key cannot be granted a feature the user's roles lack, so the picker does not offer one.
        field.choices = _scope_choices(held_tools)


class WorkspaceForm(forms.Form):
    """Create or rename a workspace."""

    name = forms.CharField(max_length=120)
    description = forms.CharField(max_length=500, required=False)


class MemberForm(forms.Form):
    """Invite someone to a workspace by email."""

    email = forms.EmailField(label="Email address", max_length=254)
    role = forms.ChoiceField(choices=WorkspaceRole.choices, initial=WorkspaceRole.MEMBER)
