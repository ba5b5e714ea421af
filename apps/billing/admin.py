"""Django admin: credit accounts with balances, the ledger (read-only), a "grant credits" action, packages, Stripe events."""
from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse

from . import services
from .models import CreditAccount, CreditPackage, CreditReservation, CreditTransaction, StripeEvent


class ReadOnlyAdmin(admin.ModelAdmin):
    """Rows an admin may look at but never add, change or delete."""

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class GrantCreditsForm(forms.Form):
    """How many credits to grant, and why (the reason is the ledger row's reference)."""

    amount = forms.DecimalField(min_value=Decimal("0.000001"), max_digits=18, decimal_places=6)
    reason = forms.CharField(max_length=150)


class TransactionInline(admin.TabularInline):
    """The newest ledger rows of an account (read-only)."""

    model = CreditTransaction
    extra = 0
    can_delete = False
    fields = readonly_fields = ("created_at", "type", "amount", "balance_after", "reference", "model_name")
    ordering = ["-created_at"]
    show_change_link = True

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def get_queryset(self, request: HttpRequest) -> QuerySet[CreditTransaction]:
        return super().get_queryset(request).order_by("-created_at")


@admin.register(CreditAccount)
class CreditAccountAdmin(admin.ModelAdmin):
    """Credit accounts with balances; credits move only through the "grant credits" action (the ledger service)."""

    list_display = ["owner", "balance", "allowance", "purchased", "held", "total_spent", "period", "subscription_status", "subscription_tier"]
    list_filter = ["subscription_status", "period"]
    search_fields = ["user__email", "workspace__name", "stripe_customer_id", "subscription_id"]
    list_select_related = ["user", "workspace"]
    readonly_fields = ["user", "workspace", "allowance", "purchased", "held", "total_earned", "total_spent", "total_purchased", "period",
                       "period_started_at", "stripe_customer_id", "subscription_id", "subscription_status", "subscription_tier",
                       "subscription_state_at", "subscription_period_end", "created_at", "updated_at"]
    inlines = [TransactionInline]
    actions = ["grant_credits"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # accounts open themselves on first use, with the tier's credits

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # the ledger refers to them

    @admin.display(description="owner")
    def owner(self, obj: CreditAccount) -> str:
        return str(obj.user or obj.workspace)

    @admin.display(description="balance")
    def balance(self, obj: CreditAccount) -> Decimal:
        return obj.balance

    @admin.action(description="Grant credits to the selected accounts")
    def grant_credits(self, request: HttpRequest, queryset: QuerySet[CreditAccount]) -> HttpResponse | None:
        """Ask for an amount and a reason, then grant through the ledger service (one ledger row per account)."""
        form = GrantCreditsForm(request.POST if "apply" in request.POST else None)
        if "apply" in request.POST and form.is_valid():
            batch = uuid.uuid4().hex  # one key per account and submission: a double-submitted form grants twice only if sent twice
            for account in queryset:
                services.credit_grant(account_or_user=account, amount=form.cleaned_data["amount"],
                                      reference=f"admin grant by {request.user}: {form.cleaned_data['reason']}",
                                      idempotency_key=f"admin-grant:{batch}:{account.pk}")
            self.message_user(request, f"Granted {form.cleaned_data['amount']} credits to {queryset.count()} account(s).", messages.SUCCESS)
            return None
        context = {**self.admin_site.each_context(request), "title": "Grant credits", "form": form, "accounts": queryset,
                   "opts": self.model._meta, "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME}
        return TemplateResponse(request, "admin/billing/grant_credits.html", context)


@admin.register(CreditTransaction)
class CreditTransactionAdmin(ReadOnlyAdmin):
    """The ledger: append-only, so read-only here."""

    list_display = ["created_at", "account", "type", "amount", "balance_after", "reference", "model_name"]
    list_filter = ["type", "created_at"]
    search_fields = ["account__user__email", "reference", "idempotency_key", "model_name"]
    list_select_related = ["account__user", "account__workspace"]
    date_hierarchy = "created_at"


@admin.register(CreditReservation)
class CreditReservationAdmin(ReadOnlyAdmin):
    """Credit holds of calls in flight and how they ended."""

    list_display = ["created_at", "account", "status", "amount", "charged", "uncollected", "model_name", "reference"]
    list_filter = ["status"]
    search_fields = ["account__user__email", "reference", "idempotency_key"]
    list_select_related = ["account__user", "account__workspace"]


@admin.register(StripeEvent)
class StripeEventAdmin(ReadOnlyAdmin):
    """Stripe webhook events received, each once, with what they did."""

    list_display = ["id", "type", "created", "account", "outcome", "received_at"]
    list_filter = ["type"]
    search_fields = ["id", "type", "outcome", "account__user__email"]
    list_select_related = ["account__user"]


@admin.register(CreditPackage)
class CreditPackageAdmin(admin.ModelAdmin):
    """One-time credit packages offered in the plan list and Checkout."""

    list_display = ["slug", "name", "credits", "price_cents", "currency", "stripe_price_id", "active", "position"]
    list_editable = ["credits", "price_cents", "active", "position"]
