"""Dashboard routes of the billing app."""
from django.urls import path

from . import views

app_name = "billing"

urlpatterns = [
    path("billing/", views.billing_page, name="page"),
    path("billing/checkout/", views.checkout_start, name="checkout"),
    path("billing/portal/", views.portal_start, name="portal"),
]
