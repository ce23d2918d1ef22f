"""JSON API for posts as people make them (the post editor drives it): create a draft, add images, order them,
tag them, hide their generation data, publish, unpublish, delete.

What the caller may not see is a 404, like what does not exist; what they may see but not change is a 403. Reads
take the MediaRead scope (without it a key reads as anyone would), writes MediaWrite, deletions MediaDelete.
Images added here go through ingestion: they are `Pending` until processed, then `Scanned` (shown when the post
is published), `Blocked` or `Error`; the editor polls `GET /api/posts/{id}` until none is Pending.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, File, UploadFile, status
from fastapi.responses import Response
from pydantic import BaseModel, Field
from sqlalchemy.orm import Session

from modelyard.accounts import policy
from modelyard.accounts.auth import PrincipalDep, requires
from modelyard.accounts.models import User
from modelyard.accounts.scopes import TokenScope
from modelyard.core import markdown
from modelyard.core.errors import ValidationFailed
from modelyard.core.http import SessionDep, model_response
from modelyard.core.params import BOUNDS, Id
from modelyard.images import editing, ingest, tags, visibility
from modelyard.images.editing import MAX_DETAIL, MAX_POST_IMAGES, Upload
from modelyard.images.ingest.checks import max_upload_bytes
from modelyard.images.models import Image, Ingestion, Post
from modelyard.images.urls import image_url, thumbnail_url

router = APIRouter(tags=["posts"])
THUMBNAIL_WIDTH = 320
MediaWriter = Annotated[User, Depends(requires(TokenScope.MediaWrite))]
MediaDeleter = Annotated[User, Depends(requires(TokenScope.MediaDelete))]
Images = Annotated[list[UploadFile], File(description="PNG, JPEG, WebP or GIF images, in this order")]


def media_viewer(principal: PrincipalDep) -> User | None:
    """Who reads: a key without MediaRead reads as anyone would (it does not unlock the owner's drafts)."""
    return principal.user if principal.allows(TokenScope.MediaRead) else None


Viewer = Annotated[User | None, Depends(media_viewer)]


class PostImageOut(BaseModel):
    id: int
    url: str = Field(description="Stable for a public image; a signed URL that expires for the others")
    thumbnail_url: str = Field(description="A small copy (320 px wide, or the image itself when it has none)")
    width: int
    height: int
    name: str | None
    blurhash: str | None
    nsfw_level: int = Field(description="One NSFW bit (1 PG … 16 XXX); 0 while unrated")
    ingestion: Ingestion = Field(description="Pending until processed; Scanned, Blocked or Error after")
    ingestion_error: str | None = Field(description="Why processing failed (its owner only)")
    hide_meta: bool
    meta: dict[str, object] | None = Field(description="Generation data; null when hidden from the caller")
    tags: list[str]


class PostOut(BaseModel):
    id: int
    user_id: int
    title: str | None
    detail: str | None = Field(description="The description, as markdown")
    detail_html: str | None = Field(description="The description rendered to safe HTML")
    model_version_id: int | None
    showcase: bool = Field(description="Of its author's own version: part of that version's showcase")
    published: bool
    published_at: datetime | None
    nsfw_level: int = Field(description="The bit-OR of its images' levels")
    editable: bool = Field(description="Whether the caller may change it")
    images: list[PostImageOut]
    max_images: int = MAX_POST_IMAGES


class PostIn(BaseModel):
    title: str | None = Field(default=None, max_length=255)
    detail: str | None = Field(default=None, max_length=MAX_DETAIL, description="Markdown")
    model_version_id: Annotated[int, BOUNDS] | None = Field(
        default=None, description="The version the images were made with (or, for your own, show)"
    )


class OrderIn(BaseModel):
    image_ids: list[Annotated[int, BOUNDS]] = Field(
        max_length=MAX_POST_IMAGES, description="Every image of the post once, in the order to show"
    )


class ImagePatch(BaseModel):
    tags: list[Annotated[str, Field(max_length=200)]] | None = Field(
        default=None, max_length=100, description="The image's tags (replacing those you may edit)"
    )
    hide_meta: bool | None = Field(default=None, description="Hide the generation data from everyone else")


def post_out(session: Session, viewer: User | None, post: Post) -> PostOut:
    """A post as `viewer` sees it: only the images they may see, meta only where not hidden from them."""
    session.flush()
    version = editing.version_of(session, post)
    model = version.model if version is not None else None
    public = visibility.is_public(post, version, model)
    images = editing.shown_images(viewer, post)
    names = tags.tags_of(session, [image.id for image in images])
    owner = viewer is not None and viewer.id == post.user_id
    return PostOut(
        id=post.id,
        user_id=post.user_id,
        title=post.title,
        detail=post.detail,
        detail_html=markdown.render(post.detail),
        model_version_id=post.model_version_id,
        showcase=model is not None and model.user_id == post.user_id,
        published=post.published_at is not None,
        published_at=post.published_at,
        nsfw_level=post.nsfw_level,
        editable=owner,
        images=[_image_out(viewer, image, public=public, tags=names[image.id], owner=owner) for image in images],
    )


def _image_out(viewer: User | None, image: Image, *, public: bool, tags: list[str], owner: bool) -> PostImageOut:
    shown_publicly = public and visibility.image_is_ready(image)
    return PostImageOut(
        id=image.id,
        url=image_url(image.storage_key, public=shown_publicly),
        thumbnail_url=thumbnail_url(image, THUMBNAIL_WIDTH, public=shown_publicly),
        width=image.width,
        height=image.height,
        name=image.name,
        blurhash=image.blurhash,
        nsfw_level=image.nsfw_level,
        ingestion=image.ingestion,
        ingestion_error=image.ingestion_error if owner else None,
        hide_meta=image.hide_meta,
        meta=image.meta if editing.meta_shown(viewer, image) else None,
        tags=tags,
    )


def read_uploads(uploads: list[UploadFile]) -> list[Upload]:
    """The files of a multipart request, each read up to one byte past the limit (ingestion refuses it)."""
    chosen = [upload for upload in uploads if upload.filename]
    if not chosen:
        raise ValidationFailed("Choose at least one image", field="images")
    if len(chosen) > MAX_POST_IMAGES:
        raise ValidationFailed(f"At most {MAX_POST_IMAGES} images at a time", field="images")
    most = max_upload_bytes()
    return [Upload(upload.file.read(most + 1), upload.filename) for upload in chosen]


@router.post("/api/posts", status_code=status.HTTP_201_CREATED, response_model=PostOut)
def create_post(body: PostIn, _: MediaWriter, principal: PrincipalDep, session: SessionDep) -> Response:
    """Start a draft post. Attach it to a version you may see: your own (it joins that version's showcase) or a
    published one of someone else (it shows what you made with it)."""
    user = policy.require_can_post(principal)
    post = editing.create_post(session, user, title=body.title, detail=body.detail, version_id=body.model_version_id)
    return model_response(post_out(session, user, post), status_code=status.HTTP_201_CREATED)


@router.get("/api/posts/{post_id}", response_model=PostOut)
def get_post(post_id: Id, viewer: Viewer, session: SessionDep) -> Response:
    """A post you may see, with the images you may see (its author sees all of theirs, with their states)."""
    return model_response(post_out(session, viewer, editing.get_post(session, viewer, post_id)))


@router.patch("/api/posts/{post_id}", response_model=PostOut)
def update_post(post_id: Id, body: PostIn, user: MediaWriter, session: SessionDep) -> Response:
    """Change the title, the description or the version (null detaches it); fields left out stay."""
    post = editing.editable_post(session, user, post_id)
    given = {field: getattr(body, field) for field in body.model_fields_set}
    editing.update_post(
        session,
        user,
        post,
        **{"version_id" if name == "model_version_id" else name: value for name, value in given.items()},
    )
    return model_response(post_out(session, user, post))


@router.delete("/api/posts/{post_id}", status_code=status.HTTP_204_NO_CONTENT)
def delete_post(post_id: Id, user: MediaDeleter, session: SessionDep) -> Response:
    """Delete a post and its images (their addresses stop working at once)."""
    editing.delete_post(session, user, editing.editable_post(session, user, post_id))
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post("/api/posts/{post_id}/images", status_code=status.HTTP_201_CREATED, response_model=PostOut)
def add_images(post_id: Id, images: Images, _: MediaWriter, principal: PrincipalDep, session: SessionDep) -> Response:
    """Add images after the last one (multipart, field `images`). Each is checked before any is stored, then
    processed in the background: `Pending` until then."""
    user = policy.require_can_post(principal)
    post = editing.editable_post(session, user, post_id)
    editing.add_images(session, user, post, read_uploads(images))
    return model_response(post_out(session, user, post), status_code=status.HTTP_201_CREATED)


@router.put("/api/posts/{post_id}/order", response_model=PostOut)
def reorder(post_id: Id, body: OrderIn, user: MediaWriter, session: SessionDep) -> Response:
    """Put the images in this order (each listed once)."""
    post = editing.editable_post(session, user, post_id)
    editing.reorder(session, user, post, body.image_ids)
    return model_response(post_out(session, user, post))


@router.post("/api/posts/{post_id}/publish", response_model=PostOut)
def publish(post_id: Id, _: MediaWriter, principal: PrincipalDep, session: SessionDep) -> Response:
    """Publish a post with at least one image; images still being processed appear once Scanned."""
    user = policy.require_can_post(principal)
    post = editing.editable_post(session, user, post_id)
    editing.publish(session, user, post)
    return model_response(post_out(session, user, post))


@router.post("/api/posts/{post_id}/unpublish", response_model=PostOut)
def unpublish(post_id: Id, user: MediaWriter, session: SessionDep) -> Response:
    """Back to a draft only you see."""
    post = editing.editable_post(session, user, post_id)
    editing.unpublish(session, user, post)
    return model_response(post_out(session, user, post))


@router.patch("/api/images/{image_id}", response_model=PostImageOut)
def update_image(image_id: Id, body: ImagePatch, user: MediaWriter, session: SessionDep) -> Response:
    """Set an image's tags (its author and moderators) or hide its generation data (its author)."""
    image = editing.get_image(session, user, image_id)
    if body.hide_meta is not None:
        editing.set_hide_meta(session, user, image, body.hide_meta)
    if body.tags is not None:
        tags.set_image_tags(session, user, image, body.tags)
    return image_response(session, user, image)


@router.post("/api/images/{image_id}/rescan", response_model=PostImageOut)
def rescan_image(image_id: Id, user: MediaWriter, session: SessionDep) -> Response:
    """Ingest an image again from its original (its author or a moderator): after an Error, or to rate it with
    today's classifier and thresholds. It is Pending, so shown to no one else, until done; a blocked image is
    not rescanned (409)."""
    image = editing.get_image(session, user, image_id)
    ingest.rescan(session, user, image)
    return image_response(session, user, image)


def image_response(session: Session, user: User, image: Image) -> Response:
    session.flush()
    session.refresh(image)
    post = image.post
    assert post is not None
    version = editing.version_of(session, post)
    public = visibility.is_public(post, version, version.model if version else None)
    names = tags.tags_of(session, [image.id])[image.id]
    return model_response(_image_out(user, image, public=public, tags=names, owner=user.id == image.user_id))


@router.delete("/api/images/{image_id}", status_code=status.HTTP_204_NO_CONTENT)
def delete_image(image_id: Id, user: MediaDeleter, session: SessionDep) -> Response:
    """Remove an image from its post (a published post left with none goes back to a draft)."""
    editing.remove_image(session, user, editing.editable_image(session, user, image_id))
    return Response(status_code=status.HTTP_204_NO_CONTENT)
