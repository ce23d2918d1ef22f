from __future__ import annotations

from typing import Any

from modelyard.core.settings import Settings


def make_redis(settings: Settings) -> Any:
    """A Redis client that fails fast (so requests answer 503 quickly) and reconnects by itself."""
    import redis

    assert settings.redis_url
    return redis.Redis.from_url(
        settings.redis_url,
        socket_connect_timeout=2,
        socket_timeout=5,
        health_check_interval=15,
        retry_on_timeout=False,
    )
