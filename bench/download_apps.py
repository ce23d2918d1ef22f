"""The app variants `bench/download_hot_path.py` compares, each the whole app with one thing changed in the
download route's counting step (`modelyard.catalog.routes.downloads._count`):

- `create_uncounted_app`: counts nothing: the floor, the 307 with no bookkeeping at all;
- `create_counting_app`: counts the way the route did before download trends (issue 15): inside the request, a
  row per downloader per version per hour, then both all-time counters bumped, in one write transaction. The
  code is that route's, kept here verbatim but for its table, which this module creates on start;
- `create_event_row_app`: records the event with an insert of its own in the request (`catalog.stats.record`
  in a write transaction), the design measured against the per-process buffer the route uses.

    uvicorn --factory bench.download_apps:create_counting_app   (settings from MODELYARD_* like the real app)
"""

from __future__ import annotations

import logging
from datetime import datetime

from fastapi import FastAPI
from sqlalchemy import Engine, String, select, update
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from modelyard.catalog import stats
from modelyard.catalog.models import Model, ModelVersion
from modelyard.catalog.routes import downloads as download_route
from modelyard.core.db import UTCDateTime, make_engine, utcnow
from modelyard.core.runtime import Runtime
from modelyard.core.settings import Settings

log = logging.getLogger("modelyard.catalog")


class _Before(DeclarativeBase):
    """Outside the app's metadata: the migrations never see this table."""


class HourlyDownload(_Before):
    """The table downloads were counted in before (`model_download`, dropped by migration 0010)."""

    __tablename__ = "bench_model_download"

    model_version_id: Mapped[int] = mapped_column(primary_key=True)
    downloader: Mapped[str] = mapped_column(String(40), primary_key=True)
    hour: Mapped[datetime] = mapped_column(UTCDateTime(), primary_key=True)


def count_in_request(runtime: Runtime, version_id: int, who: str) -> None:
    """One download per downloader per version per hour, in its own short transaction (the download itself is a
    read); failing to count never fails the download."""
    hour = utcnow().replace(minute=0, second=0, microsecond=0)
    try:
        with runtime.db.transaction(write=True) as session:
            if session.get(HourlyDownload, (version_id, who, hour)) is None:
                session.add(HourlyDownload(model_version_id=version_id, downloader=who, hour=hour))
                session.flush()  # a parallel count of the same download fails here, before the counters move
                version = update(ModelVersion).where(ModelVersion.id == version_id)
                session.execute(version.values(download_count=ModelVersion.download_count + 1))
                owner = select(ModelVersion.model_id).where(ModelVersion.id == version_id).scalar_subquery()
                session.execute(update(Model).where(Model.id == owner).values(download_count=Model.download_count + 1))
    except IntegrityError:
        pass  # a parallel download by the same person in the same hour counted it
    except SQLAlchemyError:
        log.warning("download not counted", extra={"version_id": version_id}, exc_info=True)


def record_in_request(runtime: Runtime, version_id: int, who: str) -> None:
    """The event written at once: one insert in its own write transaction."""
    try:
        with runtime.db.transaction(write=True) as session:
            stats.record(session, stats.VERSION_DOWNLOADS, entity_id=version_id, actor=who)
    except SQLAlchemyError:
        log.warning("download not recorded", extra={"version_id": version_id}, exc_info=True)


def count_nothing(runtime: Runtime, version_id: int, who: str) -> None:
    """The floor: the 307 without any bookkeeping."""


def create_old_table(engine: Engine) -> None:
    _Before.metadata.create_all(engine)


def create_counting_app() -> FastAPI:
    from modelyard.app import create_app

    engine = make_engine(Settings())
    try:
        create_old_table(engine)
    finally:
        engine.dispose()
    download_route._count = count_in_request  # type: ignore[assignment]
    return create_app()


def create_event_row_app() -> FastAPI:
    from modelyard.app import create_app

    download_route._count = record_in_request  # type: ignore[assignment]
    return create_app()


def create_uncounted_app() -> FastAPI:
    from modelyard.app import create_app

    download_route._count = count_nothing  # type: ignore[assignment]
    return create_app()
