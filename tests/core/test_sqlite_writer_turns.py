"""SQLite writers of one process take turns at a lock of their own: the next starts when the last one ends (not
when SQLite's busy handler next looks), and a transaction that ends any way at all gives the turn back."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import func, select

from modelyard.core.runtime import Runtime
from modelyard.search.models import SearchIndexUpdate

WAIT = 3.0  # well under the 5 s busy timeout a held turn would make a writer wait out


@pytest.fixture(autouse=True)
def _sqlite_only(runtime: Runtime) -> None:
    if runtime.db.dialect != "sqlite":
        pytest.skip("SQLite's write lock: checked in the embedded pass")


def write_row(runtime: Runtime, entity_id: int) -> None:
    with runtime.db.transaction() as session:
        session.add(SearchIndexUpdate(index="models", entity_id=entity_id, action="update"))


def rows(runtime: Runtime) -> int:
    with runtime.db.session() as session:
        return int(session.scalar(select(func.count()).select_from(SearchIndexUpdate)) or 0)


def in_thread(work: threading.Thread) -> threading.Thread:
    work.daemon = True
    work.start()
    return work


def test_a_writer_waits_for_the_one_writing_and_starts_when_it_commits(runtime: Runtime) -> None:
    errors: list[BaseException] = []

    def second() -> None:
        try:
            write_row(runtime, 2)
        except BaseException as exc:  # reported by the assertion below
            errors.append(exc)

    with runtime.db.transaction() as session:
        session.add(SearchIndexUpdate(index="models", entity_id=1, action="update"))
        session.flush()
        waiting = in_thread(threading.Thread(target=second))
        waiting.join(0.3)
        assert waiting.is_alive(), "the second writer waits while the first holds the turn"
    waiting.join(WAIT)
    assert not waiting.is_alive() and errors == [] and rows(runtime) == 2


@pytest.mark.parametrize("ending", ["rollback", "close", "error"])
def test_a_transaction_that_ends_without_commit_gives_the_turn_back(runtime: Runtime, ending: str) -> None:
    session = runtime.db.session(write=True)
    session.add(SearchIndexUpdate(index="models", entity_id=1, action="update"))
    session.flush()
    if ending == "rollback":
        session.rollback()
    elif ending == "close":
        session.close()  # the pool resets the connection
    else:
        with pytest.raises(ZeroDivisionError), session:
            raise ZeroDivisionError
    session.close()
    writer = in_thread(threading.Thread(target=write_row, args=(runtime, 2)))
    writer.join(WAIT)
    assert not writer.is_alive() and rows(runtime) == 1
