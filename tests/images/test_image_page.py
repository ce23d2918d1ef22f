"""The feed page (`/images`) and an image's page (`/images/{id}`): what each viewer's level shows, the next page
as a plain link, blur, generation data (hidden when its owner hid it), resources, the post, more from the creator,
and the model page's "images made with this"."""

from __future__ import annotations

import re

from sqlalchemy import update

from modelyard.accounts.models import Role, User
from modelyard.images.models import ImageResource
from tests.images.test_feed import add_image, set_level
from tests.support.catalog import create_model
from tests.support.factories import create_user, log_in

HTML = {"Accept": "text/html"}
META = {"prompt": "ink wash mountains", "negativePrompt": "blurry", "steps": 30, "sampler": "Euler a", "seed": 42}


def shown(client, path: str = "/images") -> list[int]:
    page = client.get(path, headers=HTML)
    assert page.status_code == 200, page.text
    return [int(found) for found in re.findall(r'class="feed-card__link" href="/images/(\d+)"', page.text)]


def test_the_feed_shows_what_the_viewers_level_allows(runtime, client):
    owner, reader = create_user(runtime), create_user(runtime)
    pg, r = add_image(runtime, owner, level=1), add_image(runtime, owner, level=4)
    add_image(runtime, owner, level=0)
    assert shown(client) == [pg]
    log_in(client, reader)
    assert shown(client) == [pg]
    set_level(runtime, reader, 1 | 4)
    assert shown(client) == [r, pg]


def test_blurred_cards_follow_the_preference(runtime, client):
    owner, reader = create_user(runtime), create_user(runtime)
    add_image(runtime, owner, level=8)
    set_level(runtime, reader, 8)
    log_in(client, reader)
    assert 'class="feed-card is-blurred"' in client.get("/images", headers=HTML).text
    with runtime.db.transaction() as session:
        session.execute(update(User).where(User.id == reader.id).values(blur_nsfw=False))
    assert "is-blurred" not in client.get("/images", headers=HTML).text


def test_the_next_page_is_a_plain_link(runtime, client):
    owner = create_user(runtime)
    made = [add_image(runtime, owner) for _ in range(45)]
    page = client.get("/images?sort=oldest", headers=HTML).text
    assert shown(client, "/images?sort=oldest") == made[:40]
    next_url = re.search(r'href="([^"]+)" data-feed-next', page).group(1).replace("&amp;", "&")
    assert "sort=oldest" in next_url and "cursor=" in next_url
    assert shown(client, next_url) == made[40:]
    partial = client.get(next_url + "&partial=1", headers=HTML).text
    assert "<html" not in partial and partial.count("feed-card__link") == 5 and "data-feed-next" not in partial


def test_bad_feed_parameters_fall_back_or_are_refused(runtime, client):
    add_image(runtime, create_user(runtime))
    assert len(shown(client, "/images?sort=nope&period=decade")) == 1
    assert client.get("/images?cursor=abc", headers=HTML).status_code == 400
    assert client.get(f"/images?version={2**40}", headers=HTML).status_code == 422


def test_the_image_page_shows_generation_data_resources_post_and_more(runtime, client):
    owner = create_user(runtime, username="inker")
    made = create_model(runtime, owner, name="Ink Wash", published=True)
    image_id = add_image(runtime, owner, meta=META, title="Mountains", made_with=made.version_ids[0])
    other = add_image(runtime, owner)
    page = client.get(f"/images/{image_id}", headers=HTML)
    assert page.status_code == 200
    text = page.text
    assert "ink wash mountains" in text and 'data-copy="ink wash mountains"' in text and "Euler a" in text
    assert f'href="/models/{made.id}?modelVersionId={made.version_ids[0]}">Ink Wash · v1</a>' in text
    assert "Mountains</a>" in text and "/posts/" in text
    assert f'href="/images/{other}"' in text and "More from @inker" in text


def test_hidden_generation_data_stays_hidden_but_from_its_owner(runtime, client):
    owner = create_user(runtime)
    image_id = add_image(runtime, owner, meta=META, hide_meta=True)
    page = client.get(f"/images/{image_id}", headers=HTML).text
    assert "ink wash mountains" not in page and "keeps this image's generation data private" in page
    log_in(client, owner)
    assert "ink wash mountains" in client.get(f"/images/{image_id}", headers=HTML).text


def test_an_image_outside_the_level_shows_a_notice_not_the_picture(runtime, client):
    owner = create_user(runtime)
    image_id = add_image(runtime, owner, level=8)
    page = client.get(f"/images/{image_id}", headers=HTML)
    assert page.status_code == 200 and "This image is rated X" in page.text
    assert f"feed-{image_id - 0}" not in page.text and '<img src="/media/images/feed' not in page.text
    log_in(client, owner)
    assert "This image is rated X" not in client.get(f"/images/{image_id}", headers=HTML).text


def test_unrated_and_draft_images_open_for_their_owner_and_moderators_only(runtime, client):
    owner = create_user(runtime)
    unrated, draft = add_image(runtime, owner, level=0), add_image(runtime, owner, published=False)
    for image_id in (unrated, draft):
        assert client.get(f"/images/{image_id}", headers=HTML).status_code == 404
    log_in(client, create_user(runtime))
    assert client.get(f"/images/{unrated}", headers=HTML).status_code == 404
    log_in(client, create_user(runtime, role=Role.moderator))
    assert client.get(f"/images/{unrated}", headers=HTML).status_code == 200
    log_in(client, owner)
    page = client.get(f"/images/{draft}", headers=HTML)
    assert page.status_code == 200 and "Only you and moderators see this image" in page.text
    assert client.get(f"/images/{2**40}", headers=HTML).status_code in (404, 422)


def test_the_model_page_links_the_images_made_with_it(runtime, client):
    owner, fan = create_user(runtime), create_user(runtime)
    made = create_model(runtime, owner, published=True)
    version = made.version_ids[0]
    fan_image = add_image(runtime, fan, made_with=version)
    add_image(runtime, fan, level=4, made_with=version)
    page = client.get(f"/models/{made.id}", headers=HTML).text
    assert f'hx-get="/images/made-with/{version}"' in page and f'href="/images?version={version}"' in page
    fragment = client.get(f"/images/made-with/{version}", headers=HTML).text
    assert re.findall(r'href="/images/(\d+)"', fragment) == [str(fan_image)]
    with runtime.db.transaction() as session:
        assert session.query(ImageResource).count() == 2


def test_the_model_page_gallery_follows_the_level(runtime, client):
    owner = create_user(runtime)
    made = create_model(runtime, owner, published=True)
    from modelyard.images.models import Image

    with runtime.db.transaction() as session:
        session.execute(update(Image).where(Image.id == made.image_ids[0]).values(nsfw_level=4))
    page = client.get(f"/models/{made.id}", headers=HTML).text
    assert f"images/{made.post_ids[0]}.webp" not in page and "1 image hidden by your" in page
    log_in(client, owner)
    assert f"images/{made.post_ids[0]}.webp" in client.get(f"/models/{made.id}", headers=HTML).text
