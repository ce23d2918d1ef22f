"""The post pages (`images.post_pages`): the new-post form, the editor's plain forms (they work without
JavaScript), the post's page as each viewer sees it, and the author's list."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from modelyard.accounts.models import User
from modelyard.core.nsfw import ALL_LEVELS, BrowsingLevel
from modelyard.images.models import Image, Post
from tests.images.test_editing import make_post, png
from tests.support.catalog import create_model
from tests.support.factories import UserFixture, create_user, log_in


@pytest.fixture
def owner(runtime) -> UserFixture:
    return create_user(runtime, username="inkbrush")


def image_key(runtime, image_id: int) -> str:
    with runtime.db.session() as session:
        image = session.get(Image, image_id)
        assert image is not None
        return image.storage_key


def csrf(client) -> str:
    return client.headers["x-csrf-token"]


def test_a_new_post_then_the_editor(runtime, client, owner):
    log_in(client, owner)
    assert "Post images" in client.get("/my/posts").text
    made = create_model(runtime, create_user(runtime), with_post=False, published=True)
    form = client.get(f"/posts/new?modelVersionId={made.version_ids[0]}")
    assert form.status_code == 200 and f'value="{made.version_ids[0]}"' in form.text
    answer = client.post(
        "/posts/new",
        data={"title": "Ink birds", "detail": "Made *slowly*", "version_id": str(made.version_ids[0])},
        follow_redirects=False,
    )
    assert answer.status_code == 303, answer.text
    editor_url = answer.headers["location"].split("?")[0]
    post_id = int(re.findall(r"/posts/(\d+)/edit", editor_url)[0])
    editor = client.get(answer.headers["location"])
    assert "The post is created" in editor.text and "Made with" in editor.text and "data-post-editor" in editor.text

    files = [("images", ("red.png", png("red"))), ("images", ("blue.png", png("blue")))]
    added = client.post(f"/posts/{post_id}/images?csrf_token={csrf(client)}", files=files, follow_redirects=True)
    assert added.status_code == 200 and "The images are added" in added.text
    assert added.text.count('data-state="Pending"') == 2
    published = client.post(f"/posts/{post_id}/publish", follow_redirects=True)
    assert "The post is published." in published.text
    listed = client.get("/my/posts").text
    assert "Ink birds" in listed and "2 images" in listed and "published" in listed


def test_bad_input_on_the_forms_changes_nothing(runtime, client, owner):
    log_in(client, owner)
    for data in ({"title": "x" * 256}, {"title": "ok", "version_id": "99999999999999"}, {"title": "a\x00b"}):
        answer = client.post("/posts/new", data=data)
        assert answer.status_code in (400, 404, 422), data
    with runtime.db.session() as session:
        assert session.scalar(select(Post.id)) is None
    post_id, _ = make_post(runtime, owner)
    answer = client.post(f"/posts/{post_id}/images?csrf_token={csrf(client)}", files=[("images", ("x.png", b"no"))])
    assert answer.status_code == 422 and 'role="alert"' in answer.text


def test_the_editor_forms_without_javascript(runtime, client, owner):
    post_id, ids = make_post(runtime, owner, colors=("red", "green"))
    log_in(client, owner)
    base = f"/posts/{post_id}/images"
    client.post(f"{base}/{ids[1]}/move", data={"direction": "earlier"})
    client.post(f"{base}/{ids[0]}/tags", data={"tags": "Ink Wash, heron"})
    client.post(f"{base}/{ids[0]}/meta", data={"hide_meta": "on"})
    with runtime.db.session() as session:
        post = session.get(Post, post_id)
        assert post is not None and [image.id for image in post.images] == [ids[1], ids[0]]
        assert post.images[1].hide_meta is True
    editor = client.get(f"/posts/{post_id}/edit").text
    assert 'value="ink wash, heron"' in editor
    client.post(f"{base}/{ids[1]}/remove")
    saved = client.post(f"/posts/{post_id}/edit", data={"title": "Renamed", "detail": "", "version_id": ""})
    assert saved.status_code == 200 and "Renamed" in saved.text
    client.post(f"/posts/{post_id}/delete")
    with runtime.db.session() as session:
        assert session.get(Post, post_id) is None


def test_other_people_get_404_for_drafts_and_403_for_published_posts(runtime, client, owner):
    draft_id, (draft_image,) = make_post(runtime, owner)
    public_id, _ = make_post(runtime, owner, publish=True)
    log_in(client, create_user(runtime))
    assert client.get(f"/posts/{draft_id}").status_code == 404
    assert client.get(f"/posts/{draft_id}/edit").status_code == 404
    assert client.post(f"/posts/{draft_id}/publish").status_code == 404
    assert client.post(f"/posts/{draft_id}/images/{draft_image}/remove").status_code == 404
    assert client.get(f"/posts/{public_id}").status_code == 200
    assert client.get(f"/posts/{public_id}/edit").status_code == 403
    assert client.post(f"/posts/{public_id}/delete").status_code == 403
    assert client.get(f"/posts/{2**31}").status_code in (404, 422)
    assert client.get(f"/posts/{2**64}/edit").status_code in (404, 422)
    with runtime.db.session() as session:
        assert session.get(Post, public_id) is not None


def test_the_post_page_shows_what_the_viewer_may_see(runtime, client, owner):
    post_id, (calm, spicy) = make_post(runtime, owner, colors=("red", "green"), publish=True)
    with runtime.db.transaction() as session:
        post = session.get(Post, post_id)
        image = session.get(Image, spicy)
        assert post is not None and image is not None
        post.detail = "A **bold** line <script>alert(1)</script>"
        image.nsfw_level = int(BrowsingLevel.R)
        image.nsfw_level_locked = True
        first = session.get(Image, calm)
        assert first is not None
        first.meta = {"prompt": "an ink heron by a river"}
        first.hide_meta = True
    anonymous = client.get(f"/posts/{post_id}").text
    assert image_key(runtime, calm) in anonymous and image_key(runtime, spicy) not in anonymous
    assert "<strong>bold</strong>" in anonymous and "<script>alert" not in anonymous
    assert "1 more image is not shown at your browsing level" in anonymous
    assert "an ink heron by a river" not in anonymous, "hidden generation data"

    adult = create_user(runtime)
    with runtime.db.transaction() as session:
        user = session.get(User, adult.id)
        assert user is not None
        user.browsing_level = ALL_LEVELS
    log_in(client, adult)
    seen = client.get(f"/posts/{post_id}").text
    assert image_key(runtime, calm) in seen and image_key(runtime, spicy) in seen

    log_in(client, owner)
    mine = client.get(f"/posts/{post_id}").text
    assert "an ink heron by a river" in mine and "Edit post" in mine


def test_the_owner_sees_images_still_being_processed(runtime, client, owner):
    post_id, (image_id,) = make_post(runtime, owner, scan=False, publish=True)
    assert image_key(runtime, image_id) not in client.get(f"/posts/{post_id}").text
    log_in(client, owner)
    page = client.get(f"/posts/{post_id}").text
    assert "Not shown to others yet" in page and "Pending" in page
