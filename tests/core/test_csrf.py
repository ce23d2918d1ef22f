"""CSRF and API keys: a request is exempt from the CSRF check only when it presents a real API key, and then it is
that key's, never the session cookie's. Forged requests here carry only what a forging site can make a victim's
browser send: the victim's cookies, any URL, any form body; never the CSRF token nor an Authorization header
(except where a test says so, for the two layers' agreement)."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from starlette.requests import Request

from modelyard.accounts import auth
from modelyard.accounts.models import ApiKey, User
from modelyard.accounts.sessions import SESSION_COOKIE
from modelyard.catalog.enums import ModelStatus
from modelyard.catalog.models import Model
from modelyard.core.csrf import CSRF_COOKIE, CsrfRefused
from modelyard.core.runtime import Runtime
from tests.support.catalog import create_model
from tests.support.factories import UserFixture, create_api_key, create_user, log_in

# What clients send for "no key", in the spellings the two layers once disagreed on.
PLACEHOLDERS = ["null", "0", "none", "undefined", "false", "NULL", "None", " null ", "%20null%20", "null%0A", ""]
# Query strings that present no key, however written.
NO_KEY_QUERIES = [f"token={value}" for value in PLACEHOLDERS] + ["TOKEN=null", "token=null&other=1", "%74oken=null"]
NO_KEY_HEADERS = ["Bearer null", "Bearer None", "bearer undefined", "Bearer 0", "Bearer", "null", "Bearer  false "]


@pytest.fixture
def victim(runtime: Runtime, client: TestClient) -> UserFixture:
    """A logged-in browser: the session cookie and the CSRF cookie, but no token header (a forging site has none)."""
    user = create_user(runtime)
    log_in(client, user)
    del client.headers["x-csrf-token"]
    assert SESSION_COOKIE in client.cookies and CSRF_COOKIE in client.cookies
    return user


def _keys(runtime: Runtime, user: UserFixture) -> int:
    with runtime.db.session() as session:
        return session.scalar(select(func.count()).select_from(ApiKey).where(ApiKey.user_id == user.id)) or 0


def _model_status(runtime: Runtime, model_id: int) -> ModelStatus:
    with runtime.db.session() as session:
        model = session.get(Model, model_id)
        assert model is not None
        return model.status


def _refused(response: object) -> None:
    assert getattr(response, "status_code", None) == 403, getattr(response, "text", "")
    assert response.json()["error"] == "csrf_failed"  # type: ignore[attr-defined]


@pytest.mark.parametrize("query", NO_KEY_QUERIES)
def test_a_placeholder_token_does_not_skip_the_check(
    runtime: Runtime, client: TestClient, victim: UserFixture, query: str
) -> None:
    made = create_model(runtime, victim, with_post=False)
    _refused(client.delete(f"/api/models/{made.id}?{query}"))
    _refused(client.post(f"/api/account/api-keys?{query}", json={"name": "stolen"}))
    _refused(client.post(f"/account/api-keys?{query}", data={"name": "stolen", "access": "full"}))
    _refused(client.patch(f"/api/account?{query}", json={"display_name": "Mallory was here"}))
    assert _model_status(runtime, made.id) == ModelStatus.Draft
    assert _keys(runtime, victim) == 0


@pytest.mark.parametrize("header", NO_KEY_HEADERS)
def test_a_placeholder_authorization_header_does_not_skip_the_check(
    runtime: Runtime, client: TestClient, victim: UserFixture, header: str
) -> None:
    made = create_model(runtime, victim, with_post=False)
    _refused(client.delete(f"/api/models/{made.id}", headers={"Authorization": header}))
    _refused(client.post("/api/account/api-keys", json={"name": "stolen"}, headers={"Authorization": header}))
    assert _model_status(runtime, made.id) == ModelStatus.Draft
    assert _keys(runtime, victim) == 0


@pytest.mark.parametrize("query", ["token=null", "token=0", "token=" + "0" * 32, "token=not-a-key", "token=KEY"])
def test_login_forms_posted_from_another_site_are_refused(client: TestClient, runtime: Runtime, query: str) -> None:
    """Log-in CSRF, with a token in the URL that is no key, a key that authenticates nobody, or the attacker's."""
    attacker = create_user(runtime)
    query = query.replace("KEY", create_api_key(runtime, attacker))
    client.get("/")  # the victim's browser holds a CSRF cookie, as after any visit
    response = client.post(f"/login?{query}", data={"login": attacker.username, "password": attacker.password})
    assert response.status_code == 403, response.text
    assert SESSION_COOKIE not in client.cookies


def test_a_form_signup_with_a_key_in_the_url_sets_no_session(client: TestClient, runtime: Runtime) -> None:
    attacker = create_user(runtime)
    key = create_api_key(runtime, attacker)
    client.get("/")
    form = {"username": "forged", "email": "forged@example.com", "password": "another long passphrase"}
    response = client.post(f"/signup?token={key}", data=form)
    assert response.status_code == 403, response.text
    assert SESSION_COOKIE not in client.cookies
    with runtime.db.session() as session:
        assert session.scalar(select(User).where(User.username == "forged")) is None


def test_a_key_that_authenticates_nobody_never_falls_back_to_the_cookie(
    runtime: Runtime, client: TestClient, victim: UserFixture
) -> None:
    made = create_model(runtime, victim, with_post=False)
    for credentials in ("token=" + "0" * 32, "token=garbage"):
        response = client.delete(f"/api/models/{made.id}?{credentials}")
        assert response.status_code == 401, response.text
        response = client.patch(f"/api/account?{credentials}", json={"display_name": "Mallory was here"})
        assert response.status_code == 401
    assert _model_status(runtime, made.id) == ModelStatus.Draft
    with runtime.db.session() as session:
        assert session.get(User, victim.id).display_name is None  # type: ignore[union-attr]


def test_a_real_key_acts_as_its_owner_not_as_the_cookie(
    runtime: Runtime, client: TestClient, victim: UserFixture
) -> None:
    made = create_model(runtime, victim, with_post=False)
    attacker_key = create_api_key(runtime, create_user(runtime))
    assert client.delete(f"/api/models/{made.id}?token={attacker_key}").status_code == 404  # the attacker's view
    assert _model_status(runtime, made.id) == ModelStatus.Draft
    own_key = create_api_key(runtime, victim)
    assert client.delete(f"/api/models/{made.id}?token={own_key}").status_code == 204


def test_a_repeated_token_parameter_is_refused(runtime: Runtime, client: TestClient, victim: UserFixture) -> None:
    key = create_api_key(runtime, victim)
    made = create_model(runtime, victim, with_post=False)
    repeated = (f"token={key}&token=null", f"token=null&token={key}", f"token={key}&token={key}", "token=null&token=")
    for query in repeated:
        response = client.delete(f"/api/models/{made.id}?{query}")
        assert response.status_code == 400, (query, response.text)
        assert client.get(f"/api/account?{query}").status_code == 400
    assert _model_status(runtime, made.id) == ModelStatus.Draft


def test_two_authorization_headers_are_refused(runtime: Runtime, client: TestClient, victim: UserFixture) -> None:
    key = create_api_key(runtime, victim)
    headers = [("authorization", "Bearer null"), ("authorization", f"Bearer {key}")]
    response = client.get("/api/account", headers=headers)
    assert response.status_code == 400, response.text


def test_a_key_and_a_cookie_read_as_the_key(runtime: Runtime, client: TestClient, victim: UserFixture) -> None:
    other = create_user(runtime)
    key = create_api_key(runtime, other)
    assert client.get("/api/account").json()["username"] == victim.username
    assert client.get(f"/api/account?token={key}").json()["username"] == other.username
    assert client.get(f"/api/account?%74oken={key}").json()["username"] == other.username  # as the app reads it
    assert client.get("/api/account?token=null").json()["username"] == victim.username


def test_the_session_cookie_is_refused_on_a_write_the_guard_did_not_check(runtime: Runtime, client: TestClient) -> None:
    """The auth layer's own check: a state-changing request reaching it without the guard's verdict (a route the
    guard was bypassed for, or the two layers disagreeing about a key) is refused, not read as the cookie's."""
    user = create_user(runtime)
    log_in(client, user)
    cookie = f"{SESSION_COOKIE}={client.cookies[SESSION_COOKIE]}"
    scope = {
        "type": "http",
        "method": "POST",
        "path": "/api/anything",
        "headers": [(b"cookie", cookie.encode())],
        "query_string": b"",
        "state": {},
        "app": client.app,
    }
    with runtime.db.session() as session, pytest.raises(CsrfRefused):
        auth.resolve_principal(Request(scope), session)
    scope["method"] = "GET"
    with runtime.db.session() as session:
        assert auth.resolve_principal(Request(scope), session).user is not None


def test_a_malformed_cookie_before_the_session_does_not_hide_it(
    runtime: Runtime, client: TestClient, victim: UserFixture
) -> None:
    """A cookie a strict parser gives up on (one another app on the site may set) once made the guard see no
    cookies, and so no need for the token, while the app still found the log-in behind it."""
    made = create_model(runtime, victim, with_post=False)
    session_cookie = client.cookies[SESSION_COOKIE]
    client.cookies.clear()
    for junk in ("x=a b", 'bad"name=1', "a,b=1"):
        response = client.delete(
            f"/api/models/{made.id}", headers={"cookie": f"{junk}; {SESSION_COOKIE}={session_cookie}"}
        )
        _refused(response)
    assert _model_status(runtime, made.id) == ModelStatus.Draft
