"""Agents pages, and the platform's A2A agent cards at the root (/.well-known/)."""
from django.urls import path

from . import views

app_name = "agents"

urlpatterns = [
    path(".well-known/agent-card.json", views.agent_card_v1, name="agent-card"),
    path(".well-known/agent.json", views.agent_card_v03, name="agent-card-v03"),
]
