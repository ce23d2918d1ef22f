"""Posts as pages: the post itself (`/posts/{id}`), the editor (`/posts/new`, `/posts/{id}/edit`) and the author's
list (`/my/posts`).

The editor works without JavaScript: every action is a plain form (files go up as one multipart form, its CSRF
token in the action URL). `post_editor.js` does the same through the JSON API (`images.post_routes`): drag and
drop with a progress bar per file, reordering by dragging, tags and the "hide generation data" switch saved as
they change, and each image's ingestion state refreshed until it is done.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, File, Form, Query, Request, UploadFile
from fastapi.responses import HTMLResponse, Response
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from modelyard.accounts import browsing, policy
from modelyard.accounts.auth import PrincipalDep
from modelyard.accounts.models import User
from modelyard.accounts.scopes import TokenScope
from modelyard.catalog.lifecycle.visibility import can_view_version
from modelyard.catalog.showcase import Picture
from modelyard.core import markdown
from modelyard.core.errors import AppError, NotFound
from modelyard.core.http import SessionDep
from modelyard.core.params import Id, id_or_none
from modelyard.images import editing, ingest, tags, visibility
from modelyard.images.editing import MAX_DETAIL, MAX_POST_IMAGES
from modelyard.images.ingest.checks import max_upload_bytes
from modelyard.images.models import Image, Ingestion, Post
from modelyard.images.pages import ACCEPT
from modelyard.images.post_routes import THUMBNAIL_WIDTH, media_viewer, post_out, read_uploads
from modelyard.images.tags import MAX_IMAGE_TAGS
from modelyard.images.urls import image_url, thumbnail_url
from modelyard.web.toolkit import form_failed, login_required, page, register_flash, see_other

router = APIRouter(include_in_schema=False)
register_flash(
    {
        "post-created": "The post is created: add its images.",
        "post-saved": "The post is saved.",
        "post-images-added": "The images are added. They appear once processed.",
        "post-images-moved": "The order is saved.",
        "post-image-removed": "The image is removed.",
        "post-image-saved": "The image is saved.",
        "post-image-rescanned": "The image is being processed again.",
        "post-published": "The post is published.",
        "post-unpublished": "The post is back to a draft.",
        "post-deleted": "The post is deleted.",
    }
)
PostWriter = Annotated[User, Depends(login_required(TokenScope.MediaWrite, after_post="/my/posts"))]
PostReader = Annotated[User, Depends(login_required(TokenScope.MediaRead, after_post="/my/posts"))]
PageViewer = Annotated[User | None, Depends(media_viewer)]
EDITOR = "images/post_edit.html"
MY_POSTS_PAGE = 50


def _version_context(session: Session, viewer: User | None, post: Post) -> dict[str, Any] | None:
    """The version a post is of, when the viewer may see it: its model, its name, and whether it is a showcase."""
    version = editing.version_of(session, post)
    if version is None:
        return None
    if not can_view_version(viewer, version, version.model):
        return None
    return {"version": version, "model": version.model, "showcase": version.model.user_id == post.user_id}


# --- the post -----------------------------------------------------------------------------------------------------


def _pictures(session: Session, viewer: User | None, post: Post, images: list[Image]) -> list[Picture]:
    version = editing.version_of(session, post)
    public = visibility.is_public(post, version, version.model if version is not None else None)
    return [
        Picture(
            id=image.id,
            url=image_url(image.storage_key, public=public and visibility.image_is_ready(image)),
            width=image.width,
            height=image.height,
            blurhash=image.blurhash,
            nsfw_level=image.nsfw_level,
            name=image.name,
            meta=image.meta if editing.meta_shown(viewer, image) else None,
            size_kb=image.size_kb,
            published=post.published_at is not None,
            caption=post.title,
        )
        for image in images
    ]


@router.get("/posts/{post_id:int}", response_class=HTMLResponse)
def post_page(request: Request, post_id: Id, viewer: PageViewer, session: SessionDep) -> Response:
    post = editing.get_post(session, viewer, post_id)
    images = editing.shown_images(viewer, post)
    owner = viewer is not None and viewer.id == post.user_id
    author = session.get(User, post.user_id)
    context = {
        "post": post,
        "author": author,
        "owner": owner,
        "detail_html": markdown.render(post.detail),
        "pictures": _pictures(session, viewer, post, [i for i in images if i.ingestion == Ingestion.Scanned]),
        "waiting": [image for image in images if image.ingestion != Ingestion.Scanned],
        "tags": tags.tags_of(session, [image.id for image in images]),
        "about": _version_context(session, viewer, post),
        "hidden_count": len(post.images) - len(images) if not owner else 0,
        "blur_nsfw": browsing.blurs_nsfw(viewer),
    }
    return page(request, "images/post.html", context)


# --- the author's list --------------------------------------------------------------------------------------------


@router.get("/my/posts", response_class=HTMLResponse)
def my_posts(
    request: Request,
    user: PostReader,
    session: SessionDep,
    before: Annotated[Id | None, Query()] = None,
) -> Response:
    """The author's posts, newest first, a page at a time (keyset on id)."""
    query = select(Post).where(Post.user_id == user.id).order_by(Post.id.desc()).limit(MY_POSTS_PAGE + 1)
    if before is not None:
        query = query.where(Post.id < before)
    posts = list(session.scalars(query))
    more = len(posts) > MY_POSTS_PAGE
    posts = posts[:MY_POSTS_PAGE]
    counts = dict(
        session.execute(
            select(Image.post_id, func.count(Image.id))
            .where(Image.post_id.in_([post.id for post in posts]))
            .group_by(Image.post_id)
        ).all()
    )
    rows = []
    for post in posts:
        first = post.images[0] if post.images else None
        rows.append(
            {
                "post": post,
                "count": counts.get(post.id, 0),
                "cover": thumbnail_url(first, THUMBNAIL_WIDTH, public=False) if first is not None else None,
            }
        )
    next_before = posts[-1].id if more and posts else None
    return page(request, "images/post_mine.html", {"rows": rows, "next_before": next_before})


# --- the editor ---------------------------------------------------------------------------------------------------


def _editor_context(session: Session, user: User, post: Post, values: dict[str, str] | None = None) -> dict[str, Any]:
    return {
        "post": post,
        "data": post_out(session, user, post),
        "values": values
        or {
            "title": post.title or "",
            "detail": post.detail or "",
            "version_id": str(post.model_version_id or ""),
        },
        "about": _version_context(session, user, post),
        "max_images": MAX_POST_IMAGES,
        "max_tags": MAX_IMAGE_TAGS,
        "max_detail": MAX_DETAIL,
        "max_megabytes": max_upload_bytes() // (1024 * 1024),
        "accept": ACCEPT,
    }


def _failed(request: Request, session: Session, user: User, post_id: int, error: AppError) -> HTMLResponse:
    """The editor again, as it still is, with what went wrong (rolled back first: nothing changed)."""
    session.rollback()
    post = editing.editable_post(session, user, post_id)
    return form_failed(request, session, EDITOR, _editor_context(session, user, post), error)


def _done(post_id: int, key: str) -> Response:
    return see_other(f"/posts/{post_id}/edit", done=key)


Text = Annotated[str, Form(max_length=MAX_DETAIL + 1000)]


@router.get("/posts/new", response_class=HTMLResponse)
def new_post_page(
    request: Request, user: PostWriter, version: Annotated[str, Query(alias="modelVersionId", max_length=20)] = ""
) -> Response:
    values = {"title": "", "detail": "", "version_id": str(id_or_none(version) or "")}
    return page(request, "images/post_new.html", {"values": values, "max_detail": MAX_DETAIL})


@router.post("/posts/new", response_class=HTMLResponse)
def create_post(
    request: Request,
    user: PostWriter,
    principal: PrincipalDep,
    session: SessionDep,
    title: Text = "",
    detail: Text = "",
    version_id: Annotated[str, Form(max_length=20)] = "",
) -> Response:
    values = {"title": title, "detail": detail, "version_id": version_id}
    try:
        policy.require_can_post(principal)
        chosen = _version_field(version_id)
        post = editing.create_post(session, user, title=title, detail=detail, version_id=chosen)
    except AppError as exc:
        context = {"values": values, "max_detail": MAX_DETAIL}
        return form_failed(request, session, "images/post_new.html", context, exc)
    return _done(post.id, "post-created")


def _version_field(text: str) -> int | None:
    if not text.strip():
        return None
    chosen = id_or_none(text)
    if chosen is None:
        raise NotFound(f"No model version with id {text.strip()[:20]}")
    return chosen


@router.get("/posts/{post_id:int}/edit", response_class=HTMLResponse)
def edit_post_page(request: Request, post_id: Id, user: PostWriter, session: SessionDep) -> Response:
    post = editing.editable_post(session, user, post_id)
    return page(request, EDITOR, _editor_context(session, user, post))


@router.post("/posts/{post_id:int}/edit", response_class=HTMLResponse)
def save_post(
    request: Request,
    post_id: Id,
    user: PostWriter,
    session: SessionDep,
    title: Text = "",
    detail: Text = "",
    version_id: Annotated[str, Form(max_length=20)] = "",
) -> Response:
    post = editing.editable_post(session, user, post_id)
    try:
        editing.update_post(session, user, post, title=title, detail=detail, version_id=_version_field(version_id))
    except AppError as exc:
        session.rollback()
        post = editing.editable_post(session, user, post_id)
        values = {"title": title, "detail": detail, "version_id": version_id}
        return form_failed(request, session, EDITOR, _editor_context(session, user, post, values), exc)
    return _done(post_id, "post-saved")


@router.post("/posts/{post_id:int}/images", response_class=HTMLResponse)
def add_images(
    request: Request,
    post_id: Id,
    user: PostWriter,
    principal: PrincipalDep,
    session: SessionDep,
    images: Annotated[list[UploadFile] | None, File()] = None,
) -> Response:
    """Multipart form; its CSRF token travels in the action URL (multipart bodies are not buffered for it)."""
    post = editing.editable_post(session, user, post_id)
    try:
        policy.require_can_post(principal)
        editing.add_images(session, user, post, read_uploads(images or []))
    except AppError as exc:
        return _failed(request, session, user, post_id, exc)
    return _done(post_id, "post-images-added")


@router.post("/posts/{post_id:int}/{action}", response_class=HTMLResponse)
def post_action(
    request: Request,
    post_id: Id,
    action: Literal["publish", "unpublish", "delete"],
    user: PostWriter,
    principal: PrincipalDep,
    session: SessionDep,
) -> Response:
    post = editing.editable_post(session, user, post_id)
    try:
        if action == "publish":
            policy.require_can_post(principal)
            editing.publish(session, user, post)
        elif action == "unpublish":
            editing.unpublish(session, user, post)
        else:
            editing.delete_post(session, user, post)
            return see_other("/my/posts", done="post-deleted")
    except AppError as exc:
        return _failed(request, session, user, post_id, exc)
    return _done(post_id, "post-published" if action == "publish" else "post-unpublished")


@router.post("/posts/{post_id:int}/images/{image_id:int}/{action}", response_class=HTMLResponse)
def image_action(
    request: Request,
    post_id: Id,
    image_id: Id,
    action: Literal["move", "remove", "tags", "meta", "rescan"],
    user: PostWriter,
    session: SessionDep,
    direction: Annotated[Literal["earlier", "later", ""], Form()] = "",
    names: Annotated[str, Form(alias="tags", max_length=2000)] = "",
    hide_meta: Annotated[str, Form(max_length=10)] = "",
) -> Response:
    """One image's actions: a step earlier or later, removal, its tags (comma-separated), hiding its data, and
    processing it again after an error."""
    post = editing.editable_post(session, user, post_id)
    image = next((image for image in post.images if image.id == image_id), None)
    if image is None:
        raise NotFound(f"No image {image_id} in this post")
    try:
        if action == "move":
            order = [item.id for item in post.images]
            at = order.index(image_id)
            to = max(0, min(len(order) - 1, at + (1 if direction == "later" else -1)))
            order.insert(to, order.pop(at))
            editing.reorder(session, user, post, order)
        elif action == "remove":
            editing.remove_image(session, user, image)
            return _done(post_id, "post-image-removed")
        elif action == "rescan":
            ingest.rescan(session, user, image)
            return _done(post_id, "post-image-rescanned")
        elif action == "tags":
            tags.set_image_tags(session, user, image, names.split(","))
        else:
            editing.set_hide_meta(session, user, image, hide_meta == "on")
    except AppError as exc:
        return _failed(request, session, user, post_id, exc)
    return _done(post_id, "post-images-moved" if action == "move" else "post-image-saved")
