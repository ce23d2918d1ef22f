"""`modelyard search ...`: rebuild an index without downtime, repair drift, and see where the indexes stand."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import click


@contextmanager
def _runtime() -> Iterator[Any]:
    from modelyard.core.bootstrap import init_runtime
    from modelyard.core.settings import Settings

    try:
        settings = Settings()
    except Exception as exc:
        raise click.ClickException(f"invalid settings: {exc}") from exc
    runtime = init_runtime(settings)
    try:
        yield runtime
    finally:
        runtime.close()


def _check_index(name: str | None) -> str | None:
    from modelyard.search import sources

    if name is not None and name not in sources.indexes():
        raise click.BadParameter(f"{name!r} is not one of {', '.join(sources.indexes())}", param_hint="--index")
    return name


@click.group()
def search() -> None:
    """The search indexes: rebuild, reconcile, status."""


@search.command("rebuild")
@click.option("--index", "index", help="Only this index (models, images, users, tags...); default: all.")
def rebuild_command(index: str | None) -> None:
    """Rebuild indexes from the database. Searches keep answering from the previous documents meanwhile."""
    from modelyard.search.rebuild import rebuild_all

    with _runtime() as runtime:
        for done in rebuild_all(runtime, only=_check_index(index)):
            click.echo(
                f"{done.index}: {done.documents} documents (generation {done.generation}), "
                f"{done.removed} removed, {done.embedded} embedded"
            )


@search.command("reconcile")
@click.option("--index", "index", help="Only this index; default: all.")
def reconcile_command(index: str | None) -> None:
    """Find and repair documents that drifted from the database (what the periodic job does)."""
    from modelyard.search import sources
    from modelyard.search.reconcile import reconcile_index

    with _runtime() as runtime:
        for name in [_check_index(index)] if index else sources.indexes():
            assert name is not None
            drift = reconcile_index(runtime, name)
            click.echo(
                f"{name}: {drift.missing} missing, {drift.stale} stale, {drift.extra} extra, "
                f"{drift.embeddings} embeddings repaired"
            )


def _counts(session: Any, query: Any) -> dict[str, int]:
    return {index: int(count) for index, count in session.execute(query)}


@search.command("status")
def status_command() -> None:
    """Documents, embeddings and pending outbox rows per index."""
    from sqlalchemy import func, select

    from modelyard.search import sources
    from modelyard.search.models import SearchDocument, SearchEmbedding, SearchIndexUpdate

    with _runtime() as runtime, runtime.db.session() as session:
        documents = _counts(session, select(SearchDocument.index, func.count()).group_by(SearchDocument.index))
        embeddings = _counts(session, select(SearchEmbedding.index, func.count()).group_by(SearchEmbedding.index))
        pending = _counts(
            session,
            select(SearchIndexUpdate.index, func.count())
            .where(SearchIndexUpdate.processed_at.is_(None))
            .group_by(SearchIndexUpdate.index),
        )
    names = list(dict.fromkeys([*sources.indexes(), *documents, *pending]))
    click.echo(f"{'index':12} {'documents':>10} {'embeddings':>11} {'pending':>8}")
    for name in names:
        click.echo(f"{name:12} {documents.get(name, 0):>10} {embeddings.get(name, 0):>11} {pending.get(name, 0):>8}")
