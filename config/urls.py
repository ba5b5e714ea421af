"""Root URLs: health, every app's API under /api/v1/, the Django admin, and every app's pages.

Apps declare their URL modules on their AppConfig (`api_urls`, `page_urls`; apps.core.registry).
"""
from django.contrib import admin
from django.templatetags.static import static
from django.urls import URLPattern, URLResolver, include, path
from django.views.generic.base import RedirectView
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerView

from apps.core.api.views import HealthApi
from apps.core.registry import api_url_modules, page_url_modules

api_v1: list[URLPattern | URLResolver] = [
    *(path("", include(module)) for module in api_url_modules()),
    path("schema", SpectacularAPIView.as_view(), name="schema"),
    path("docs", SpectacularSwaggerView.as_view(url_name="schema"), name="docs"),
    path("redoc", SpectacularRedocView.as_view(url_name="schema"), name="redoc"),
]

urlpatterns: list[URLPattern | URLResolver] = [
    path("health", HealthApi.as_view(), name="health"),
    # Browsers ask for /favicon.ico on pages that name no icon (the admin, the API docs): no 404 in their logs.
    path("favicon.ico", RedirectView.as_view(url=static("favicon.svg"), permanent=True), name="favicon"),
    path("api/v1/", include(api_v1)),
    path("admin/", admin.site.urls),
    path("sso/", include("allauth.urls")),  # single sign-on callbacks (django-allauth)
    *(path("", include(module)) for module in page_url_modules()),  # the dashboard's last
]


handler404 = "apps.core.views.handler404"
handler500 = "apps.core.views.handler500"
