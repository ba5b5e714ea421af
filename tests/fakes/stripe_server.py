"""A loopback fake of the Stripe API that the official `stripe` SDK talks to unchanged.

Point the SDK at it with `StripeClient(key, base_addresses={"api": server.url})` (Nexus:
`STRIPE_API_BASE`). It speaks Stripe's wire format: form-encoded bodies with bracketed keys
(`metadata[user_id]=...`, `line_items[0][price_data][currency]=usd`), bearer-key auth, JSON
objects with `id`/`object`, list envelopes, Stripe's error shape, and `Idempotency-Key` replay.

API routes: `POST /v1/customers`, `GET /v1/customers/{id}`, `POST /v1/checkout/sessions`,
`GET /v1/checkout/sessions/{id}`, `POST /v1/billing_portal/sessions`, `GET /v1/invoices`.

What Stripe does on its own side is driven by the test (Python methods that return the webhook
events Stripe would send, with strictly increasing `created`): `complete_checkout`,
`subscription_update`, `subscription_renew`, `subscription_cancel`, `refund`. `sign()` builds a
real `Stripe-Signature` header (`t=...,v1=HMAC_SHA256(secret, f"{t}.{payload}")`), `deliver()`
posts a signed event to a webhook URL. For browsers, `GET /checkout/{id}` is a page with a Pay
button that completes the session, delivers its events to `webhook_url`, and redirects to the
session's `success_url`; `GET /portal/{id}` links back to the `return_url`.

Run standalone: `python -m tests.fakes.stripe_server --port 8299 --api-key sk_test_x`.
"""
from __future__ import annotations

import argparse
import asyncio
import hashlib
import hmac
import html
import json
import re
import secrets
import threading
import time
import urllib.error
import urllib.request
from typing import Any

from aiohttp import web

from .aiohttp_thread import ThreadedAiohttpServer

PRICE_ID_TIERS = {"pro": "price_tier_pro", "enterprise": "price_tier_enterprise"}
API_VERSION = "2026-10-28.endive"
MONTH = 30 * 24 * 3600


def new_id(prefix: str) -> str:
    """A Stripe-looking id."""
    return f"{prefix}_test_{secrets.token_hex(10)}"


def sign(payload: str, secret: str, timestamp: int | None = None) -> str:
    """The `Stripe-Signature` header Stripe sends for `payload`."""
    stamp = int(time.time()) if timestamp is None else int(timestamp)
    digest = hmac.new(secret.encode(), f"{stamp}.{payload}".encode(), hashlib.sha256).hexdigest()
    return f"t={stamp},v1={digest}"


def parse_form(pairs: list[tuple[str, str]]) -> dict[str, Any]:
    """Stripe's bracketed form keys into nested dicts and lists."""
    root: dict[str, Any] = {}
    for key, value in pairs:
        parts = re.findall(r"[^\[\]]+", key)
        node = root
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        node[parts[-1]] = value
    return _listify(root)


def _listify(node: Any) -> Any:
    if isinstance(node, dict):
        converted = {k: _listify(v) for k, v in node.items()}
        if converted and all(k.isdigit() for k in converted):
            return [converted[k] for k in sorted(converted, key=int)]
        return converted
    return node


def _error(status: int, message: str, *, type_: str = "invalid_request_error", code: str | None = None, param: str | None = None) -> web.Response:
    body = {"error": {"type": type_, "message": message, "code": code, "param": param, "request_log_url": None}}
    return web.json_response(body, status=status, headers={"Request-Id": new_id("req")})


class FakeStripe(ThreadedAiohttpServer):
    """State and behaviour of the fake (customers, sessions, subscriptions, invoices, charges) plus its HTTP server."""

    thread_name = "fake-stripe"

    def __init__(self, *, api_key: str = "sk_test_fake", webhook_secret: str = "whsec_fake", webhook_url: str = "",
                 host: str = "127.0.0.1", port: int = 0) -> None:
        self.api_key = api_key
        self.webhook_secret = webhook_secret
        self.webhook_url = webhook_url
        self.host = host
        self.port = port
        self.lock = threading.RLock()
        self.customers: dict[str, dict[str, Any]] = {}
        self.sessions: dict[str, dict[str, Any]] = {}
        self.portal_sessions: dict[str, dict[str, Any]] = {}
        self.subscriptions: dict[str, dict[str, Any]] = {}
        self.invoices: dict[str, dict[str, Any]] = {}
        self.charges: dict[str, dict[str, Any]] = {}   # by payment intent
        self.requests: list[dict[str, Any]] = []
        self.idempotent: dict[str, tuple[int, dict[str, Any]]] = {}
        self.delivered: list[tuple[str, int]] = []
        self._clock = int(time.time())

    # ------------------------------------------------------------------ server
    @property
    def url(self) -> str:
        """Base URL of the fake API."""
        return f"http://{self.host}:{self.port}"

    def app(self) -> web.Application:
        """The aiohttp application."""
        app = web.Application()
        app.router.add_post("/v1/customers", self.http_customer_create)
        app.router.add_get("/v1/customers/{id}", self.http_customer_get)
        app.router.add_post("/v1/checkout/sessions", self.http_session_create)
        app.router.add_get("/v1/checkout/sessions/{id}", self.http_session_get)
        app.router.add_post("/v1/billing_portal/sessions", self.http_portal_create)
        app.router.add_get("/v1/invoices", self.http_invoice_list)
        app.router.add_get("/checkout/{id}", self.page_checkout)
        app.router.add_post("/checkout/{id}/pay", self.page_checkout_pay)
        app.router.add_get("/portal/{id}", self.page_portal)
        app.router.add_route("*", "/v1/{tail:.*}", self.http_unknown)
        return app

    def _authorized(self, request: web.Request) -> bool:
        header = request.headers.get("Authorization", "")
        return hmac.compare_digest(header, f"Bearer {self.api_key}")

    async def _params(self, request: web.Request) -> dict[str, Any]:
        if request.method == "GET":
            return parse_form(list(request.query.items()))
        form = await request.post()
        return parse_form([(k, str(v)) for k, v in form.items()])

    async def _serve(self, request: web.Request, create: Any) -> web.Response:
        if not self._authorized(request):
            return _error(401, "Invalid API Key provided.", code="api_key_invalid")
        params = await self._params(request)
        self.requests.append({"method": request.method, "path": request.path, "params": params})
        key = request.headers.get("Idempotency-Key")
        with self.lock:
            if key and request.method == "POST" and key in self.idempotent:
                status, body = self.idempotent[key]
                return web.json_response(body, status=status, headers={"Idempotent-Replayed": "true"})
            try:
                status, body = 200, create(params)
            except LookupError as exc:
                return _error(404, f"No such {exc.args[0]}: '{exc.args[1]}'", code="resource_missing", param=exc.args[0])
            except ValueError as exc:
                return _error(400, str(exc.args[0]), param=exc.args[1] if len(exc.args) > 1 else None,
                              code="parameter_missing")
            if key and request.method == "POST":
                self.idempotent[key] = (status, body)
        return web.json_response(body, status=status, headers={"Request-Id": new_id("req")})

    # ------------------------------------------------------------------ API
    async def http_customer_create(self, request: web.Request) -> web.Response:
        return await self._serve(request, self.customer_create)

    async def http_customer_get(self, request: web.Request) -> web.Response:
        return await self._serve(request, lambda _p: self._get(self.customers, "customer", request.match_info["id"]))

    async def http_session_create(self, request: web.Request) -> web.Response:
        return await self._serve(request, self.session_create)

    async def http_session_get(self, request: web.Request) -> web.Response:
        return await self._serve(request, lambda _p: self._get(self.sessions, "checkout.session", request.match_info["id"]))

    async def http_portal_create(self, request: web.Request) -> web.Response:
        return await self._serve(request, self.portal_create)

    async def http_invoice_list(self, request: web.Request) -> web.Response:
        return await self._serve(request, self.invoice_list)

    async def http_unknown(self, request: web.Request) -> web.Response:
        return _error(404, f"Unrecognized request URL ({request.method}: {request.path}).")

    @staticmethod
    def _get(table: dict[str, dict[str, Any]], kind: str, object_id: str) -> dict[str, Any]:
        if object_id not in table:
            raise LookupError(kind, object_id)
        return table[object_id]

    def customer_create(self, params: dict[str, Any]) -> dict[str, Any]:
        """POST /v1/customers."""
        customer = {"id": new_id("cus"), "object": "customer", "email": params.get("email"), "metadata": params.get("metadata") or {},
                    "created": int(time.time()), "livemode": False}
        self.customers[customer["id"]] = customer
        return customer

    def session_create(self, params: dict[str, Any]) -> dict[str, Any]:
        """POST /v1/checkout/sessions."""
        mode = params.get("mode")
        if mode not in ("payment", "subscription", "setup"):
            raise ValueError("Missing required param: mode.", "mode")
        if not params.get("success_url"):
            raise ValueError("Missing required param: success_url.", "success_url")
        items = params.get("line_items")
        if not isinstance(items, list) or not items:
            raise ValueError("Missing required param: line_items.", "line_items")
        customer = params.get("customer")
        if customer and customer not in self.customers:
            raise LookupError("customer", customer)
        amount = 0
        for item in items:
            data = item.get("price_data") or {}
            if item.get("price"):
                amount += 0
            elif not data.get("currency") or "unit_amount" not in data:
                raise ValueError("Missing required param: line_items[0][price_data][unit_amount].", "line_items")
            else:
                if mode == "subscription" and not (data.get("recurring") or {}).get("interval"):
                    raise ValueError("A subscription needs a recurring price.", "line_items")
                amount += int(data["unit_amount"]) * int(item.get("quantity") or 1)
        session_id = new_id("cs")
        session = {
            "id": session_id, "object": "checkout.session", "mode": mode, "status": "open", "payment_status": "unpaid",
            "customer": customer, "client_reference_id": params.get("client_reference_id"), "metadata": params.get("metadata") or {},
            "amount_total": amount, "currency": (items[0].get("price_data") or {}).get("currency", "usd"),
            "success_url": params["success_url"], "cancel_url": params.get("cancel_url"),
            "url": f"{self.url}/checkout/{session_id}", "payment_intent": None, "subscription": None, "livemode": False,
            "created": int(time.time()),
            # Kept for what Stripe does later (not part of the session object Stripe returns).
            "_line_items": items, "_payment_intent_data": params.get("payment_intent_data") or {},
            "_subscription_data": params.get("subscription_data") or {},
        }
        self.sessions[session_id] = session
        return self._public(session)

    def portal_create(self, params: dict[str, Any]) -> dict[str, Any]:
        """POST /v1/billing_portal/sessions."""
        customer = params.get("customer")
        if not customer:
            raise ValueError("Missing required param: customer.", "customer")
        if customer not in self.customers:
            raise LookupError("customer", customer)
        portal_id = new_id("bps")
        portal = {"id": portal_id, "object": "billing_portal.session", "customer": customer, "return_url": params.get("return_url"),
                  "url": f"{self.url}/portal/{portal_id}", "created": int(time.time()), "livemode": False}
        self.portal_sessions[portal_id] = portal
        return portal

    def invoice_list(self, params: dict[str, Any]) -> dict[str, Any]:
        """GET /v1/invoices?customer=&limit=."""
        customer = params.get("customer")
        rows = [i for i in self.invoices.values() if not customer or i["customer"] == customer]
        rows.sort(key=lambda i: i["created"], reverse=True)
        limit = int(params.get("limit") or 10)
        return {"object": "list", "url": "/v1/invoices", "has_more": len(rows) > limit, "data": rows[:limit]}

    @staticmethod
    def _public(obj: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in obj.items() if not k.startswith("_")}

    # ------------------------------------------------------------------ what Stripe does, as events
    def _tick(self) -> int:
        with self.lock:
            self._clock += 1
            return self._clock

    def event(self, type_: str, obj: dict[str, Any]) -> dict[str, Any]:
        """A webhook event wrapping a snapshot of `obj`, with a `created` later than every earlier event."""
        return {"id": new_id("evt"), "object": "event", "api_version": API_VERSION, "created": self._tick(), "type": type_,
                "livemode": False, "pending_webhooks": 1, "request": {"id": None, "idempotency_key": None},
                "data": {"object": json.loads(json.dumps(self._public(obj)))}}

    def _price(self, tier: str) -> dict[str, Any]:
        return {"id": PRICE_ID_TIERS.get(tier, new_id("price")), "object": "price", "lookup_key": tier, "metadata": {"tier": tier},
                "recurring": {"interval": "month"}}

    def _invoice(self, subscription: dict[str, Any], *, start: int, reason: str) -> dict[str, Any]:
        tier = subscription["_tier"]
        price = self._price(tier)
        invoice = {
            "id": new_id("in"), "object": "invoice", "customer": subscription["customer"], "status": "paid", "paid": True,
            "amount_due": subscription["_amount"], "amount_paid": subscription["_amount"], "currency": "usd",
            "billing_reason": reason, "created": start, "number": f"FAKE-{len(self.invoices) + 1:04d}",
            "description": f"Nexus {tier}", "hosted_invoice_url": f"{self.url}/invoice/{len(self.invoices) + 1}",
            "invoice_pdf": None, "period_start": start, "period_end": start + MONTH,
            "parent": {"type": "subscription_details", "subscription_details": {"subscription": subscription["id"],
                                                                                "metadata": subscription["metadata"]}},
            "lines": {"object": "list", "data": [{
                "id": new_id("il"), "object": "line_item", "amount": subscription["_amount"], "period": {"start": start, "end": start + MONTH},
                "price": price, "pricing": {"type": "price_details", "price_details": {"price": price["id"]}},
            }]},
        }
        self.invoices[invoice["id"]] = invoice
        return invoice

    def _subscription_object(self, subscription: dict[str, Any]) -> dict[str, Any]:
        subscription["items"] = {"object": "list", "data": [{
            "id": new_id("si"), "object": "subscription_item", "price": self._price(subscription["_tier"]),
            "current_period_start": subscription["_period_start"], "current_period_end": subscription["_period_start"] + MONTH,
        }]}
        return subscription

    def complete_checkout(self, session_id: str) -> list[dict[str, Any]]:
        """The customer paid: the events Stripe sends (a top-up, or a new subscription and its first invoice)."""
        session = self.sessions[session_id]
        session["status"], session["payment_status"] = "complete", "paid"
        if session["mode"] == "payment":
            payment_intent, charge_id = new_id("pi"), new_id("ch")
            session["payment_intent"] = payment_intent
            self.charges[payment_intent] = {
                "id": charge_id, "object": "charge", "payment_intent": payment_intent, "customer": session["customer"],
                "amount": session["amount_total"], "amount_refunded": 0, "refunded": False, "currency": session["currency"],
                # Stripe copies the PaymentIntent's metadata onto its charges.
                "metadata": dict(session["_payment_intent_data"].get("metadata") or {}), "created": int(time.time()),
            }
            return [self.event("checkout.session.completed", session)]
        start = self._tick()
        line = session["_line_items"][0]
        data = session["_subscription_data"]
        tier = (data.get("metadata") or {}).get("tier") or "pro"
        subscription = {
            "id": new_id("sub"), "object": "subscription", "customer": session["customer"], "status": "active",
            "metadata": data.get("metadata") or {}, "cancel_at_period_end": False, "created": start,
            "_tier": tier, "_amount": int((line.get("price_data") or {}).get("unit_amount") or 0), "_period_start": start,
        }
        self.subscriptions[subscription["id"]] = subscription
        session["subscription"] = subscription["id"]
        invoice = self._invoice(subscription, start=start, reason="subscription_create")
        return [
            self.event("customer.subscription.created", self._subscription_object(subscription)),
            self.event("checkout.session.completed", session),
            self.event("invoice.paid", invoice),
        ]

    def subscription_update(self, subscription_id: str, *, tier: str) -> dict[str, Any]:
        """The customer switched plans in the portal (the subscription's metadata keeps the original tier, as in Stripe)."""
        subscription = self.subscriptions[subscription_id]
        subscription["_tier"] = tier
        return self.event("customer.subscription.updated", self._subscription_object(subscription))

    def subscription_renew(self, subscription_id: str) -> dict[str, Any]:
        """A new billing period started and its invoice was paid."""
        subscription = self.subscriptions[subscription_id]
        subscription["_period_start"] += MONTH
        return self.event("invoice.paid", self._invoice(subscription, start=subscription["_period_start"], reason="subscription_cycle"))

    def subscription_cancel(self, subscription_id: str) -> dict[str, Any]:
        """The subscription ended."""
        subscription = self.subscriptions[subscription_id]
        subscription["status"] = "canceled"
        return self.event("customer.subscription.deleted", self._subscription_object(subscription))

    def refund(self, payment_intent: str, amount: int | None = None) -> dict[str, Any]:
        """Refund part (or all) of a payment; `amount_refunded` on the charge is cumulative, as in Stripe."""
        charge = self.charges[payment_intent]
        charge["amount_refunded"] = min(charge["amount"], charge["amount_refunded"] + (amount if amount is not None else charge["amount"]))
        charge["refunded"] = charge["amount_refunded"] >= charge["amount"]
        return self.event("charge.refunded", charge)

    def signed(self, event: dict[str, Any], *, secret: str | None = None, timestamp: int | None = None) -> tuple[bytes, str]:
        """(body, Stripe-Signature header) for an event."""
        payload = json.dumps(event, separators=(",", ":"))
        return payload.encode(), sign(payload, secret or self.webhook_secret, timestamp)

    def deliver(self, event: dict[str, Any], url: str | None = None) -> int:
        """POST a signed event to the webhook URL, as Stripe does; returns the status."""
        body, header = self.signed(event)
        request = urllib.request.Request(url or self.webhook_url, data=body, method="POST",
                                         headers={"Content-Type": "application/json", "Stripe-Signature": header})
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                status = response.status
        except urllib.error.HTTPError as exc:
            status = exc.code
        self.delivered.append((event["id"], status))
        return status

    # ------------------------------------------------------------------ pages for browsers
    async def page_checkout(self, request: web.Request) -> web.Response:
        session = self.sessions.get(request.match_info["id"])
        if session is None:
            return web.Response(status=404, text="No such checkout session")
        title = f"{'Subscribe' if session['mode'] == 'subscription' else 'Pay'} ${session['amount_total'] / 100:.2f}"
        body = (f"<!doctype html><title>Fake Stripe Checkout</title><h1>Fake Stripe Checkout</h1>"
                f"<p data-testid='checkout-amount'>{html.escape(title)}</p>"
                f"<form method='post' action='/checkout/{session['id']}/pay'><button type='submit' id='pay'>{html.escape(title)}</button></form>")
        return web.Response(text=body, content_type="text/html")

    async def page_checkout_pay(self, request: web.Request) -> web.Response:
        session = self.sessions.get(request.match_info["id"])
        if session is None:
            return web.Response(status=404, text="No such checkout session")
        events = self.complete_checkout(session["id"])
        if self.webhook_url:
            for event in events:
                await asyncio.get_running_loop().run_in_executor(None, self.deliver, event)
        raise web.HTTPSeeOther(session["success_url"].replace("{CHECKOUT_SESSION_ID}", session["id"]))

    async def page_portal(self, request: web.Request) -> web.Response:
        portal = self.portal_sessions.get(request.match_info["id"])
        if portal is None:
            return web.Response(status=404, text="No such portal session")
        body = (f"<!doctype html><title>Fake Stripe Portal</title><h1>Fake Stripe customer portal</h1>"
                f"<p>Customer {html.escape(portal['customer'])}</p><a id='return' href='{html.escape(portal['return_url'] or '/')}'>Return</a>")
        return web.Response(text=body, content_type="text/html")


def main() -> None:
    """Serve until interrupted."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8299)
    parser.add_argument("--api-key", default="sk_test_fake")
    parser.add_argument("--webhook-secret", default="whsec_fake")
    parser.add_argument("--webhook-url", default="")
    args = parser.parse_args()
    server = FakeStripe(api_key=args.api_key, webhook_secret=args.webhook_secret, webhook_url=args.webhook_url, host=args.host,
                        port=args.port).start()
    print(f"fake Stripe on {server.url}", flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        server.stop()


if __name__ == "__main__":
    main()
