"""Security headers on every response, and `install_security`, which adds them and the rate limit to the app.

The Content-Security-Policy allows no inline script or style: pages load only this server's own files (htmx
is configured not to inject its indicator styles, /docs boots Swagger UI from a static script).
"""

from __future__ import annotations

from urllib.parse import urlsplit

from fastapi import FastAPI
from starlette.middleware import Middleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from modelyard.core.http import RequestContextMiddleware
from modelyard.core.ratelimit import RateLimitMiddleware
from modelyard.core.runtime import Runtime
from modelyard.core.settings import Settings

HSTS = "max-age=31536000; includeSubDomains"


def storage_origins(settings: Settings) -> list[str]:
    """Where the browser fetches files from besides this server: the S3 endpoint serving presigned URLs."""
    if settings.storage_backend != "s3":
        return []
    if settings.s3_endpoint_url:
        parts = urlsplit(settings.s3_endpoint_url)
        return [f"{parts.scheme}://{parts.netloc}"]
    # AWS itself: boto3 presigns virtual-hosted URLs, with or without the region in the host name.
    bucket, region = settings.s3_bucket, settings.s3_region
    return [f"https://{bucket}.s3.{region}.amazonaws.com", f"https://{bucket}.s3.amazonaws.com"]


def content_security_policy(settings: Settings) -> str:
    storage = "".join(f" {origin}" for origin in storage_origins(settings))
    directives = [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        f"img-src 'self' data: blob:{storage}",
        f"media-src 'self' blob:{storage}",
        # Presigned uploads go straight from the browser to the bucket.
        f"connect-src 'self'{storage}",
        "font-src 'self'",
        "object-src 'none'",
        "base-uri 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
    return "; ".join(directives)


def security_headers(settings: Settings) -> list[tuple[bytes, bytes]]:
    headers = {
        "content-security-policy": content_security_policy(settings),
        "x-content-type-options": "nosniff",
        "referrer-policy": "strict-origin-when-cross-origin",
        "x-frame-options": "DENY",
        "cross-origin-opener-policy": "same-origin",
        "permissions-policy": "camera=(), microphone=(), geolocation=()",
    }
    if settings.public_base_url.startswith("https://"):
        # Only over https: sent over plain http it would be ignored at best, and lock out an http-only site.
        headers["strict-transport-security"] = HSTS
    return [(name.encode("latin-1"), value.encode("latin-1")) for name, value in headers.items()]


class SecurityHeadersMiddleware:
    """Pure ASGI: adds the security headers to every HTTP response, leaving any a route set itself."""

    def __init__(self, app: ASGIApp, runtime: Runtime) -> None:
        self.app = app
        self.headers = security_headers(runtime.settings)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                existing = list(message.get("headers", ()))
                present = {name.lower() for name, _ in existing}
                existing.extend(header for header in self.headers if header[0] not in present)
                message["headers"] = existing
            await send(message)

        await self.app(scope, receive, send_with_headers)


def install_security(app: FastAPI, runtime: Runtime) -> None:
    """Add the security headers and the per-IP rate limit. Idempotent. Call it before the app starts and after
    RequestContextMiddleware is added: the two place themselves around it.

    Order, outermost first: security headers, request context, rate limit, the app. The headers wrap
    everything, so even the 500 the request-context middleware writes carries them; the rate limit sits inside
    the request context, so a 429 gets a request id, an access-log line and a metric like any response.
    """
    if app.middleware_stack is not None:
        raise RuntimeError("install_security must be called before the app starts")
    stack = app.user_middleware  # index 0 is the outermost, as add_middleware inserts there
    if any(entry.cls is SecurityHeadersMiddleware for entry in stack):
        return
    headers = Middleware(SecurityHeadersMiddleware, runtime=runtime)
    rate_limit = Middleware(RateLimitMiddleware, runtime=runtime)
    context = next((i for i, entry in enumerate(stack) if entry.cls is RequestContextMiddleware), None)
    if context is None:
        stack[0:0] = [headers, rate_limit]
    else:
        stack[context : context + 1] = [headers, stack[context], rate_limit]
