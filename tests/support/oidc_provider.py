"""A small but real OpenID Connect provider for tests, run as its own process and served over HTTP on loopback.

Discovery, authorization code flow with PKCE (S256) and nonce, RS256-signed ID tokens (Authlib's JOSE),
a JWKS endpoint and userinfo. It "logs in" whoever `provider.user` says, without a consent screen.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import os
import secrets
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
import uvicorn
from authlib.jose import JsonWebKey, jwt
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from tests.support.services import free_port


@dataclass
class Grant:
    client_id: str
    redirect_uri: str
    nonce: str | None
    challenge: str
    claims: dict[str, Any]


@dataclass
class OidcProvider:
    client_id: str = "modelyard-test"
    client_secret: str = field(default_factory=lambda: secrets.token_urlsafe(24))
    user: dict[str, Any] = field(
        default_factory=lambda: {
            "sub": "alice-1",
            "email": "alice@idp.example",
            "email_verified": True,
            "preferred_username": "alice",
            "name": "Alice Example",
        }
    )
    port: int = field(default_factory=free_port)
    key: Any = field(
        default_factory=lambda: JsonWebKey.generate_key("RSA", 2048, is_private=True, options={"kid": "test-key"})
    )
    grants: dict[str, Grant] = field(default_factory=dict)
    tokens: dict[str, dict[str, Any]] = field(default_factory=dict)
    tamper_id_token: bool = False

    @property
    def issuer(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    # --- endpoints ------------------------------------------------------------------------------------------
    async def discovery(self, request: Request) -> Response:
        return JSONResponse(
            {
                "issuer": self.issuer,
                "authorization_endpoint": f"{self.issuer}/authorize",
                "token_endpoint": f"{self.issuer}/token",
                "userinfo_endpoint": f"{self.issuer}/userinfo",
                "jwks_uri": f"{self.issuer}/jwks",
                "response_types_supported": ["code"],
                "subject_types_supported": ["public"],
                "id_token_signing_alg_values_supported": ["RS256"],
                "code_challenge_methods_supported": ["S256"],
            }
        )

    async def jwks(self, request: Request) -> Response:
        return JSONResponse({"keys": [self.key.as_dict(is_private=False)]})

    async def authorize(self, request: Request) -> Response:
        q = request.query_params
        if q.get("client_id") != self.client_id or q.get("response_type") != "code":
            return JSONResponse({"error": "invalid_request"}, status_code=400)
        if q.get("code_challenge_method") != "S256" or not q.get("code_challenge"):
            return JSONResponse({"error": "invalid_request", "error_description": "PKCE required"}, status_code=400)
        code = secrets.token_urlsafe(24)
        self.grants[code] = Grant(
            q["client_id"], q["redirect_uri"], q.get("nonce"), q["code_challenge"], dict(self.user)
        )
        return RedirectResponse(
            f"{q['redirect_uri']}?{urlencode({'code': code, 'state': q.get('state', '')})}", status_code=302
        )

    async def token(self, request: Request) -> Response:
        form = await request.form()
        grant = self.grants.pop(str(form.get("code")), None)  # single use
        if grant is None or form.get("client_secret") != self.client_secret or form.get("client_id") != grant.client_id:
            return JSONResponse({"error": "invalid_grant"}, status_code=400)
        if form.get("redirect_uri") != grant.redirect_uri:
            return JSONResponse({"error": "invalid_grant", "error_description": "redirect_uri"}, status_code=400)
        verifier = str(form.get("code_verifier", ""))
        digest = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
        if digest != grant.challenge:
            return JSONResponse({"error": "invalid_grant", "error_description": "PKCE"}, status_code=400)
        access = secrets.token_urlsafe(24)
        self.tokens[access] = grant.claims
        return JSONResponse(
            {"access_token": access, "token_type": "Bearer", "expires_in": 300, "id_token": self._id_token(grant)}
        )

    def _id_token(self, grant: Grant) -> str:
        now = int(time.time())
        claims = {**grant.claims, "iss": self.issuer, "aud": grant.client_id, "iat": now, "exp": now + 300}
        if grant.nonce:
            claims["nonce"] = grant.nonce
        token = jwt.encode({"alg": "RS256", "kid": "test-key"}, claims, self.key).decode()
        if self.tamper_id_token:
            head, body, signature = token.split(".")
            token = f"{head}.{body}.{signature[:-4]}AAAA"
        return token

    async def userinfo(self, request: Request) -> Response:
        access = request.headers.get("authorization", "").removeprefix("Bearer ")
        claims = self.tokens.get(access)
        return JSONResponse(claims) if claims else JSONResponse({"error": "invalid_token"}, status_code=401)

    async def control(self, request: Request) -> Response:
        """Test set-up only: who logs in next, and whether ID tokens are signed wrongly."""
        body = await request.json()
        self.user.update(body.get("user", {}))
        self.tamper_id_token = bool(body.get("tamper_id_token", self.tamper_id_token))
        return JSONResponse({"user": self.user, "tamper_id_token": self.tamper_id_token})

    def app(self) -> Starlette:
        return Starlette(
            routes=[
                Route("/_test/control", self.control, methods=["POST"]),
                Route("/.well-known/openid-configuration", self.discovery),
                Route("/jwks", self.jwks),
                Route("/authorize", self.authorize),
                Route("/token", self.token, methods=["POST"]),
                Route("/userinfo", self.userinfo),
            ]
        )


class ProviderProcess:
    """The provider as its own process (`python -m tests.support.oidc_provider`), driven over HTTP."""

    def __init__(self) -> None:
        self.port = free_port()
        self.client_id = "modelyard-test"
        self.client_secret = secrets.token_urlsafe(24)
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def issuer(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def settings_entry(self) -> dict[str, Any]:
        return {
            "issuer": self.issuer,
            "client_id": self.client_id,
            "client_secret": self.client_secret,
            "label": "Test SSO",
        }

    def set_user(self, **claims: Any) -> None:
        httpx.post(f"{self.issuer}/_test/control", json={"user": claims}).raise_for_status()

    def tamper_id_tokens(self) -> None:
        httpx.post(f"{self.issuer}/_test/control", json={"tamper_id_token": True}).raise_for_status()

    def __enter__(self) -> ProviderProcess:
        # A free port can be taken by someone else before the child binds it: then try another one.
        for _ in range(3):
            if self._start():
                return self
            self.port = free_port()
        raise RuntimeError("the test OIDC provider process did not start")

    def _start(self) -> bool:
        root = Path(__file__).resolve().parents[2]
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "tests.support.oidc_provider",
                "--port",
                str(self.port),
                f"--client-secret={self.client_secret}",  # with "=": a secret may start with "-"
            ],
            cwd=root,
            env={**os.environ, "PYTHONPATH": str(root)},
        )
        deadline = time.monotonic() + 40
        while self.process.poll() is None and time.monotonic() < deadline:
            try:
                if httpx.get(f"{self.issuer}/.well-known/openid-configuration", timeout=1).status_code == 200:
                    return True
            except httpx.HTTPError:
                pass
            time.sleep(0.05)
        self.process.kill()
        self.process.wait(timeout=10)
        return False

    def __exit__(self, *_exc: object) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(timeout=10)


def main() -> None:
    parser = argparse.ArgumentParser(description="A test OpenID Connect provider on loopback.")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--client-secret", required=True)
    args = parser.parse_args()
    provider = OidcProvider(port=args.port, client_secret=args.client_secret)
    uvicorn.run(provider.app(), host="127.0.0.1", port=args.port, log_level="warning")


if __name__ == "__main__":
    main()
