"""One bad input fails alone: the batch's other articles are analysed and stored."""

from __future__ import annotations

from typing import Any

import pytest
from spacy.language import Language
from spacy.tokens import Doc

from newswatch.pipeline import analysis
from newswatch.pipeline.clean import limit_text
from newswatch.pipeline.records import Article
from newswatch.pipeline.settings import Settings


@Language.component("newswatch_test_explode")
def _explode(doc: Doc) -> Doc:
    """A component that fails on one marked text, as a parser bug would on one input."""
    if "EXPLODE" in doc.text:
        raise ValueError("the parser gave up on this text")
    return doc


@pytest.fixture(scope="module")
def fragile_nlp() -> Any:
    s = Settings()
    nlp = analysis.load_nlp(s.spacy_model, str(s.actors), str(s.triggers))
    nlp.add_pipe("newswatch_test_explode", first=True)
    return nlp


def _article(name: str, text: str) -> Article:
    return Article(url=f"file:///{name}.txt", title="", text=text, published=None)


def test_an_article_that_breaks_analysis_fails_alone(fragile_nlp: Any) -> None:
    articles = [
        _article("good1", "Moscow demanded on Friday that NATO halt its expansion."),
        _article("bad", "EXPLODE. Ankara demanded that Sweden extradite the suspects."),
        _article("good2", "Beijing demanded that Washington cancel the arms sale."),
    ]
    extractions, failures = analysis.extract_each(fragile_nlp, articles, Settings(), topics=())
    assert [e.article.url for e in extractions] == ["file:///good1.txt", "file:///good2.txt"]
    assert all(e.events for e in extractions)
    assert failures == ["file:///bad.txt: could not be analysed (ValueError: the parser gave up on this text)"]


def test_long_texts_are_cut_at_a_sentence_end_and_say_so() -> None:
    text = "Moscow demanded that NATO halt its expansion. " * 1000
    article, note = limit_text(_article("long", text), 10_000)
    assert len(article.text) <= 10_000 and article.text.endswith("expansion.")
    assert note == f"file:///long.txt: text cut to its first {len(article.text):,} of {len(text):,} characters (NEWSWATCH_MAX_TEXT_CHARS)"
    same, none = limit_text(_article("short", "Moscow demanded talks."), 10_000)
    assert none is None and same.text == "Moscow demanded talks."
