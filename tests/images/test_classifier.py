"""The packaged NSFW classifier: loaded once, batched with the same scores as one by one, scores mapped to levels
by the thresholds from settings, an uncertain band flagged."""

from __future__ import annotations

import pytest
from PIL import Image as PILImage

from modelyard.images import classifier
from tests.images.pictures import scene


def pictures() -> list[PILImage.Image]:
    made = [scene((300 + 20 * n, 260), seed=n) for n in range(5)]
    made.append(PILImage.new("RGBA", (200, 120), (230, 180, 150, 128)))  # transparent: rated on white
    made.append(PILImage.new("L", (64, 64), 90))
    return made


def test_a_batch_scores_as_one_by_one(runtime):
    batch = classifier.score_images(pictures())
    single = [classifier.score_images([picture])[0] for picture in pictures()]
    assert len(batch) == 7 and all(0 <= score <= 1 for score in batch)
    assert batch == pytest.approx(single, abs=1e-5)


def test_batches_larger_than_the_setting_are_split(runtime, monkeypatch):
    monkeypatch.setattr(runtime, "settings", runtime.settings.model_copy(update={"image_classifier_batch": 2}))
    assert classifier.score_images(pictures()) == pytest.approx(
        classifier.score_images(pictures()[:3]) + classifier.score_images(pictures()[3:]), abs=1e-5
    )
    assert classifier.score_images([]) == []


def test_the_model_is_loaded_once_per_process(runtime):
    classifier.score_images(pictures()[:1])
    assert classifier._model() is classifier._model()


@pytest.mark.parametrize(
    ("score", "level", "uncertain"),
    [
        (0.0, 1, False),
        (0.19, 1, False),
        (0.2, 2, False),
        (0.35, 2, True),
        (0.5, 4, True),
        (0.7, 8, True),
        (0.75, 8, False),
        (0.85, 16, False),
        (1.0, 16, False),
    ],
)
def test_scores_map_to_levels_by_the_thresholds(runtime, score, level, uncertain):
    assert classifier.level_for(score) == (level, uncertain)


def test_the_thresholds_come_from_settings(runtime, monkeypatch):
    changes = {"image_classifier_thresholds": [0.1, 0.2, 0.3, 0.4], "image_uncertain_band": [0.0, 0.0]}
    monkeypatch.setattr(runtime, "settings", runtime.settings.model_copy(update=changes))
    assert classifier.level_for(0.35) == (16 // 2, False)
    assert classifier.level_for(0.45) == (16, False)
