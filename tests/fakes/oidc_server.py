"""A loopback OpenID Connect provider: discovery, authorize (consents at once), token, userinfo, JWKS.

Tokens are RS256-signed with a key made per server; `users` maps the next sign-in's subject to its
claims (`email`, `email_verified`, `name`).
"""
from __future__ import annotations

import json
import secrets
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm


class FakeOidcProvider:
    """Signs in whoever `next_user` names, after checking client id, secret and redirect."""

    def __init__(self, *, client_id: str = "nexus-test", client_secret: str = "s3cret") -> None:
        self.client_id, self.client_secret = client_id, client_secret
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.kid = secrets.token_hex(4)
        self.next_user: dict[str, Any] = {}
        self.codes: dict[str, dict[str, Any]] = {}
        self.tokens: dict[str, dict[str, Any]] = {}
        self.requests: list[str] = []
        provider = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def _json(self, body: Any, status: int = 200) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:  # noqa: N802 (http.server's name)
                provider.requests.append("GET " + self.path.split("?")[0])
                url = urlsplit(self.path)
                query = {k: v[0] for k, v in parse_qs(url.query).items()}
                if url.path == "/.well-known/openid-configuration":
                    self._json(provider.discovery())
                elif url.path == "/jwks":
                    public = json.loads(RSAAlgorithm.to_jwk(provider.key.public_key()))
                    self._json({"keys": [{**public, "kid": provider.kid, "use": "sig", "alg": "RS256"}]})
                elif url.path == "/authorize":
                    if query.get("client_id") != provider.client_id or query.get("response_type") != "code":
                        self._json({"error": "invalid_request"}, 400)
                        return
                    code = secrets.token_urlsafe(16)
                    provider.codes[code] = {"user": dict(provider.next_user), "nonce": query.get("nonce"),
                                            "redirect_uri": query["redirect_uri"]}
                    self.send_response(302)
                    self.send_header("Location", query["redirect_uri"] + "?" + urlencode({"code": code, "state": query.get("state", "")}))
                    self.end_headers()
                elif url.path == "/userinfo":
                    token = self.headers.get("Authorization", "").removeprefix("Bearer ")
                    grant = provider.tokens.get(token)
                    if grant is None:
                        self._json({"error": "invalid_token"}, 401)
                        return
                    self._json(grant["claims"])
                else:
                    self._json({"error": "not_found"}, 404)

            def do_POST(self) -> None:  # noqa: N802
                provider.requests.append("POST " + self.path)
                length = int(self.headers.get("Content-Length", 0))
                form = {k: v[0] for k, v in parse_qs(self.rfile.read(length).decode()).items()}
                if urlsplit(self.path).path != "/token":
                    self._json({"error": "not_found"}, 404)
                    return
                client_id, secret = form.get("client_id"), form.get("client_secret")
                auth = self.headers.get("Authorization", "")
                if auth.startswith("Basic "):
                    import base64

                    client_id, _, secret = base64.b64decode(auth[6:]).decode().partition(":")
                grant = provider.codes.pop(form.get("code", ""), None)
                if (client_id, secret) != (provider.client_id, provider.client_secret) or grant is None \
                        or grant["redirect_uri"] != form.get("redirect_uri"):
                    self._json({"error": "invalid_grant"}, 400)
                    return
                self._json(provider.issue(grant))

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def discovery(self) -> dict[str, Any]:
        """The OpenID Connect discovery document."""
        return {
            "issuer": self.url,
            "authorization_endpoint": self.url + "/authorize",
            "token_endpoint": self.url + "/token",
            "userinfo_endpoint": self.url + "/userinfo",
            "jwks_uri": self.url + "/jwks",
            "response_types_supported": ["code"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "scopes_supported": ["openid", "email", "profile"],
            "token_endpoint_auth_methods_supported": ["client_secret_post", "client_secret_basic"],
        }

    def issue(self, grant: dict[str, Any]) -> dict[str, Any]:
        """Access token and signed ID token for an authorization code."""
        user = grant["user"]
        now = int(time.time())
        claims = {"sub": user["sub"], "email": user["email"], "email_verified": user.get("email_verified", True),
                  "name": user.get("name", ""), "given_name": user.get("given_name", ""), "family_name": user.get("family_name", "")}
        id_claims = {**claims, "iss": self.url, "aud": self.client_id, "iat": now, "exp": now + 300}
        if grant.get("nonce"):
            id_claims["nonce"] = grant["nonce"]
        access = secrets.token_urlsafe(24)
        self.tokens[access] = {"claims": claims}
        id_token = jwt.encode(id_claims, self.key, algorithm="RS256", headers={"kid": self.kid})
        return {"access_token": access, "token_type": "Bearer", "expires_in": 300, "id_token": id_token}

    def stop(self) -> None:
        """Shut the server down."""
        self.server.shutdown()
        self.server.server_close()
