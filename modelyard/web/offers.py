"""What this server offers, as the domains mounted on it declare it: the landing page's "What you can do here" and
the API-key form's permission groups show only what is offered, so a capability appears on the site the day its
domain lands, and never before.

    offer("models", title="Publish models", text="...", icon="upload", order=10)   # in a domain's mount function
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Offer:
    name: str  # what other parts ask about: "models", "images", "civitai-api", later "generation", "buzz"...
    title: str
    text: str
    icon: str
    order: int


_OFFERS: dict[str, Offer] = {}


def offer(name: str, *, title: str, text: str, icon: str, order: int) -> None:
    _OFFERS[name] = Offer(name=name, title=title, text=text, icon=icon, order=order)


def offered(name: str) -> bool:
    return name in _OFFERS


def offers() -> list[Offer]:
    return sorted(_OFFERS.values(), key=lambda item: (item.order, item.name))
