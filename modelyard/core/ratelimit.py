"""Rate limits per IP, per user and per API key; the limiter domains build their own limits on (the log-in
lock-out of `modelyard.accounts.login`, the downloads per hour of the catalog).

One interface, two implementations: in-process memory for a single web process, Redis when scaled out so every
web process shares the counters. Both use GCRA (the generic cell rate algorithm): one timestamp per key, a
burst of `limit` at once, then one more every `window / limit` — no 2x burst at window edges as with fixed
windows, and no per-request log as with sliding-window logs.
"""

from __future__ import annotations

import functools
import ipaddress
import logging
import re
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import Any, NamedTuple

import anyio.to_thread
from starlette.types import Scope

from modelyard.core.errors import RateLimited, ServiceUnavailable
from modelyard.core.runtime import Runtime
from modelyard.core.settings import Settings

log = logging.getLogger(__name__)

MICROSECONDS = 1_000_000

try:
    import redis.exceptions

    REDIS_UNAVAILABLE: tuple[type[Exception], ...] = (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError)
except ImportError:  # the embedded install has no redis package, and no Redis to lose
    REDIS_UNAVAILABLE = ()


class Decision(NamedTuple):
    allowed: bool
    remaining: int  # hits still allowed right now
    retry_after: int  # seconds until the next hit is allowed; 0 when allowed


class RateLimiter(ABC):
    # Whether a call waits on the network: the middleware then calls it off the event loop.
    blocking: bool = False

    @abstractmethod
    def hit(self, key: str, *, limit: int, window_seconds: int, cost: int = 1) -> Decision:
        """Spend `cost` of the `limit` hits `key` may make per `window_seconds`; a denied hit spends nothing."""

    @abstractmethod
    def peek(self, key: str, *, limit: int, window_seconds: int) -> Decision:
        """Whether one more hit would be allowed, without spending it."""

    @abstractmethod
    def reset(self, key: str) -> None:
        """Forget everything `key` has spent."""

    @abstractmethod
    def clear(self) -> None:
        """Forget every key (between tests, or to lift every limit at once)."""


@functools.lru_cache(maxsize=256)
def _gcra(limit: int, window_seconds: int) -> tuple[int, int]:
    """(emission interval, burst capacity) in µs. Integers, so `limit` hits at once always fit exactly."""
    if limit < 1 or window_seconds <= 0:
        raise ValueError(f"a rate limit needs limit >= 1 and a positive window, not {limit}/{window_seconds}s")
    interval = -(-int(window_seconds * MICROSECONDS) // limit)
    return interval, interval * limit


def _decision(now: int, allow_at: int, interval: int) -> Decision:
    """A hit is allowed when the bucket, with it, would be full no later than now (`allow_at <= now`)."""
    if allow_at > now:
        return Decision(False, 0, max(1, -(-(allow_at - now) // MICROSECONDS)))
    return Decision(True, (now - allow_at) // interval, 0)


class InProcessRateLimiter(RateLimiter):
    """Counters in this process's memory: exact for one web process, per-process when there are several."""

    def __init__(
        self,
        *,
        max_keys: int = 100_000,
        prune_interval_seconds: float = 10.0,
        clock: Callable[[], int] = time.monotonic_ns,
    ) -> None:
        self._tats: dict[str, int] = {}  # key -> theoretical arrival time (µs); gone once it has passed
        self._lock = threading.Lock()
        self._max_keys = max_keys
        self._prune_interval = int(prune_interval_seconds * MICROSECONDS)
        self._next_prune = 0
        self._clock = clock

    def hit(self, key: str, *, limit: int, window_seconds: int, cost: int = 1) -> Decision:
        interval, capacity = _gcra(limit, window_seconds)
        if cost < 0:
            raise ValueError("a hit cannot cost less than nothing")
        now = self._clock() // 1000
        with self._lock:
            if now >= self._next_prune or len(self._tats) >= self._max_keys:
                self._prune(now)
            # The GCRA step (the Lua script below is the same): tat = when the bucket would be empty again.
            tat = self._tats.get(key, now)
            new_tat = (tat if tat > now else now) + cost * interval
            allow_at = new_tat - capacity
            if allow_at <= now and cost:
                self._tats[key] = new_tat
        return _decision(now, allow_at, interval)

    def peek(self, key: str, *, limit: int, window_seconds: int) -> Decision:
        interval, capacity = _gcra(limit, window_seconds)
        now = self._clock() // 1000
        with self._lock:
            tat = self._tats.get(key, now)
        decision = _decision(now, max(tat, now) + interval - capacity, interval)
        return decision._replace(remaining=decision.remaining + 1) if decision.allowed else decision

    def reset(self, key: str) -> None:
        with self._lock:
            self._tats.pop(key, None)

    def clear(self) -> None:
        with self._lock:
            self._tats.clear()

    def __len__(self) -> int:
        return len(self._tats)

    def _prune(self, now: int) -> None:
        """Drop buckets that have drained (they read the same as absent); if an attacker spraying keys still
        fills the table, drop the oldest keys: memory stays bounded at the price of forgetting them."""
        self._next_prune = now + self._prune_interval
        self._tats = {key: tat for key, tat in self._tats.items() if tat > now}
        excess = len(self._tats) - self._max_keys * 9 // 10
        if excess > 0:
            for key in list(self._tats)[:excess]:
                del self._tats[key]


# GCRA in one atomic step. Redis's clock, not the callers', so web processes with skewed clocks agree.
# Times are integer µs (exact in a Lua double up to 2^53); '%d' keeps SET from writing them in e-notation.
_GCRA_SCRIPT = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local interval = tonumber(ARGV[1])
local capacity = tonumber(ARGV[2])
local cost = tonumber(ARGV[3])
local tat = tonumber(redis.call('GET', KEYS[1]) or now)
if tat < now then tat = now end
local new_tat = tat + cost * interval
local allow_at = new_tat - capacity
if allow_at > now then return {0, 0, allow_at - now} end
if ARGV[4] == '1' and cost > 0 then
  redis.call('SET', KEYS[1], string.format('%d', new_tat), 'PX', math.ceil((new_tat - now) / 1000))
end
return {1, math.floor((now - allow_at) / interval), 0}
"""


class RedisRateLimiter(RateLimiter):
    """Counters in Redis, shared by every web process. An unreachable Redis raises redis's ConnectionError
    (answered as 503): letting everything through during an outage would switch the limits off."""

    blocking = True

    def __init__(self, client: Any, *, prefix: str) -> None:
        self._client = client
        self._prefix = prefix
        self._script = client.register_script(_GCRA_SCRIPT)

    def hit(self, key: str, *, limit: int, window_seconds: int, cost: int = 1) -> Decision:
        if cost < 0:
            raise ValueError("a hit cannot cost less than nothing")
        return self._run(key, limit, window_seconds, cost, store=True)

    def peek(self, key: str, *, limit: int, window_seconds: int) -> Decision:
        decision = self._run(key, limit, window_seconds, 1, store=False)
        return decision._replace(remaining=decision.remaining + 1) if decision.allowed else decision

    def reset(self, key: str) -> None:
        self._client.delete(self._prefix + key)

    def clear(self) -> None:
        pattern = re.sub(r"([*?\[\]\\])", r"\\\1", self._prefix) + "*"
        batch: list[bytes] = []
        for key in self._client.scan_iter(match=pattern, count=1000):
            batch.append(key)
            if len(batch) >= 1000:
                self._client.delete(*batch)
                batch = []
        if batch:
            self._client.delete(*batch)

    def _run(self, key: str, limit: int, window_seconds: int, cost: int, *, store: bool) -> Decision:
        interval, capacity = _gcra(limit, window_seconds)
        allowed, remaining, wait = self._script(
            keys=[self._prefix + key], args=[interval, capacity, cost, 1 if store else 0]
        )
        retry_after = max(1, -(-int(wait) // MICROSECONDS)) if not allowed else 0
        return Decision(bool(allowed), int(remaining), retry_after)


def make_rate_limiter(settings: Settings, redis: Any | None) -> RateLimiter:
    if redis is None:
        return InProcessRateLimiter()
    return RedisRateLimiter(redis, prefix=f"{settings.redis_key_prefix}:rl:")


def rate_limiter(runtime: Runtime) -> RateLimiter:
    """The rate limiter of this runtime, created on first use."""
    return runtime.extension("ratelimit", lambda rt: make_rate_limiter(rt.settings, rt.redis))


@functools.lru_cache(maxsize=4096)
def client_bucket(ip: str) -> str:
    """The bucket an address counts against: IPv6 by /64, since one host or home commonly holds a whole /64
    and could otherwise walk through fresh addresses."""
    if ":" not in ip:
        return ip
    try:
        address = ipaddress.IPv6Address(ip)
    except ValueError:
        return ip
    if address.ipv4_mapped is not None:
        return str(address.ipv4_mapped)
    return str(ipaddress.IPv6Network((address, 64), strict=False))


def retry_headers(decision: Decision) -> dict[str, str]:
    return {"Retry-After": str(decision.retry_after)}


# /status too: it is the page an operator opens when Redis (which the limiter needs) is down.
EXEMPT_PATHS = frozenset({"/healthz", "/readyz", "/metrics", "/status", "/status/checks"})


class IpRateLimit:
    """The per-IP limit on every HTTP request but probes, metrics and static files, checked by
    `modelyard.core.edge.EdgeMiddleware` before the app sees the request."""

    def __init__(self, runtime: Runtime) -> None:
        self.limit = runtime.settings.rate_limit_ip_per_minute
        self.limiter = rate_limiter(runtime)
        self._limit_header = (b"x-ratelimit-limit", str(self.limit).encode())

    async def spend(self, scope: Scope) -> list[tuple[bytes, bytes]]:
        """Spend one request of the client's budget; returns the headers telling it what is left (none on the
        paths without a limit). Raises RateLimited when the budget is used up, and ServiceUnavailable when the
        Redis holding the counters is unreachable."""
        path = scope["path"]
        if not self.limit or path in EXEMPT_PATHS or path.startswith("/static/"):
            return []
        client = scope.get("client")
        key = "ip:" + (client_bucket(client[0]) if client else "unknown")
        try:
            if self.limiter.blocking:
                # Off the event loop: a slow Redis must not stall every other request of this process.
                decision = await anyio.to_thread.run_sync(self._hit, key)
            else:
                decision = self._hit(key)
        except REDIS_UNAVAILABLE:
            log.warning("rate limiter cannot reach Redis", exc_info=True)
            part = "cache and queue server (Redis)"
            raise ServiceUnavailable(f"The {part} is unreachable right now; try again in a few seconds.") from None
        if not decision.allowed:
            message = f"Too many requests; try again in {decision.retry_after} s"
            raise RateLimited(message, headers=retry_headers(decision))
        return [self._limit_header, (b"x-ratelimit-remaining", str(decision.remaining).encode())]

    def _hit(self, key: str) -> Decision:
        return self.limiter.hit(key, limit=self.limit, window_seconds=60)


def limit_principal(runtime: Runtime, *, user_id: int | None, api_key_id: int | None) -> None:
    """Spend one request of the API key's and of the user's per-minute budget; raise RateLimited when either
    is used up. A request made with a key counts against both: the key's limit, and its owner's overall one."""
    settings = runtime.settings
    limiter = rate_limiter(runtime)
    if api_key_id is not None and settings.rate_limit_api_key_per_minute:
        decision = limiter.hit(f"key:{api_key_id}", limit=settings.rate_limit_api_key_per_minute, window_seconds=60)
        if not decision.allowed:
            raise RateLimited(
                f"Too many requests with this API key; try again in {decision.retry_after} s",
                headers=retry_headers(decision),
            )
    if user_id is not None and settings.rate_limit_user_per_minute:
        decision = limiter.hit(f"user:{user_id}", limit=settings.rate_limit_user_per_minute, window_seconds=60)
        if not decision.allowed:
            raise RateLimited(
                f"Too many requests from this account; try again in {decision.retry_after} s",
                headers=retry_headers(decision),
            )
