from __future__ import annotations

from typing import Any

from modelyard.core.settings import Settings


def make_redis(settings: Settings) -> Any:
    """A Redis client that fails fast (so requests answer 503 quickly) and reconnects by itself."""
    import redis
    from redis.backoff import ExponentialBackoff
    from redis.retry import Retry

    assert settings.redis_url
    return redis.Redis.from_url(
        settings.redis_url,
        socket_connect_timeout=2,
        socket_timeout=5,
        health_check_interval=15,
        # One quick retry rides out a dropped connection; redis-py's default (ten, with backoff) would hold
        # every request ~4 s before its 503 while Redis is down.
        retry=Retry(ExponentialBackoff(cap=0.2, base=0.05), 1),
    )
