"""Putting a runtime together: every domain's models, jobs and hooks imported, then one instance of each
swappable part made from the settings. The only module of `core/` that imports them all, so none of them has to
import it back (`modelyard.core.runtime` only holds the runtime they ask for)."""

from __future__ import annotations

import importlib
import importlib.util
import pkgutil

from modelyard.core.runtime import Runtime, set_runtime
from modelyard.core.settings import Settings


def load_domain_modules(settings: Settings) -> None:
    """Import every domain's ORM models and jobs (so migrations and queues see them), its hooks (what it
    registers with the domains below it: `modelyard/<domain>/hooks.py`), and configured plugins."""
    import modelyard

    for info in pkgutil.iter_modules(modelyard.__path__):
        if not info.ispkg:
            continue
        for leaf in ("models", "tasks", "hooks"):
            name = f"modelyard.{info.name}.{leaf}"
            if importlib.util.find_spec(name) is not None:
                importlib.import_module(name)
    importlib.import_module("modelyard.core.jobs.tasks")
    for name in settings.extra_modules:
        importlib.import_module(name)


def build_runtime(settings: Settings) -> Runtime:
    from modelyard.core.cache import Cache
    from modelyard.core.db import Database
    from modelyard.core.events import EventBus
    from modelyard.core.jobs.transport import JobQueue
    from modelyard.core.localbus import LocalChannel, channel_directory
    from modelyard.core.metrics import Metrics
    from modelyard.core.redis import make_redis
    from modelyard.core.storage import make_storage

    load_domain_modules(settings)
    redis = make_redis(settings) if settings.redis_url else None
    # Without Redis, the installation's processes (all on this machine) tell each other over local sockets.
    local = None if redis is not None else LocalChannel(channel_directory(settings.data_dir))
    events = EventBus(redis=redis, prefix=settings.redis_key_prefix, local=local)
    runtime = Runtime(
        settings=settings,
        db=Database(settings),
        storage=make_storage(settings),
        events=events,
        cache=Cache(settings, redis=redis, events=events),
        queue=JobQueue(settings),
        metrics=Metrics(),
        redis=redis,
    )
    runtime.metrics.attach(runtime)
    return runtime


def init_runtime(settings: Settings | None = None) -> Runtime:
    """Build the runtime for this process and make it current."""
    runtime = build_runtime(settings or Settings())
    set_runtime(runtime)
    runtime.events.start()
    return runtime
