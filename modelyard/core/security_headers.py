"""The security headers every response carries (added by `modelyard.core.edge.EdgeMiddleware`).

The Content-Security-Policy allows no inline script or style: pages load only this server's own files (htmx
is configured not to inject its indicator styles, /docs boots Swagger UI from a static script).
"""

from __future__ import annotations

from urllib.parse import urlsplit

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
