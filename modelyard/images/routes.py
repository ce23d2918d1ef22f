"""JSON API for the pictures of model versions: showcase posts, and the showcase as its owner arranges it (add,
reorder, pick the cover, remove), which the version's image step in the wizard drives.

Only the model's owner arranges its showcase. What the caller may not see is a 404, like what does not exist;
someone else's visible version is a 403. Uploads take the MediaWrite scope, removals MediaDelete.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, File, Form, UploadFile, status
from fastapi.responses import Response
from pydantic import BaseModel, Field
from sqlalchemy.orm import Session

from modelyard.accounts import policy
from modelyard.accounts.auth import PrincipalDep, requires
from modelyard.accounts.models import User
from modelyard.accounts.scopes import TokenScope
from modelyard.catalog.lifecycle import visibility
from modelyard.catalog.models import ModelVersion
from modelyard.core.errors import ValidationFailed
from modelyard.core.http import SessionDep, model_response
from modelyard.core.params import BOUNDS, Id
from modelyard.images import service, showcases
from modelyard.images.ingest.checks import max_upload_bytes
from modelyard.images.models import Ingestion
from modelyard.images.service import MAX_POST_IMAGES
from modelyard.images.showcases import MAX_SHOWCASE_IMAGES, Arranged
from modelyard.images.urls import image_url
from modelyard.images.visibility import image_is_public

router = APIRouter(tags=["images"])
MediaReader = Annotated[User, Depends(requires(TokenScope.MediaRead))]
MediaWriter = Annotated[User, Depends(requires(TokenScope.MediaWrite))]
MediaDeleter = Annotated[User, Depends(requires(TokenScope.MediaDelete))]
Images = Annotated[list[UploadFile], File(description="PNG, JPEG, WebP or GIF images, in this order")]


class ImageOut(BaseModel):
    id: int
    url: str
    width: int
    height: int
    nsfw_level: int = Field(description="0 while the image is not yet rated")
    ingestion: Ingestion = Field(description="Pending until processed and rated; then Scanned, Blocked or Error")


class PostOut(BaseModel):
    id: int
    model_version_id: int | None
    title: str | None
    published: bool
    images: list[ImageOut]


class ShowcaseImageOut(BaseModel):
    """A picture of a version's showcase, in order; the first is the version's cover."""

    id: int
    url: str = Field(description="Stable for a public picture; a signed URL that expires for the others")
    width: int
    height: int
    size_kb: float
    blurhash: str | None
    nsfw_level: int
    name: str | None
    meta: dict[str, object] | None
    published: bool
    cover: bool
    ingestion: Ingestion = Field(description="Shown to others only once Scanned")
    ingestion_error: str | None = Field(None, description="Why ingestion failed (Error); a rescan tries again")


class ShowcaseOut(BaseModel):
    version_id: int
    images: list[ShowcaseImageOut]
    max_images: int = MAX_SHOWCASE_IMAGES


class OrderIn(BaseModel):
    image_ids: list[Annotated[int, BOUNDS]] = Field(
        max_length=MAX_SHOWCASE_IMAGES, description="Every picture of the showcase once, in the order to show"
    )


class CoverIn(BaseModel):
    image_id: Annotated[int, BOUNDS]


def owned_version(session: Session, user: User, version_id: int) -> ModelVersion:
    """The version, if `user` may see it (404 otherwise) and owns its model (403)."""
    version = visibility.get_version(session, user, version_id)
    showcases.require_owner(user, version)
    return version


def showcase_out(session: Session, version: ModelVersion) -> ShowcaseOut:
    items = showcases.arranged(session, version)
    return ShowcaseOut(
        version_id=version.id, images=[_image_out(version, item, n == 0) for n, item in enumerate(items)]
    )


def _image_out(version: ModelVersion, item: Arranged, cover: bool) -> ShowcaseImageOut:
    image = item.image
    public = image_is_public(image, item.post, version, version.model)
    return ShowcaseImageOut(
        id=image.id,
        url=image_url(image.storage_key, public=public),
        width=image.width,
        height=image.height,
        size_kb=image.size_kb,
        blurhash=image.blurhash,
        nsfw_level=image.nsfw_level,
        name=image.name,
        meta=image.meta,
        published=item.published,
        cover=cover,
        ingestion=image.ingestion,
        ingestion_error=image.ingestion_error,
    )


def read_uploads(uploads: list[UploadFile], *, most: int) -> tuple[list[bytes], list[str | None]]:
    """Every upload read (one byte past the limit, so a larger file is refused, not cut) and checked before
    anything is stored."""
    if not uploads:
        raise ValidationFailed("Choose at least one image", field="images")
    if len(uploads) > most:
        raise ValidationFailed(f"At most {most} images at a time", field="images")
    limit = max_upload_bytes()
    files = [upload.file.read(limit + 1) for upload in uploads]
    service.check_all(files)
    return files, [upload.filename for upload in uploads]


@router.post("/api/model-versions/{version_id}/posts", status_code=status.HTTP_201_CREATED, response_model=PostOut)
def create_post(
    version_id: Id,
    images: Images,
    _: MediaWriter,
    principal: PrincipalDep,
    session: SessionDep,
    title: Annotated[str | None, Form(max_length=255)] = None,
) -> PostOut:
    """Add a showcase post of images to one of your versions (PNG, JPEG, WebP, animated GIF or WebP). It goes live
    with the version; each image is shown once ingested (`ingestion` Scanned). A file that is not such an image,
    damaged, too large or with too many pixels is refused (413 or 422) and nothing is stored."""
    user = policy.require_can_post(principal)
    version = owned_version(session, user, version_id)
    prepared, names = read_uploads(images, most=MAX_POST_IMAGES)
    post = service.create_version_post(session, user.id, version, title=title, images=prepared, names=names)
    return PostOut(
        id=post.id,
        model_version_id=post.model_version_id,
        title=post.title,
        published=post.published_at is not None,
        images=[
            ImageOut(
                id=i.id,
                url=image_url(i.storage_key, public=image_is_public(i, post, version, version.model)),
                width=i.width,
                height=i.height,
                nsfw_level=i.nsfw_level,
                ingestion=i.ingestion,
            )
            for i in post.images
        ],
    )


@router.get("/api/model-versions/{version_id}/showcase", response_model=ShowcaseOut)
def get_showcase(version_id: Id, user: MediaReader, session: SessionDep) -> Response:
    """Your version's showcase pictures in order, published or not; the first is its cover."""
    return model_response(showcase_out(session, owned_version(session, user, version_id)))


@router.post(
    "/api/model-versions/{version_id}/showcase", status_code=status.HTTP_201_CREATED, response_model=ShowcaseOut
)
def add_to_showcase(
    version_id: Id, images: Images, _: MediaWriter, principal: PrincipalDep, session: SessionDep
) -> Response:
    """Add pictures after the last one. They are public when the version is, and go live with it otherwise."""
    user = policy.require_can_post(principal)
    version = owned_version(session, user, version_id)
    prepared, names = read_uploads(images, most=MAX_POST_IMAGES)
    showcases.add(session, user, version, prepared, names=names)
    return model_response(showcase_out(session, version), status_code=status.HTTP_201_CREATED)


@router.put("/api/model-versions/{version_id}/showcase/order", response_model=ShowcaseOut)
def reorder_showcase(version_id: Id, body: OrderIn, user: MediaWriter, session: SessionDep) -> Response:
    """Put the pictures in this order (each listed once); the first becomes the cover."""
    version = owned_version(session, user, version_id)
    showcases.reorder(session, user, version, body.image_ids)
    return model_response(showcase_out(session, version))


@router.put("/api/model-versions/{version_id}/showcase/cover", response_model=ShowcaseOut)
def set_showcase_cover(version_id: Id, body: CoverIn, user: MediaWriter, session: SessionDep) -> Response:
    """Make a picture the version's cover: it moves to the front, the others keep their order."""
    version = owned_version(session, user, version_id)
    showcases.set_cover(session, user, version, body.image_id)
    return model_response(showcase_out(session, version))


@router.delete("/api/model-versions/{version_id}/showcase/images/{image_id}", response_model=ShowcaseOut)
def remove_from_showcase(version_id: Id, image_id: Id, user: MediaDeleter, session: SessionDep) -> Response:
    """Take a picture out of the showcase (its address stops working); answers what is left."""
    version = owned_version(session, user, version_id)
    showcases.remove(session, user, version, image_id)
    return model_response(showcase_out(session, version))
