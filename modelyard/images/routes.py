"""JSON API for showcase posts of model versions."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, File, Form, UploadFile, status
from pydantic import BaseModel

from modelyard.accounts import policy
from modelyard.accounts.auth import PrincipalDep, requires
from modelyard.accounts.models import User
from modelyard.accounts.scopes import TokenScope
from modelyard.catalog.enums import ModelStatus
from modelyard.catalog.lifecycle import visibility
from modelyard.core.errors import Forbidden
from modelyard.core.http import SessionDep
from modelyard.core.params import Id
from modelyard.images import service
from modelyard.images.service import MAX_UPLOAD_BYTES

router = APIRouter(tags=["images"])
MediaWriter = Annotated[User, Depends(requires(TokenScope.MediaWrite))]


class ImageOut(BaseModel):
    id: int
    url: str
    width: int
    height: int
    nsfw_level: int


class PostOut(BaseModel):
    id: int
    model_version_id: int | None
    title: str | None
    published: bool
    images: list[ImageOut]


@router.post("/api/model-versions/{version_id}/posts", status_code=status.HTTP_201_CREATED, response_model=PostOut)
def create_post(
    version_id: Id,
    images: Annotated[list[UploadFile], File(description="PNG, JPEG, WebP or GIF images, shown in this order")],
    _: MediaWriter,
    principal: PrincipalDep,
    session: SessionDep,
    title: Annotated[str | None, Form(max_length=255)] = None,
) -> PostOut:
    """Add a showcase post of images to one of your versions. It goes live with the version."""
    user = policy.require_can_post(principal)
    version = visibility.get_version(session, user, version_id)
    if version.model.user_id != user.id:
        raise Forbidden("Showcase posts are added by the model's owner")
    blobs = [upload.file.read(MAX_UPLOAD_BYTES + 1) for upload in images]
    post = service.create_version_post(
        session,
        user.id,
        version.id,
        title=title,
        images=blobs,
        published=version.status == ModelStatus.Published and version.model.status == ModelStatus.Published,
    )
    return PostOut(
        id=post.id,
        model_version_id=post.model_version_id,
        title=post.title,
        published=post.published_at is not None,
        images=[
            ImageOut(id=i.id, url=service.image_url(i), width=i.width, height=i.height, nsfw_level=i.nsfw_level)
            for i in post.images
        ],
    )
