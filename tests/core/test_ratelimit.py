"""Rate limits (per IP in the middleware, per user and API key) on the in-process limiter, and on Redis
in the scaled pass. Every test works on its own runtime copy, so its own in-process counters or Redis prefix.
The log-in lock-out built on them: tests/accounts/test_login_guard.py."""

from __future__ import annotations

import dataclasses
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from fastapi.testclient import TestClient

from modelyard.core.errors import RateLimited
from modelyard.core.ratelimit import (
    InProcessRateLimiter,
    RateLimiter,
    RedisRateLimiter,
    client_bucket,
    limit_principal,
    make_rate_limiter,
    rate_limiter,
)
from modelyard.core.runtime import Runtime, set_runtime
from modelyard.core.settings import Settings
from tests.conftest import SCALED
from tests.support.factories import METRICS_HEADERS
from tests.support.services import free_port

HTML = {"Accept": "text/html,application/xhtml+xml"}


def isolated_runtime(runtime: Runtime, **limits: Any) -> Runtime:
    """The test runtime with other limits and a fresh rate limiter (under its own Redis prefix when scaled)."""
    prefix = f"{runtime.settings.redis_key_prefix}-{uuid.uuid4().hex[:8]}"
    settings = runtime.settings.model_copy(update={"redis_key_prefix": prefix, **limits})
    return dataclasses.replace(runtime, settings=settings)


def dead_redis() -> Any:
    """A client of a port nobody listens on, failing at once (redis-py's default retries take seconds)."""
    redis = pytest.importorskip("redis")
    from redis.backoff import NoBackoff
    from redis.retry import Retry

    return redis.Redis(port=free_port(), socket_connect_timeout=1, retry=Retry(NoBackoff(), 0))


@pytest.fixture
def limiter(runtime: Runtime) -> RateLimiter:
    return rate_limiter(isolated_runtime(runtime))


@contextmanager
def secured_client(runtime: Runtime, **limits: Any) -> Iterator[TestClient]:
    from modelyard.app import create_app

    app = create_app(runtime=isolated_runtime(runtime, **limits))
    try:
        # No `with`: the app's lifespan would stop the shared runtime's event bus on the way out.
        yield TestClient(app, raise_server_exceptions=False)
    finally:
        set_runtime(runtime)


@pytest.fixture
def client_limited_to_2(runtime: Runtime) -> Iterator[TestClient]:
    with secured_client(runtime, rate_limit_ip_per_minute=2) as client:
        yield client


# --- the limiter ----------------------------------------------------------------------------------------------


def test_the_runtime_limiter_matches_the_backend(runtime: Runtime) -> None:
    copy = isolated_runtime(runtime)
    expected = RedisRateLimiter if SCALED else InProcessRateLimiter
    assert isinstance(rate_limiter(copy), expected)
    assert rate_limiter(copy) is rate_limiter(copy)


def test_allows_up_to_the_limit_then_denies_with_retry_after(limiter: RateLimiter) -> None:
    decisions = [limiter.hit("k", limit=3, window_seconds=60) for _ in range(4)]
    assert [d.allowed for d in decisions] == [True, True, True, False]
    assert [d.remaining for d in decisions[:3]] == [2, 1, 0]
    assert decisions[3].retry_after == 20  # one hit comes back every 60 s / 3


def test_the_limit_refills_after_the_window(limiter: RateLimiter) -> None:
    assert [limiter.hit("k", limit=2, window_seconds=1).allowed for _ in range(3)] == [True, True, False]
    time.sleep(1.05)
    assert [limiter.hit("k", limit=2, window_seconds=1).allowed for _ in range(3)] == [True, True, False]


def test_no_double_burst_half_a_window_after_a_full_burst(limiter: RateLimiter) -> None:
    assert all(limiter.hit("k", limit=4, window_seconds=2).allowed for _ in range(4))
    time.sleep(1.05)
    # A fixed window starting anew here would allow 4 more; half a window gives back half the limit.
    assert [limiter.hit("k", limit=4, window_seconds=2).allowed for _ in range(3)] == [True, True, False]


def test_denied_hits_do_not_push_the_next_one_further_out(limiter: RateLimiter) -> None:
    limiter.hit("k", limit=2, window_seconds=1)
    limiter.hit("k", limit=2, window_seconds=1)
    assert not any(limiter.hit("k", limit=2, window_seconds=1).allowed for _ in range(20))
    time.sleep(0.55)
    assert limiter.hit("k", limit=2, window_seconds=1).allowed


def test_keys_are_independent_and_reset_forgets(limiter: RateLimiter) -> None:
    assert limiter.hit("a", limit=1, window_seconds=60).allowed
    assert not limiter.hit("a", limit=1, window_seconds=60).allowed
    assert limiter.hit("b", limit=1, window_seconds=60).allowed
    limiter.reset("a")
    assert limiter.hit("a", limit=1, window_seconds=60).allowed


def test_clear_forgets_every_key_of_this_limiter_only(runtime: Runtime) -> None:
    mine, other = rate_limiter(isolated_runtime(runtime)), rate_limiter(isolated_runtime(runtime))
    for limiter in (mine, other):
        for key in ("a", "b"):
            limiter.hit(key, limit=1, window_seconds=60)
    mine.clear()
    assert mine.hit("a", limit=1, window_seconds=60).allowed and mine.hit("b", limit=1, window_seconds=60).allowed
    assert not other.hit("a", limit=1, window_seconds=60).allowed


def test_peek_spends_nothing(limiter: RateLimiter) -> None:
    assert limiter.peek("k", limit=2, window_seconds=60).remaining == 2
    limiter.hit("k", limit=2, window_seconds=60)
    assert limiter.peek("k", limit=2, window_seconds=60).remaining == 1
    assert limiter.peek("k", limit=2, window_seconds=60).remaining == 1
    limiter.hit("k", limit=2, window_seconds=60)
    assert not limiter.peek("k", limit=2, window_seconds=60).allowed


def test_cost_spends_several_hits(limiter: RateLimiter) -> None:
    assert limiter.hit("k", limit=5, window_seconds=60, cost=4).remaining == 1
    assert not limiter.hit("k", limit=5, window_seconds=60, cost=2).allowed
    assert limiter.hit("k", limit=5, window_seconds=60).allowed


def test_a_burst_from_threads_never_lets_more_than_the_limit_through(limiter: RateLimiter) -> None:
    threads, hits_each, limit = 16, 25, 150
    start = threading.Barrier(threads)
    allowed: list[int] = []

    def hammer() -> None:
        start.wait()
        allowed.append(sum(limiter.hit("burst", limit=limit, window_seconds=60).allowed for _ in range(hits_each)))

    workers = [threading.Thread(target=hammer) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=30)
    assert sum(allowed) == limit


def test_in_process_buckets_are_pruned_once_drained() -> None:
    now = [0]
    limiter = InProcessRateLimiter(prune_interval_seconds=1, clock=lambda: now[0])
    for n in range(1000):
        limiter.hit(f"ip:{n}", limit=10, window_seconds=1)
    assert len(limiter) == 1000
    now[0] += 2_000_000_000  # 2 s in ns: every bucket has drained
    limiter.hit("ip:late", limit=10, window_seconds=1)
    assert len(limiter) == 1


def test_in_process_memory_stays_bounded_under_a_key_spray() -> None:
    limiter = InProcessRateLimiter(max_keys=100, clock=lambda: 0)
    for n in range(10_000):
        limiter.hit(f"ip:{n}", limit=10, window_seconds=60)
    assert len(limiter) <= 100


@pytest.mark.scaled_only
def test_limiters_on_one_redis_share_counters(runtime: Runtime) -> None:
    import redis

    settings = isolated_runtime(runtime).settings
    assert settings.redis_url
    clients = [redis.Redis.from_url(settings.redis_url) for _ in range(2)]
    try:
        first, second = (make_rate_limiter(settings, client) for client in clients)
        assert first.hit("shared", limit=2, window_seconds=60).allowed
        assert second.hit("shared", limit=2, window_seconds=60).remaining == 0
        assert not first.hit("shared", limit=2, window_seconds=60).allowed
        second.reset("shared")
        assert first.hit("shared", limit=2, window_seconds=60).allowed
    finally:
        for client in clients:
            client.close()


def test_unreachable_redis_raises_instead_of_allowing(settings: Settings) -> None:
    redis = pytest.importorskip("redis")
    client = dead_redis()
    try:
        with pytest.raises(redis.exceptions.ConnectionError):
            RedisRateLimiter(client, prefix="nowhere:").hit("k", limit=1, window_seconds=60)
    finally:
        client.close()


def test_ipv6_clients_count_by_their_64() -> None:
    assert client_bucket("2001:db8:1:2:aaaa::1") == client_bucket("2001:db8:1:2:bbbb::9") == "2001:db8:1:2::/64"
    assert client_bucket("2001:db8:1:3::1") != client_bucket("2001:db8:1:2::1")
    assert client_bucket("::ffff:192.0.2.7") == "192.0.2.7"
    assert client_bucket("192.0.2.7") == "192.0.2.7"
    assert client_bucket("testclient") == "testclient"


# --- the middleware -------------------------------------------------------------------------------------------


def retry_after(response) -> int:  # type: ignore[no-untyped-def]
    """The wait a 429 announces: 30 s after the second of two requests a minute, less what the requests took (on
    a loaded machine a page can take over a second)."""
    wait = int(response.headers["retry-after"])
    assert 25 <= wait <= 30, wait
    return wait


def test_middleware_answers_429_json_with_retry_after(client_limited_to_2: TestClient) -> None:
    first = client_limited_to_2.get("/api/nothing-here")
    assert first.status_code == 404
    assert (first.headers["x-ratelimit-limit"], first.headers["x-ratelimit-remaining"]) == ("2", "1")
    assert client_limited_to_2.get("/api/nothing-here").headers["x-ratelimit-remaining"] == "0"
    refused = client_limited_to_2.get("/api/nothing-here")
    assert refused.status_code == 429
    wait = retry_after(refused)
    assert refused.json() == {"error": "rate_limited", "detail": f"Too many requests; try again in {wait} s"}
    assert refused.headers["x-request-id"], "the 429 passes through the request-context middleware"


def test_middleware_shows_browsers_the_html_error_page(client_limited_to_2: TestClient) -> None:
    for _ in range(2):
        client_limited_to_2.get("/", headers=HTML)
    refused = client_limited_to_2.get("/", headers=HTML)
    assert refused.status_code == 429
    assert refused.headers["content-type"].startswith("text/html")
    wait = retry_after(refused)
    assert "Slow down" in refused.text and f"try again in {wait} s" in refused.text


def test_probes_metrics_and_static_files_are_not_limited(client_limited_to_2: TestClient) -> None:
    for _ in range(3):
        client_limited_to_2.get("/api/nothing-here")
    for path in ("/healthz", "/metrics", "/static/css/app.css", "/healthz"):
        response = client_limited_to_2.get(path, headers=METRICS_HEADERS if path == "/metrics" else None)
        assert response.status_code == 200, path
        assert "x-ratelimit-limit" not in response.headers


def test_each_client_address_has_its_own_budget(client_limited_to_2: TestClient) -> None:
    app = client_limited_to_2.app
    one = TestClient(app, client=("198.51.100.1", 4000), raise_server_exceptions=False)
    other = TestClient(app, client=("198.51.100.2", 4000), raise_server_exceptions=False)
    assert [one.get("/api/x").status_code for _ in range(3)] == [404, 404, 429]
    assert other.get("/api/x").status_code == 404


def test_a_zero_limit_turns_the_ip_limit_off(runtime: Runtime) -> None:
    with secured_client(runtime, rate_limit_ip_per_minute=0) as client:
        responses = [client.get("/api/x") for _ in range(5)]
    assert [r.status_code for r in responses] == [404] * 5
    assert "x-ratelimit-limit" not in responses[0].headers


def test_redis_outage_answers_503_not_a_free_pass(runtime: Runtime) -> None:
    from modelyard.app import create_app

    dead = dead_redis()
    app = create_app(runtime=dataclasses.replace(isolated_runtime(runtime), redis=dead))
    try:
        response = TestClient(app, raise_server_exceptions=False).get("/api/x")
    finally:
        dead.close()
        set_runtime(runtime)
    assert response.status_code == 503
    assert response.json()["error"] == "service_unavailable"
    assert "Redis" in response.json()["detail"]
    assert response.headers["retry-after"]


def test_a_429_carries_the_request_id_and_security_headers_but_no_quota(client_limited_to_2: TestClient) -> None:
    for _ in range(2):
        client_limited_to_2.get("/api/nothing-here", headers={"x-request-id": "before"})
    refused = client_limited_to_2.get("/api/nothing-here", headers={"x-request-id": "refused-1"})
    assert refused.status_code == 429
    assert refused.headers["x-request-id"] == "refused-1"
    assert refused.headers["x-frame-options"] == "DENY"
    assert "x-ratelimit-remaining" not in refused.headers


# --- per user and per API key ---------------------------------------------------------------------------------


def test_limit_principal_per_user(runtime: Runtime) -> None:
    copy = isolated_runtime(runtime, rate_limit_user_per_minute=2)
    limit_principal(copy, user_id=1, api_key_id=None)
    limit_principal(copy, user_id=1, api_key_id=None)
    with pytest.raises(RateLimited, match="from this account; try again in 30 s") as refused:
        limit_principal(copy, user_id=1, api_key_id=None)
    assert refused.value.headers == {"Retry-After": "30"}
    limit_principal(copy, user_id=2, api_key_id=None)
    limit_principal(copy, user_id=None, api_key_id=None)


def test_limit_principal_per_api_key_also_counts_for_its_owner(runtime: Runtime) -> None:
    copy = isolated_runtime(runtime, rate_limit_api_key_per_minute=2, rate_limit_user_per_minute=3)
    limit_principal(copy, user_id=1, api_key_id=10)
    limit_principal(copy, user_id=1, api_key_id=10)
    with pytest.raises(RateLimited, match="with this API key") as refused:
        limit_principal(copy, user_id=1, api_key_id=10)
    assert refused.value.headers == {"Retry-After": "30"}
    limit_principal(copy, user_id=1, api_key_id=11)  # another key of the same user: the user's third request
    with pytest.raises(RateLimited, match="from this account"):
        limit_principal(copy, user_id=1, api_key_id=12)
