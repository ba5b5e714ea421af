"""The Django admin's model form: capabilities and tiers as checkboxes; the knowledge models are in the admin."""
from __future__ import annotations

import re

import pytest
from django.test import Client

from apps.knowledge import services as knowledge_services
from apps.llm.models import LlmModel, ProviderConnection
from tests.factories import AdminUserFactory, UserFactory

pytestmark = pytest.mark.django_db


def _admin() -> Client:
    client = Client()
    client.force_login(AdminUserFactory(is_staff=True, is_superuser=True))  # the Django admin is for staff
    return client


def test_capabilities_and_tiers_are_checkboxes_and_save_as_lists() -> None:
    from apps.accounts.seeds import seed

    seed()
    client = _admin()
    page = client.get("/admin/llm/llmmodel/add/").content.decode()
    assert re.search(r'type="checkbox" name="capabilities" value="vision"', page)
    assert re.search(r'type="checkbox" name="tiers" value="pro"', page)
    assert "None ticked: every tier may use the model." in page

    provider = ProviderConnection.objects.create(name="p", kind="local")
    response = client.post("/admin/llm/llmmodel/add/", {
        "name": "picked", "provider": str(provider.pk), "provider_model": "m", "capabilities": ["chat", "vision"],
        "input_cost": "1", "output_cost": "2", "audio_cost_per_minute": "0", "context_window": "8192", "max_output_tokens": "1024",
        "tiers": ["pro", "enterprise"], "active": "on",
    })
    assert response.status_code == 302, response.content.decode()[:2000]
    model = LlmModel.objects.get(name="picked")
    assert model.capabilities == ["chat", "vision"] and sorted(model.tiers) == ["enterprise", "pro"]
    page = client.get(f"/admin/llm/llmmodel/{model.pk}/change/").content.decode()
    assert re.search(r'name="capabilities" value="vision"[^>]*checked', page)


def test_the_knowledge_models_are_in_the_admin() -> None:
    owner = UserFactory()
    repository = knowledge_services.repository_create(user=owner, name="Manuals")
    client = _admin()
    index = client.get("/admin/").content.decode()
    for path in ("/admin/knowledge/repository/", "/admin/knowledge/document/", "/admin/knowledge/chunk/",
                 "/admin/knowledge/uploadticket/"):
        assert path in index
        assert client.get(path).status_code == 200
    assert "Manuals" in client.get("/admin/knowledge/repository/").content.decode()
    assert client.get(f"/admin/knowledge/repository/{repository.pk}/change/").status_code == 200  # viewable, not editable
