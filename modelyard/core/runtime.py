"""The process-wide runtime: settings plus the one instance of each swappable part.

Every part sits behind one small interface chosen by settings (SQLite or PostgreSQL, local directory or S3,
in-process or Redis), so no domain code branches on how the platform is deployed.
"""

from __future__ import annotations

import importlib
import importlib.util
import logging
import pkgutil
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

from modelyard.core.settings import Settings

if TYPE_CHECKING:
    from modelyard.core.cache import Cache
    from modelyard.core.db import Database
    from modelyard.core.events import EventBus
    from modelyard.core.jobs.transport import JobQueue
    from modelyard.core.metrics import Metrics
    from modelyard.core.storage import Storage

log = logging.getLogger(__name__)


T = TypeVar("T")
_extension_lock = threading.Lock()


@dataclass(eq=False)  # identity semantics: one runtime per process, usable as a key
class Runtime:
    settings: Settings
    db: Database
    storage: Storage
    events: EventBus
    cache: Cache
    queue: JobQueue
    metrics: Metrics
    redis: Any | None  # redis.Redis when scaled out
    # init=False: dataclasses.replace() (tests build variants of a runtime) must not share one's extensions.
    extensions: dict[str, Any] = field(default_factory=dict, init=False, repr=False)

    def extension(self, name: str, factory: Callable[[Runtime], T]) -> T:
        """Per-runtime state a domain keeps (the rate limiter, the flag evaluator…), made on first use by
        `factory(runtime)`. `close()` calls its `close()` method, if it has one."""
        found = self.extensions.get(name)
        if found is None:
            with _extension_lock:
                found = self.extensions.get(name)
                if found is None:
                    found = factory(self)
                    self.extensions[name] = found
        return found

    def close(self) -> None:
        for name in reversed(list(self.extensions)):
            closer = getattr(self.extensions.pop(name), "close", None)
            if closer is not None:
                closer()
        self.events.stop()
        self.db.dispose()
        if self.redis is not None:
            self.redis.close()


_current: Runtime | None = None


def get_runtime() -> Runtime:
    if _current is None:
        raise RuntimeError("the Modelyard runtime is not initialised (call modelyard.core.runtime.init_runtime)")
    return _current


def set_runtime(runtime: Runtime | None) -> None:
    global _current
    _current = runtime


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
