"""The pictures the catalog shows for its models, without knowing where pictures come from.

Images depend on the catalog, never the reverse: the images domain registers a `Showcase` when it is loaded, and
listings and pages ask through the functions here. With no provider registered, models simply have no pictures.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from sqlalchemy.orm import Session


@dataclass(frozen=True)
class Picture:
    """One image as a page or a listing shows it."""

    id: int
    url: str
    width: int
    height: int
    blurhash: str | None
    nsfw_level: int
    name: str | None = None
    meta: dict[str, Any] | None = None


class Showcase(Protocol):
    def covers(self, session: Session, version_ids: Sequence[int]) -> dict[int, Picture]:
        """The cover of each version that has one: the first public image of its creator's first published
        post."""
        ...


_provider: Showcase | None = None


def register(provider: Showcase) -> None:
    global _provider
    _provider = provider


def covers(session: Session, version_ids: Sequence[int]) -> dict[int, Picture]:
    if _provider is None or not version_ids:
        return {}
    return _provider.covers(session, version_ids)
