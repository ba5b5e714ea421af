"""Agents pages, and the platform's A2A agent cards at the root (/.well-known/)."""
from django.urls import path

from . import views

app_name = "agents"

urlpatterns = [
    path(".well-known/agent-card.json", views.agent_card_v1, name="agent-card"),
    path(".well-known/agent.json", views.agent_card_v03, name="agent-card-v03"),
    path("agents/", views.marketplace_page, name="marketplace"),
    path("agents/new/", views.edit_page, name="new"),
    path("agents/<uuid:agent_id>/", views.agent_page, name="agent"),
    path("agents/<uuid:agent_id>/edit/", views.edit_page, name="edit"),
    path("agents/tasks/<uuid:task_id>/", views.task_page, name="task"),
]
