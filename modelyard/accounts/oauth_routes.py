"""Browser routes of the OAuth/OIDC log-in: send the user to the provider, take them back, log them in."""

from __future__ import annotations

from fastapi import APIRouter, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import RedirectResponse

from modelyard.accounts import linking, oauth
from modelyard.accounts.auth import PrincipalDep
from modelyard.accounts.redirects import safe_next
from modelyard.accounts.routes import start_session
from modelyard.accounts.tokens import sign, unsign
from modelyard.core.errors import BadRequest
from modelyard.core.http import SessionDep, runtime_of, set_cookie_later

router = APIRouter(prefix="/auth/oauth", include_in_schema=False)
STATE_COOKIE = "modelyard_oauth"
_PURPOSE = "oauth-state"
STATE_LIFETIME = 600


def _callback_url(request: Request, provider: str) -> str:
    return f"{runtime_of(request).settings.public_base_url}/auth/oauth/{provider}/callback"


@router.get("/{provider}/start")
async def start(
    request: Request, provider: str, principal: PrincipalDep, next: str | None = Query(None, max_length=2000)
) -> RedirectResponse:
    """Send the browser to the provider. Logged in already: the provider's account gets linked instead."""
    settings = runtime_of(request).settings
    chosen = oauth.get_provider(settings, provider)
    authorization = await run_in_threadpool(oauth.begin, chosen, redirect_uri=_callback_url(request, provider))
    state = {
        "provider": provider,
        "state": authorization.state,
        "nonce": authorization.nonce,
        "verifier": authorization.code_verifier,
        "next": safe_next(next, "/account/linked" if principal.user else "/"),
        "link_user": principal.user.id if principal.user else None,
    }
    set_cookie_later(
        request,
        STATE_COOKIE,
        sign(state, purpose=_PURPOSE, max_age=STATE_LIFETIME),
        max_age=STATE_LIFETIME,
        secure=settings.secure_cookies,
    )
    return RedirectResponse(authorization.url, status_code=303)


@router.get("/{provider}/callback")
def callback(
    request: Request,
    provider: str,
    session: SessionDep,
    principal: PrincipalDep,
    code: str | None = Query(None, max_length=2000),
    state: str | None = Query(None, max_length=200),
    error: str | None = Query(None, max_length=200),
) -> RedirectResponse:
    """Where the provider sends the browser back: check the state, read the identity, log in."""
    settings = runtime_of(request).settings
    saved = unsign(request.cookies.get(STATE_COOKIE, ""), purpose=_PURPOSE)
    set_cookie_later(request, STATE_COOKIE, "", max_age=0, secure=settings.secure_cookies)
    if error:
        raise BadRequest(f"The sign-in was cancelled or refused by the provider ({error})")
    if saved is None or saved.get("provider") != provider or not state or state != saved.get("state") or not code:
        raise BadRequest("This sign-in link is not valid or has expired; start again from the log-in page")
    chosen = oauth.get_provider(settings, provider)
    identity = oauth.complete(
        chosen,
        redirect_uri=_callback_url(request, provider),
        code=code,
        code_verifier=saved["verifier"],
        nonce=saved["nonce"],
    )
    linking_user = principal.user if principal.user and principal.user.id == saved.get("link_user") else None
    user = linking.resolve(session, identity, current=linking_user)
    if linking_user is None:
        start_session(request, session, user)
    return RedirectResponse(safe_next(saved.get("next")), status_code=303)
