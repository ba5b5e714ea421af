"""Dashboard pages of the billing app: the billing page, and the buttons that send the browser to Stripe."""
from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from apps.accounts.caller import request_user
from apps.core.errors import ApplicationError
from apps.core.registry import ledger_links_for

from . import payments, selectors

# Bar colours per model, in order of first appearance (the palette of app.css's badges).
PALETTE = ["#4f46e5", "#0ea5e9", "#10b981", "#f59e0b", "#ef4444", "#8b5cf6", "#14b8a6", "#f97316"]
CHART_W, CHART_H, CHART_PAD = 720, 180, 24


def usage_chart(series: dict[str, Any]) -> dict[str, Any]:
    """Stacked bars (daily spend by model) as SVG rectangles: no chart library, the page stays light."""
    days = series["daily"]
    models: list[str] = []
    for day in days:
        for name in day["by_model"]:
            if name not in models:
                models.append(name)
    colours = {name: PALETTE[i % len(PALETTE)] for i, name in enumerate(models)}
    peak = max((day["spent"] for day in days), default=Decimal(0)) or Decimal(1)
    slot = (CHART_W - CHART_PAD) / max(len(days), 1)
    width = max(slot * 0.7, 1.5)
    bars = []
    for index, day in enumerate(days):
        x = CHART_PAD + index * slot + (slot - width) / 2
        y = float(CHART_H)
        for name, spent in sorted(day["by_model"].items()):
            height = float(spent / peak) * (CHART_H - 10)
            y -= height
            bars.append({"x": round(x, 1), "y": round(y, 1), "w": round(width, 1), "h": round(height, 1), "colour": colours[name],
                         "title": f"{day['date']}: {name} {spent.normalize():f} credits"})
    labels = [{"x": round(CHART_PAD + i * slot + slot / 2, 1), "text": day["date"][5:]} for i, day in enumerate(days)
              if i in (0, len(days) - 1) or (len(days) > 7 and i % (len(days) // 6) == 0)]
    return {"width": CHART_W, "height": CHART_H + 20, "base": CHART_H, "bars": bars, "labels": labels,
            "peak": peak.normalize(), "legend": [{"name": name, "colour": colour} for name, colour in colours.items()],
            "empty": not bars}


@login_required
def billing_page(request: HttpRequest) -> HttpResponse:
    """Balance, daily usage by model, the ledger, and the ways to buy credits or manage a subscription."""
    period = request.GET.get("period") or "30d"
    if period not in selectors.USAGE_PERIODS:
        period = "30d"
    series = selectors.usage_series(user=request_user(request), period=period)
    page = Paginator(selectors.transaction_list(user=request_user(request)), 20).get_page(request.GET.get("page"))
    balance = selectors.balance_for(user=request_user(request))
    plans = selectors.plan_list()
    for plan in (*plans["tiers"], *plans["packages"]):
        plan["price"] = f"{plan['price_cents'] / 100:.2f}".removesuffix(".00")
    checkout_state = request.GET.get("checkout")
    # the page of what each reference names, from the app that wrote it (billing imports none of them);
    # one lookup per origin for the whole page, not one per row
    links = ledger_links_for(transaction.reference for transaction in page)
    for transaction in page:
        transaction.reference_url = links[transaction.reference]  # type: ignore[attr-defined]
    return render(request, "billing/billing.html", {
        "balance": balance, "series": series, "chart": usage_chart(series), "period": period, "periods": list(selectors.USAGE_PERIODS),
        "transactions": page, "plans": plans, "checkout_state": checkout_state,
        "out_of_credits": balance["available"] <= 0,
        "paid_tiers": [tier for tier in plans["tiers"] if tier["price_cents"] > 0],
        "payments_ready": payments.payments_configured(),
    })


def _to_stripe(request: HttpRequest, make_url: Any) -> HttpResponse:
    """Redirect to the Stripe page, or back to the billing page with the error shown."""
    try:
        return HttpResponseRedirect(make_url())
    except ApplicationError as exc:
        messages.error(request, exc.message)
        return redirect("billing:page")


@login_required
@require_POST
def checkout_start(request: HttpRequest) -> HttpResponse:
    """"Buy credits" / "Subscribe": create the Checkout Session and send the browser to it."""
    package_id, tier = request.POST.get("package_id"), request.POST.get("tier")
    base = request.build_absolute_uri("/")  # back to the host the user is on (ALLOWED_HOSTS validated it)
    if package_id:
        return _to_stripe(request, lambda: payments.checkout_create(user=request_user(request), package_id=package_id, return_base=base))
    return _to_stripe(request, lambda: payments.checkout_create(user=request_user(request), price_id=tier or "", mode="subscription",
                                                                return_base=base))


@login_required
@require_POST
def portal_start(request: HttpRequest) -> HttpResponse:
    """"Manage subscription": send the browser to the Stripe customer portal."""
    return _to_stripe(request, lambda: payments.portal_create(user=request_user(request), return_base=request.build_absolute_uri("/")))
