"""The ingest flow: load -> extract and tag topics -> dedup and store -> alert.

A flow run reads the settings, opens one engine, builds the spaCy pipeline at first use, and
passes them to its tasks; the engine is disposed when the run ends.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from collections import deque
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from itertools import islice
from typing import Any, TypeVar

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_table_artifact
from prefect.cache_policies import NO_CACHE
from prefect.utilities.annotations import quote
from sqlalchemy import Engine

from newswatch.db.migrate import upgrade
from newswatch.db.session import connect
from newswatch.flows import _steps
from newswatch.flows.feeds import poll_feeds, save_feed_polls
from newswatch.pipeline import analysis
from newswatch.pipeline.embed import Embedder, make_embedder
from newswatch.pipeline.errors import AlertError, NewswatchError
from newswatch.pipeline.records import Article, Extraction
from newswatch.pipeline.settings import Settings, get_settings
from newswatch.pipeline.topics import Topic
from newswatch.pipeline.workers import ModelPool, use_pool

T = TypeVar("T")


@dataclass
class IngestSummary:
    """What one ingest run did; printed by the CLI and published as a Prefect artifact."""

    articles_new: int = 0
    articles_duplicate: int = 0
    articles_known: int = 0
    articles_failed: int = 0
    events_new: int = 0
    events_merged: int = 0
    alerts_raised: int = 0
    alerts_sent: int = 0
    alerts_failed: int = 0
    failures: list[str] = field(default_factory=list)

    def add(self, outcome: _steps.StoreOutcome) -> None:
        if outcome.known:
            self.articles_known += 1
            return
        self.articles_duplicate += outcome.duplicate
        self.articles_new += not outcome.duplicate
        self.events_new += outcome.events_new
        self.events_merged += outcome.events_merged
        self.alerts_raised += outcome.alerts_raised

    def merge(self, other: IngestSummary) -> None:
        """Add the counts and failures of another run (one command, several flow runs)."""
        for f in dataclasses.fields(self):
            mine, theirs = getattr(self, f.name), getattr(other, f.name)
            setattr(self, f.name, mine + theirs)

    def rows(self) -> list[dict[str, Any]]:
        return [
            {"what": "articles", "new": self.articles_new, "duplicate": self.articles_duplicate,
             "already stored": self.articles_known, "failed": self.articles_failed},
            {"what": "events", "new": self.events_new, "merged": self.events_merged},
            {"what": "alerts", "raised": self.alerts_raised, "sent": self.alerts_sent,
             "failed": self.alerts_failed},
        ]


class NlpLoader:
    """The spaCy pipeline of one flow run, built at its first use (about a second) and kept.

    A run whose articles are all stored already never builds it.
    """

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._nlp: Any = None

    def get(self) -> Any:
        if self._nlp is None:
            s = self._settings
            self._nlp = analysis.load_nlp(s.spacy_model, str(s.actors), str(s.triggers))
        return self._nlp


@task(retries=2, retry_delay_seconds=[1, 4], cache_policy=NO_CACHE)
def load_articles(
    inputs: Sequence[str], published: dt.date | None, source: str | None, settings: Settings
) -> tuple[list[Article], list[str]]:
    """Read a batch of files and URLs; a failing input is reported, not raised."""
    return _steps.load_articles(inputs, settings, published=published, source=source)


@task(cache_policy=NO_CACHE)
def skip_known(articles: Sequence[Article], engine: Engine) -> tuple[list[Article], int]:
    """Drop articles whose URL is already stored, before any NLP."""
    return _steps.skip_known(engine, articles)


@task(cache_policy=NO_CACHE)
def extract_batch(
    articles: Sequence[Article], settings: Settings, nlp: Any, topics: Sequence[Topic],
    embedder: Embedder | None = None,
) -> tuple[list[Extraction], list[str]]:
    """Run the spaCy pipeline over one batch of articles and tag the events' topics.

    Returns the extractions and one line per article that could not be analysed.
    """
    return analysis.extract_each(nlp, articles, settings, topics, embedder)


@task(cache_policy=NO_CACHE)
def extract_batch_in_workers(
    articles: Sequence[Article], pool: ModelPool[Article, Extraction]
) -> tuple[list[Extraction], list[str]]:
    """`extract_batch` in the run's model processes (`NEWSWATCH_NLP_PROCESSES`), chunks of
    the batch side by side; submitted, so the flow stores earlier batches meanwhile."""
    return pool.submit(articles).result()


#: Batches in the model's processes at once while the flow stores: one is being stored, and
#: the processes always have the next one's chunks queued.
IN_FLIGHT = 2


@task(retries=3, retry_delay_seconds=[1, 2, 4], cache_policy=NO_CACHE)
def store_batch(
    extractions: Sequence[Extraction], settings: Settings, engine: Engine, topics: Sequence[Topic],
    embedder: Embedder | None = None,
) -> list[_steps.StoreOutcome]:
    """Dedup, store the tagged events and queue alerts: one transaction per batch (no spaCy;
    the meaning model only for events that have merge candidates)."""
    return _steps.store(extractions, settings, engine, topics, embedder)


@task(cache_policy=NO_CACHE)
def deliver_alerts(settings: Settings, engine: Engine, topics: Sequence[Topic]) -> tuple[int, int]:
    """Deliver undelivered alerts; raise while a channel fails, so the task retries with backoff.

    Retries re-send only what is still undelivered (see `_steps.deliver`).
    """
    sent, failed = _steps.deliver(settings, engine, topics)
    if failed:
        raise AlertError(f"{failed} alert(s) could not be delivered; they stay queued for the next run")
    return sent, failed


#: the extra field on the flow's progress records, (inputs done, inputs in the run): the CLI
#: draws its progress bar from it
PROGRESS_FIELD = "newswatch_progress"


def _backoff(settings: Settings) -> list[float]:
    """Exponential backoff between delivery retries: d, 2d, 4d... seconds."""
    return [settings.alert_retry_delay * 2**i for i in range(settings.alert_retries)] or [0]


def _batches(items: Sequence[T], size: int) -> Iterator[list[T]]:
    it = iter(items)
    while batch := list(islice(it, size)):
        yield batch


@flow(name="newswatch-ingest", log_prints=True)
def ingest(
    inputs: list[str] | None = None,
    feeds: list[str] | None = None,
    published: dt.date | None = None,
    source: str | None = None,
) -> IngestSummary:
    """Ingest article files, URLs and feeds into the event database and raise alerts."""
    settings = get_settings()
    with connect(settings.database_url) as engine:
        return _ingest(settings, engine, inputs or [], feeds or [], published, source)


def _ingest(
    settings: Settings, engine: Engine, inputs: list[str], feeds: list[str],
    published: dt.date | None, source: str | None,
) -> IngestSummary:
    logger = get_run_logger()
    run_started = dt.datetime.now(dt.timezone.utc)
    topics = analysis.read_topics(settings)  # a bad topics file stops the run before any work
    upgrade(engine)
    nlp = NlpLoader(settings)
    pool = _steps.model_pool(settings, topics)  # started by the first batch big enough
    embedder = make_embedder(settings.embedding_model)  # loads at its first use, if any
    summary = IngestSummary()

    # Batches in the model's worker processes (NEWSWATCH_NLP_PROCESSES) are extracted while
    # this thread, the run's only writer, stores the ones before them, oldest first: stores
    # stay one at a time and in input order. A batch too small for the processes runs here,
    # after the batches before it are stored.
    pending: deque[Any] = deque()

    def store_next() -> None:
        """Wait for the oldest extraction in flight and store it."""
        store(*pending.popleft().result())

    def store(extractions: list[Extraction], failed: list[str]) -> None:
        for failure in failed:
            logger.error(failure)
        summary.failures.extend(failed)
        for outcome in store_batch(quote(extractions), quote(settings), quote(engine), quote(topics),
                                   quote(embedder)):  # type: ignore[call-overload]
            summary.add(outcome)

    def process(articles: list[Article]) -> None:
        # quote(): Prefect would otherwise walk every article, event and setting of a batch
        # looking for futures to resolve (about 3 ms per article); these are plain values.
        fresh, known = skip_known(quote(articles), quote(engine))  # type: ignore[call-overload]
        summary.articles_known += known
        fresh, notes = _steps.limit_texts(fresh, settings)
        for note in notes:
            logger.warning(note)
        if not fresh:
            return
        if use_pool(len(fresh), pool.processes):
            pending.append(extract_batch_in_workers.submit(quote(fresh), quote(pool)))  # type: ignore[call-overload]
            while len(pending) > IN_FLIGHT:
                store_next()
            return
        while pending:
            store_next()
        store(*extract_batch(quote(fresh), quote(settings), quote(nlp.get()), quote(topics),
                             quote(embedder)))  # type: ignore[call-overload]

    # Streamed a batch at a time (load -> extract -> store, with up to IN_FLIGHT batches in
    # the model's processes): memory stays flat however many inputs a run has
    # (benchmarks/run.py measures it).
    with pool:  # its processes stop after the last batch (terminated if the run fails)
        if use_pool(min(len(inputs), settings.batch_size), pool.processes):
            pool.start()  # their models load while the first batch is read
        done = 0
        for batch in _batches(inputs, settings.batch_size):
            loaded, failures = load_articles(batch, published, source, quote(settings))  # type: ignore[call-overload]
            for failure in failures:
                logger.error(failure)
            summary.failures.extend(failures)
            process(loaded)
            done += len(batch)
            if len(inputs) > 1:  # says how far it is (the CLI's progress bar reads the extra field)
                logger.info("progress: %d of %d inputs done (%d new articles, %d failed)",
                            done, len(inputs), summary.articles_new + summary.articles_duplicate,
                            len(summary.failures), extra={PROGRESS_FIELD: (done, len(inputs))})
        feed_polls: list[Any] = []
        if feeds:
            feed_articles, feed_failures, feed_polls = poll_feeds(
                feeds, settings, engine, published=published, source=source
            )
            for failure in feed_failures:
                logger.error(failure)
            summary.failures.extend(feed_failures)
            for articles in _batches(feed_articles, settings.batch_size):
                process(articles)
        while pending:
            store_next()
    summary.articles_failed = len(summary.failures)
    if feed_polls:  # recorded only now that their entries are stored: a crash re-polls them
        save_feed_polls(feed_polls, settings, engine)
    delivery_started = dt.datetime.now(dt.timezone.utc)
    try:
        deliver_alerts.with_options(
            retries=settings.alert_retries, retry_delay_seconds=_backoff(settings)
        )(settings, quote(engine), quote(topics))  # type: ignore[call-overload]
    except NewswatchError as exc:
        logger.warning("alert delivery: %s", exc)
    summary.alerts_sent, summary.alerts_failed = _steps.delivery_counts(engine, delivery_started)
    create_table_artifact(
        key="ingest-alerts", table=_steps.alert_rows(engine, run_started) or [{"alerts": "none"}],
        description="alerts raised by this newswatch ingest run",
    )
    logger.info("ingest summary: %s", summary.rows())
    create_table_artifact(key="ingest-summary", table=summary.rows(), description="newswatch ingest run")
    return summary


# Prefect's server refuses flow-run parameters over 512 kB (HTTP 422): about 7,000 file paths.
# One command over more inputs than that runs the flow several times, each well within it.
MAX_INPUTS_BYTES = 200_000


def input_runs(inputs: Sequence[str], limit: int = MAX_INPUTS_BYTES) -> Iterator[list[str]]:
    """Split `inputs` into consecutive lists whose JSON stays under `limit` bytes."""
    run: list[str] = []
    size = 0
    for item in inputs:
        n = len(json.dumps(item)) + 2
        if run and size + n > limit:
            yield run
            run, size = [], 0
        run.append(item)
        size += n
    if run:
        yield run


def ingest_all(
    inputs: Sequence[str] = (),
    feeds: Sequence[str] = (),
    published: dt.date | None = None,
    source: str | None = None,
) -> IngestSummary:
    """Run the ingest flow over any number of inputs: one flow run per `input_runs` part.

    Feeds are polled by the first run. The summary adds up every run's.
    """
    runs = list(input_runs(inputs)) or [[]]
    total = IngestSummary()
    for n, part in enumerate(runs):
        total.merge(ingest(inputs=part, feeds=list(feeds) if n == 0 else [], published=published, source=source))
    return total
