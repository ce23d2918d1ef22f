"""Jinja2 templates shared by every domain's pages: the environment, cache-busted static URLs, the navigation
registry, the filters every template may use, and the site's HTML error page (registered with core's error
handlers by `install_error_page`)."""

from __future__ import annotations

import hashlib
import logging
import re
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

from fastapi import Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates
from markupsafe import Markup, escape
from starlette.applications import Starlette

from modelyard import __version__
from modelyard.core.http import plain_error_page, register_error_page

log = logging.getLogger(__name__)

WEB_DIR = Path(__file__).resolve().parent
TEMPLATES_DIR = WEB_DIR / "templates"
STATIC_DIR = WEB_DIR / "static"
SITE_NAME = "Modelyard"


class StaticUrls:
    """Builds `/static/<path>?v=<hash>` URLs. The hash of each file is computed once per instance (once per
    process for the shared one): static files ship with the package and only change with a new release."""

    def __init__(self, root: Path, *, prefix: str = "/static") -> None:
        self.root = root.resolve()
        self.prefix = prefix.rstrip("/")
        self._hashes: dict[str, str | None] = {}
        self._lock = threading.Lock()

    def __call__(self, path: str) -> str:
        path = path.lstrip("/")
        version = self._version(path)
        url = f"{self.prefix}/{path}"
        return f"{url}?v={version}" if version else url

    def _version(self, path: str) -> str | None:
        if path in self._hashes:
            return self._hashes[path]
        with self._lock:
            if path not in self._hashes:
                self._hashes[path] = self._hash_file(path)
            return self._hashes[path]

    def _hash_file(self, path: str) -> str | None:
        file = (self.root / path).resolve()
        if not file.is_relative_to(self.root) or not file.is_file():
            # A broken asset link must not take the page down with it; the missing file shows up as a 404.
            log.warning("static file not found", extra={"path": path})
            return None
        return hashlib.sha256(file.read_bytes()).hexdigest()[:12]


static_url = StaticUrls(STATIC_DIR)


@dataclass(frozen=True, order=True)
class NavItem:
    order: int
    label: str
    path: str


_nav: dict[str, NavItem] = {}


def register_nav(label: str, path: str, *, order: int = 100) -> None:
    """Add a link to the site header. Keyed by path, so registering again (a second app in the same process)
    replaces the entry instead of duplicating it. Only register pages that exist."""
    _nav[path] = NavItem(order=order, label=label, path=path)


def nav_items() -> list[NavItem]:
    return sorted(_nav.values())


def current_year() -> int:
    return datetime.now(UTC).year


templates = Jinja2Templates(directory=TEMPLATES_DIR)
templates.env.globals.update(
    static_url=static_url,
    site_name=SITE_NAME,
    version=__version__,
    nav_items=nav_items,
    current_year=current_year,
)


def render(
    request: Request,
    template_name: str,
    context: dict[str, Any] | None = None,
    *,
    status_code: int = 200,
    headers: dict[str, str] | None = None,
) -> HTMLResponse:
    response: HTMLResponse = templates.TemplateResponse(
        request, template_name, context or {}, status_code=status_code, headers=headers
    )
    return response


_ERROR_TITLES = {
    400: ("Bad request", "The request could not be understood."),
    401: ("Sign in required", "You need to be signed in to see this page."),
    403: ("Access denied", "Your account does not have access to this page."),
    404: ("Page not found", "The link may be broken, or the page may have been moved or removed."),
    405: ("Not allowed", "This page does not accept that kind of request."),
    409: ("Conflict", "Someone else changed this at the same time. Reload and try again."),
    413: ("Too large", "What you sent is larger than this server accepts."),
    422: ("Please check your input", "Some of what you sent is not valid."),
    429: ("Slow down", "You have made a lot of requests in a short time. Wait a moment, then try again."),
    500: ("Something went wrong", "An unexpected error happened on our side. It has been logged."),
    503: ("Temporarily unavailable", "A service this site depends on is not answering. Try again shortly."),
}


def error_title(status: int) -> tuple[str, str]:
    if status in _ERROR_TITLES:
        return _ERROR_TITLES[status]
    return _ERROR_TITLES[500] if status >= 500 else ("Request failed", "The request could not be completed.")


def render_error_page(
    request: Request, status: int, body: dict[str, Any], headers: dict[str, str] | None = None
) -> HTMLResponse:
    """The HTML twin of the JSON error body, registered as the site's error page (`install_error_page`). Never
    raises: a failing error page would hide the first error, so core's plain page answers instead."""
    title, hint = error_title(status)
    context = {
        "status": status,
        "title": title,
        "hint": hint,
        "detail": str(body.get("detail") or ""),
        "error_code": str(body.get("error") or ""),
        "request_id": str(body.get("request_id") or ""),
    }
    try:
        return render(request, "error.html", context, status_code=status, headers=headers)
    except Exception:  # the fallback must answer whatever broke the template
        log.exception("error page failed to render", extra={"status": status})
        return plain_error_page(status, body, headers, title=title, site=SITE_NAME)


def install_error_page(app: Starlette) -> None:
    register_error_page(app, render_error_page)


# --- filters every domain's templates use -------------------------------------------------------------------


def when(moment: datetime | None) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC") if moment else ""


def ago(moment: datetime | None, now: datetime | None = None) -> str:
    """`3 minutes ago`, `in 2 days`: coarse on purpose, the exact time is in the title."""
    if moment is None:
        return "never"
    seconds = int(((now or datetime.now(UTC)) - moment).total_seconds())
    future, seconds = seconds < 0, abs(seconds)
    if seconds < 60:
        return "just now"
    for unit, size in (("year", 31_536_000), ("month", 2_592_000), ("day", 86_400), ("hour", 3_600), ("minute", 60)):
        if seconds >= size:
            count = seconds // size
            text = f"{count} {unit}{'s' if count != 1 else ''}"
            return f"in {text}" if future else f"{text} ago"
    return "just now"


_URL = re.compile(r"https?://[^\s<>\"']+")


def linkify(text: str) -> Markup:
    """Plain text with its http(s) links clickable; everything else escaped (Markup.format escapes the URL)."""
    pieces: list[Markup] = []
    last = 0
    for match in _URL.finditer(text):
        pieces.append(escape(text[last : match.start()]))
        pieces.append(Markup('<a href="{0}" rel="noopener noreferrer">{0}</a>').format(match.group(0)))
        last = match.end()
    pieces.append(escape(text[last:]))
    return Markup("").join(pieces)


def urlquote(value: object) -> str:
    return quote(str(value), safe="")


templates.env.filters.update(when=when, ago=ago, linkify=linkify, urlquote=urlquote)
