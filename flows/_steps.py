"""The steps the ingest flow wires together: pipeline functions and db queries, no Prefect.

Kept apart from `flows/ingest.py` so the flow body reads like a table of contents and the
steps can be called (and benchmarked) without an orchestrator.
"""

from __future__ import annotations

import datetime as dt
import functools
import logging
from collections.abc import Sequence
from contextlib import nullcontext
from dataclasses import dataclass
from typing import Any

from newswatch.db import outbox
from newswatch.db import store as db_store
from sqlalchemy import Engine

from newswatch.db.session import connect, open_session
from newswatch.pipeline.alerts import NO_CHANNEL, PendingAlert, alert_message, build_alerts, send_alerts
from newswatch.pipeline.analysis import extract_chunk, load_models, read_topics
from newswatch.pipeline.dedup import (
    ArticleFingerprint, band_bucket, band_buckets_near, embed_for_matching, event_key, find_duplicates,
    fingerprint, inherit_events, match_events, restatements,
)
from newswatch.pipeline.embed import Embedder, to_bytes
from newswatch.pipeline.errors import SourceError
from newswatch.pipeline.clean import limit_text
from newswatch.pipeline.records import Article, Event, Extraction, TopicMatch
from newswatch.pipeline.settings import Settings
from newswatch.pipeline.sources import is_url, make_client, read_article
from newswatch.pipeline.topics import Topic
from newswatch.pipeline.workers import ModelPool

log = logging.getLogger("newswatch")


@dataclass(frozen=True)
class StoreOutcome:
    """What storing one article did."""

    url: str
    known: bool = False
    duplicate: bool = False
    events_new: int = 0
    events_merged: int = 0
    alerts_raised: int = 0


def load_articles(
    inputs: Sequence[str], settings: Settings, *, published: dt.date | None, source: str | None
) -> tuple[list[Article], list[str]]:
    """Read files and URLs; return the articles and one message per input that failed.

    Each message already names its input (`SourceError` messages start with it).
    """
    articles: list[Article] = []
    failures: list[str] = []
    # one HTTP client per batch, and none for a batch of files (building one costs ~10 ms)
    with (make_client(timeout=settings.fetch_timeout, max_redirects=settings.fetch_max_redirects)
          if any(is_url(item) for item in inputs) else nullcontext()) as client:
        for item in inputs:
            try:
                articles.append(read_article(item, published=published, source=source, client=client,
                                             max_bytes=settings.fetch_max_bytes))
            except SourceError as exc:
                failures.append(str(exc))
            except Exception as exc:  # noqa: BLE001  (a parser bug fails this input alone)
                failures.append(f"{item}: could not be read ({type(exc).__name__}: {exc})")
    return articles, failures


def limit_texts(articles: Sequence[Article], settings: Settings) -> tuple[list[Article], list[str]]:
    """Bound each article's text (`limit_text`); return the articles and a note per cut."""
    limited: list[Article] = []
    notes: list[str] = []
    for article in articles:
        bounded, note = limit_text(article, settings.max_text_chars)
        limited.append(bounded)
        if note:
            notes.append(note)
    return limited, notes


def skip_known(engine: Engine, articles: Sequence[Article]) -> tuple[list[Article], int]:
    """Drop articles whose URL is already stored; return the others and how many were dropped."""
    with open_session(engine) as session:
        known = db_store.list_known_urls(session, [a.url for a in articles])
    fresh = [a for a in articles if a.url not in known]
    return fresh, len(articles) - len(fresh)


def model_pool(settings: Settings, topics: Sequence[Topic]) -> ModelPool[Article, Extraction]:
    """The run's worker processes for extraction (`NEWSWATCH_NLP_PROCESSES`), not yet started."""
    return ModelPool(settings.nlp_processes, functools.partial(load_models, settings, tuple(topics)),
                     extract_chunk, describe=lambda article: article.url)


def store(
    extractions: Sequence[Extraction], settings: Settings, engine: Engine | None = None,
    topics: Sequence[Topic] | None = None, embedder: Embedder | None = None,
) -> list[StoreOutcome]:
    """Store a batch of tagged articles with their events, topic matches and alerts in one
    transaction.

    The extractions come from `extract` with their topic matches (`Extraction.topics`); this
    step only persists them and queues the alerts they raise.

    Fingerprints are computed before the dedup lock is taken; under it, each article is
    checked against what is stored, including the batch's earlier articles. `engine` is the
    run's; without one, the batch gets a one-off engine on `settings.database_url`. `embedder`
    is the run's meaning model (`make_embedder`), used only for articles whose events have
    merge candidates; None compares by the lexicon alone.
    """
    if not extractions:
        return []
    if topics is None:
        topics = read_topics(settings)
    context = _StoreContext(
        settings=settings, topic_channels=_topic_channels(topics),
        today=dt.datetime.now(dt.timezone.utc).date(), embedder=embedder,
    )
    prints = [fingerprint(extraction.article) for extraction in extractions]
    with open_session(engine or settings.database_url) as session, session.begin():
        # dedup: decide "copy of" and "restates" under the lock, then write (see lock_dedup)
        db_store.lock_dedup(session)
        return [_store_article(session, extraction, fp, context) for extraction, fp in zip(extractions, prints)]


@dataclass(frozen=True)
class _StoreContext:
    settings: Settings
    topic_channels: dict[str, tuple[str, ...]]
    today: dt.date
    embedder: Embedder | None = None

    def date_of(self, article: Article) -> dt.date:
        """The date its events are stored and compared under: its own, else today's."""
        return article.published or self.today


def _store_article(
    session: Any, extraction: Extraction, fp: ArticleFingerprint, context: _StoreContext
) -> StoreOutcome:
    article = extraction.article
    event_date = context.date_of(article)
    near = band_buckets_near(event_date, context.settings.near_duplicate_days)
    duplicates = find_duplicates(fp, db_store.list_duplicate_candidates(session, fp, near))
    original = duplicates[0].key if duplicates else None
    article_id, created = db_store.save_article(session, {
        "url": article.url,
        "canonical_url": fp.canonical_url,
        "title": article.title,
        "byline": article.byline,
        "source": article.source,
        "published": article.published,
        "text": article.text,
        "text_hash": fp.text_hash,
        "signature": fp.signature_bytes() or None,
        "shingle_count": fp.shingle_count,
        "duplicate_of_id": original,
    })
    if not created:
        return StoreOutcome(article.url, known=True)
    if original is None:
        db_store.save_bands(session, article_id, fp, band_bucket(event_date))
    db_store.save_actors(session, article_id, extraction.actors)
    new_events, merged = _save_events(session, extraction, article_id, event_date, original, context)
    alerts_raised = 0
    for event_id, event in new_events:
        event_matches = extraction.topics_of(event)
        db_store.save_topic_matches(session, event_id, event_matches)
        if original is None:  # a copy's events raise no alert: its original's did
            alerts_raised += _queue_alerts(session, event_id, event, event_matches, article, event_date, context)
    return StoreOutcome(article.url, duplicate=original is not None, events_new=len(new_events),
                        events_merged=merged, alerts_raised=alerts_raised)


def _save_events(
    session: Any, extraction: Extraction, article_id: int, event_date: dt.date,
    original: int | None, context: _StoreContext,
) -> tuple[list[tuple[int, Event]], int]:
    """Merge the article's events into stored ones they restate, store the rest and every
    mention; return the new (id, event) pairs and the number merged.

    With a meaning model, the events that have candidates are embedded (with the candidates
    stored without a vector, whose vectors are stored now): each vector is computed once."""
    events = extraction.events
    window = context.settings.event_window_days
    candidates = db_store.list_event_candidates(
        session, events, event_date, window_days=window, original_id=original
    )
    if original is not None:  # a copy adds no event: its events are the original's (or dropped)
        inherited = inherit_events(events, [c for c in candidates if c.event_date is None])
        events = tuple(event for event, known in zip(events, inherited) if known is not None)
        restated: list[int | None] = [known for known in inherited if known is not None]
        vectors: list[Any] = [None] * len(events)
    else:
        vectors = [None] * len(events)
        meaning = None
        if context.embedder is not None and candidates:
            found = embed_for_matching(context.embedder, events, event_date, candidates, window_days=window)
            db_store.save_event_vectors(session, found.computed)
            candidates, vectors, meaning = found.candidates, found.events, found.events
        restated = match_events(events, event_date, candidates, window_days=window, vectors=meaning)
    # a quote restating the lead's refusal is a second mention of one event, not a second event
    within = restatements(events) if original is None else [None] * len(events)
    fresh = [(event, vector) for event, vector, known, earlier in zip(events, vectors, restated, within)
             if known is None and earlier is None]
    saved = iter(db_store.save_events(
        session, [(e, event_key(e, event_date)) for e, _ in fresh], article_id=article_id,
        event_date=event_date, vectors=[None if v is None else to_bytes(v) for _, v in fresh],
    ))
    mentions: list[tuple[int, Event]] = []
    new_events: list[tuple[int, Event]] = []
    for event, known_id, earlier in zip(events, restated, within):
        if earlier is not None:
            event_id, is_new = mentions[earlier][0], False
        else:
            event_id, is_new = next(saved) if known_id is None else (known_id, False)
        mentions.append((event_id, event))
        if is_new:
            new_events.append((event_id, event))
    db_store.save_mentions(session, article_id, mentions)
    return new_events, len(events) - len(new_events)


def _queue_alerts(
    session: Any, event_id: int, event: Event, matches: Sequence[TopicMatch], article: Article,
    event_date: dt.date, context: _StoreContext,
) -> int:
    """Write an event's alerts to the outbox (delivered after the commit); return how many are new."""
    raised = 0
    for alert in build_alerts(
        event_id, event, matches, article, context.settings.notify_urls,
        event_date=event_date, topic_channels=context.topic_channels,
    ):
        raised += db_store.save_alert(
            session, event_id=alert.event_id, topic=alert.topic, channel=alert.channel,
            message=alert_message(alert), status="stored" if alert.channel == NO_CHANNEL else "pending",
        ) is not None
    return raised


def _topic_channels(topics: Sequence[Topic]) -> dict[str, tuple[str, ...]]:
    return {t.slug: t.channels for t in topics if t.channels}


def deliver(
    settings: Settings, engine: Engine | None = None, topics: Sequence[Topic] | None = None
) -> tuple[int, int]:
    """Deliver undelivered alerts (this run's and any a down channel left behind).

    Each call is claimed (its attempt counted) and its outcome recorded in one transaction per
    alert (or per digest), so a retry, a later run or a concurrent worker never sends a
    delivered alert again.
    Only channels configured now (NEWSWATCH_NOTIFY and topic `channels`) are tried. Returns
    (sent, failed) for this attempt. `engine` is the run's; without one, a one-off engine on
    `settings.database_url` serves the call.
    """
    channels = configured_channels(settings, topics)
    if not channels:
        return 0, 0
    if engine is None:
        with connect(settings.database_url) as own:
            return _deliver(settings, own, channels)
    return _deliver(settings, engine, channels)


def configured_channels(settings: Settings, topics: Sequence[Topic] | None = None) -> list[str]:
    """The channels alerts go to now: NEWSWATCH_NOTIFY and every topic's own `channels`."""
    channels = list(settings.notify_urls)
    for topic_channels in _topic_channels(read_topics(settings) if topics is None else topics).values():
        channels.extend(topic_channels)
    return list(dict.fromkeys(channels))


def deliver_ids(settings: Settings, engine: Engine, ids: Sequence[int]) -> tuple[int, int]:
    """Deliver the given queued alerts now (`newswatch alerts retry`); return (sent, failed)."""
    if not ids:
        return 0, 0
    return _deliver(settings, engine, configured_channels(settings), only=set(ids))


def _deliver(settings: Settings, engine: Engine, channels: list[str],
             only: set[int] | None = None) -> tuple[int, int]:
    with open_session(engine) as session:
        undelivered = outbox.list_undelivered_alerts(session, channels=channels)
    if only is not None:
        undelivered = [a for a in undelivered if a.id in only]
    sent = failed = 0
    for group in _delivery_groups(undelivered, settings.digest_threshold):
        # The claim, the call and its outcome share one transaction: the claim's row lock is
        # held while the message is in flight, so another worker's claim of the same alert
        # waits, then finds the attempt counted and skips it; a crash rolls the claim back and
        # the alert stays undelivered.
        with open_session(engine) as session, session.begin():
            claimed = [
                PendingAlert(alert.id, alert.channel, alert.message)
                for alert in group if outbox.claim_alert(session, alert.id, alert.attempts)
            ]
            for delivery in send_alerts(claimed, digest_threshold=settings.digest_threshold):
                if delivery.ok:
                    outbox.save_alert_sent(session, delivery.alert_id)
                else:
                    outbox.save_alert_failed(session, delivery.alert_id, delivery.error or "",
                                              max_attempts=settings.alert_max_attempts)
                sent += delivery.ok
                failed += not delivery.ok
    return sent, failed


def _delivery_groups(
    alerts: Sequence[outbox.AlertToDeliver], digest_threshold: int
) -> list[list[outbox.AlertToDeliver]]:
    """Split undelivered alerts into what goes out in one call: each alert on its own, or all
    of a busy channel's alerts together (they become one digest)."""
    by_channel: dict[str, list[outbox.AlertToDeliver]] = {}
    for alert in alerts:
        by_channel.setdefault(alert.channel, []).append(alert)
    groups: list[list[outbox.AlertToDeliver]] = []
    for channel_alerts in by_channel.values():
        if len(channel_alerts) > digest_threshold:
            groups.append(channel_alerts)
        else:
            groups.extend([alert] for alert in channel_alerts)
    return groups


def delivery_counts(engine: Engine, since: dt.datetime) -> tuple[int, int]:
    """Return (alerts delivered since `since`, alerts still waiting for a channel)."""
    with open_session(engine) as session:
        return outbox.count_delivery(session, since)


def alert_rows(engine: Engine, since: dt.datetime) -> list[dict[str, Any]]:
    """Return the alerts raised since `since` as rows for the run's artifact (channels redacted)."""
    from newswatch.pipeline.alerts import describe_channel, split_message

    with open_session(engine) as session:
        return [
            {"id": a.id, "event": a.event_id, "topic": a.topic,
             "channel": describe_channel(a.channel), "status": a.status,
             "attempts": a.attempts, "title": split_message(a.message)[0]}
            for a in outbox.list_alerts_since(session, since)
        ]
