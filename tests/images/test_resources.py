"""Linking the resources named in an image's metadata to catalog versions (by file hash, by AIR, by version id),
only where the image's owner may see the version."""

from __future__ import annotations

from sqlalchemy import select

from modelyard.catalog.enums import HashType
from modelyard.catalog.models import ModelFileHash
from modelyard.core.runtime import Runtime
from modelyard.images.metadata import FoundResource, read_metadata
from modelyard.images.models import Image, ImageResource, Post
from modelyard.images.resources import link_resources, versions_of_images
from tests.support.catalog import ModelFixture, create_model
from tests.support.factories import UserFixture, create_user
from tests.support.image_metadata import png_text


def hash_of(runtime: Runtime, model: ModelFixture, kind: HashType) -> str:
    with runtime.db.session() as session:
        found = session.scalar(
            select(ModelFileHash.hash).where(ModelFileHash.file_id == model.file_ids[0], ModelFileHash.type == kind)
        )
    assert found is not None
    return found


def gallery_image(runtime: Runtime, owner: UserFixture) -> int:
    """An image in a post of no version (a gallery), by `owner`."""
    with runtime.db.transaction() as session:
        post = Post(user_id=owner.id, title="gallery")
        session.add(post)
        session.flush()
        image = Image(user_id=owner.id, post_id=post.id, storage_key=f"images/g{post.id}.webp", width=8, height=8)
        session.add(image)
        session.flush()
        return image.id


def link(runtime: Runtime, image_id: int, found: list[FoundResource]) -> list[tuple[int | None, str | None]]:
    with runtime.db.transaction() as session:
        image = session.get(Image, image_id)
        assert image is not None
        rows = link_resources(session, image, found)
        return [(row.model_version_id, row.name) for row in rows]


def resource(name: str, hash: str | None = None, air: str | None = None, kind: str = "lora") -> FoundResource:
    return FoundResource(kind, name, hash, air, 0.7)


def test_links_by_autov2_sha256_autov3_and_air(runtime: Runtime) -> None:
    creator, painter = create_user(runtime), create_user(runtime)
    models = [create_model(runtime, creator, name=f"Style {n}", published=True, with_post=False) for n in range(4)]
    image_id = gallery_image(runtime, painter)
    found = [
        resource("a", hash_of(runtime, models[0], HashType.AutoV2).lower()),
        resource("b", hash_of(runtime, models[1], HashType.SHA256)),
        resource("c", hash_of(runtime, models[2], HashType.AutoV3).lower()),
        resource("d", air=f"urn:air:sd1:lora:civitai:{models[3].id}@{models[3].version_ids[0]}"),
        resource("unknown", "0123456789"),
    ]
    assert link(runtime, image_id, found) == [
        (models[0].version_ids[0], "a"),
        (models[1].version_ids[0], "b"),
        (models[2].version_ids[0], "c"),
        (models[3].version_ids[0], "d"),
        (None, "unknown"),
    ]
    with runtime.db.session() as session:
        assert versions_of_images(session, [image_id, 2**40]) == {image_id: [m.version_ids[0] for m in models]}


def test_a_file_read_links_through_its_a1111_hashes(runtime: Runtime) -> None:
    creator, painter = create_user(runtime), create_user(runtime)
    model = create_model(runtime, creator, name="Ink", published=True, with_post=False)
    autov2 = hash_of(runtime, model, HashType.AutoV2).lower()
    found = read_metadata(png_text(parameters=f'ink heron <lora:ink:0.8>\nSteps: 20, Lora hashes: "ink: {autov2}"'))
    assert found is not None
    image_id = gallery_image(runtime, painter)
    assert link(runtime, image_id, list(found.resources)) == [(model.version_ids[0], "ink")]
    with runtime.db.session() as session:
        row = session.scalars(select(ImageResource).where(ImageResource.image_id == image_id)).one()
        assert (row.kind, row.hash, row.strength) == ("lora", autov2, 0.8)
        assert row.air == f"urn:air:sd1:lora:civitai:{model.id}@{model.version_ids[0]}"  # filled in from the catalog


def test_someone_elses_unpublished_version_is_not_linked(runtime: Runtime) -> None:
    creator, painter = create_user(runtime), create_user(runtime)
    draft = create_model(runtime, creator, name="Secret", published=False, with_post=False)
    sha = hash_of(runtime, draft, HashType.SHA256)
    air = f"urn:air:sd1:lora:civitai:{draft.id}@{draft.version_ids[0]}"
    stranger_image = gallery_image(runtime, painter)
    assert link(runtime, stranger_image, [resource("x", sha), resource("y", air=air)]) == [(None, "x"), (None, "y")]
    owner_image = gallery_image(runtime, creator)  # its owner may see their own draft
    assert link(runtime, owner_image, [resource("x", sha)]) == [(draft.version_ids[0], "x")]


def test_the_post_version_is_a_resource_and_duplicates_collapse(runtime: Runtime) -> None:
    creator = create_user(runtime)
    model = create_model(runtime, creator, name="Lumen", published=True)
    sha, image_id = hash_of(runtime, model, HashType.SHA256), model.image_ids[0]
    version_id = model.version_ids[0]
    rows = link(
        runtime, image_id, [resource("by hash", sha), FoundResource("lora", "by id", None, None, None, version_id)]
    )
    assert rows == [(version_id, "by hash")]  # one row per linked version
    assert link(runtime, image_id, []) == [(version_id, "Lumen")]  # the post's version, named after its model
    with runtime.db.session() as session:
        assert versions_of_images(session, [image_id]) == {image_id: [version_id]}


def test_relinking_replaces_rows_and_ignores_the_empty_file_hash(runtime: Runtime) -> None:
    painter = create_user(runtime)
    image_id = gallery_image(runtime, painter)
    link(runtime, image_id, [resource("first", "aaaaaaaaaa"), resource("second", "bbbbbbbbbb")])
    assert link(runtime, image_id, [resource("empty", "e3b0c44298fc")]) == [(None, "empty")]
    with runtime.db.session() as session:
        assert session.scalars(select(ImageResource.name).where(ImageResource.image_id == image_id)).all() == ["empty"]
        assert versions_of_images(session, [image_id]) == {}


def test_versions_of_images_reads_posts_not_yet_linked(runtime: Runtime) -> None:
    creator = create_user(runtime)
    model = create_model(runtime, creator, name="Two", versions=2, published=True)
    with runtime.db.session() as session:
        assert versions_of_images(session, model.image_ids) == {
            image_id: [version_id] for image_id, version_id in zip(model.image_ids, model.version_ids, strict=True)
        }
        assert versions_of_images(session, []) == {}
