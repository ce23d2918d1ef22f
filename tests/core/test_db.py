"""`Database.read`: read-only work on a bare Connection sees what is committed and keeps nothing it writes."""

from __future__ import annotations

from sqlalchemy import func, select, update
from sqlalchemy.engine import Connection

from modelyard.accounts.models import User
from modelyard.accounts.service import public_profile
from modelyard.core.runtime import Runtime
from tests.support.factories import create_user


def test_a_read_sees_committed_rows(runtime: Runtime) -> None:
    user = create_user(runtime)
    profile = runtime.db.read(lambda connection: public_profile(connection, user.username.upper()))
    assert (profile["id"], profile["username"]) == (user.id, user.username)
    assert profile["created_at"].utcoffset().total_seconds() == 0, "UTC datetimes, as through a Session"


def test_a_write_inside_a_read_is_rolled_back(runtime: Runtime) -> None:
    user = create_user(runtime)

    def rename(connection: Connection) -> None:
        connection.execute(update(User).where(User.id == user.id).values(display_name="Changed"))

    runtime.db.read(rename)
    with runtime.db.session() as session:
        assert session.scalar(select(User.display_name).where(User.id == user.id)) != "Changed"
        assert session.scalar(select(func.count()).select_from(User)) == 1
