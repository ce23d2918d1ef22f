"""Log-in through OpenID Connect and OAuth 2 providers (authorization code flow with PKCE), with Authlib.

Providers come from `settings.oauth_providers`: any OpenID Connect issuer (discovered from its
`.well-known/openid-configuration`, ID token checked against its keys), or one of the presets (Google by OIDC;
GitHub and Discord by OAuth 2 and their user APIs).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import httpx
from authlib.common.errors import AuthlibBaseError
from authlib.integrations.httpx_client import OAuth2Client
from authlib.jose import JsonWebKey, jwt
from authlib.jose.errors import JoseError
from authlib.oauth2.rfc7636 import create_s256_code_challenge

from modelyard.core.errors import BadRequest, NotFound, ServiceUnavailable
from modelyard.core.settings import Settings

HTTP_TIMEOUT = 10.0

PRESETS: dict[str, dict[str, Any]] = {
    "google": {"label": "Google", "issuer": "https://accounts.google.com"},
    "github": {
        "label": "GitHub",
        "authorize_url": "https://github.com/login/oauth/authorize",
        "token_url": "https://github.com/login/oauth/access_token",
        "userinfo_url": "https://api.github.com/user",
        "emails_url": "https://api.github.com/user/emails",
        "scope": "read:user user:email",
    },
    "discord": {
        "label": "Discord",
        "authorize_url": "https://discord.com/oauth2/authorize",
        "token_url": "https://discord.com/api/oauth2/token",
        "userinfo_url": "https://discord.com/api/users/@me",
        "scope": "identify email",
    },
}


@dataclass(frozen=True)
class Provider:
    name: str
    label: str
    client_id: str
    client_secret: str
    issuer: str | None = None  # set for OpenID Connect providers
    authorize_url: str | None = None
    token_url: str | None = None
    userinfo_url: str | None = None
    emails_url: str | None = None
    scope: str = "openid email profile"
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def is_oidc(self) -> bool:
        return self.issuer is not None


def configured_providers(settings: Settings) -> list[Provider]:
    return [_provider(name, config) for name, config in sorted(settings.oauth_providers.items())]


def get_provider(settings: Settings, name: str) -> Provider:
    config = settings.oauth_providers.get(name)
    if config is None:
        raise NotFound(f"No log-in provider named {name}")
    return _provider(name, config)


def _provider(name: str, config: dict[str, Any]) -> Provider:
    merged = {**PRESETS.get(name, {}), **config}
    if not merged.get("client_id") or not merged.get("client_secret"):
        raise ValueError(f"oauth provider {name!r} needs client_id and client_secret")
    if not merged.get("issuer") and not (merged.get("authorize_url") and merged.get("token_url")):
        raise ValueError(f"oauth provider {name!r} needs an issuer, or authorize_url and token_url")
    known = set(Provider.__dataclass_fields__) - {"name", "extra"}
    return Provider(
        name=name,
        label=str(merged.pop("label", name.title())),
        extra={k: v for k, v in merged.items() if k not in known},
        **{k: v for k, v in merged.items() if k in known and k != "label"},
    )


# --- discovery and keys (cached per process) ------------------------------------------------------------------

_discovery: dict[str, tuple[float, dict[str, Any]]] = {}
DISCOVERY_TTL = 3600.0


def _get_json(url: str, **kwargs: Any) -> Any:
    try:
        response = httpx.get(url, timeout=HTTP_TIMEOUT, follow_redirects=False, **kwargs)
        response.raise_for_status()
        return response.json()
    except (httpx.HTTPError, ValueError) as exc:
        raise ServiceUnavailable(f"The log-in provider did not answer properly ({type(exc).__name__})") from exc


def metadata(provider: Provider) -> dict[str, Any]:
    if not provider.is_oidc:
        return {
            "authorization_endpoint": provider.authorize_url,
            "token_endpoint": provider.token_url,
            "userinfo_endpoint": provider.userinfo_url,
        }
    assert provider.issuer is not None
    cached = _discovery.get(provider.issuer)
    if cached is not None and cached[0] > time.monotonic():
        return cached[1]
    document = _get_json(provider.issuer.rstrip("/") + "/.well-known/openid-configuration")
    if document.get("issuer", "").rstrip("/") != provider.issuer.rstrip("/"):
        raise ServiceUnavailable("The log-in provider's discovery document names another issuer")
    _discovery[provider.issuer] = (time.monotonic() + DISCOVERY_TTL, document)
    return dict(document)


# --- the flow -------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Authorization:
    url: str
    state: str
    nonce: str
    code_verifier: str


def begin(provider: Provider, *, redirect_uri: str) -> Authorization:
    from authlib.common.security import generate_token

    state, nonce, verifier = generate_token(32), generate_token(32), generate_token(64)
    client = OAuth2Client(provider.client_id, provider.client_secret, scope=provider.scope, redirect_uri=redirect_uri)
    params: dict[str, str] = {"code_challenge": create_s256_code_challenge(verifier), "code_challenge_method": "S256"}
    if provider.is_oidc:
        params["nonce"] = nonce
    url, _ = client.create_authorization_url(metadata(provider)["authorization_endpoint"], state=state, **params)
    return Authorization(url=url, state=state, nonce=nonce, code_verifier=verifier)


@dataclass(frozen=True)
class Identity:
    provider: str
    subject: str
    email: str | None
    email_verified: bool
    preferred_username: str | None
    name: str | None


def complete(provider: Provider, *, redirect_uri: str, code: str, code_verifier: str, nonce: str) -> Identity:
    """Exchange the code for tokens and read who logged in."""
    meta = metadata(provider)
    client = OAuth2Client(
        provider.client_id,
        provider.client_secret,
        redirect_uri=redirect_uri,
        timeout=HTTP_TIMEOUT,
        token_endpoint_auth_method="client_secret_post",  # noqa: S106 - a method name, not a secret
    )
    try:
        token = client.fetch_token(
            meta["token_endpoint"], code=code, code_verifier=code_verifier, headers={"Accept": "application/json"}
        )
    except (httpx.HTTPError, ValueError) as exc:
        raise ServiceUnavailable("The log-in provider did not answer properly") from exc
    except AuthlibBaseError as exc:  # the provider refused the code (expired, reused, wrong client)
        raise BadRequest(f"The log-in provider refused the sign-in ({exc})") from exc
    if provider.is_oidc:
        return _identity_from_id_token(provider, meta, token, nonce)
    return _identity_from_api(provider, token["access_token"])


def _identity_from_id_token(provider: Provider, meta: dict[str, Any], token: dict[str, Any], nonce: str) -> Identity:
    id_token = token.get("id_token")
    if not id_token:
        raise BadRequest("The log-in provider sent no ID token")
    keys = JsonWebKey.import_key_set(_get_json(meta["jwks_uri"]))
    options = {
        "iss": {"essential": True, "value": meta["issuer"]},
        "aud": {"essential": True, "value": provider.client_id},
        "sub": {"essential": True},
        "exp": {"essential": True},
        "nonce": {"essential": True, "value": nonce},
    }
    try:
        claims = jwt.decode(id_token, keys, claims_options=options)
        claims.validate(leeway=60)
    except JoseError as exc:
        raise BadRequest(f"The log-in provider's ID token is not valid ({exc.error})") from exc
    email = claims.get("email")
    return Identity(
        provider=provider.name,
        subject=str(claims["sub"]),
        email=str(email).lower() if email else None,
        email_verified=bool(claims.get("email_verified")) and bool(email),
        preferred_username=claims.get("preferred_username") or claims.get("nickname"),
        name=claims.get("name"),
    )


def _identity_from_api(provider: Provider, access_token: str) -> Identity:
    headers = {"Authorization": f"Bearer {access_token}", "Accept": "application/json"}
    assert provider.userinfo_url is not None
    info = _get_json(provider.userinfo_url, headers=headers)
    email, verified = info.get("email"), bool(info.get("verified") or info.get("email_verified"))
    if provider.emails_url:  # GitHub: the verified primary address comes from a second call
        for entry in _get_json(provider.emails_url, headers=headers):
            if entry.get("primary"):
                email, verified = entry.get("email"), bool(entry.get("verified"))
    return Identity(
        provider=provider.name,
        subject=str(info["id"]),
        email=str(email).lower() if email else None,
        email_verified=verified and bool(email),
        preferred_username=info.get("login") or info.get("username"),
        name=info.get("name") or info.get("global_name"),
    )
