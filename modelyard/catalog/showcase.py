"""The pictures the catalog shows for its models, without knowing where pictures come from.

Images depend on the catalog, never the reverse: the images domain registers a `Showcase` when it is loaded
(`modelyard/images/hooks.py`), and listings, pages and the demo ask through the functions here. With no
provider registered, models simply have no pictures.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy.orm import Session


@dataclass(frozen=True)
class Picture:
    """One image as a page or a listing shows it. `url` is ready to put in a page: a stable address for a public
    image, a short-lived signed one for a picture only its owner and moderators see."""

    id: int
    url: str
    width: int
    height: int
    blurhash: str | None
    nsfw_level: int
    name: str | None = None
    meta: dict[str, Any] | None = None
    size_kb: float = 0.0
    published: bool = True
    caption: str | None = None  # its post's title

    @property
    def shape(self) -> str:
        """How a card frames it: landscape, portrait or square."""
        if self.width > self.height * 1.15:
            return "landscape"
        if self.height > self.width * 1.15:
            return "portrait"
        return "square"


@dataclass(frozen=True)
class NewPicture:
    """A picture to add to a version's showcase: the uploaded bytes, with its generation data if known."""

    data: bytes
    meta: dict[str, Any] | None = None
    name: str | None = None


class Showcase(Protocol):
    def covers(self, session: Session, version_ids: Sequence[int]) -> dict[int, Picture]:
        """The cover of each version that has one: the first shown image of its creator's first published
        post."""
        ...

    def gallery(self, session: Session, version_id: int, *, drafts: bool) -> list[Picture]:
        """The version's pictures as its page shows them: published posts (everyone's), or with `drafts` the
        unpublished ones too (for its owner and moderators). None for a model taken down."""
        ...

    def picture_counts(self, session: Session, version_ids: Sequence[int]) -> dict[int, int]:
        """How many showcase pictures each version has, published or not (the wizard's step)."""
        ...

    def add_pictures(
        self, session: Session, *, owner_id: int, version_id: int, pictures: Sequence[NewPicture], title: str | None
    ) -> int:
        """Add a post of pictures to a version by its owner (the demo's); returns how many were added."""
        ...

    def manage_url(self, version_id: int) -> str:
        """The page where the owner adds, orders and removes a version's pictures."""
        ...

    def date_posts(self, session: Session, version_id: int, moment: datetime) -> None:
        """Date a version's posts (created and, if published, published) at `moment`: the demo's history."""
        ...


_provider: Showcase | None = None


def register(provider: Showcase) -> None:
    global _provider
    _provider = provider


def available() -> bool:
    return _provider is not None


def covers(session: Session, version_ids: Sequence[int]) -> dict[int, Picture]:
    if _provider is None or not version_ids:
        return {}
    return _provider.covers(session, version_ids)


def gallery(session: Session, version_id: int, *, drafts: bool) -> list[Picture]:
    if _provider is None:
        return []
    return _provider.gallery(session, version_id, drafts=drafts)


def picture_counts(session: Session, version_ids: Sequence[int]) -> dict[int, int]:
    if _provider is None or not version_ids:
        return {}
    return _provider.picture_counts(session, version_ids)


def add_pictures(
    session: Session, *, owner_id: int, version_id: int, pictures: Sequence[NewPicture], title: str | None = None
) -> int:
    if _provider is None or not pictures:
        return 0
    return _provider.add_pictures(session, owner_id=owner_id, version_id=version_id, pictures=pictures, title=title)


def manage_url(version_id: int) -> str | None:
    return _provider.manage_url(version_id) if _provider is not None else None


def date_posts(session: Session, version_id: int, moment: datetime) -> None:
    if _provider is not None:
        _provider.date_posts(session, version_id, moment)
