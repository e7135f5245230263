"""Analysing articles as a run does: its models, and a batch turned into tagged extractions.

What runs in the model processes (`pipeline.workers.ModelPool`) as well as in the run's own
process. It imports no database code: a model process starts with spaCy, the topics and the
meaning model alone.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from newswatch.pipeline.actors import load_actor_patterns
from newswatch.pipeline.embed import Embedder, make_embedder
from newswatch.pipeline.extract import analyse_articles, build_nlp, load_trigger_patterns, load_word_lists
from newswatch.pipeline.records import Article, Extraction
from newswatch.pipeline.settings import DATA_DIR, Settings
from newswatch.pipeline.topics import Topic, load_topics, prepare_topics, tag_topics


def load_nlp(model: str, actors: str, triggers: str) -> Any:
    """Build the spaCy pipeline from the configured model and data files."""
    return build_nlp(model, load_actor_patterns(Path(actors)), load_trigger_patterns(Path(triggers)),
                     load_word_lists(DATA_DIR / "words.tsv"))


def read_topics(settings: Settings) -> tuple[Topic, ...]:
    """Load the tracked topics in force (read once per flow run, then passed to the steps)."""
    return tuple(load_topics(Path(settings.topics)))


def extract(
    nlp: Any, articles: Sequence[Article], settings: Settings, topics: Sequence[Topic] | None = None,
    embedder: Embedder | None = None,
) -> list[Extraction]:
    """Extract actors and events from a batch of articles and tag the events' topics.

    Topics are tagged here, while the analysed sentences are at hand: the store step gets
    finished records and needs no model. `embedder` (the run's, `make_embedder`) adds matches
    by meaning; without one, topics match by their patterns only.
    """
    analysed = analyse_articles(nlp, articles, batch_size=settings.batch_size)
    return tag_topics(nlp, read_topics(settings) if topics is None else tuple(topics), analysed,
                      embedder)


def extract_each(
    nlp: Any, articles: Sequence[Article], settings: Settings, topics: Sequence[Topic],
    embedder: Embedder | None = None,
) -> tuple[list[Extraction], list[str]]:
    """`extract`, with one article's failure failing that article alone.

    The batch runs as one `nlp.pipe` call; should it raise, each article is run by itself,
    so the others are still stored and the bad one is named in one line.
    """
    try:
        return extract(nlp, articles, settings, topics, embedder), []
    except Exception:  # noqa: BLE001  (which article it was is found below)
        pass
    extractions: list[Extraction] = []
    failures: list[str] = []
    for article in articles:
        try:
            extractions.extend(extract(nlp, [article], settings, topics, embedder))
        except Exception as exc:  # noqa: BLE001  (one line for the user; the others go on)
            failures.append(f"{article.url}: could not be analysed ({type(exc).__name__}: {exc})")
    return extractions, failures


@dataclass(frozen=True)
class Models:
    """What extraction needs, as one model process of `pipeline.workers.ModelPool` holds it."""

    nlp: Any
    settings: Settings
    topics: tuple[Topic, ...]
    embedder: Embedder | None


def load_models(settings: Settings, topics: Sequence[Topic]) -> Models:
    """Build a model process's models: the run's settings and topics, its own pipeline,
    ready for its first batch (patterns compiled, topic examples embedded)."""
    models = Models(load_nlp(settings.spacy_model, str(settings.actors), str(settings.triggers)),
                    settings, tuple(topics), make_embedder(settings.embedding_model))
    prepare_topics(models.nlp, models.topics, models.embedder)
    return models


def extract_chunk(models: Models, articles: Sequence[Article]) -> tuple[list[Extraction], list[str]]:
    """`extract_each` with a model process's models (`ModelPool`'s work)."""
    return extract_each(models.nlp, articles, models.settings, models.topics, models.embedder)
