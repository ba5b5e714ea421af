"""Dashboard pages."""
from __future__ import annotations

from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from apps.accounts.forms import LoginForm
from apps.core.health import health_report


@login_required
def home(request: HttpRequest) -> HttpResponse:
    """The landing page after sign-in: what is running and where to go next."""
    from apps.accounts.selectors import user_has_tool
    from apps.llm.selectors import providers_without_keys

    is_admin = user_has_tool(request.user, "admin")
    return render(request, "dashboard/home.html", {
        "health": health_report(),
        "is_admin": is_admin,
        # An admin of a fresh install learns how to connect a real model.
        "needs_provider": is_admin and providers_without_keys(),
    })


class LoginView(auth_views.LoginView):
    """Email and password sign-in for the dashboard and the Django admin."""

    template_name = "registration/login.html"
    redirect_authenticated_user = True
    authentication_form = LoginForm


class LogoutView(auth_views.LogoutView):
    """Sign out (POST only, with CSRF)."""
