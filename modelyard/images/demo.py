"""The demo's image feed (`modelyard demo`, after the catalog): posts of pictures that carry their generation data
inside the file, as A1111 (PNG `parameters`, JPEG EXIF UserComment) and ComfyUI (PNG `prompt` and `workflow`)
write it, so ingestion reads it back and links the demo models by hash and AIR.

Some posts are "made with" a published demo version by someone other than its creator; some are a gallery of no
version by a member who makes no models. The pictures are abstract art drawn here (`catalog.demo_art`); the NSFW
level each shows is assigned by the demo, as a moderator would (`images.moderate.set_level`, locked), so the feed
spans PG, PG-13, R and X and the browsing-level toggle visibly changes it.

Every picture goes through the real way in (`images.editing` → `images.ingest.accept_upload`) and is ingested at
once (`ingest_now`): a new installation shows a real feed without waiting for the job queue.
"""

from __future__ import annotations

import io
import json
import random
from collections.abc import Mapping, MutableMapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from PIL import Image as PILImage
from PIL import PngImagePlugin
from sqlalchemy import select
from sqlalchemy.orm import Session

from modelyard.accounts.models import User
from modelyard.accounts.service import create_user, update_profile
from modelyard.catalog.demo import DemoSummary
from modelyard.catalog.demo_art import ART
from modelyard.catalog.enums import HashType, ModelStatus, ModelType
from modelyard.catalog.models import BaseModel, Model, ModelFile, ModelFileHash, ModelVersion
from modelyard.core.db import utcnow
from modelyard.core.nsfw import BrowsingLevel
from modelyard.images import editing, moderate
from modelyard.images.ingest import ingest_now
from modelyard.images.metadata.air import civitai_air

GALLERY_USER = ("mira", "Mira Okafor", "I make no models; I make pictures with everyone else's.")
_PG, _PG13, _R, _X = (int(level) for level in (BrowsingLevel.PG, BrowsingLevel.PG13, BrowsingLevel.R, BrowsingLevel.X))
_NEGATIVE = "lowres, blurry, watermark, text, jpeg artifacts"
_AIR_TYPES = {ModelType.Checkpoint: "checkpoint", ModelType.LORA: "lora", ModelType.TextualInversion: "embedding"}


@dataclass(frozen=True)
class Shot:
    art: str  # a drawing of `catalog.demo_art.ART`
    subject: str
    level: int
    kind: str  # "a1111" (PNG), "jpeg" (A1111 text in EXIF) or "comfy" (PNG graph)


@dataclass(frozen=True)
class DemoPost:
    owner: str
    title: str
    checkpoint: tuple[str, str]  # (model, version) named as the checkpoint
    extra: tuple[str, str] | None  # a LoRA or embedding used too
    shots: tuple[Shot, ...]
    posted_on: tuple[str, str] | None = None  # someone else's version the post is "made with"
    hours_ago: int = 0


_LUMEN, _INK, _VELVET = ("Lumen Drift XL", "v2.0"), ("Inkwash Sumi-e", "v2 XL"), ("Velvet Noir", "v1")
_BOTANICA, _PIXEL = ("Flux Botanica", "v1.5"), ("Retro Pixel Forge", "v2 SDXL")
POSTS = (
    DemoPost(GALLERY_USER[0], "Night walks", _LUMEN, _VELVET, (
        Shot("bokeh", "a rainy street at night, neon reflections", _PG, "a1111"),
        Shot("bokeh", "a dancer's silhouette behind a lit curtain", _PG13, "a1111"),
        Shot("nebula", "a velvet-red nebula shaped like a reclining figure", _R, "jpeg"),
        Shot("bokeh", "two silhouettes in a red-lit room, abstract", _X, "a1111"),
    ), hours_ago=3),
    DemoPost(GALLERY_USER[0], "Comfy garden experiments", _LUMEN, _BOTANICA, (
        Shot("bloom", "a botanical plate of wild poppies", _PG, "comfy"),
        Shot("geometric", "stained glass orchids, bold shapes", _PG13, "comfy"),
        Shot("waves", "a sunbather's curves as rolling dunes, abstract", _R, "comfy"),
    ), hours_ago=9),
    DemoPost("northlight", "Ink studies with Sumi-e", _LUMEN, _INK, (
        Shot("ink", "a heron in tall reeds, sumi-e", _PG, "a1111"),
        Shot("ink", "a mountain temple in fog, ink wash painting", _PG, "jpeg"),
    ), posted_on=_INK, hours_ago=20),
    DemoPost("pixelsmith", "Lumen Drift for pixel towns", _LUMEN, _PIXEL, (
        Shot("pixel", "a cozy village at sunset, side view, pixel art", _PG, "comfy"),
        Shot("landscape", "a misty alpine valley at golden hour", _PG, "a1111"),
        Shot("pixel", "a tavern brawl, 16-bit, cartoon violence", _PG13, "comfy"),
    ), posted_on=_LUMEN, hours_ago=30),
    DemoPost("aurelia", "After hours (Velvet Noir)", _LUMEN, _VELVET, (
        Shot("bokeh", "a jazz singer under a spotlight", _PG13, "jpeg"),
        Shot("nebula", "a figure wrapped in smoke, low light, abstract", _R, "a1111"),
    ), posted_on=_VELVET, hours_ago=44),
)  # fmt: skip


@dataclass(frozen=True)
class _Linkable:
    """What the pictures' metadata names a demo version by: its file hashes and its AIR."""

    model_name: str
    embedding: bool  # named in A1111 text by `TI hashes`, not `Lora hashes`
    autov2: str
    autov3: str
    air: str


def demo_picture(
    art: str,
    seed: int,
    size: tuple[int, int] = (512, 640),
    *,
    parameters: str | None = None,
    comfy: tuple[dict[str, Any], dict[str, Any]] | None = None,
    jpeg: bool = False,
) -> bytes:
    """A picture drawn in one of the demo's styles, carrying generation data: A1111 `parameters` (in a PNG text
    chunk, or with `jpeg` in the EXIF UserComment as A1111 writes it), or a ComfyUI (prompt, workflow) pair."""
    picture = ART[art](random.Random(seed), size)
    out = io.BytesIO()
    if jpeg:
        exif = PILImage.Exif()
        exif.get_ifd(0x8769)[0x9286] = b"UNICODE\x00" + (parameters or "").encode("utf-16-be")
        picture.save(out, format="JPEG", quality=90, exif=exif.tobytes())
        return out.getvalue()
    info = PngImagePlugin.PngInfo()
    if parameters is not None:
        info.add_text("parameters", parameters)
    if comfy is not None:
        info.add_text("prompt", json.dumps(comfy[0]))
        info.add_text("workflow", json.dumps(comfy[1]))
    picture.save(out, format="PNG", pnginfo=info, compress_level=1)
    return out.getvalue()


def a1111_parameters(shot: Shot, seed: int, size: tuple[int, int], model: _Linkable, extra: _Linkable | None) -> str:
    rng = random.Random(seed)
    prompt, hashes = f"{shot.subject}, highly detailed, soft light", ""
    if extra is not None:
        name = extra.model_name.replace(" ", "")
        if extra.embedding:
            prompt += f", {name}"
            hashes = f', TI hashes: "{name}: {extra.autov2.lower()}"'
        else:
            prompt += f", <lora:{name}:{rng.choice([0.6, 0.7, 0.8])}>"
            hashes = f', Lora hashes: "{name}: {extra.autov3.lower()}"'
    return (
        f"{prompt}\nNegative prompt: {_NEGATIVE}\n"
        f"Steps: {rng.choice([24, 28, 30])}, Sampler: DPM++ 2M, Schedule type: Karras, "
        f"CFG scale: {rng.choice([5, 6, 6.5, 7])}, Seed: {rng.randrange(2**32)}, Size: {size[0]}x{size[1]}, "
        f"Model hash: {model.autov2.lower()}, Model: {model.model_name.replace(' ', '')}{hashes}, Version: v1.10.1"
    )


def comfy_graph(
    shot: Shot, seed: int, size: tuple[int, int], model: _Linkable, extra: _Linkable | None
) -> tuple[dict[str, Any], dict[str, Any]]:
    """A ComfyUI txt2img graph (API format) and a small editor workflow; the LoRA is named by its AIR and the
    checkpoint listed in `extra.airs`, as graphs made on a Civitai-like site are."""
    rng = random.Random(seed)
    lora = extra is not None and not extra.embedding
    source = "10" if lora else "4"  # the LoRA loader feeds the sampler and encoders, when there is one
    words = f"embedding:{extra.model_name.replace(' ', '')}, " if extra is not None and extra.embedding else ""
    graph: dict[str, Any] = {
        "4": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": f"{model.model_name}.safetensors"}},
        "5": {"class_type": "EmptyLatentImage", "inputs": {"width": size[0], "height": size[1], "batch_size": 1}},
        "6": {"class_type": "CLIPTextEncode", "inputs": {"text": f"{words}{shot.subject}, masterpiece",
                                                         "clip": [source, 1]}},
        "7": {"class_type": "CLIPTextEncode", "inputs": {"text": _NEGATIVE, "clip": [source, 1]}},
        "3": {
            "class_type": "KSampler",
            "inputs": {
                "seed": rng.randrange(2**48), "steps": rng.choice([20, 25, 30]), "cfg": rng.choice([4.5, 6, 7]),
                "sampler_name": rng.choice(["euler_ancestral", "dpmpp_2m", "dpmpp_2m_sde"]), "scheduler": "karras",
                "denoise": 1.0, "model": [source, 0], "positive": ["6", 0], "negative": ["7", 0],
                "latent_image": ["5", 0],
            },
        },
        "8": {"class_type": "VAEDecode", "inputs": {"samples": ["3", 0], "vae": ["4", 2]}},
        "9": {"class_type": "SaveImage", "inputs": {"images": ["8", 0], "filename_prefix": "modelyard-demo"}},
        "extra": {"airs": [model.air] + ([extra.air] if extra is not None and not lora else [])},
    }  # fmt: skip
    if lora and extra is not None:
        inputs = {"model": ["4", 0], "clip": ["4", 1], "strength_model": 0.8, "strength_clip": 1.0}
        graph["10"] = {"class_type": "LoraLoader", "inputs": {**inputs, "lora_name": extra.air}}
    workflow = {"last_node_id": 10, "nodes": [{"id": int(key), "type": node["class_type"]}
                                              for key, node in graph.items() if key.isdigit()]}  # fmt: skip
    return graph, workflow


def load_demo_posts(
    session: Session,
    users: MutableMapping[str, int],
    versions: Mapping[tuple[str, str], int],
    *,
    password: str | None = None,
) -> int:
    """Add the demo's posts of pictures with generation data (after the demo catalog, in its transaction);
    returns how many pictures. With `password`, the gallery member is created (and added to `users`)."""
    if password is not None and GALLERY_USER[0] not in users:
        users[GALLERY_USER[0]] = _gallery_member(session, password).id
    linkable = _linkable(session, versions)
    count = 0
    for number, spec in enumerate(POSTS, 1):
        owner = session.get(User, users.get(spec.owner, 0))
        model, extra = linkable.get(spec.checkpoint), linkable.get(spec.extra) if spec.extra else None
        if owner is None or model is None:
            continue  # a demo without that account or version
        version_id = versions.get(spec.posted_on) if spec.posted_on else None
        if spec.posted_on and spec.posted_on not in linkable:
            continue  # that version is not published in this demo
        count += _add_post(session, owner, spec, number, model, extra, version_id)
    return count


def add_to_demo(session: Session, summary: DemoSummary) -> int:
    """`load_demo_posts` as the catalog demo calls it (`catalog.demo.on_demo_loaded`)."""
    return load_demo_posts(session, summary.users, summary.versions, password=summary.password)


def _gallery_member(session: Session, password: str) -> User:
    name, display, bio = GALLERY_USER
    user = create_user(session, username=name, email=f"{name}@demo.example.com", password=password, email_verified=True)
    update_profile(session, user, display_name=display, bio=bio)
    return user


def _linkable(session: Session, versions: Mapping[tuple[str, str], int]) -> dict[tuple[str, str], _Linkable]:
    """The published demo versions' hashes (of each version's first file) and AIRs, in two queries."""
    named = {key for spec in POSTS for key in (spec.checkpoint, spec.extra, spec.posted_on) if key is not None}
    wanted = {versions[key]: key for key in named if key in versions}
    query = (
        select(ModelVersion.id, Model.id, Model.name, Model.type, BaseModel.ecosystem)
        .join(Model, Model.id == ModelVersion.model_id)
        .outerjoin(BaseModel, BaseModel.name == ModelVersion.base_model)
        .where(ModelVersion.id.in_(wanted), ModelVersion.status == ModelStatus.Published)
    )
    described = {row[0]: row for row in session.execute(query)}
    hashes: dict[tuple[int, HashType], str] = {}
    rows = session.execute(
        select(ModelFile.model_version_id, ModelFileHash.type, ModelFileHash.hash)
        .join(ModelFileHash, ModelFileHash.file_id == ModelFile.id)
        .where(ModelFile.model_version_id.in_(described), ModelFileHash.type.in_([HashType.AutoV2, HashType.AutoV3]))
        .order_by(ModelFile.id.desc())  # the first file's hashes are written last, so they win
    )
    for version_id, hash_type, digest in rows:
        hashes[(version_id, hash_type)] = digest
    found: dict[tuple[str, str], _Linkable] = {}
    for version_id, (_, model_id, name, kind, ecosystem) in described.items():
        autov2, autov3 = hashes.get((version_id, HashType.AutoV2)), hashes.get((version_id, HashType.AutoV3))
        if autov2 and autov3:
            air = civitai_air(ecosystem or "other", _AIR_TYPES.get(kind, kind.value), model_id, version_id)
            found[wanted[version_id]] = _Linkable(name, kind == ModelType.TextualInversion, autov2, autov3, air)
    return found


def _add_post(
    session: Session,
    owner: User,
    spec: DemoPost,
    number: int,
    model: _Linkable,
    extra: _Linkable | None,
    version_id: int | None,
) -> int:
    post = editing.create_post(session, owner, title=spec.title, version_id=version_id)
    uploads, levels = [], []
    for index, shot in enumerate(spec.shots):
        seed = 7000 + number * 10 + index
        size = random.Random(seed).choice([(512, 640), (640, 512), (512, 512), (512, 768)])
        if shot.kind == "comfy":
            data = demo_picture(shot.art, seed, size, comfy=comfy_graph(shot, seed, size, model, extra))
        else:
            text = a1111_parameters(shot, seed, size, model, extra)
            data = demo_picture(shot.art, seed, size, parameters=text, jpeg=shot.kind == "jpeg")
        extension = "jpg" if shot.kind == "jpeg" else "png"
        uploads.append(editing.Upload(data, f"{spec.title.lower().replace(' ', '-')}-{index + 1}.{extension}"))
        levels.append(shot.level)
    images = editing.add_images(session, owner, post, uploads)
    editing.publish(session, owner, post)
    moment = utcnow() - timedelta(hours=spec.hours_ago)
    post.created_at = post.published_at = moment
    for image, level in zip(images, levels, strict=True):
        ingest_now(session, image.id)
        image.created_at = moment
        moderate.set_level(session, image, level, lock=True)
    session.flush()
    return len(images)
