"""The process-wide runtime: settings plus the one instance of each swappable part.

Every part sits behind one small interface chosen by settings (SQLite or PostgreSQL, local directory or S3,
in-process or Redis), so no domain code branches on how the platform is deployed. This module only holds the
runtime and names the current one; `modelyard.core.bootstrap` builds it (and imports every part to do so), so
the parts can ask for the current runtime without importing their own builder.
"""

from __future__ import annotations

import logging
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
