"""What the listing pages offer to filter by: only the model types and base models that have published models
anyone may list (a filter that can only answer "nothing" is noise), on the whole catalog or `within` a page's own
filter (a creator's models, a tag's). Both are cached until any model changes (`PUBLIC_CATALOG_TAG`); on a miss
the whole catalog costs a fixed number of existence probes whatever its size, a page's own filter one indexed
query over its models.

Worked out for anyone, not per viewer: an owner's unlisted model does not add a choice for them alone (a filter
given in the URL is applied all the same, and `catalog.pages.browse` keeps it shown).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar
from urllib.parse import urlencode

from sqlalchemy import exists, literal, select, union_all
from sqlalchemy.orm import Session

from modelyard.catalog import basemodels, browsing
from modelyard.catalog.enums import ModelStatus, ModelType
from modelyard.catalog.lifecycle.effects import PUBLIC_CATALOG_TAG
from modelyard.catalog.models import BaseModel, Model, ModelVersion
from modelyard.core.runtime import get_runtime

T = TypeVar("T")
FACETS_TTL = 300
_LISTED = (browsing.listed_clause(None),)


def offered_types(session: Session, *, within: dict[str, Any] | None = None) -> list[ModelType]:
    """The model types with listed models, in the enum's (Civitai's) order; `within`: ModelFilters fields."""

    def load() -> list[str]:
        if within:
            listed = browsing.listed(None, browsing.ModelFilters(**within), (Model.type,)).distinct()
            return [str(kind) for kind in session.scalars(listed)]
        probes = [select(literal(kind.value)).where(exists().where(Model.type == kind, *_LISTED)) for kind in ModelType]
        return [value for (value,) in session.execute(union_all(*probes))]

    found = set(_cached("types", within, load))
    return [kind for kind in ModelType if kind.value in found]


def offered_base_models(session: Session, *, within: dict[str, Any] | None = None) -> list[basemodels.Family]:
    """The base models of listed models' published versions, by family (`basemodels.grouped`)."""

    def load() -> list[list[Any]]:
        if within:
            models = browsing.listed(None, browsing.ModelFilters(**within), (Model.id,))
            used = select(ModelVersion.base_model).where(
                ModelVersion.model_id.in_(models), ModelVersion.status == ModelStatus.Published
            )
            names = list(session.scalars(used.distinct()))
        else:
            published = (
                select(ModelVersion.id)
                .join(Model, Model.id == ModelVersion.model_id)
                .where(ModelVersion.base_model == BaseModel.name, ModelVersion.status == ModelStatus.Published)
            )
            names = list(session.scalars(select(BaseModel.name).where(exists(published.where(*_LISTED)))))
        return [[family.label, family.names] for family in basemodels.grouped(session, only=names)] if names else []

    return [basemodels.Family(label, names) for label, names in _cached("base-models", within, load)]


def _cached(name: str, within: dict[str, Any] | None, load: Callable[[], T]) -> T:
    """Kept as JSON values (lists of strings), which every cache layer stores as they are."""
    key = f"catalog:facets:{name}:{urlencode(sorted((within or {}).items()))}"
    return get_runtime().cache.get_or_set(key, load, ttl=FACETS_TTL, tags=[PUBLIC_CATALOG_TAG])
