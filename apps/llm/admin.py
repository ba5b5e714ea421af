"""Django admin for providers (write-only encrypted key), the model registry and usage records."""
from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from . import services
from .models import LlmModel, ProviderConnection, UsageRecord


class ProviderForm(forms.ModelForm):
    """The key is typed in, never shown back; leaving it empty keeps the stored one."""

    api_key = forms.CharField(required=False, widget=forms.PasswordInput(render_value=False),
                              help_text="Write-only: stored encrypted, never displayed. Leave empty to keep the current key.")
    clear_api_key = forms.BooleanField(required=False, help_text="Remove the stored key.")

    class Meta:
        model = ProviderConnection
        fields = ["name", "kind", "base_url", "timeout_seconds", "active"]


@admin.register(ProviderConnection)
class ProviderConnectionAdmin(admin.ModelAdmin):
    """Provider connections, with a test-connection action."""

    form = ProviderForm
    list_display = ["name", "kind", "base_url", "has_key", "active", "source", "last_check_ok", "last_checked_at"]
    list_filter = ["kind", "active", "source"]
    readonly_fields = ["source", "last_checked_at", "last_check_ok", "last_check_error", "created_at", "updated_at"]
    actions = ["test_connection"]

    @admin.display(boolean=True, description="key set")
    def has_key(self, obj: ProviderConnection) -> bool:
        """Whether a key is stored."""
        return obj.has_api_key

    def save_model(self, request: HttpRequest, obj: ProviderConnection, form: Any, change: bool) -> None:
        """Writes go through the services (encryption, catalogue activation, registry refresh)."""
        data = {name: form.cleaned_data[name] for name in ["name", "kind", "base_url", "timeout_seconds", "active"]}
        key = form.cleaned_data.get("api_key") or ""
        if change:
            if form.cleaned_data.get("clear_api_key"):
                data["api_key"] = ""
            elif key:
                data["api_key"] = key
            services.provider_update(provider=obj, **data)
        else:
            created = services.provider_create(api_key=key, **data)
            obj.pk = created.pk

    def delete_model(self, request: HttpRequest, obj: ProviderConnection) -> None:
        """Through the service, which also removes the provider's models."""
        services.provider_delete(provider=obj)

    @admin.action(description="Test connection (list the provider's models)")
    def test_connection(self, request: HttpRequest, queryset: QuerySet[ProviderConnection]) -> None:
        """Call each selected provider's model list and report."""
        for provider in queryset:
            result = services.provider_test(provider=provider)
            if result["ok"]:
                shown = ", ".join(result["models"][:10]) + (" ..." if len(result["models"]) > 10 else "")
                self.message_user(request, f"{provider.name}: OK, {len(result['models'])} models ({shown})", messages.SUCCESS)
            else:
                self.message_user(request, f"{provider.name}: {result['error']}", messages.ERROR)


@admin.register(LlmModel)
class LlmModelAdmin(admin.ModelAdmin):
    """The model registry; prices are credits per 1M tokens (1 credit = US$0.01), speech-to-text per audio minute."""

    list_display = ["name", "provider", "provider_model", "input_cost", "output_cost", "audio_cost_per_minute", "context_window", "tiers",
                    "active"]
    list_filter = ["provider", "active"]
    search_fields = ["name", "provider_model"]

    def save_model(self, request: HttpRequest, obj: LlmModel, form: Any, change: bool) -> None:
        """Writes go through the services (registry refresh in every process)."""
        data = {name: form.cleaned_data[name] for name in form.cleaned_data if name in services.MODEL_FIELDS}
        if change:
            services.model_update(model=obj, **data)
        else:
            created = services.model_create(**data)
            obj.pk = created.pk

    def delete_model(self, request: HttpRequest, obj: LlmModel) -> None:
        """Through the service."""
        services.model_delete(model=obj)


@admin.register(UsageRecord)
class UsageRecordAdmin(admin.ModelAdmin):
    """Usage records are written by metering only."""

    list_display = ["created_at", "model_name", "user", "status", "prompt_tokens", "completion_tokens", "cost", "latency_ms", "ttft_ms", "origin"]
    list_filter = ["status", "model_name", "origin", "usage_source"]
    search_fields = ["request_id", "model_name"]
    date_hierarchy = "created_at"

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
