"""Keyword search backends: each database's own full-text index behind one interface (`base.KeywordBackend`)."""

from __future__ import annotations

from sqlalchemy.orm import Session

from modelyard.search.backends.base import KeywordBackend
from modelyard.search.backends.postgres import PostgresBackend
from modelyard.search.backends.sqlite import SqliteBackend

_BACKENDS: dict[str, KeywordBackend] = {"sqlite": SqliteBackend(), "postgresql": PostgresBackend()}


def backend_for(session_or_dialect: Session | str) -> KeywordBackend:
    """The backend of the database a session talks to (or of a dialect named "sqlite" / "postgresql")."""
    dialect = session_or_dialect if isinstance(session_or_dialect, str) else _dialect_of(session_or_dialect)
    try:
        return _BACKENDS[dialect]
    except KeyError:
        raise ValueError(f"no search backend for the {dialect!r} database") from None


def _dialect_of(session: Session) -> str:
    return session.get_bind().dialect.name
