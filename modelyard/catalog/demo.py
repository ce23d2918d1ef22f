"""A small demo catalog for a fresh installation (`modelyard demo`, run by the first `make run`): an administrator,
a moderator and four creators, eleven models of several types with one to three versions each, tiny but valid
safetensors files, and preview images drawn here with Pillow, in every publishing state (Published, Draft,
Scheduled, Unpublished).

Everything is made locally (no network) through the real services, so it works on every deployment: SQLite and
local files, PostgreSQL and S3. It loads only into a database without users or models.

The accounts share one password derived from the installation's secret key (`demo_password`): never stored, the
same whenever it is asked for, so `modelyard demo --credentials` and the end of the server's start-up can show it
again (`demo_credentials`) for as long as the demo administrator still uses it.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import io
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from modelyard.accounts.models import Role, User
from modelyard.accounts.service import create_user, update_profile, verify_password
from modelyard.catalog import service, showcase
from modelyard.catalog.demo_art import draw_preview
from modelyard.catalog.enums import CheckpointType, CommercialUse, ModelStatus, ModelType, UnpublishKind
from modelyard.catalog.files import safetensors
from modelyard.catalog.files import service as files
from modelyard.catalog.lifecycle import transitions as lifecycle
from modelyard.catalog.models import Model, ModelVersion
from modelyard.catalog.schemas import ModelCreate, VersionCreate
from modelyard.core.db import utcnow
from modelyard.core.errors import Conflict
from modelyard.core.runtime import Runtime
from modelyard.core.settings import Settings

ADMIN = "demo-admin"
MODERATOR = "demo-mod"
DEMO_EMAIL_DOMAIN = "demo.example.com"
IMAGES_PER_VERSION = 2


@dataclass(frozen=True)
class DemoVersion:
    name: str
    base_model: str
    words: tuple[str, ...] = ()
    notes: str | None = None
    epochs: int | None = None


@dataclass(frozen=True)
class DemoModel:
    name: str
    owner: str
    type: ModelType
    art: str  # which drawing in ART makes its previews
    tags: tuple[str, ...]
    description: str  # Markdown
    versions: tuple[DemoVersion, ...]  # oldest first: the last one is shown first
    subjects: tuple[str, ...]  # what the preview prompts say they show
    status: ModelStatus = ModelStatus.Published
    age_days: int = 0  # how long ago it was first published
    checkpoint_type: CheckpointType | None = None
    commercial: tuple[CommercialUse, ...] = (CommercialUse.Sell,)
    derivatives: bool = True
    no_credit: bool = True
    reason: str | None = None  # why it was unpublished


# username, display name, bio, role
CREATORS = (
    (ADMIN, "Demo Administrator", "Runs this server: jobs, e-mail, feature flags, roles.", Role.admin),
    (MODERATOR, "Demo Moderator", "Keeps this demo tidy. Ask me about the rules.", Role.moderator),
    ("aurelia", "Aurelia Vance", "Landscapes and light. I train on my own mountain photos.", Role.user),
    ("pixelsmith", "Pixelsmith", "Sprites, tiles and tools for people who make games.", Role.user),
    ("inkwell", "Ink & Well", "Traditional media styles: ink, wash, woodblock.", Role.user),
    ("northlight", "Northlight Studio", "Cinematic looks, night scenes, space.", Role.user),
)
_SD15, _SDXL, _FLUX = "SD 1.5", "SDXL 1.0", "Flux.1 D"
_V = DemoVersion
# fmt: off
MODELS = (
    DemoModel(
        "Lumen Drift XL", "aurelia", ModelType.Checkpoint, "landscape",
        ("landscape", "photorealistic", "base model", "golden hour"),
        "A general-purpose **SDXL checkpoint** tuned for landscapes and natural light.\n\n## Recommended settings\n"
        "- DPM++ 2M Karras, 25-35 steps, CFG 5-7\n- 1024x1024 or 832x1216\n\nNo trigger words needed.",
        (_V("v1.0", _SDXL, notes="First release."), _V("v2.0", _SDXL, notes="Better skies; pruned and full files.")),
        ("a misty alpine valley at golden hour", "a lighthouse on basalt cliffs at dusk"),
        age_days=42, checkpoint_type=CheckpointType.Trained,
    ),
    DemoModel(
        "Inkwash Sumi-e", "inkwell", ModelType.LORA, "ink", ("style", "ink", "traditional art", "monochrome"),
        "Japanese **ink wash** (sumi-e) painting.\n\n- Weight 0.6-0.9\n- Simple subjects work best\n"
        "- Add `red seal` for the stamp",
        (_V("v1", _SD15, ("sumi-e", "ink wash painting"), epochs=12),
         _V("v2 XL", _SDXL, ("sumi-e", "ink wash painting", "red seal"), "Retrained for SDXL.", 16)),
        ("a heron in tall reeds", "bamboo leaves in the wind", "a mountain temple in fog"),
        age_days=30, commercial=(CommercialUse.Image,),
    ),
    DemoModel(
        "Retro Pixel Forge", "pixelsmith", ModelType.LORA, "pixel", ("pixel art", "game asset", "retro", "style"),
        "Crisp **16-bit pixel art**; downscale 8x (nearest neighbour) for true pixels.\n\n"
        "| base model | weight |\n| --- | --- |\n| Pony | 0.8 |\n| SDXL | 0.9 |\n| Illustrious | 0.7 |",
        (_V("v1 Pony", "Pony", ("pixel art", "16-bit"), epochs=10), _V("v2 SDXL", _SDXL, ("pixel art",), epochs=14),
         _V("v3 Illustrious", "Illustrious", ("pixel art", "limited palette"), epochs=14)),
        ("a cozy village at sunset, side view", "a desert canyon level", "a snowy forest tileset"),
        age_days=25,
    ),
    DemoModel(
        "Velvet Noir", "northlight", ModelType.TextualInversion, "bokeh", ("embedding", "cinematic", "night"),
        "An **embedding** for moody night shots with soft bokeh: put `velvetnoir` anywhere in the prompt.",
        (_V("v1", _SD15, ("velvetnoir",)),),
        ("a rainy street at night, neon reflections", "a jazz singer under a spotlight"), age_days=21,
    ),
    DemoModel(
        "Steady Hands Negative", "inkwell", ModelType.TextualInversion, "waves",
        ("negative embedding", "hands", "quality"),
        "A **negative embedding**: put `steadyhands-neg` in the *negative* prompt for fewer extra fingers.",
        (_V("v1", _SD15, ("steadyhands-neg",)), _V("v1.1", _SD15, ("steadyhands-neg",))),
        ("a pianist's hands on the keys", "hands holding a teacup"),
        age_days=18, commercial=(CommercialUse.Image, CommercialUse.Rent, CommercialUse.Sell),
    ),
    DemoModel(
        "ClearSight VAE", MODERATOR, ModelType.VAE, "nebula", ("vae", "color", "utility"),
        "A **VAE** that keeps saturated colours from clipping. Select it as your VAE; no prompt changes.",
        (_V("v1", _SDXL),), ("a nebula over a quiet planet", "aurora over a frozen lake"), age_days=15,
    ),
    DemoModel(
        "Contour Lines ControlNet", "pixelsmith", ModelType.Controlnet, "contour", ("controlnet", "lineart", "tool"),
        "A **ControlNet** that follows contour lines.\n\n1. Draw or extract lines\n2. Control weight 0.7-1.0",
        (_V("v1", _SD15),), ("a topographic map of an island", "a portrait from a line sketch"), age_days=12,
    ),
    DemoModel(
        "Flux Botanica", "aurelia", ModelType.LORA, "bloom", ("botanical", "flowers", "illustration", "style"),
        "Vintage **botanical plates** for Flux.\n\n> Credit me, and do not sell images or merges made with it.",
        (_V("v1", _FLUX, ("botanica style",), epochs=20),
         _V("v1.5", _FLUX, ("botanica style", "pressed flower"), "Sharper petals.", 24)),
        ("a botanical illustration of wild poppies", "a glasshouse full of orchids"),
        age_days=6, commercial=(CommercialUse.none,), derivatives=False, no_credit=False,
    ),
    DemoModel(
        "Starfield Odyssey", "northlight", ModelType.Checkpoint, "nebula", ("sci-fi", "space", "anime", "merge"),
        "A **merge** for space opera scenes. Goes live tomorrow!", (_V("v1", "Illustrious"),),
        ("a starship drifting past a violet nebula", "an astronaut on a crystal moon"),
        status=ModelStatus.Scheduled, checkpoint_type=CheckpointType.Merge,
    ),
    DemoModel(
        "Glasswork Studio", "pixelsmith", ModelType.LORA, "geometric", ("glass", "abstract", "work in progress"),
        "Stained glass and blown glass. *Still training: not published yet.*",
        (_V("v0.1 preview", _FLUX, ("glasswork",), epochs=4),), ("stained glass shapes", "a glass chess set"),
        status=ModelStatus.Draft,
    ),
    DemoModel(
        "Old Harbor Lights", "inkwell", ModelType.LORA, "landscape", ("landscape", "harbor", "painterly"),
        "Painterly harbor scenes at dusk.", (_V("v1", _SD15, ("oldharbor",), epochs=8),),
        ("an old harbor at dusk with fishing boats", "harbor lanterns in the rain"),
        status=ModelStatus.Unpublished, age_days=35,
        reason="Retraining on a cleaner dataset: faces in v1 came out muddy. Back soon.",
    ),
)
# fmt: on


@dataclass
class DemoSummary:
    """What `load_demo` made: the accounts' shared password and ids by name."""

    password: str
    users: dict[str, int] = field(default_factory=dict)
    models: dict[str, int] = field(default_factory=dict)
    versions: dict[tuple[str, str], int] = field(default_factory=dict)  # (model name, version name) -> id
    statuses: dict[str, ModelStatus] = field(default_factory=dict)
    files: int = 0
    images: int = 0

    def names_with(self, status: ModelStatus) -> list[str]:
        return [name for name, found in self.statuses.items() if found == status]

    def describe(self) -> str:
        counts = ", ".join(f"{len(self.names_with(s))} {s.value}" for s in dict.fromkeys(self.statuses.values()))
        return (
            f"Loaded the demo catalog: {len(self.models)} models ({counts}), {len(self.versions)} versions, "
            f"{self.files} files, {self.images} images.\n"
            f"Demo accounts: {_account_names()}.\n"
            f"Their password: {self.password}\n"
            "(`modelyard demo --credentials` shows them again; so does the server when it starts.)"
        )


# What higher domains add to the demo in its transaction (the images domain's feed, registered from its hooks):
# each gets the session and the summary so far, and returns how many images it added.
DemoContent = Callable[[Session, DemoSummary], int]
_more_content: list[DemoContent] = []
_more_accounts: dict[str, None] = {}  # the accounts they make (same password), in order, once each


def on_demo_loaded(add: DemoContent, *, accounts: tuple[str, ...] = ()) -> None:
    _more_content.append(add)
    _more_accounts.update(dict.fromkeys(accounts))


def _account_names() -> str:
    roles = {Role.admin: "administrator", Role.moderator: "moderator"}
    creators = [f"{name} ({roles[role]})" if role in roles else name for name, _, _, role in CREATORS]
    return ", ".join([*creators, *(name for name in _more_accounts if name not in creators)])


def demo_password(settings: Settings) -> str:
    """The demo accounts' password: derived from the installation's secret key, so it differs on every
    installation, is stored nowhere, and is the same each time it is asked for."""
    digest = hmac.new(settings.secret.encode(), b"modelyard demo accounts", hashlib.sha512).digest()
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")[: max(16, settings.min_password_length)]


@dataclass(frozen=True)
class DemoCredentials:
    """How to log in to the demo: where, as whom, and the password (None once the administrator changed it)."""

    login_url: str
    password: str | None

    def describe(self) -> str:
        password = self.password or "changed since the demo was loaded (use the new one)"
        return f"Demo accounts: {_account_names()}.\nTheir password: {password}\nLog in at {self.login_url}"


def demo_credentials(runtime: Runtime) -> DemoCredentials | None:
    """The demo's credentials when its accounts are in the database (None otherwise); reads only. Checking the
    password costs one password hash (tens of milliseconds)."""
    settings = runtime.settings
    with runtime.db.session() as session:
        admin = session.scalar(select(User).where(User.username == ADMIN))
        if admin is None or not admin.email.endswith(f"@{DEMO_EMAIL_DOMAIN}"):
            return None
        password = demo_password(settings)
        still = verify_password(admin, password)
    return DemoCredentials(login_url=f"{settings.site_url}/login", password=password if still else None)


def existing_content(session: Session) -> tuple[int, int]:
    """How many users and models the database holds."""
    users = session.scalar(select(func.count()).select_from(User)) or 0
    models = session.scalar(select(func.count()).select_from(Model)) or 0
    return users, models


def load_demo(runtime: Runtime, *, password: str | None = None) -> DemoSummary:
    """Load the demo catalog in one transaction; `runtime` must be the current one (the services use it).
    Raises Conflict when the database has users or models already."""
    summary = DemoSummary(password=password or demo_password(runtime.settings))
    with runtime.db.transaction() as session:
        users, models = existing_content(session)
        if users or models:
            raise Conflict(
                f"The database has {users} users and {models} models already; the demo catalog loads only into an "
                "empty one"
            )
        accounts = {creator[0]: _create_creator(session, *creator, summary) for creator in CREATORS}
        for number, spec in enumerate(MODELS, 1):
            _create_model(session, accounts[spec.owner], spec, number, summary)
        for add in _more_content:
            summary.images += add(session, summary)
    return summary


def _create_creator(session: Session, name: str, display: str, bio: str, role: Role, summary: DemoSummary) -> User:
    email = f"{name}@{DEMO_EMAIL_DOMAIN}"
    user = create_user(session, username=name, email=email, password=summary.password, role=role, email_verified=True)
    update_profile(session, user, display_name=display, bio=bio)
    summary.users[name] = user.id
    return user


def _create_model(session: Session, owner: User, spec: DemoModel, number: int, summary: DemoSummary) -> None:
    model = service.create_model(
        session,
        owner,
        ModelCreate(
            name=spec.name,
            type=spec.type,
            description=spec.description,
            tags=list(spec.tags),
            checkpoint_type=spec.checkpoint_type,
            allow_commercial_use=list(spec.commercial),
            allow_derivatives=spec.derivatives,
            allow_no_credit=spec.no_credit,
            allow_different_license=spec.derivatives,
        ),
    )
    for index, demo_version in enumerate(spec.versions):
        version = service.create_version(
            session,
            owner,
            model,
            VersionCreate(
                name=demo_version.name,
                base_model=demo_version.base_model,
                trained_words=list(demo_version.words),
                description=demo_version.notes,
                epochs=demo_version.epochs,
                steps=demo_version.epochs * 250 if demo_version.epochs else None,
                clip_skip=2 if demo_version.base_model == _SD15 else None,
            ),
        )
        seed = number * 100 + index
        newest = index == len(spec.versions) - 1
        summary.files += _add_files(session, owner, version, spec, seed, both_sizes=newest)
        summary.images += _add_post(session, owner, version, spec, seed)
        summary.versions[(spec.name, demo_version.name)] = version.id
    if spec.status == ModelStatus.Scheduled:
        lifecycle.schedule_model(session, model, owner, at=utcnow() + timedelta(days=1))
    elif spec.status in (ModelStatus.Published, ModelStatus.Unpublished):
        lifecycle.publish_model(session, model, owner)
        _backdate(session, model, spec.age_days)
        if spec.status == ModelStatus.Unpublished:
            lifecycle.unpublish_model(session, model, owner, kind=UnpublishKind.voluntary, reason=spec.reason)
    summary.models[spec.name] = model.id
    summary.statuses[spec.name] = model.status


def _add_files(
    session: Session, owner: User, version: ModelVersion, spec: DemoModel, seed: int, *, both_sizes: bool
) -> int:
    """The version's weights: pruned fp16, and for the newest checkpoint version also full fp32."""
    stem = f"{spec.name.replace(' ', '')}_{version.name.replace(' ', '_')}"
    kind = "Negative" if "negative embedding" in spec.tags else "Model"
    sizes = [False, True] if both_sizes and spec.type == ModelType.Checkpoint else [False]
    for full in sizes:
        files.add_file(
            session,
            owner,
            version,
            filename=f"{stem}_full_fp32.safetensors" if full else f"{stem}.safetensors",
            stream=io.BytesIO(safetensors.tiny_for_type(spec.type, seed, full=full, metadata={"demo": spec.name})),
            file_type=kind,
            metadata={"format": "SafeTensor", "size": "full" if full else "pruned", "fp": "fp32" if full else "fp16"},
        )
    return len(sizes)


def _add_post(session: Session, owner: User, version: ModelVersion, spec: DemoModel, seed: int) -> int:
    """A post of preview images; hidden until the model is published (the lifecycle shows it)."""
    pictures = []
    for n in range(IMAGES_PER_VERSION):
        rng = random.Random(seed * 10 + n)
        size = rng.choice([(512, 512), (512, 640), (640, 512)])
        subject = spec.subjects[(seed + n) % len(spec.subjects)]
        meta = _generation_meta(spec, version, subject, rng, size)
        pictures.append(showcase.NewPicture(data=draw_preview(spec.art, rng, size), meta=meta))
    title = f"{spec.name} {version.name}"
    return showcase.add_pictures(session, owner_id=owner.id, version_id=version.id, pictures=pictures, title=title)


def _generation_meta(
    spec: DemoModel, version: ModelVersion, subject: str, rng: random.Random, size: tuple[int, int]
) -> dict[str, object]:
    flux = version.base_model.startswith("Flux")
    words = ", ".join(w for w in version.trained_words if not w.endswith("-neg"))
    meta: dict[str, object] = {
        "prompt": ", ".join(filter(None, [words, subject, "highly detailed", "soft light"])),
        "negativePrompt": None if flux else "lowres, blurry, watermark, text, extra fingers",
        "sampler": "Euler" if flux else rng.choice(["DPM++ 2M Karras", "Euler a", "DPM++ SDE Karras", "UniPC"]),
        "cfgScale": 3.5 if flux else rng.choice([5, 6, 7, 7.5]),
        "steps": rng.choice([20, 25, 28, 30]),
        "seed": rng.randrange(2**32),
        "Size": f"{size[0]}x{size[1]}",
        "Model": spec.name if spec.type == ModelType.Checkpoint else f"{version.base_model} base",
        "resources": [{"name": spec.name, "type": spec.type.value.lower(), "weight": 0.8}],
    }
    if version.clip_skip:
        meta["clipSkip"] = version.clip_skip
    return {key: value for key, value in meta.items() if value is not None}


def _backdate(session: Session, model: Model, age_days: int) -> None:
    """Spread a demo model's history over its past `age_days` days, so lists sorted by date look lived-in."""
    if not age_days:
        return
    now = utcnow()
    oldest_first = sorted(model.versions, key=lambda version: -version.index)
    moments = [now - timedelta(days=age_days * (1 - k / len(oldest_first)), hours=k) for k in range(len(oldest_first))]
    for version, moment in zip(oldest_first, moments, strict=True):
        version.created_at = version.published_at = moment - timedelta(hours=2)
        showcase.date_posts(session, version.id, moment)
    model.created_at = now - timedelta(days=age_days + 1)
    model.published_at = moments[0] - timedelta(hours=2)
    model.last_version_at = model.updated_at = moments[-1] - timedelta(hours=2)
    session.flush()
