"""Root URLs: the dashboard, the Django admin, health, and every app's API under /api/v1/."""
from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from apps.core.api.views import HealthApi

api_v1 = [
    path("", include("apps.core.api.urls")),
    path("", include("apps.accounts.api.urls")),
    path("", include("apps.llm.api.urls")),
    path("", include("apps.knowledge.api.urls")),
    path("", include("apps.billing.api.urls")),
    path("", include("apps.chat.api.urls")),
    path("", include("apps.architect.api.urls")),
    path("", include("apps.gateway.api.urls")),
    path("schema", SpectacularAPIView.as_view(), name="schema"),
    path("docs", SpectacularSwaggerView.as_view(url_name="schema"), name="docs"),
]

urlpatterns = [
    path("health", HealthApi.as_view(), name="health"),
    path("api/v1/", include(api_v1)),
    path("admin/", admin.site.urls),
    path("", include("apps.accounts.urls")),  # sign-up, profile, API keys, workspaces
    path("", include("apps.knowledge.urls")),  # repositories, documents, retrieval debugger
    path("", include("apps.chat.urls")),  # chat and compare pages
    path("", include("apps.billing.urls")),  # the billing page and its Stripe redirects
    path("", include("apps.architect.urls")),  # tool builder, run form, live run page
    path("", include("apps.dashboard.urls")),
]


handler404 = "apps.core.views.handler404"
handler500 = "apps.core.views.handler500"
