"""The resources an image was made with (`ImageResource`), linked to catalog versions.

A resource named in an image's generation data links to a model version by one of its files' hashes (any type the
catalog keeps: AutoV1, AutoV2, AutoV3, SHA256, CRC32, BLAKE3, upper-case hex) or by a `civitai` AIR (or a bare
version id, from `Civitai resources`). The post's own version is a resource too, as on Civitai: an image shown on
a version was made with it. Only versions the image's owner may see link: a hash cannot reveal someone's draft.

Reads are batched: one query for every hash of an image, one for every version id.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from sqlalchemy import Select, delete, literal, select, union_all
from sqlalchemy.orm import Session

from modelyard.accounts.models import User
from modelyard.catalog.enums import HashType, ModelType
from modelyard.catalog.lifecycle.visibility import visible_versions
from modelyard.catalog.models import BaseModel, Model, ModelFile, ModelFileHash, ModelVersion
from modelyard.images.metadata import FoundResource
from modelyard.images.metadata.air import civitai_air, parse_air
from modelyard.images.models import Image, ImageResource, Post

_EMPTY_SHA256 = "E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855"  # of no bytes at all
# When a hash names several files (an 8-hex AutoV1 or CRC32 can collide), the surest kind wins.
_SURENESS = [HashType.SHA256, HashType.BLAKE3, HashType.AutoV3, HashType.AutoV2, HashType.AutoV1, HashType.CRC32]
_AIR_TYPES = {
    ModelType.Checkpoint: "checkpoint", ModelType.TextualInversion: "embedding", ModelType.Hypernetwork: "hypernet",
    ModelType.LORA: "lora", ModelType.LoCon: "lycoris", ModelType.DoRA: "dora", ModelType.Controlnet: "controlnet",
    ModelType.Upscaler: "upscaler", ModelType.VAE: "vae",
}  # fmt: skip


@dataclass(frozen=True)
class _Version:
    id: int
    model_id: int
    model_name: str
    type: ModelType
    ecosystem: str | None

    @property
    def kind(self) -> str:
        return _AIR_TYPES.get(self.type, self.type.value.lower())

    @property
    def air(self) -> str:
        return civitai_air(self.ecosystem or "other", self.kind, self.model_id, self.id)


def link_resources(session: Session, image: Image, found: Sequence[FoundResource]) -> list[ImageResource]:
    """Replace the image's resources with `found` (and its post's version), each linked to the catalog version its
    hash or AIR names when the image's owner may see that version. Flushes."""
    owner = session.get(User, image.user_id)
    post_version = _post_version(session, image)
    hashes = {_hash_key(resource.hash) for resource in found} - {None}
    wanted_ids = {_version_id(resource) for resource in found} | {post_version}
    by_hash = _versions_by_hash(session, owner, {digest for digest in hashes if digest})
    by_id = _versions_by_id(session, owner, {version_id for version_id in wanted_ids if version_id})
    session.execute(delete(ImageResource).where(ImageResource.image_id == image.id))
    rows: list[ImageResource] = []
    linked: set[int] = set()
    for resource in found:
        digest = _hash_key(resource.hash)
        version = by_id.get(_version_id(resource) or 0) or (by_hash.get(digest) if digest else None)
        if version is not None and version.id in linked:
            continue  # one row per linked version (a checkpoint named by its hash and by its AIR)
        rows.append(_row(image, resource, version))
        if version is not None:
            linked.add(version.id)
    if post_version in by_id and post_version not in linked:
        rows.append(_row(image, FoundResource(None, None, None, None, None), by_id[post_version]))
    session.add_all(rows)
    session.flush()
    return rows


def versions_of_images(session: Session, image_ids: Iterable[int]) -> dict[int, list[int]]:
    """The catalog versions each image was made with (the public API's `modelVersionIds`): its linked resources,
    then its post's version; in one query. Images with none are left out."""
    ids = sorted({image_id for image_id in image_ids if 0 < image_id < 2**31})
    if not ids:
        return {}
    named = select(ImageResource.image_id, ImageResource.model_version_id, ImageResource.id.label("rank")).where(
        ImageResource.image_id.in_(ids), ImageResource.model_version_id.is_not(None)
    )
    # An image whose metadata was never linked still shows its post's version.
    shown_on = (
        select(Image.id, Post.model_version_id, literal(2**31).label("rank"))
        .join(Post, Post.id == Image.post_id)
        .where(Image.id.in_(ids), Post.model_version_id.is_not(None))
    )
    both = union_all(named, shown_on).subquery()
    query = select(both.c.image_id, both.c.model_version_id).order_by(both.c.image_id, both.c.rank)
    found: dict[int, list[int]] = {}
    for image_id, version_id in session.execute(query):
        if version_id is not None and version_id not in found.setdefault(image_id, []):
            found[image_id].append(version_id)
    return found


def _post_version(session: Session, image: Image) -> int | None:
    if image.post_id is None:
        return None
    return session.scalar(select(Post.model_version_id).where(Post.id == image.post_id))


def _hash_key(digest: str | None) -> str | None:
    """A found hash as the catalog stores hashes (upper-case hex); None for nothing, or for a prefix of the hash
    of an empty file (tools that hashed a missing file print it)."""
    if not digest or len(digest) > 64:
        return None
    upper = digest.upper()
    return None if _EMPTY_SHA256.startswith(upper) else upper


def _version_id(resource: FoundResource) -> int | None:
    air = parse_air(resource.air) if resource.air else None
    found = (air.civitai_version_id if air else None) or resource.version_id
    return found if found is not None and 0 < found < 2**31 else None


def _selected_versions(owner: User | None) -> Select[int, int, str, ModelType, str]:
    return (
        select(ModelVersion.id, Model.id, Model.name, Model.type, BaseModel.ecosystem)
        .join(Model, Model.id == ModelVersion.model_id)
        .outerjoin(BaseModel, BaseModel.name == ModelVersion.base_model)
        .where(visible_versions(owner))
    )


def _versions_by_hash(session: Session, owner: User | None, hashes: set[str]) -> dict[str, _Version]:
    if not hashes:
        return {}
    query = (
        _selected_versions(owner)
        .add_columns(ModelFileHash.hash, ModelFileHash.type)
        .join(ModelFile, ModelFile.model_version_id == ModelVersion.id)
        .join(ModelFileHash, ModelFileHash.file_id == ModelFile.id)
        .where(ModelFileHash.hash.in_(sorted(hashes)))
        .order_by(ModelVersion.id)
    )
    best: dict[str, tuple[int, _Version]] = {}
    for version_id, model_id, name, kind, ecosystem, digest, hash_type in session.execute(query):
        rank = _SURENESS.index(hash_type)
        if digest not in best or rank < best[digest][0]:
            best[digest] = (rank, _Version(version_id, model_id, name, kind, ecosystem))
    return {digest: version for digest, (_rank, version) in best.items()}


def _versions_by_id(session: Session, owner: User | None, ids: set[int]) -> dict[int, _Version]:
    if not ids:
        return {}
    query = _selected_versions(owner).where(ModelVersion.id.in_(sorted(ids)))
    found = {}
    for version_id, model_id, name, kind, ecosystem in session.execute(query):
        found[version_id] = _Version(version_id, model_id, name, kind, ecosystem)
    return found


def _row(image: Image, resource: FoundResource, version: _Version | None) -> ImageResource:
    return ImageResource(
        image_id=image.id,
        model_version_id=version.id if version else None,
        kind=(resource.kind or (version.kind if version else None) or "")[:24] or None,
        name=(resource.name or (version.model_name if version else None) or "")[:255] or None,
        hash=(resource.hash or "")[:80] or None,
        air=(resource.air or (version.air if version else None) or "")[:300] or None,
        strength=resource.strength,
    )
