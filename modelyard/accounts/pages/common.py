"""What the account pages share beyond the page toolkit (`modelyard.web.toolkit`): their flash messages, the
password rule their forms show, who may open the settings, and the log-in provider buttons."""

from __future__ import annotations

import logging
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import Depends, Request
from fastapi.responses import HTMLResponse

from modelyard.accounts import oauth
from modelyard.accounts.models import User
from modelyard.accounts.scopes import TokenScope
from modelyard.core.http import runtime_of
from modelyard.web.toolkit import login_required, page, register_flash

log = logging.getLogger(__name__)

register_flash(
    {
        "welcome": "Welcome aboard! We sent you a link to confirm your e-mail address.",
        "logged-out": "You have logged out.",
        "email-verified": "Your e-mail address is confirmed. Thank you!",
        "verification-sent": "We sent you a new confirmation link. Check your inbox.",
        "reset-sent": "If an account uses this address, a link to reset its password is on its way.",
        "password-reset": "Your new password is set and every session has been logged out. Log in with it now.",
        "profile-saved": "Your profile is saved.",
        "password-changed": "Your password is changed. Every other session has been logged out.",
        "session-revoked": "That session is logged out.",
        "unlinked": "That sign-in is no longer linked to your account.",
        "avatar-saved": "Your profile picture is saved.",
        "sessions-revoked": "Every other session is logged out.",
        "key-revoked": "The API key is revoked; it stops working at once.",
    }
)

# A settings form posted by someone logged out meanwhile cannot be replayed: they land on their account.
AccountReader = Annotated[User, Depends(login_required(TokenScope.UserRead, after_post="/account"))]
AccountWriter = Annotated[User, Depends(login_required(TokenScope.UserWrite, after_post="/account"))]


def account_page(
    request: Request, template: str, context: dict[str, Any] | None = None, **options: Any
) -> HTMLResponse:
    """`toolkit.page` with the password rule the sign-up, reset and password forms state."""
    rule = {"min_password_length": runtime_of(request).settings.min_password_length}
    return page(request, template, {**rule, **(context or {})}, **options)


def oauth_buttons(request: Request, next_path: str) -> list[dict[str, str]]:
    """One link per configured log-in provider, carrying where to go afterwards."""
    try:
        providers = oauth.configured_providers(runtime_of(request).settings)
    except ValueError:
        # A misconfigured provider must not take the log-in form down; the password form still works.
        log.warning("log-in providers are misconfigured; no provider buttons shown", exc_info=True)
        return []
    query = f"?{urlencode({'next': next_path})}" if next_path else ""
    return [
        {"name": provider.name, "label": provider.label, "url": f"/auth/oauth/{provider.name}/start{query}"}
        for provider in providers
    ]
