"""Base models are data, not code: a table seeded with Civitai's list, which administrators extend as new
architectures appear (no release needed). Versions store the name as a plain string, as Civitai does."""

from __future__ import annotations

from collections.abc import Iterable
from typing import NamedTuple

from sqlalchemy import select
from sqlalchemy.orm import Session

from modelyard.core.errors import Conflict, ValidationFailed


class BaseModelSeed(NamedTuple):
    name: str
    ecosystem: str
    media: str = "image"
    hidden: bool = False


def _family(ecosystem: str, names: str, *, media: str = "image", hidden: str = "") -> list[BaseModelSeed]:
    hidden_names = {name.strip() for name in hidden.split(",") if name.strip()}
    return [
        BaseModelSeed(name.strip(), ecosystem, media, name.strip() in hidden_names)
        for name in names.split(",")
        if name.strip()
    ]


SEED: tuple[BaseModelSeed, ...] = tuple(
    _family("sd1", "SD 1.4, SD 1.5, SD 1.5 LCM, SD 1.5 Hyper")
    + _family(
        "sd2", "SD 2.0, SD 2.0 768, SD 2.1, SD 2.1 768, SD 2.1 Unclip", hidden="SD 2.0 768, SD 2.1 768, SD 2.1 Unclip"
    )
    + _family(
        "sdxl",
        "SDXL 0.9, SDXL 1.0, SDXL 1.0 LCM, SDXL Lightning, SDXL Hyper, SDXL Turbo, SDXL Distilled",
        hidden="SDXL 0.9, SDXL 1.0 LCM, SDXL Turbo, SDXL Distilled",
    )
    + _family("sdxl", "Pony, Pony V7, Illustrious, NoobAI")
    + _family(
        "sd3",
        "SD 3, SD 3.5, SD 3.5 Large, SD 3.5 Large Turbo, SD 3.5 Medium",
        hidden="SD 3, SD 3.5, SD 3.5 Large, SD 3.5 Large Turbo, SD 3.5 Medium",
    )
    + _family("flux1", "Flux.1 S, Flux.1 D, Flux.1 Krea, Flux.1 Kontext")
    + _family("flux2", "Flux.2 D, Flux.2 Klein 9B, Flux.2 Klein 9B-base, Flux.2 Klein 4B, Flux.2 Klein 4B-base")
    + _family("qwen", "Qwen, Qwen 2, Qwen 3")
    + _family("hidream", "HiDream, HiDream-O1")
    + _family(
        "other",
        "Anima, AuraFlow, Chroma, Ernie, Hunyuan 1, Kolors, Lumina, PixArt a, PixArt E, Playground v2, "
        "Stable Cascade, ZImageTurbo, ZImageBase, Wan Image 2.7, Lens, MageFlow, Boogu, Krea 2, Upscaler, Other",
        hidden="Playground v2, Stable Cascade",
    )
    + _family(
        "video",
        "CogVideoX, Hunyuan Video, LTXV, LTXV2, LTXV 2.3, Mochi, SVD, SVD XT, Wan Video, Wan Video 1.3B t2v, "
        "Wan Video 14B t2v, Wan Video 14B i2v 480p, Wan Video 14B i2v 720p, Wan Video 2.2 TI2V-5B, "
        "Wan Video 2.2 I2V-A14B, Wan Video 2.2 T2V-A14B, Wan Video 2.5 T2V, Wan Video 2.5 I2V, Wan Video 2.7",
        media="video",
        hidden="SVD, SVD XT, Wan Video",
    )
    + _family("audio", "ACE Audio", media="audio")
)


# The families pickers group base models by (`ecosystem`), named and ordered as people look for them.
FAMILY_NAMES: dict[str, str] = {
    "sd1": "Stable Diffusion 1",
    "sd2": "Stable Diffusion 2",
    "sdxl": "SDXL and its descendants",
    "sd3": "Stable Diffusion 3",
    "flux1": "Flux.1",
    "flux2": "Flux.2",
    "qwen": "Qwen",
    "hidream": "HiDream",
    "other": "Other image models",
    "video": "Video",
    "audio": "Audio",
}


class Family(NamedTuple):
    label: str
    names: list[str]


def grouped(session: Session, *, include_hidden: bool = True, only: Iterable[str] | None = None) -> list[Family]:
    """Base models by family, for an `<optgroup>` picker: the families in FAMILY_NAMES order (new ones an
    administrator added after them, by name), the names in each alphabetically. `only`: just these names."""
    from modelyard.catalog.models import BaseModel

    query = select(BaseModel.ecosystem, BaseModel.name).order_by(BaseModel.name)
    if not include_hidden:
        query = query.where(BaseModel.hidden.is_(False))
    if only is not None:
        query = query.where(BaseModel.name.in_(list(only)))
    families: dict[str, list[str]] = {}
    for ecosystem, name in session.execute(query):
        families.setdefault(ecosystem, []).append(name)
    order = list(FAMILY_NAMES)
    ranked = sorted(families, key=lambda key: (order.index(key) if key in order else len(order), key))
    return [Family(FAMILY_NAMES.get(key, key.capitalize()), families[key]) for key in ranked]


def names(session: Session, *, include_hidden: bool = True) -> list[str]:
    from modelyard.catalog.models import BaseModel

    query = select(BaseModel.name).order_by(BaseModel.ecosystem, BaseModel.name)
    if not include_hidden:
        query = query.where(BaseModel.hidden.is_(False))
    return list(session.scalars(query))


def require_known(session: Session, name: str) -> str:
    """The stored spelling of a base model, or a clear error listing where to look."""
    from modelyard.catalog.models import BaseModel

    found = session.scalar(select(BaseModel.name).where(BaseModel.name == name))
    if found is None:
        raise ValidationFailed(f"Unknown base model {name!r}; GET /api/v1/enums lists the base models")
    return found


def add(session: Session, *, name: str, ecosystem: str, media: str = "image", hidden: bool = False) -> None:
    from modelyard.catalog.models import BaseModel

    name = name.strip()
    if not name or len(name) > 60:
        raise ValidationFailed("A base model name has 1 to 60 characters")
    if session.get(BaseModel, name) is not None:
        raise Conflict(f"Base model {name!r} exists already")
    session.add(BaseModel(name=name, ecosystem=ecosystem.strip().lower(), media=media, hidden=hidden))
    session.flush()
