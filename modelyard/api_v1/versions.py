"""Model versions (reference §1.2, §1.5): by id, by any of the six hashes (one, up to 100, or up to 10,000 as
ids), and the `mini` form tools use. Hash lookups see only published files of published versions of published
models; the oldest publication wins when a file was uploaded twice."""

from __future__ import annotations

import re
from collections.abc import Sequence
from contextlib import suppress
from typing import Annotated, Any

from fastapi import APIRouter, Body, Request
from fastapi.responses import Response
from sqlalchemy import and_, bindparam, func, select
from sqlalchemy.orm import Session

from modelyard.accounts.auth import Principal, PrincipalDep
from modelyard.accounts.models import User
from modelyard.api_v1 import loading, shapes
from modelyard.api_v1.common import nobody, path_id, public_json, public_read
from modelyard.catalog.enums import FileVisibility, HashType
from modelyard.catalog.files.downloads import download_filename
from modelyard.catalog.files.hashing import EMPTY_AUTOV1
from modelyard.catalog.lifecycle import visibility
from modelyard.catalog.models import Model, ModelFile, ModelFileHash, ModelVersion
from modelyard.core.errors import BadRequest, NotFound
from modelyard.core.forwarded import public_url
from modelyard.core.hot import HotReads
from modelyard.core.http import DbDep, SessionDep

router = APIRouter(tags=["Civitai API v1"])
hot = HotReads(router)
BULK_VERSIONS = 100
BULK_IDS = 10_000
HASH_CACHE = "public, s-maxage=3600, stale-while-revalidate=300"  # Civitai's, for a lookup
_HEX = re.compile(r"[0-9A-Fa-f]{8,64}")


def _body(request: Request, session: Session, viewer: User | None, version_id: int, model: Any) -> dict[str, Any]:
    """The version's body; `model` is its Model or a row of `loading.MODEL_COLUMNS`."""
    loaded = loading.load(session, viewer, [model], browsing_level=63, only_versions={version_id})
    if not loaded.versions_of(model):
        raise NotFound("Missing model file")
    base = public_url(request)
    return shapes.version_body(base, loaded, model, loaded.versions_of(model)[0])


@router.get("/api/v1/model-versions/{version_id}", summary="One model version (Civitai v1)")
def get_version(version_id: str, request: Request, principal: PrincipalDep, session: SessionDep) -> Response:
    """A version with its files (hashes, scans, download URLs), up to 10 showcase images with their generation
    data, and its model's name and type. Owners and moderators also see it unpublished."""
    number = path_id(version_id)
    version = session.get(ModelVersion, number)
    if version is None or not visibility.can_view_version(principal.user, version):
        raise NotFound("Model not found")
    return public_json(principal, _body(request, session, principal.user, version.id, version.model))


def _published_by_hash(session: Session, hashes: list[str]) -> Sequence[Any]:
    """(upper-cased hash, version id, model id) of published files carrying any of `hashes`, oldest first."""
    return session.connection().execute(_BY_HASH, {"hashes": hashes}).all()


_BY_HASH = (
    select(ModelFileHash.hash, ModelVersion.id, ModelVersion.model_id)
    .join(ModelFile, ModelFile.id == ModelFileHash.file_id)
    .join(ModelVersion, ModelVersion.id == ModelFile.model_version_id)
    .join(Model, Model.id == ModelVersion.model_id)
    .where(
        ModelFileHash.hash.in_(bindparam("hashes", expanding=True)),
        # Every file of 1 MiB or less has this AutoV1: it identifies none of them.
        ~and_(ModelFileHash.type == HashType.AutoV1, ModelFileHash.hash == EMPTY_AUTOV1),
        ModelFile.replaced_at.is_(None),
        ModelFile.visibility != FileVisibility.Private,
        visibility.visible_versions(None),  # published versions of published models, for anyone
    )
    .order_by(func.coalesce(ModelVersion.published_at, ModelVersion.created_at), ModelVersion.id)
)


def _clean_hashes(values: Any, limit: int) -> list[str]:
    if not isinstance(values, list) or not all(isinstance(value, str) for value in values):
        raise BadRequest("The body must be a JSON array of hash strings")
    if len(values) > limit:
        raise BadRequest(f"At most {limit} hashes per request")
    bad = next((value for value in values if not _HEX.fullmatch(value.strip())), None)
    if bad is not None:
        raise BadRequest(f"Invalid hash: {bad[:80]!r}")
    return list(dict.fromkeys(value.strip().upper() for value in values))


@hot.get("/api/v1/model-versions/by-hash/{hash_value}", summary="A model version by a file hash (Civitai v1)")
async def by_hash(hash_value: str, request: Request, db: DbDep) -> Response:
    """Any of the six hash types (SHA256, AutoV1, AutoV2, AutoV3, CRC32, BLAKE3), in any case. The AutoV1 every
    file of 1 MiB or less has (E3B0C442, the hash of no bytes) finds nothing."""
    (wanted,) = _clean_hashes([hash_value], 1)

    def body(session: Session, _caller: Principal) -> dict[str, Any]:  # published files only: the same for all
        found = _published_by_hash(session, [wanted])
        if not found:
            raise NotFound("Model not found")
        _, version_id, model_id = found[0]
        return _body(request, session, None, version_id, loading.model_row(session, model_id))

    key = f"by-hash:{wanted}"
    return await public_read(request, db, body, cache_key=key, personal=nobody, public_cache=HASH_CACHE)


HashList = Annotated[Any, Body(description="A JSON array of hash strings")]


@router.post("/api/v1/model-versions/by-hash", summary="Model versions by file hashes (Civitai v1)")
def by_hashes(body: HashList, request: Request, principal: PrincipalDep, session: SessionDep) -> Response:
    """A JSON array of up to 100 hashes; the versions found, each once."""
    hashes = _clean_hashes(body, BULK_VERSIONS)
    versions: dict[int, int] = {}  # version id -> model id
    for _, version_id, model_id in _published_by_hash(session, hashes) if hashes else ():
        versions.setdefault(version_id, model_id)
    bodies = []
    for version_id, model_id in versions.items():
        with suppress(NotFound):  # a version left with no primary file is skipped, as by id it is a 404
            bodies.append(_body(request, session, None, version_id, loading.model_row(session, model_id)))
    return public_json(principal, bodies)


@router.post("/api/v1/model-versions/by-hash/ids", summary="Version and model ids by file hashes (Civitai v1)")
def by_hash_ids(body: HashList, principal: PrincipalDep, session: SessionDep) -> Response:
    """A JSON array of up to 10,000 hashes: `[{modelVersionId, modelId, hash}]` for those found."""
    hashes = _clean_hashes(body, BULK_IDS)
    found: dict[str, dict[str, Any]] = {}
    for start in range(0, len(hashes), 1000):
        for hash_value, version_id, model_id in _published_by_hash(session, hashes[start : start + 1000]):
            found.setdefault(hash_value, {"modelVersionId": version_id, "modelId": model_id, "hash": hash_value})
    return public_json(principal, list(found.values()))


@router.get("/api/v1/model-versions/mini/{version_id}", summary="A version's essentials for tools (Civitai v1)")
def mini(version_id: str, request: Request, principal: PrincipalDep, session: SessionDep) -> Response:
    number = path_id(version_id)
    version = session.get(ModelVersion, number)
    if version is None or not visibility.can_view_version(principal.user, version):
        raise NotFound("Model not found")
    model = version.model
    loaded = loading.load(session, principal.user, [model], browsing_level=63, only_versions={version.id})
    _, primary = loaded.files_of(version)
    if primary is None:
        raise NotFound("Missing model file")
    base = public_url(request)
    body = {
        "air": shapes.air(model, version, loaded.ecosystem(version.base_model), primary),
        "versionName": version.name,
        "modelName": model.name,
        "userId": model.user_id,
        "baseModel": version.base_model,
        "availability": version.availability,
        "publishedAt": version.published_at,
        "size": primary.size_kb,
        "fileType": primary.type,
        "fileName": download_filename(model, version, primary),
        "hashes": loaded.hashes.get(primary.id, {}),
        "downloadUrls": [shapes.download_url(base, version)],
        "format": (primary.metadata_ or {}).get("format"),
        "canGenerate": False,
        "isFeatured": False,
        "requireAuth": version.require_auth,
        "checkPermission": False,
        "earlyAccessEndsAt": version.early_access_ends_at,
        "freeTrialLimit": None,
        "additionalResourceCharge": False,
        "minor": model.minor,
        "sfwOnly": model.sfw_only,
        "fees": None,
        "payoutEnabled": False,
    }
    return public_json(principal, body)
