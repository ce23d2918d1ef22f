"""Which models' images are shown: one rule, its Python and SQL forms side by side, used wherever the images of a
model's versions are read (the model page, the cards of lists, the public API's models, versions, by-hash and
images).

A model a moderator took down (`mode = TakenDown`) shows no images, to anyone, as on Civitai (reference
civitai.md §1.4: "TakenDown → images: []"): the images are often what was taken down. The model's page and files
stay; downloads are refused separately (`catalog.downloads`).
"""

from __future__ import annotations

from sqlalchemy import ColumnElement, or_

from modelyard.catalog.enums import ModelModifier
from modelyard.catalog.models import Model


def model_shows_images(mode: ModelModifier | str | None) -> bool:
    """Whether the images of a model in this mode may be shown (a `text(Model.mode)` column gives a string)."""
    return mode != ModelModifier.TakenDown


def images_shown() -> ColumnElement[bool]:
    """`model_shows_images` as a WHERE clause on a query joined (or outer-joined) to Model: an image of no model
    (a post of no version) is shown."""
    return or_(Model.mode.is_(None), Model.mode != ModelModifier.TakenDown)
