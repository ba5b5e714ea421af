"""Voice pages."""
from django.urls import path

from . import views

app_name = "voice"

urlpatterns = [
    path("voice/", views.home_page, name="home"),
]
