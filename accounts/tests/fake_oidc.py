"""A small but real OpenID Connect provider for tests, served over HTTP on a loopback port.

It speaks the authorization-code flow: discovery, authorize (redirects straight back, as if the
user had signed in), token (client_secret_post, single-use codes, redirect_uri must match the
authorize request), userinfo and JWKS. ID tokens are RS256-signed with a key generated at start.
Tests steer it through attributes: ``claims`` for the next sign-in, ``id_token_overrides`` and
``userinfo_overrides`` to corrupt responses, ``authorize_error`` to answer with an error.
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

CLIENT_ID = "wegent-test-client"
CLIENT_SECRET = "wegent-test-secret"
KEY_ID = "fake-key-1"


class FakeOIDCProvider:
    def __init__(self) -> None:
        self.private_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.lock = threading.Lock()
        self.reset()

    @property
    def discovery_url(self) -> str:
        return f"{self.url}/.well-known/openid-configuration"

    def reset(self) -> None:
        with self.lock:
            self.claims: dict[str, Any] = {"sub": "user-1", "email": "carol@corp.test"}
            self.id_token_overrides: dict[str, Any] = {}
            self.userinfo_overrides: dict[str, Any] = {}
            self.authorize_error: str | None = None
            self.codes: dict[str, dict[str, Any]] = {}
            self.access_tokens: dict[str, dict[str, Any]] = {}
            self.requests: list[str] = []

    def start(self) -> FakeOIDCProvider:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)

    def count(self, path: str) -> int:
        with self.lock:
            return sum(1 for seen in self.requests if seen == path)

    # --- documents -------------------------------------------------------------------------

    def discovery(self) -> dict[str, Any]:
        return {
            "issuer": self.url,
            "authorization_endpoint": f"{self.url}/authorize",
            "token_endpoint": f"{self.url}/token",
            "userinfo_endpoint": f"{self.url}/userinfo",
            "jwks_uri": f"{self.url}/jwks",
            "response_types_supported": ["code"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "scopes_supported": ["openid", "email", "profile"],
            "token_endpoint_auth_methods_supported": ["client_secret_post", "client_secret_basic"],
        }

    def jwks(self) -> dict[str, Any]:
        jwk = json.loads(RSAAlgorithm.to_jwk(self.private_key.public_key()))
        jwk.update({"kid": KEY_ID, "alg": "RS256", "use": "sig"})
        return {"keys": [jwk]}

    def sign(self, claims: dict[str, Any]) -> str:
        return jwt.encode(claims, self.private_key, algorithm="RS256", headers={"kid": KEY_ID})

    # --- endpoints -------------------------------------------------------------------------

    def authorize(self, query: dict[str, str]) -> tuple[int, dict[str, str], Any]:
        redirect_uri = query.get("redirect_uri", "")
        if query.get("client_id") != CLIENT_ID or not redirect_uri or query.get("response_type") != "code":
            return 400, {}, {"error": "invalid_request"}
        back: dict[str, str] = {"state": query.get("state", "")}
        with self.lock:
            if self.authorize_error:
                back.update(error=self.authorize_error, error_description="The user denied access")
            else:
                code = secrets.token_urlsafe(16)
                self.codes[code] = {
                    "nonce": query.get("nonce"),
                    "redirect_uri": redirect_uri,
                    "scope": query.get("scope", ""),
                    "claims": dict(self.claims),
                }
                back["code"] = code
        separator = "&" if "?" in redirect_uri else "?"
        return 302, {"Location": f"{redirect_uri}{separator}{urlencode(back)}"}, None

    def token(self, form: dict[str, str]) -> tuple[int, dict[str, str], Any]:
        if form.get("client_id") != CLIENT_ID or form.get("client_secret") != CLIENT_SECRET:
            return 401, {}, {"error": "invalid_client"}
        if form.get("grant_type") != "authorization_code":
            return 400, {}, {"error": "unsupported_grant_type"}
        with self.lock:
            grant = self.codes.pop(form.get("code", ""), None)
            if grant is None or grant["redirect_uri"] != form.get("redirect_uri"):
                return 400, {}, {"error": "invalid_grant"}
            now = int(time.time())
            id_claims = {
                "iss": self.url,
                "aud": CLIENT_ID,
                "iat": now,
                "exp": now + 300,
                "nonce": grant["nonce"],
                **grant["claims"],
                **self.id_token_overrides,
            }
            access_token = secrets.token_urlsafe(24)
            self.access_tokens[access_token] = {**grant["claims"], **self.userinfo_overrides}
        body = {
            "access_token": access_token,
            "token_type": "Bearer",
            "expires_in": 300,
            "id_token": self.sign(id_claims),
        }
        return 200, {}, body

    def userinfo(self, authorization: str) -> tuple[int, dict[str, str], Any]:
        scheme, _, token = authorization.partition(" ")
        with self.lock:
            info = self.access_tokens.get(token) if scheme.lower() == "bearer" else None
        if info is None:
            return 401, {"WWW-Authenticate": 'Bearer error="invalid_token"'}, {"error": "invalid_token"}
        return 200, {}, info


def _handler_for(provider: FakeOIDCProvider) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass

        def _reply(self, status: int, headers: dict[str, str], body: Any) -> None:
            payload = b"" if body is None else json.dumps(body).encode()
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            if body is not None:
                self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def do_GET(self) -> None:
            parts = urlsplit(self.path)
            with provider.lock:
                provider.requests.append(parts.path)
            query = {key: values[0] for key, values in parse_qs(parts.query).items()}
            if parts.path == "/.well-known/openid-configuration":
                self._reply(200, {}, provider.discovery())
            elif parts.path == "/jwks":
                self._reply(200, {}, provider.jwks())
            elif parts.path == "/authorize":
                self._reply(*provider.authorize(query))
            elif parts.path == "/userinfo":
                self._reply(*provider.userinfo(self.headers.get("Authorization", "")))
            else:
                self._reply(404, {}, {"error": "not_found"})

        def do_POST(self) -> None:
            parts = urlsplit(self.path)
            with provider.lock:
                provider.requests.append(parts.path)
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length).decode()
            form = {key: values[0] for key, values in parse_qs(raw).items()}
            if parts.path == "/token":
                self._reply(*provider.token(form))
            else:
                self._reply(404, {}, {"error": "not_found"})

    return Handler
