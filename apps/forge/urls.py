"""Forge pages, and the deployed apps served at /apps/<slug>/."""
from django.urls import path

from . import views

app_name = "forge"

urlpatterns = [
    path("forge/", views.home_page, name="home"),
    path("forge/builds/<uuid:build_id>/", views.build_page, name="build"),
    path("apps/<slug:slug>/", views.app_file, name="app"),
    path("apps/<slug:slug>/<path:path>", views.app_file, name="app-file"),
]
