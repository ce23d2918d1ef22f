"""Image ingestion: the NSFW classifier's throughput (batched, 2 threads, 512 px pictures) and the whole of
ingestion's work per image (checks, decode, WebP copy, thumbnails, BlurHash, perceptual hash, generation data,
classifier), each against the floor measured in the same run: Pillow decoding the same PNG and resizing it once.

Goals (the issue's): classifier ≥ 25 images/s, whole ingestion ≥ 8 images/s, on 2 cores.

    python -m bench.image_ingestion [--quick]     (or through `python -m bench.run --only image_ingestion`)
"""

from __future__ import annotations

import argparse
import io
import json
import random
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from PIL import Image as PILImage
from PIL import ImageDraw
from PIL.PngImagePlugin import PngInfo

from bench.harness import ratio
from modelyard.core.bootstrap import build_runtime
from modelyard.core.runtime import get_runtime, set_runtime
from modelyard.core.settings import Settings
from modelyard.images import classifier
from modelyard.images.ingest import checks, process
from modelyard.images.metadata import read_metadata

TITLE = "Image ingestion: NSFW classifier and the whole per-image work, 512 px pictures"
BASELINE = "Pillow alone: decode the same PNG and resize it once (to 320 px wide, as the smallest thumbnail)"
METHOD = (
    "One process. Pictures are 512 x 512 PNGs drawn with random shapes, each carrying A1111 generation data. "
    "Classifier: `images.classifier.score_images` on decoded pictures, batches of `image_classifier_batch` (16), "
    "`image_classifier_threads` = 2 (onnxruntime's intra-op threads and the preprocessing pool). Whole ingestion: "
    "for each file the upload checks (`ingest.checks.inspect`), `ingest.process.process` (one decode, the WebP "
    "copy, thumbnails at the configured widths, BlurHash, perceptual hash) and `images.metadata.read_metadata` on "
    "the original, then the classifier on the stills in batches, as the classify job does; storage and database "
    "writes are left out (they are the storage's and the database's speed). The model is loaded and warmed before "
    "timing. Each measure is the best of `rounds` passes over the pictures."
)
CLASSIFIER_GOAL = 25.0
INGESTION_GOAL = 8.0
SIDE = 512
PICTURES = 48
QUICK_PICTURES = 16
ROUNDS = 3
PARAMETERS = (
    "a lighthouse on a cliff, golden hour\nNegative prompt: blurry\nSteps: 24, Sampler: DPM++ 2M Karras, "
    "CFG scale: 6.5, Seed: {seed}, Size: 512x512, Model hash: 6ce0161689, Model: dreamshaper_8"
)


def picture(seed: int) -> PILImage.Image:
    rng = random.Random(seed)
    made = PILImage.new("RGB", (SIDE, SIDE), tuple(rng.randrange(256) for _ in range(3)))
    draw = ImageDraw.Draw(made)
    for _ in range(40):
        x, y = rng.randrange(SIDE), rng.randrange(SIDE)
        box = (x, y, x + rng.randrange(10, 200), y + rng.randrange(10, 200))
        colour = tuple(rng.randrange(256) for _ in range(3))
        (draw.ellipse if rng.random() < 0.5 else draw.rectangle)(box, fill=colour)
    return made


def png(seed: int) -> bytes:
    info = PngInfo()
    info.add_text("parameters", PARAMETERS.format(seed=seed))
    out = io.BytesIO()
    picture(seed).save(out, format="PNG", pnginfo=info)
    return out.getvalue()


def best_rate(work: Callable[[], None], count: int, rounds: int) -> float:
    """Images per second of the fastest pass."""
    fastest = float("inf")
    for _ in range(rounds):
        started = time.perf_counter()
        work()
        fastest = min(fastest, time.perf_counter() - started)
    return count / fastest


def baseline(files: list[bytes]) -> None:
    for data in files:
        with PILImage.open(io.BytesIO(data)) as source:
            source.load()
            source.resize((320, 320), PILImage.Resampling.LANCZOS)


def whole_ingestion(files: list[bytes]) -> None:
    settings = get_runtime().settings
    stills = []
    for data in files:
        checks.inspect(data)
        made = process.process(data, max_side=settings.image_max_side, thumbnail_widths=settings.image_thumbnail_widths)
        read_metadata(data)
        assert made.still is not None
        stills.append(made.still)
    scores = classifier.score_images(stills)
    assert len(scores) == len(files)


def run(quick: bool) -> dict[str, Any]:
    count = QUICK_PICTURES if quick else PICTURES
    rounds = 2 if quick else ROUNDS
    with tempfile.TemporaryDirectory(prefix="bench-ingest-") as data_dir:
        runtime = build_runtime(Settings(data_dir=Path(data_dir), database_url=None))
        set_runtime(runtime)
        try:
            return measure(count, rounds)
        finally:
            runtime.close()
            set_runtime(None)


def measure(count: int, rounds: int) -> dict[str, Any]:
    settings = get_runtime().settings
    files = [png(seed) for seed in range(count)]
    decoded = []
    for data in files:
        with PILImage.open(io.BytesIO(data)) as source:
            decoded.append(source.convert("RGB"))
    classifier.score_images(decoded[:4])  # load and warm the model
    floor = best_rate(lambda: baseline(files), count, rounds)
    rated = best_rate(lambda: classifier.score_images(decoded), count, rounds)
    ingested = best_rate(lambda: whole_ingestion(files), count, rounds)
    cases = [
        {
            "name": "classifier, batched, 2 threads",
            "ratios": [ratio("images/s vs Pillow decode + resize", rated, floor, higher_is_better=True).as_dict()],
            "checks": [
                {"check": f"≥ {CLASSIFIER_GOAL:g} images/s (ours: {rated:.1f})", "passed": rated >= CLASSIFIER_GOAL}
            ],
            "raw": {"images_per_second": round(rated, 2), "baseline_images_per_second": round(floor, 2)},
        },
        {
            "name": "whole ingestion",
            "ratios": [ratio("images/s vs Pillow decode + resize", ingested, floor, higher_is_better=True).as_dict()],
            "checks": [
                {"check": f"≥ {INGESTION_GOAL:g} images/s (ours: {ingested:.1f})", "passed": ingested >= INGESTION_GOAL}
            ],
            "raw": {"images_per_second": round(ingested, 2), "baseline_images_per_second": round(floor, 2)},
        },
    ]
    return {
        "title": TITLE,
        "baseline": BASELINE,
        "method": METHOD,
        "config": {
            "pictures": count,
            "side": SIDE,
            "rounds": rounds,
            "classifier_threads": settings.image_classifier_threads,
            "classifier_batch": settings.image_classifier_batch,
            "thumbnail_widths": settings.image_thumbnail_widths,
        },
        "cases": cases,
        "skipped": [],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true")
    options = parser.parse_args(argv)
    json.dump(run(options.quick), sys.stdout, indent=2)
    print()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
