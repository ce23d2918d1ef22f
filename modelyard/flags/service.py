"""Feature flags: create, change and delete them, load the snapshot every process evaluates from, and store
exposure counts.

A change publishes `flags.changed` after its commit; every process (each listens through `evaluator_for`)
reloads its snapshot from the database when it hears it.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Mapping
from typing import Any

from pydantic import ValidationError
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.orm import Session
from sqlalchemy.sql.dml import Insert

from modelyard.accounts.models import User
from modelyard.core.db import on_commit, utcnow
from modelyard.core.errors import Conflict, NotFound
from modelyard.core.events import EventBus
from modelyard.core.runtime import Runtime
from modelyard.core.settings import Settings
from modelyard.flags.evaluator import FlagDefinition, FlagEvaluator, Snapshot, build_snapshot
from modelyard.flags.models import FeatureFlag, FlagExposure
from modelyard.flags.schemas import ExposureCount, FlagCreate, FlagOut, FlagRules, FlagUpdate

log = logging.getLogger(__name__)

CHANGED_CHANNEL = "flags.changed"
FLUSH_SECONDS = 10.0
# A safety net only: changes arrive over the event bus; this bounds how long a process that missed an event
# (Redis restarting, say) keeps serving old rules.
RELOAD_SECONDS = 30.0
RETRY_SECONDS = 1.0


# --- reading ----------------------------------------------------------------------------------------------------


def rules_of(flag: FeatureFlag) -> FlagRules:
    return FlagRules.model_validate(
        {
            "description": flag.description,
            "enabled": flag.enabled,
            "everyone": flag.everyone,
            "roles": flag.roles,
            "user_ids": flag.user_ids,
            "percentage": flag.percentage,
            "variants": flag.variants,
        }
    )


def settings_flags(settings: Settings) -> dict[str, FlagRules]:
    """The valid flags of `settings.feature_flags`; an invalid one is logged and left out, so one typo in the
    configuration cannot take every other flag (or the site) down."""
    flags: dict[str, FlagRules] = {}
    for name, raw in settings.feature_flags.items():
        try:
            if not isinstance(raw, dict):
                raise TypeError("a flag is a JSON object of rules")
            data = FlagCreate.model_validate({**raw, "name": name})
        except (TypeError, ValidationError) as exc:
            log.error("ignored an invalid flag in settings.feature_flags", extra={"flag": name, "error": str(exc)})
            continue
        flags[name] = FlagRules.model_validate(data.model_dump(exclude={"name"}))
    return flags


def load_definitions(session: Session, settings: Settings) -> dict[str, FlagDefinition]:
    """Settings flags, then database flags over them (a database flag of the same name wins)."""
    definitions = {name: FlagDefinition(name, rules, "settings") for name, rules in settings_flags(settings).items()}
    for flag in session.scalars(select(FeatureFlag)):
        definitions[flag.name] = FlagDefinition(flag.name, rules_of(flag), "database")
    return definitions


def load_snapshot(session: Session, settings: Settings) -> Snapshot:
    return build_snapshot(load_definitions(session, settings))


def exposure_totals(session: Session, names: list[str] | None = None) -> dict[str, list[ExposureCount]]:
    query = select(FlagExposure.flag_name, FlagExposure.variant, func.sum(FlagExposure.count)).group_by(
        FlagExposure.flag_name, FlagExposure.variant
    )
    if names is not None:
        query = query.where(FlagExposure.flag_name.in_(names))
    totals: dict[str, list[ExposureCount]] = {}
    for name, variant, count in session.execute(query.order_by(FlagExposure.flag_name, FlagExposure.variant)):
        totals.setdefault(name, []).append(ExposureCount(variant=variant or None, count=int(count)))
    return totals


def list_flags(session: Session, settings: Settings) -> list[FlagOut]:
    """Every flag in effect, database and settings alike, by name, with its exposure counts."""
    from_settings = settings_flags(settings)
    rows = {flag.name: flag for flag in session.scalars(select(FeatureFlag))}
    totals = exposure_totals(session)
    names = sorted(from_settings.keys() | rows.keys())
    return [_flag_out(name, rows.get(name), from_settings.get(name), totals.get(name, [])) for name in names]


def get_flag(session: Session, settings: Settings, name: str) -> FlagOut:
    row = _find(session, name)
    from_settings = settings_flags(settings).get(name)
    if row is None and from_settings is None:
        raise NotFound(f"No flag named {name}")
    return _flag_out(name, row, from_settings, exposure_totals(session, [name]).get(name, []))


def _flag_out(
    name: str, row: FeatureFlag | None, from_settings: FlagRules | None, exposures: list[ExposureCount]
) -> FlagOut:
    if row is None:
        assert from_settings is not None
        return FlagOut(name=name, source="settings", exposures=exposures, **from_settings.model_dump())
    return FlagOut(
        name=name,
        source="database",
        overrides_settings=from_settings is not None,
        updated_at=row.updated_at,
        updated_by=row.updated_by,
        exposures=exposures,
        **rules_of(row).model_dump(),
    )


def _find(session: Session, name: str) -> FeatureFlag | None:
    return session.scalar(select(FeatureFlag).where(FeatureFlag.name == name))


# --- changing ---------------------------------------------------------------------------------------------------


def create_flag(session: Session, data: FlagCreate, *, actor: User | None, events: EventBus) -> FeatureFlag:
    if _find(session, data.name) is not None:
        raise Conflict(f"A flag named {data.name} exists already")
    values = FlagRules.model_validate(data.model_dump(exclude={"name"})).column_values()
    flag = FeatureFlag(name=data.name, updated_by=actor.id if actor else None, updated_at=utcnow(), **values)
    try:
        # A savepoint, so a concurrent create of the same name is a clear 409 rather than a failed transaction.
        with session.begin_nested():
            session.add(flag)
    except IntegrityError as exc:
        raise Conflict(f"A flag named {data.name} exists already") from exc
    _announce(session, events, data.name)
    return flag


def update_flag(
    session: Session,
    name: str,
    changes: FlagUpdate,
    *,
    settings: Settings,
    actor: User | None,
    events: EventBus,
) -> FeatureFlag:
    """Change a flag. Changing a flag defined only in settings creates a database flag that overrides it,
    starting from the settings' rules."""
    flag = _find(session, name)
    if flag is None:
        from_settings = settings_flags(settings).get(name)
        if from_settings is None:
            raise NotFound(f"No flag named {name}")
        return create_flag(
            session,
            FlagCreate.model_validate({**changes.apply_to(from_settings).model_dump(), "name": name}),
            actor=actor,
            events=events,
        )
    for column, value in changes.apply_to(rules_of(flag)).column_values().items():
        setattr(flag, column, value)
    flag.updated_at = utcnow()
    flag.updated_by = actor.id if actor else None
    session.flush()
    _announce(session, events, name)
    return flag


def delete_flag(session: Session, name: str, *, events: EventBus) -> None:
    """Delete a database flag (a settings flag of the same name comes back into effect). Exposure counts stay."""
    flag = _find(session, name)
    if flag is None:
        raise NotFound(f"No database flag named {name} (flags defined in settings are changed in settings)")
    session.delete(flag)
    session.flush()
    _announce(session, events, name)


def _announce(session: Session, events: EventBus, name: str) -> None:
    on_commit(session, lambda: events.publish(CHANGED_CHANNEL, {"name": name}))


# --- exposures --------------------------------------------------------------------------------------------------


def add_exposures(session: Session, counts: Mapping[tuple[str, str], int]) -> None:
    """Add counts to today's rows, one upsert for the batch (works on SQLite and PostgreSQL alike)."""
    if not counts:
        return
    day = utcnow().date()
    rows = [
        {"flag_name": name, "variant": variant, "day": day, "count": count}
        for (name, variant), count in sorted(counts.items())
    ]
    statement = _upsert(session.get_bind().dialect.name, rows)
    session.execute(statement)


def _upsert(dialect: str, rows: list[dict[str, Any]]) -> Insert:
    key = [FlagExposure.flag_name, FlagExposure.variant, FlagExposure.day]
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        pg = pg_insert(FlagExposure).values(rows)
        return pg.on_conflict_do_update(index_elements=key, set_={"count": FlagExposure.count + pg.excluded.count})
    from sqlalchemy.dialects.sqlite import insert as sqlite_insert

    lite = sqlite_insert(FlagExposure).values(rows)
    return lite.on_conflict_do_update(index_elements=key, set_={"count": FlagExposure.count + lite.excluded.count})


# --- the per-process evaluator ----------------------------------------------------------------------------------


class FlagSync:
    """Keeps one process's evaluator current (reload on `flags.changed`, and every RELOAD_SECONDS in case an
    event was lost) and writes its exposure counts every FLUSH_SECONDS."""

    def __init__(self, runtime: Runtime, *, flush_seconds: float | None = None) -> None:
        self.db = runtime.db
        self.settings = runtime.settings
        self.events = runtime.events
        self.flush_seconds = FLUSH_SECONDS if flush_seconds is None else flush_seconds
        self.evaluator = FlagEvaluator(build_snapshot(_settings_definitions(runtime.settings)))
        self.loaded = False
        self._reload_lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._remove_listener = self.events.listen(CHANGED_CHANNEL, self._on_change)

    def start(self) -> None:
        self.reload()
        self._thread = threading.Thread(target=self._run, name="flags-sync", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop listening and write the exposure counts still in memory."""
        self.halt()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=5)
        self.flush()

    def close(self) -> None:  # Runtime.close()
        self.stop()

    def halt(self) -> None:
        """Stop listening and let the thread end, without waiting or writing anything."""
        self._remove_listener()
        self._stop.set()

    def reload(self) -> bool:
        # Serialised: a slow reload that read the old rules must not overwrite a newer one.
        with self._reload_lock:
            try:
                with self.db.session() as session:
                    snapshot = load_snapshot(session, self.settings)
            except SQLAlchemyError:
                log.warning("could not load feature flags; serving the previous ones", exc_info=True)
                return False
            self.evaluator.replace(snapshot)
            self.loaded = True
            return True

    def flush(self) -> int:
        """Add the counted exposures to the database; returns how many were written."""
        counts = self.evaluator.exposures.take()
        if not counts:
            return 0
        try:
            with self.db.transaction() as session:
                add_exposures(session, counts)
        except SQLAlchemyError:
            log.warning("could not store flag exposures; keeping them for the next try", exc_info=True)
            self.evaluator.exposures.put_back(counts)
            return 0
        return sum(counts.values())

    def _on_change(self, _channel: str, _data: dict[str, Any]) -> None:
        self.reload()

    def _run(self) -> None:
        next_reload = time.monotonic() + RELOAD_SECONDS
        while not self._stop.wait(self.flush_seconds if self.loaded else RETRY_SECONDS):
            self.flush()
            if not self.loaded or time.monotonic() >= next_reload:
                self.reload()
                next_reload = time.monotonic() + RELOAD_SECONDS


def _settings_definitions(settings: Settings) -> dict[str, FlagDefinition]:
    return {name: FlagDefinition(name, rules, "settings") for name, rules in settings_flags(settings).items()}


_EXTENSION = "flags"


def _start(runtime: Runtime) -> FlagSync:
    sync = FlagSync(runtime)
    sync.start()
    return sync


def flag_sync(runtime: Runtime) -> FlagSync:
    """This process's flag machinery for `runtime`, started on first use."""
    sync: FlagSync | None = runtime.extensions.get(_EXTENSION)
    return sync if sync is not None else runtime.extension(_EXTENSION, _start)


def evaluator_for(runtime: Runtime) -> FlagEvaluator:
    """The process's evaluator for `runtime` (the lookup costs about as much as an evaluation: hold on to the
    evaluator in a loop)."""
    return flag_sync(runtime).evaluator


def stop_flags(runtime: Runtime) -> None:
    """Stop the runtime's flag machinery and write its pending exposures (app shutdown); the next
    `evaluator_for` starts afresh."""
    sync: FlagSync | None = runtime.extensions.pop(_EXTENSION, None)
    if sync is not None:
        sync.stop()
