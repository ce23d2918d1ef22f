"""The demo catalog as test data: `load_demo_catalog(runtime)` loads what `modelyard demo` loads (through the real
services) and returns ids by name, so page tests can be seeded with the data a new installation shows.

    catalog = load_demo_catalog(runtime)
    client.get(f"/api/models/{catalog.model('Lumen Drift XL')}")
    log_in(client, catalog.user("aurelia"))
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select

from modelyard.accounts.models import User
from modelyard.catalog.demo import MODELS, MODERATOR, DemoModel, DemoSummary, load_demo
from modelyard.catalog.enums import ModelStatus
from modelyard.core.runtime import Runtime
from tests.support.factories import PASSWORD, UserFixture


@dataclass
class DemoCatalog:
    summary: DemoSummary
    users: dict[str, UserFixture]  # by username; all share the password tests.support.factories.PASSWORD

    @property
    def models(self) -> dict[str, int]:
        return self.summary.models

    def model(self, name: str) -> int:
        return self.summary.models[name]

    def version(self, model: str, version: str) -> int:
        return self.summary.versions[(model, version)]

    def user(self, username: str) -> UserFixture:
        return self.users[username]

    @property
    def moderator(self) -> UserFixture:
        return self.users[MODERATOR]

    def named(self, status: ModelStatus) -> list[str]:
        """Names of the demo models in `status`."""
        return self.summary.names_with(status)

    def one(self, status: ModelStatus) -> int:
        """The id of the first demo model in `status` (the demo has at least one in each state it shows)."""
        return self.model(self.named(status)[0])

    def spec(self, name: str) -> DemoModel:
        return next(spec for spec in MODELS if spec.name == name)

    def owner_of(self, name: str) -> UserFixture:
        return self.users[self.spec(name).owner]


def load_demo_catalog(runtime: Runtime) -> DemoCatalog:
    """Load the demo catalog into the (empty) test database."""
    summary = load_demo(runtime, password=PASSWORD)
    with runtime.db.session() as session:
        rows = session.scalars(select(User).where(User.id.in_(summary.users.values()))).all()
        users = {row.username: UserFixture(row.id, row.username, row.email, PASSWORD) for row in rows}
    return DemoCatalog(summary, users)
