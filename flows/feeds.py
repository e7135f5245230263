"""Feed polling for the ingest flow: fetch what changed, keep the entries not yet ingested.

A poll is recorded (validators, seen entries, health) only after its articles are stored, by
`save_feed_polls`: a run that dies in between polls the same entries again next time instead of
losing them behind a 304. Two polls of one feed at once are safe: every write is an idempotent
upsert and articles are unique by URL. Which entries are new, how they are dated and when a
feed waits are decided in `pipeline/feeds.py`; the database work is `db/feed_state.py`'s.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Sequence
from typing import Any

import httpx
from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE
from prefect.exceptions import MissingContextError
from sqlalchemy import Engine

from newswatch.db import feed_state
from newswatch.pipeline.errors import FetchError, SourceError
from newswatch.pipeline.feeds import (
    FeedPoll,
    date_articles,
    is_backing_off,
    lookup_keys,
    poll_status,
    seen_entry_rows,
    select_new_entries,
)
from newswatch.pipeline.records import Article, FeedEntry, FeedFetch
from newswatch.pipeline.settings import Settings
from newswatch.pipeline.sources import fetch_feed, fetch_full_text, make_client, parse_feed


def _logger() -> Any:
    try:
        return get_run_logger()
    except MissingContextError:
        return logging.getLogger("newswatch.feeds")


def _transient(_task: Any, _run: Any, state: Any) -> bool:
    """Retry a fetch only when the network failed (timeout, refused), not on 4xx or a bad feed."""
    try:
        state.result()
    except FetchError as exc:
        return isinstance(exc.__cause__, httpx.TransportError)
    except Exception:
        return False
    return False


@task(retries=1, retry_delay_seconds=2, retry_condition_fn=_transient, cache_policy=NO_CACHE)
def fetch_feed_task(url: str, etag: str | None, last_modified: str | None, settings: Settings) -> FeedFetch:
    """Conditional GET of one feed within the configured limits."""
    with make_client(timeout=settings.fetch_timeout, max_redirects=settings.fetch_max_redirects) as client:
        return fetch_feed(client, url, etag, last_modified, max_bytes=settings.fetch_max_bytes)


def _in_deployment() -> bool:
    from prefect.runtime import deployment

    return bool(deployment.id)


def _with_full_text(entries: list[FeedEntry], settings: Settings, logger: Any) -> list[FeedEntry]:
    if not settings.feed_full_text:
        return entries
    out: list[FeedEntry] = []
    with make_client(timeout=settings.fetch_timeout, max_redirects=settings.fetch_max_redirects) as client:
        for entry in entries:
            try:
                out.append(fetch_full_text(client, entry, allow_private=settings.fetch_allow_private,
                                           max_bytes=settings.fetch_max_bytes))
            except SourceError as exc:
                logger.warning("full text not fetched, keeping the feed summary: %s", exc)
                out.append(entry)
    return out


def poll_feed(
    url: str, settings: Settings, engine: Engine, *, published: dt.date | None = None,
    source: str | None = None,
) -> tuple[FeedPoll | None, list[Article], list[str]]:
    """Poll one feed: (poll to record, articles of new entries, failure messages).

    Returns no poll when a scheduled run skips a feed that is backing off.
    """
    logger = _logger()
    now = dt.datetime.now(dt.timezone.utc)
    state = feed_state.register_feed(engine, url)
    if is_backing_off(state.next_poll_after, now, scheduled=_in_deployment()):
        logger.info("%s: backing off after %d failed polls, next poll after %s",
                    url, state.consecutive_errors, state.next_poll_after)
        return None, [], []
    try:
        fetched = fetch_feed_task(url, state.etag, state.last_modified, settings)
        if fetched.not_modified:
            logger.info("%s: not modified since the last poll", url)
            return (FeedPoll(url, state.id, now, True, "304 not modified", state.title,
                             fetched.etag, fetched.last_modified), [], [])
        assert fetched.content is not None
        parsed = parse_feed(fetched.content, url, source=source, content_type=fetched.content_type)
    except SourceError as exc:  # returned as a failure, which the ingest flow logs once
        return FeedPoll(url, state.id, now, False, str(exc)), [], [str(exc)]

    if parsed.error:
        logger.warning("%s: malformed feed, keeping the %d entries that parsed (%s)",
                       url, len(parsed.entries), parsed.error)
    seen_ids, seen_links = feed_state.lookup_seen_entries(engine, state.id, *lookup_keys(parsed.entries))
    fresh = _with_full_text(select_new_entries(parsed.entries, seen_ids, seen_links), settings, logger)
    logger.info("%s: %d entries, %d new", url, len(parsed.entries), len(fresh))
    for note in parsed.skipped:
        logger.info("%s", note)
    poll = FeedPoll(url, state.id, now, True,
                    poll_status(fetched.status, len(parsed.entries), len(fresh), parsed.error),
                    parsed.title, fetched.etag, fetched.last_modified, seen_entry_rows(fresh))
    return poll, date_articles(fresh, published), list(parsed.failures)


def poll_feeds(
    feeds: Sequence[str],
    settings: Settings,
    engine: Engine,
    *,
    published: dt.date | None = None,
    source: str | None = None,
) -> tuple[list[Article], list[str], list[FeedPoll]]:
    """Poll each feed in turn; a failing feed is reported and the others go on."""
    articles: list[Article] = []
    failures: list[str] = []
    polls: list[FeedPoll] = []
    for url in dict.fromkeys(feeds):
        poll, found, failed = poll_feed(url, settings, engine, published=published, source=source)
        articles.extend(found)
        failures.extend(failed)
        if poll is not None:
            polls.append(poll)
    return articles, failures, polls


def save_feed_polls(polls: Sequence[FeedPoll], settings: Settings, engine: Engine) -> None:
    """Record polls once their articles are stored: validators, seen entries, health, backoff."""
    for poll in polls:
        feed_state.record_poll(engine, poll, backoff_seconds=settings.feed_backoff_seconds)
