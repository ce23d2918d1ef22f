"""Generated models for the search benchmark: names, tags, descriptions, creators, types, base models, downloads
and NSFW levels shaped like a real hub's, deterministic for a seed, and written to the catalog's tables in bulk
(COPY on PostgreSQL, executemany on SQLite).

A model belongs to one of a few subject categories; its name, its tags and its description come from that
category's word lists, so a query finds what a person would expect it to ("watercolor landscape", "chibi"), and
meaning ties texts with no word in common ("anime style portrait" and "2D illustration of characters"). There are
a few hundred distinct descriptions, so embedding each once is affordable: a model's vector is made from the
embeddings of its description and its subject (`vector_parts`).
"""

from __future__ import annotations

import bisect
import functools
import itertools
import json
import random
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any, TypeVar

from sqlalchemy import Engine, text

from bench.catalog_seed import COLUMNS
from modelyard.catalog.enums import ModelStatus, ModelType
from modelyard.core.db import Base

T = TypeVar("T")


@dataclass(frozen=True)
class Category:
    key: str
    subjects: tuple[str, ...]
    tags: tuple[str, ...]
    looks: tuple[str, ...]  # what the category's models do to a picture, as descriptions say it


CATEGORIES: tuple[Category, ...] = (
    Category(
        "anime",
        ("Anime Girls", "Chibi Style", "Anime Screencap", "Manga Lineart", "Cel Shading", "Magical Girl",
         "Shoujo Portraits", "Retro 90s Anime", "Kawaii Characters", "Anime Backgrounds"),
        ("anime", "character", "style", "girl", "manga", "cute", "illustration", "2d"),
        ("clean cel-shaded 2D illustration of characters", "soft anime coloring with big expressive eyes",
         "crisp manga lineart with flat tones", "the look of a 90s anime screencap", "bright kawaii characters"),
    ),
    Category(
        "photoreal",
        ("Realistic Portraits", "Film Photography", "Studio Headshots", "Skin Detail", "Candid Street Photos",
         "Analog Film", "Cinematic Stills", "Natural Light Portraits"),
        ("photorealistic", "portrait", "photography", "realistic", "woman", "man", "cinematic", "photo"),
        ("true-to-life skin texture and natural lighting", "photographs that look shot on a real camera",
         "the grain and colour of analog film", "cinematic lighting with shallow depth of field"),
    ),
    Category(
        "landscape",
        ("Watercolor Landscapes", "Mountain Vistas", "Misty Forests", "Sunset Beaches", "Alien Planets",
         "Countryside", "Northern Lights", "Desert Dunes"),
        ("landscape", "nature", "scenery", "background", "environment", "sky"),
        ("wide scenic views of nature", "soft washes of colour over hills and lakes",
         "dramatic skies over mountains and forests", "peaceful outdoor scenery at golden hour"),
    ),
    Category(
        "architecture",
        ("Gothic Cathedrals", "Modern Interiors", "Cyberpunk Cityscapes", "Japanese Temples", "Cozy Cottages",
         "Brutalist Buildings", "Fantasy Castles", "Isometric Rooms"),
        ("architecture", "building", "interior", "city", "cityscape", "background"),
        ("detailed buildings and interiors", "grand halls, towers and city streets",
         "architectural drawings and renders", "cozy rooms full of small details"),
    ),
    Category(
        "vehicle",
        ("Sports Cars", "Mecha", "Spaceships", "Motorcycles", "Steampunk Airships", "Retro Trains",
         "Military Tanks", "Futuristic Bikes"),
        ("vehicle", "car", "mecha", "robot", "sci-fi", "spaceship"),
        ("sleek cars, bikes and machines", "giant robots and armoured machines",
         "vehicles with accurate proportions and reflections", "ships and aircraft from other worlds"),
    ),
    Category(
        "clothing",
        ("Kimono", "Fantasy Armor", "Gothic Lolita Dress", "School Uniform", "Streetwear", "Wedding Dress",
         "Knight Armor", "Cyberpunk Jackets"),
        ("clothing", "outfit", "armor", "dress", "fashion", "costume"),
        ("outfits and costumes for your characters", "consistent clothing with fine fabric detail",
         "ornate armour and dresses", "fashion pieces that fit any pose"),
    ),
    Category(
        "creature",
        ("Dragons", "Elves", "Demons", "Mermaids", "Goblins", "Fairies", "Werewolves", "Vampires"),
        ("fantasy", "creature", "monster", "character", "dragon"),
        ("mythical creatures and fantasy races", "scaly dragons and winged beasts",
         "elves, fairies and other folk from old tales", "monsters with believable anatomy"),
    ),
    Category(
        "medium",
        ("Oil Painting", "Ink Sketch", "Pixel Art", "Watercolor", "Charcoal Drawing", "Ukiyo-e Prints",
         "Vaporwave", "Paper Cutout", "Stained Glass"),
        ("style", "painting", "art style", "traditional art", "illustration"),
        ("the texture of traditional media", "visible brush strokes and canvas grain",
         "retro game sprites drawn pixel by pixel", "hand-drawn lines and paper texture"),
    ),
    Category(
        "tool",
        ("Detail Tweaker", "Add More Details", "Lighting Slider", "Age Slider", "Perfect Hands", "Eye Detailer",
         "Color Enhancer", "Contrast Fix"),
        ("concept", "tool", "slider", "detail", "hands", "lighting"),
        ("more or less detail with one weight", "better hands and fingers", "control over light and contrast",
         "sharper eyes and faces"),
    ),
    Category(
        "scifi",
        ("Cyberpunk", "Space Opera", "Androids", "Neon Noir", "Post Apocalyptic", "Biopunk", "Hologram Effects"),
        ("sci-fi", "cyberpunk", "futuristic", "neon", "robot"),
        ("neon-lit futures and chrome", "androids, implants and holograms", "ruined worlds after the fall",
         "glowing cities at night in the rain"),
    ),
    Category(
        "animal",
        ("Cute Cats", "Dog Portraits", "Wildlife Photos", "Birds", "Foxes", "Horses"),
        ("animal", "cat", "dog", "wildlife", "cute"),
        ("pets and wild animals with soft fur", "animals in their natural habitat", "adorable kittens and puppies"),
    ),
    Category(
        "horror",
        ("Eldritch Horror", "Dark Fantasy", "Creepy Dolls", "Haunted Houses", "Zombies", "Skulls"),
        ("horror", "dark", "creepy", "monster", "dark fantasy"),
        ("unsettling scenes and dark atmospheres", "creepy monsters lurking in shadows",
         "gothic gloom and decay"),
    ),
    Category(
        "food",
        ("Food Photography", "Cake Design", "Product Shots", "Sushi", "Cocktails"),
        ("food", "product", "photography", "still life"),
        ("appetising dishes and clean product shots", "studio still life with soft reflections"),
    ),
    Category(
        "game",
        ("Game Sprites", "RPG Portraits", "Video Game Heroes", "Tarot Cards", "Trading Cards"),
        ("game", "character", "video game", "card", "rpg"),
        ("heroes and villains for your campaign", "card art with ornate frames", "game-ready character art"),
    ),
)  # fmt: skip
CATEGORY_CHOICES = tuple(zip(CATEGORIES, (22, 16, 8, 6, 5, 8, 6, 7, 5, 4, 3, 3, 2, 5), strict=True))

# A long tail of tags beyond each category's own, most popular first (chosen with a Zipf-like weight).
EXTRA_TAGS = (
    "woman", "girl", "detailed", "colorful", "sdxl", "pony", "portrait", "fullbody", "closeup", "man", "cute",
    "background", "pose", "face", "hair", "eyes", "hands", "dark", "light", "night", "fantasy", "magic", "flux",
    "realistic", "3d", "cartoon", "comic", "retro", "vintage", "minimalist", "abstract", "surreal", "pastel",
    "monochrome", "black and white", "neon", "glow", "bokeh", "film grain", "sword", "weapon", "mask", "hat",
    "glasses", "tattoo", "jewelry", "flowers", "trees", "clouds", "moon", "stars", "space", "ocean", "beach",
    "snow", "rain", "fire", "water", "street", "room", "cafe", "school", "castle", "ruins", "temple", "forest",
    "mountain", "river", "garden", "isometric", "low poly", "vector", "logo", "icon", "poster", "80s", "90s",
    "y2k", "psychedelic", "sepia", "hdr", "polaroid", "winter", "summer", "autumn", "spring", "smile", "blonde",
    "red hair", "elf ears", "wings", "horns", "tail", "halo", "crown", "cloak", "boots", "gloves", "scarf",
    "umbrella", "book", "candle", "lantern", "clock", "mirror",
)  # fmt: skip

BRANDS = (
    "Realistic Vision", "DreamShaper", "Juggernaut", "epiCRealism", "AbsoluteReality", "CyberRealistic",
    "MeinaMix", "Counterfeit", "RevAnimated", "ToonYou", "Deliberate", "majicMIX", "AnyLoRA", "Pony Realism",
    "WAI Illustrious", "NoobAI Mix", "Photon", "Analog Madness", "Dark Sushi", "Cetus Mix", "Aniverse", "Hassaku",
    "Animagine", "Copax Timeless", "ZavyChroma", "Realism Engine", "Starlight", "Dreamy Diffusion", "Nova Anime",
    "Prefect Pony", "Aurora", "Lustrous", "Mistoon", "Perfect World", "Dynavision", "Crystal Clear", "Halcyon",
    "Obsidian", "Velvet Mix", "Lucid Dream",
)  # fmt: skip
ADJECTIVES = (
    "Dreamy", "Realistic", "Cinematic", "Moody", "Vibrant", "Soft", "Dark", "Ethereal", "Retro", "Gothic",
    "Whimsical", "Minimalist", "Detailed", "Epic", "Cute", "Surreal", "Painterly", "Neon", "Vintage", "Pastel",
    "Gritty", "Cozy", "Majestic", "Ultra", "Mystic", "Cosmic", "Lazy", "Tiny", "Perfect", "Classic",
)  # fmt: skip
SUFFIXES = ("XL", "LoRA", "Style", "Concept", "Pony", "SDXL", "Mix", "Turbo", "Pro", "Remix", "Illustrious", "Flux")
VERSIONS = ("v1", "v2", "v3", "v4", "v5", "v6", "v7", "v8", "v9", "v1.5", "v2.0", "v3.1", "Beta", "Final")
SYLLABLES = (
    "ka", "ri", "no", "lu", "mi", "zen", "pix", "el", "dra", "vo", "sa", "ren", "to", "ki", "ya", "mo", "ne",
    "ar", "tek", "fox", "owl", "byte", "neo", "sol", "ash", "ink", "art", "lab", "ai",
)  # fmt: skip

TYPES = (
    (ModelType.LORA, 55), (ModelType.Checkpoint, 14), (ModelType.TextualInversion, 7), (ModelType.LoCon, 6),
    (ModelType.DoRA, 3), (ModelType.Workflows, 3), (ModelType.Controlnet, 2), (ModelType.Poses, 2),
    (ModelType.Wildcards, 2), (ModelType.VAE, 1), (ModelType.Upscaler, 1), (ModelType.MotionModule, 1),
    (ModelType.Other, 1),
)  # fmt: skip
BASE_MODELS = (
    ("SDXL 1.0", 24), ("SD 1.5", 22), ("Pony", 18), ("Illustrious", 14), ("Flux.1 D", 10), ("NoobAI", 4),
    ("Flux.1 S", 2), ("Wan Video", 2), ("SD 3.5 Large", 1), ("SDXL Lightning", 1), ("Hunyuan Video", 1),
    ("Other", 1),
)  # fmt: skip
NSFW_LEVELS = ((1, 72), (2, 12), (4, 9), (8, 5), (16, 2))  # PG, PG-13, R, X, XXX
FILE_FORMATS = (("SafeTensor", 90), ("PickleTensor", 8), ("GGUF", 2))
DESCRIPTIONS_PER_CATEGORY = 20

OPENINGS = (
    "This {kind} gives you {look}.",
    "A {kind} for {look}.",
    "Trained on {count} hand-picked images, it brings {look} to your generations.",
    "My take on {look}, made as a {kind}.",
    "{Look}, in one small {kind}.",
    "Bring {look} to any prompt with this {kind}.",
)
DETAILS = (
    "It keeps faces and hands intact and works with most other resources.",
    "The dataset was captioned by hand, so prompts follow closely.",
    "It is flexible: use it for {subject} or mix it with other styles.",
    "Good at {subject}, and surprisingly good at everything around them.",
    "Colours stay rich without burning out, even at high weights.",
    "It was retrained from scratch for this release with a cleaner dataset.",
    "Compositions stay varied, so it does not repeat the same picture.",
)
USAGE = (
    "Use a weight between 0.6 and 0.9.",
    "Recommended: DPM++ 2M Karras, 25-30 steps, CFG 5-7.",
    "Clip skip 2 works best.",
    "Add the trigger word at the start of your prompt.",
    "Works best at 1024x1024 or similar sizes.",
    "Use it with a hires fix at 1.5x for the sharpest results.",
)
CLOSINGS = (
    "Feedback and reviews are welcome!",
    "Please share your images in the gallery.",
    "Free to use, credit appreciated.",
    "More versions are on the way.",
)


@dataclass(frozen=True)
class GeneratedModel:
    id: int
    name: str
    type: ModelType
    base_model: str
    creator: int  # 1-based index into the creators' names
    tags: tuple[str, ...]
    description: int  # index into `Catalog.descriptions`
    subject: str
    trained_words: tuple[str, ...]
    downloads: int
    nsfw_level: int
    file_format: str
    published_at: datetime


@dataclass(frozen=True)
class Catalog:
    """What `generate` makes: the creators' usernames, the distinct descriptions and the models."""

    creators: list[str]
    descriptions: list[str]
    models: list[GeneratedModel]

    def username(self, model: GeneratedModel) -> str:
        return self.creators[model.creator - 1]

    def probe(self, entity_id: int) -> GeneratedModel:
        """A model kept out of the index (unpublished) until a freshness check publishes it: the same shape as
        the others, PG-rated, its name carrying a word no other document has."""
        base = self.models[entity_id % len(self.models)]
        return replace(base, id=entity_id, name=f"{base.name} {probe_word(entity_id)}", nsfw_level=1)

    def file_name(self, model: GeneratedModel) -> str:
        stem = "".join(c if c.isalnum() else "_" for c in model.name).strip("_")
        return f"{stem}.{'gguf' if model.file_format == 'GGUF' else 'safetensors'}"


def generate(count: int, *, creators: int, now: datetime, seed: int = 17) -> Catalog:
    rng = random.Random(seed)
    usernames = creator_names(rng, creators)
    descriptions, by_category = description_texts(rng)
    first = now - timedelta(days=3 * 365)
    step = (now - first) / max(count, 1)
    models = [generated_model(rng, m, by_category, creators, first + step * (m - 1)) for m in range(1, count + 1)]
    return Catalog(usernames, descriptions, models)


def generated_model(
    rng: random.Random, m: int, by_category: dict[str, list[int]], creators: int, published_at: datetime
) -> GeneratedModel:
    category = weighted(rng, CATEGORY_CHOICES)
    subject = rng.choice(category.subjects)
    model_type = weighted(rng, TYPES)
    base_model = weighted(rng, BASE_MODELS)
    own = rng.sample(category.tags, rng.randint(2, 3))
    extra = {EXTRA_TAGS[min(int(len(EXTRA_TAGS) * rng.random() ** 2.2), len(EXTRA_TAGS) - 1)] for _ in range(3)}
    tags = tuple(dict.fromkeys([*own, *sorted(extra)[: rng.randint(0, 3)]]))
    word = subject.split()[0].lower()
    return GeneratedModel(
        id=m,
        name=model_name(rng, model_type, subject, base_model),
        type=model_type,
        base_model=base_model,
        creator=1 + min(int(creators * rng.random() ** 1.6), creators - 1),  # a few prolific creators
        tags=tags,
        description=rng.choice(by_category[category.key]),
        subject=subject,
        trained_words=(f"{word}_style",) if model_type in (ModelType.LORA, ModelType.LoCon, ModelType.DoRA) else (),
        downloads=min(int(20 / (1.0 - rng.random()) ** 1.25), 5_000_000),  # Pareto: median ~50, a few millions
        nsfw_level=weighted(rng, NSFW_LEVELS),
        file_format="GGUF" if base_model.startswith("Flux") and rng.random() < 0.2 else weighted(rng, FILE_FORMATS),
        published_at=published_at,
    )


def model_name(rng: random.Random, model_type: ModelType, subject: str, base_model: str) -> str:
    adjective, version = rng.choice(ADJECTIVES), rng.choice(VERSIONS)
    if model_type == ModelType.Checkpoint:
        brand = rng.choice(BRANDS)
        return rng.choice((f"{brand} {version}", f"{brand} XL {version}", f"{brand} - {subject} Edition"))
    if model_type == ModelType.TextualInversion:
        return rng.choice((f"{subject} Embedding", f"{adjective}Negative {version}", f"{adjective} {subject} TI"))
    if model_type in (ModelType.Workflows, ModelType.Controlnet, ModelType.Poses, ModelType.Wildcards):
        return f"{adjective} {subject} {model_type.display_name}"
    short = base_model.split()[0]
    return rng.choice(
        (
            f"{adjective} {subject} {rng.choice(SUFFIXES)}",
            f"{subject} {rng.choice(SUFFIXES)}",
            f"{adjective} {subject}",
            f"{subject} - {short} {version}",
            f"{adjective} {subject} {version}",
        )
    )


def creator_names(rng: random.Random, count: int) -> list[str]:
    names: dict[str, None] = {}
    while len(names) < count:
        stem = "".join(rng.choice(SYLLABLES) for _ in range(rng.randint(2, 3)))
        names[rng.choice((stem, f"{stem}{rng.randint(1, 999)}", f"{stem}_{rng.choice(SYLLABLES)}"))] = None
    return list(names)


def description_texts(rng: random.Random) -> tuple[list[str], dict[str, list[int]]]:
    """Distinct descriptions of 2 to 4 sentences, `DESCRIPTIONS_PER_CATEGORY` per category."""
    texts: list[str] = []
    by_category: dict[str, list[int]] = {}
    for category in CATEGORIES:
        made: dict[str, None] = {}
        while len(made) < DESCRIPTIONS_PER_CATEGORY:
            made[description(rng, category)] = None
        by_category[category.key] = list(range(len(texts), len(texts) + len(made)))
        texts += made
    return texts, by_category


def description(rng: random.Random, category: Category) -> str:
    look, subject = rng.choice(category.looks), rng.choice(category.subjects).lower()
    kind = rng.choice(("LoRA", "model", "checkpoint", "style", "embedding"))
    opening = rng.choice(OPENINGS).format(
        kind=kind, look=look, Look=look[0].upper() + look[1:], count=rng.randint(40, 900)
    )
    sentences = [opening, rng.choice(DETAILS).format(subject=subject)]
    sentences += rng.sample(USAGE, rng.randint(0, 1)) + rng.sample(CLOSINGS, rng.randint(0, 1))
    return " ".join(sentences)


def weighted(rng: random.Random, pairs: Sequence[tuple[T, int]]) -> T:
    values, totals = _cumulative(pairs)
    return values[bisect.bisect(totals, rng.random() * totals[-1])]


@functools.cache
def _cumulative(pairs: Sequence[tuple[T, int]]) -> tuple[list[T], list[int]]:
    return [value for value, _ in pairs], list(itertools.accumulate(weight for _, weight in pairs))


def vector_texts(catalog: Catalog) -> list[str]:
    """Every text whose embedding a model's vector is made of: the descriptions, then the subjects."""
    return catalog.descriptions + sorted({m.subject for m in catalog.models})


def vector_parts(catalog: Catalog, texts: Sequence[str]) -> dict[int, tuple[int, int]]:
    """For each model id, the positions in `texts` (`vector_texts`) of its description and its subject."""
    subjects = {text: position for position, text in enumerate(texts) if position >= len(catalog.descriptions)}
    return {m.id: (m.description, subjects[m.subject]) for m in catalog.models}


def batches(items: Sequence[T], size: int) -> Iterator[Sequence[T]]:
    iterator = iter(items)
    while chunk := list(itertools.islice(iterator, size)):
        yield chunk


def probe_word(entity_id: int) -> str:
    """A word no generated text contains, made of letters and digits so both engines keep it one token."""
    return f"zq{entity_id:07d}x"


# --- writing the catalog ----------------------------------------------------------------------------------------

CHUNK = 20_000
MODEL_COLUMNS = [*COLUMNS["model"], "download_count"]
TAG_COLUMNS = ["id", "name", "type", "nsfw_level", "created_at"]


def seed_catalog(engine: Engine, catalog: Catalog, probes: Sequence[int]) -> None:
    """Users, tags, models (one published version with one file each) and their tags; the `probes` ids are
    written unpublished."""
    now = catalog.models[-1].published_at
    tag_ids = {name: number for number, name in enumerate(sorted({t for m in catalog.models for t in m.tags}), 1)}
    models = [*catalog.models, *(catalog.probe(p) for p in probes)]
    unpublished = set(probes)
    write(engine, "user", COLUMNS["user"], (user_row(n, name, now) for n, name in enumerate(catalog.creators, 1)))
    write(engine, "tag", TAG_COLUMNS, ((number, name, "user", 1, now) for name, number in tag_ids.items()))
    write(engine, "model", MODEL_COLUMNS, (model_row(m, m.id in unpublished, catalog) for m in models))
    write(engine, "tag_on_model", COLUMNS["tag_on_model"], ((m.id, tag_ids[t]) for m in models for t in m.tags))
    write(engine, "model_version", COLUMNS["model_version"], (version_row(m) for m in models))
    write(engine, "model_file", COLUMNS["model_file"], (file_row(m, catalog) for m in models))
    settle(engine, ["user", "tag", "model", "tag_on_model", "model_version", "model_file"])


def user_row(number: int, name: str, now: datetime) -> tuple[Any, ...]:
    return (number, name, name.lower(), f"{name}@bench.example", "user", [], now)


def model_row(model: GeneratedModel, unpublished: bool, catalog: Catalog) -> tuple[Any, ...]:
    status = ModelStatus.Unpublished if unpublished else ModelStatus.Published
    description = catalog.descriptions[model.description]
    checkpoint = ("Merge" if model.id % 3 else "Trained") if model.type == ModelType.Checkpoint else None
    at = model.published_at
    return (
        model.id, model.creator, model.name, description, f"<p>{description}</p>", model.type.value, status.value,
        checkpoint, "Created", "Public", model.nsfw_level >= 4, model.nsfw_level, False, False, False, True, True,
        True, ["Sell"], {}, at, None, at, at - timedelta(hours=2), at, None, model.downloads,
    )  # fmt: skip


def version_row(model: GeneratedModel) -> tuple[Any, ...]:
    at = model.published_at
    return (
        model.id, model.id, 0, "v1", model.base_model, "Standard", list(model.trained_words), False, "Created",
        "Download", "Public", model.nsfw_level, ModelStatus.Published.value, at, None, {}, at - timedelta(hours=1), at,
    )  # fmt: skip


def file_row(model: GeneratedModel, catalog: Catalog) -> tuple[Any, ...]:
    metadata = {"format": model.file_format, "size": "pruned", "fp": "fp16"}
    return (
        model.id, model.id, catalog.file_name(model), f"models/{model.id}/bench/model", 144_000.0, "Model", metadata,
        "Public", "Success", "Success", False, model.published_at,
    )  # fmt: skip


def write(engine: Engine, table: str, columns: Sequence[str], rows: Iterable[tuple[Any, ...]]) -> None:
    """COPY on PostgreSQL; executemany of a Core insert, in chunks, on SQLite."""
    if engine.dialect.name == "postgresql":
        raw = engine.raw_connection()
        try:
            names = ", ".join(f'"{c}"' for c in columns)
            with raw.cursor().copy(f'COPY "{table}" ({names}) FROM STDIN') as copy:
                for row in rows:
                    copy.write_row([json.dumps(v) if isinstance(v, list | dict) else v for v in row])
            raw.commit()
        finally:
            raw.close()
        return
    insert, pending = Base.metadata.tables[table].insert(), iter(rows)
    with engine.begin() as connection:
        while chunk := [dict(zip(columns, row, strict=True)) for row in itertools.islice(pending, CHUNK)]:
            connection.execute(insert, chunk)


def settle(engine: Engine, tables: Sequence[str]) -> None:
    """What a database that grew slowly would look like: PostgreSQL vacuumed and analyzed (as autovacuum does),
    its id sequences past the explicit ids; SQLite's write-ahead log checkpointed."""
    if engine.dialect.name != "postgresql":
        raw = engine.raw_connection()  # autocommit: a checkpoint cannot run inside a transaction
        try:
            raw.cursor().execute("PRAGMA wal_checkpoint(TRUNCATE)")
        finally:
            raw.close()
        return
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        for table in tables:
            connection.execute(text(f'VACUUM ANALYZE "{table}"'))
            if "id" in Base.metadata.tables[table].c:
                sequence = f"pg_get_serial_sequence('\"{table}\"', 'id')"
                connection.execute(text(f'SELECT setval({sequence}, (SELECT max(id) FROM "{table}"))'))
