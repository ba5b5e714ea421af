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


# The capabilities the platform reads; values already stored on models (added by later features) are offered too.
KNOWN_CAPABILITIES = ("chat", "streaming", "tools", "vision", "image", "reasoning", "offline", "stt", "tts")


class LlmModelForm(forms.ModelForm):
    """Capabilities and tiers as checkboxes of the known values, not free text in an undocumented format."""

    capabilities = forms.MultipleChoiceField(required=False, widget=forms.CheckboxSelectMultiple)
    tiers = forms.MultipleChoiceField(required=False, widget=forms.CheckboxSelectMultiple,
                                      help_text="None ticked: every tier may use the model.")

    class Meta:
        model = LlmModel
        fields = ["name", "provider", "provider_model", "capabilities", "input_cost", "output_cost", "audio_cost_per_minute",
                  "context_window", "max_output_tokens", "tiers", "active"]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        from apps.accounts.models import Tier

        stored = {value for values in LlmModel.objects.values_list("capabilities", flat=True) for value in values}
        capabilities = [*KNOWN_CAPABILITIES, *sorted(stored - set(KNOWN_CAPABILITIES))]
        tiers = list(Tier.objects.order_by("position").values_list("slug", "name"))
        known_tiers = {slug for slug, _name in tiers}
        if self.instance.pk:  # a value stored before its tier was removed stays visible (and can be unticked)
            tiers += [(slug, slug) for slug in self.instance.tiers if slug not in known_tiers]
        capability_field, tier_field = self.fields["capabilities"], self.fields["tiers"]
        assert isinstance(capability_field, forms.MultipleChoiceField) and isinstance(tier_field, forms.MultipleChoiceField)
        capability_field.choices = [(value, value) for value in capabilities]
        tier_field.choices = tiers


@admin.register(LlmModel)
class LlmModelAdmin(admin.ModelAdmin):
    """The model registry; prices are credits per 1M tokens (1 credit = US$0.01), speech-to-text per audio minute."""

    form = LlmModelForm

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
