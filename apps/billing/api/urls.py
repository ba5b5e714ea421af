"""API routes of the billing app (mounted under /api/v1/)."""
from django.urls import URLPattern, path

from . import views

urlpatterns: list[URLPattern] = [
    path("billing/balance", views.BillingBalanceApi.as_view(), name="billing-balance"),
    path("billing/transactions", views.BillingTransactionListApi.as_view(), name="billing-transactions"),
    path("billing/usage", views.BillingUsageApi.as_view(), name="billing-usage"),
    path("billing/plans", views.BillingPlanListApi.as_view(), name="billing-plans"),
    path("billing/checkout", views.BillingCheckoutApi.as_view(), name="billing-checkout"),
    path("billing/portal", views.BillingPortalApi.as_view(), name="billing-portal"),
    path("billing/invoices", views.BillingInvoiceListApi.as_view(), name="billing-invoices"),
    path("billing/webhook", views.BillingWebhookApi.as_view(), name="billing-webhook"),
    path("cron/reset-credits", views.CronResetCreditsApi.as_view(), name="cron-reset-credits"),
]
