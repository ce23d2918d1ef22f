"""The address a request came to: what absolute URLs given out in answers are built on, and who the client is
behind a reverse proxy.

`MODELYARD_PUBLIC_BASE_URL`, when set, is the operator's word and always wins. Unset, absolute URLs (`downloadUrl`,
`nextPage`, the links of the v1 API, download redirects) are built on the scheme and `Host` of each request, so
they work on whatever address a client reached the server at: `127.0.0.1:8000`, a LAN address, another port.

Behind a reverse proxy the request arrives from the proxy, for the address the proxy listens on: the proxy says
what the client asked for in `X-Forwarded-Proto` and `X-Forwarded-Host`, and who the client is in
`X-Forwarded-For`. Anyone can send those headers, so they are believed only from the addresses (or networks) in
`MODELYARD_FORWARDED_ALLOW_IPS`; from anyone else they are ignored. `ForwardedHeaders.apply` does this once per
request, first thing in the edge layer, so the whole app (rate limits, download counts, URLs) sees the client's
view; uvicorn's own handling is off (`modelyard serve`), this being the one place.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable
from contextvars import ContextVar, Token

from starlette.requests import Request
from starlette.types import Scope

from modelyard.core.settings import Settings

IpNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
# A host as URLs may carry it: a DNS name (underscores allowed, as container names have them), an IPv4 address
# or a bracketed IPv6 one, with an optional port. Anything else (a slash, a space, `@`, a query) is refused, so
# a Host header cannot smuggle a path or another host into the URLs built on it.
_LABEL = r"[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?"
_HOST = re.compile(rf"(?:{_LABEL}(?:\.{_LABEL})*\.?|\[[0-9A-Fa-f:.]{{2,45}}\])(?::[0-9]{{1,5}})?")
_SCHEMES = frozenset({"http", "https"})


class ForwardedHeaders:
    """The trusted proxies of `MODELYARD_FORWARDED_ALLOW_IPS` (addresses, CIDR networks, or `*` for any), and
    what their headers change in a request's scope."""

    def __init__(self, allowed: str) -> None:
        entries = [entry.strip() for entry in allowed.split(",") if entry.strip()]
        self.any = "*" in entries
        self.networks: list[IpNetwork] = []
        self.literals: set[str] = set()  # anything else names a peer exactly (a unix socket's path), as uvicorn
        for entry in entries:
            try:
                self.networks.append(ipaddress.ip_network(entry, strict=False))
            except ValueError:
                self.literals.add(entry)

    def trusts(self, host: str | None) -> bool:
        if host is None:
            return False
        if self.any or host in self.literals:
            return True
        try:
            address = ipaddress.ip_address(host)
        except ValueError:
            return False
        return any(address in network for network in self.networks)

    def apply(self, scope: Scope) -> None:
        """From a trusted proxy: its X-Forwarded-Proto becomes the scheme, its X-Forwarded-Host the Host header
        and its X-Forwarded-For the client (the nearest address it does not trust). Malformed values are
        ignored, each on its own."""
        client = scope.get("client")
        if not self.trusts(client[0] if client else None):
            return
        headers: list[tuple[bytes, bytes]] = list(scope.get("headers", ()))
        found = {name: value.decode("latin-1") for name, value in headers if name.startswith(b"x-forwarded-")}
        proto = _first(found.get(b"x-forwarded-proto", "")).lower()
        if proto in _SCHEMES:
            scope["scheme"] = proto
        host = _first(found.get(b"x-forwarded-host", ""))
        if host and _HOST.fullmatch(host):
            scope["headers"] = [(name, value) for name, value in headers if name != b"host"]
            scope["headers"].append((b"host", host.encode("latin-1")))
        chain = [part.strip() for part in found.get(b"x-forwarded-for", "").split(",") if part.strip()]
        real = self._client_of(chain)
        if real is not None:
            scope["client"] = (real, 0)

    def _client_of(self, chain: Iterable[str]) -> str | None:
        """The nearest address in the chain that is not a trusted proxy (or the farthest, when all are)."""
        hops = [hop for hop in chain if _is_address(hop)]
        for hop in reversed(hops):
            if not self.trusts(hop):
                return hop
        return hops[0] if hops else None


def _first(value: str) -> str:
    """The first of a comma-separated header's values: the one the outermost proxy saw the client send."""
    return value.split(",", 1)[0].strip()


def _is_address(value: str) -> bool:
    try:
        ipaddress.ip_address(value)
    except ValueError:
        return False
    return True


def base_url_configured(settings: Settings) -> bool:
    """Whether `MODELYARD_PUBLIC_BASE_URL` was set (its default only stands in where there is no request)."""
    return "public_base_url" in settings.model_fields_set


def base_of(scope: Scope, settings: Settings) -> str:
    """The base absolute URLs in an answer to the request of `scope` are built on, without a trailing slash: the
    configured public URL, else the scheme and host this request came to (through a trusted proxy, the
    client's), else the server's own address."""
    if base_url_configured(settings):
        return settings.public_base_url.rstrip("/")
    host = next((value.decode("latin-1") for name, value in scope.get("headers", ()) if name == b"host"), "")
    if not _HOST.fullmatch(host):
        server = scope.get("server")
        if not server:
            return settings.public_base_url.rstrip("/")
        name, port = server
        host = f"[{name}]:{port}" if ":" in str(name) else f"{name}:{port}"
    scheme = scope.get("scheme", "http")
    return f"{scheme if scheme in _SCHEMES else 'http'}://{host}{scope.get('root_path', '')}".rstrip("/")


def public_url(request: Request) -> str:
    """`base_of` this request, with the app's settings: what routes build absolute URLs on."""
    settings: Settings = request.app.state.runtime.settings  # as core.http.runtime_of, which imports far more
    return base_of(request.scope, settings)


# The base of the request being answered, for what builds absolute URLs without the request at hand (the local
# storage's signed file URLs): set by the edge layer for each request when no public URL is configured.
_request_base: ContextVar[str | None] = ContextVar("modelyard_request_base", default=None)


def enter_request(scope: Scope, settings: Settings) -> Token[str | None] | None:
    """Make this request's base the current one (`current_base`), unless a public URL is configured; the edge
    layer calls it first and `leave_request` with what it returned last."""
    if base_url_configured(settings):
        return None
    return _request_base.set(base_of(scope, settings))


def leave_request(token: Token[str | None] | None) -> None:
    if token is not None:
        _request_base.reset(token)


def current_base() -> str | None:
    """The base of the request being answered, when no public URL is configured; None outside a request."""
    return _request_base.get()
