"""The sample app's API (mounted under /api/v1/)."""
from django.urls import path

from . import views

urlpatterns = [path("sample/ping", views.PingApi.as_view(), name="sample-ping")]
