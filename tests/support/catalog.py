"""Catalog test data through the real services: `create_model(runtime, owner, published=True)`."""

from __future__ import annotations

import io
import itertools
from dataclasses import dataclass, field

from modelyard.accounts.models import User
from modelyard.catalog import service
from modelyard.catalog.enums import ModelType
from modelyard.catalog.files import service as files
from modelyard.catalog.files.safetensors import tiny_lora
from modelyard.catalog.lifecycle import transitions as lifecycle
from modelyard.catalog.schemas import ModelCreate, VersionCreate
from modelyard.core.runtime import Runtime
from modelyard.images.models import Image, Post
from tests.support.factories import UserFixture

_seeds = itertools.count(1)


@dataclass
class ModelFixture:
    id: int
    version_ids: list[int]
    file_ids: list[int] = field(default_factory=list)
    post_ids: list[int] = field(default_factory=list)
    image_ids: list[int] = field(default_factory=list)


def create_model(
    runtime: Runtime,
    owner: UserFixture,
    *,
    name: str = "Test model",
    type: ModelType = ModelType.LORA,
    versions: int = 1,
    with_files: bool = True,
    with_post: bool = True,
    published: bool = False,
    tags: list[str] | None = None,
) -> ModelFixture:
    """A model with `versions` versions, each with a tiny safetensors file and a post of one image."""
    with runtime.db.transaction() as session:
        user = session.get(User, owner.id)
        assert user is not None
        model = service.create_model(session, user, ModelCreate(name=name, type=type, tags=tags or ["test"]))
        fixture = ModelFixture(id=model.id, version_ids=[])
        for n in range(versions):
            version = service.create_version(
                session, user, model, VersionCreate(name=f"v{n + 1}", base_model="SD 1.5", trained_words=["tok"])
            )
            fixture.version_ids.append(version.id)
            if with_files:
                data = tiny_lora(next(_seeds))
                stored = files.add_file(
                    session,
                    user,
                    version,
                    filename=f"{name.replace(' ', '_')}_v{n + 1}.safetensors",
                    stream=io.BytesIO(data),
                )
                fixture.file_ids.append(stored.id)
            if with_post:
                post = Post(user_id=user.id, model_version_id=version.id, title=f"Showcase v{n + 1}")
                session.add(post)
                session.flush()
                image = Image(user_id=user.id, post_id=post.id, storage_key=f"images/{post.id}.webp", width=8, height=8)
                session.add(image)
                session.flush()
                fixture.post_ids.append(post.id)
                fixture.image_ids.append(image.id)
        if published:
            lifecycle.publish_model(session, model, user)
        return fixture
