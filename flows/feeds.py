"""Feed polling for the ingest flow: fetch what changed, skip entries already ingested.

A poll is recorded (validators, seen entries, health) only after its articles are stored, by
`save_feed_polls`: a run that dies in between polls the same entries again next time instead of
losing them behind a 304. Two polls of one feed at once are safe: every write is an idempotent
upsert and articles are unique by URL.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
from collections.abc import Sequence
from typing import Any

import httpx
from prefect import flow, get_run_logger, task
from prefect.cache_policies import NO_CACHE
from prefect.exceptions import MissingContextError

from newswatch.db import feed_state
from newswatch.db.session import open_session
from newswatch.pipeline.errors import FetchError, SourceError
from newswatch.pipeline.records import Article, FeedEntry, FeedFetch
from newswatch.pipeline.settings import Settings, get_settings
from newswatch.pipeline.sources import (
    entry_key,
    feed_backoff,
    fetch_feed,
    fetch_full_text,
    make_client,
    parse_feed,
)


@dataclasses.dataclass(frozen=True)
class FeedPoll:
    """One feed's poll, to be recorded once its articles are stored."""

    url: str
    feed_id: int
    polled_at: dt.datetime
    ok: bool
    status: str
    title: str | None = None
    etag: str | None = None
    last_modified: str | None = None
    entries: tuple[dict[str, Any], ...] = ()


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


def _new_entries(
    feed_id: int, entries: Sequence[FeedEntry], settings: Settings
) -> list[FeedEntry]:
    """Drop entries this feed already delivered (same id or same link), before any NLP."""
    keys = [entry_key(e.entry_id) for e in entries]
    links = [entry_key(e.link) for e in entries if e.link]
    with open_session(settings.database_url) as session:
        seen_ids, seen_links = feed_state.list_seen_entries(session, feed_id, keys, links)
    fresh: list[FeedEntry] = []
    batch_keys: set[str] = set()
    for entry, key in zip(entries, keys):
        link_key = entry_key(entry.link) if entry.link else None
        if key in seen_ids or key in batch_keys or (link_key and link_key in seen_links):
            continue
        batch_keys.add(key)
        fresh.append(entry)
    return fresh


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
    url: str, settings: Settings, *, published: dt.date | None = None, source: str | None = None
) -> tuple[FeedPoll | None, list[Article], list[str]]:
    """Poll one feed: (poll to record, articles of new entries, failure messages).

    Returns no poll when a scheduled run skips a feed that is backing off.
    """
    logger = _logger()
    now = dt.datetime.now(dt.timezone.utc)
    with open_session(settings.database_url) as session, session.begin():
        state = feed_state.save_feed(session, url)
    if state.next_poll_after and _aware(state.next_poll_after) > now and _in_deployment():
        logger.info("%s: backing off after %d failed polls, next poll after %s",
                    url, state.consecutive_errors, state.next_poll_after.isoformat())
        return None, [], []
    try:
        fetched = fetch_feed_task(url, state.etag, state.last_modified, settings)
        if fetched.not_modified:
            logger.info("%s: not modified since the last poll", url)
            return (FeedPoll(url, state.id, now, True, "304 not modified", state.title,
                             fetched.etag, fetched.last_modified), [], [])
        assert fetched.content is not None
        parsed = parse_feed(fetched.content, url, source=source)
    except SourceError as exc:
        logger.error("%s", exc)
        return FeedPoll(url, state.id, now, False, str(exc)), [], [str(exc)]

    if parsed.error:
        logger.warning("%s: malformed feed, keeping the %d entries that parsed (%s)",
                       url, len(parsed.entries), parsed.error)
    fresh = _with_full_text(_new_entries(state.id, parsed.entries, settings), settings, logger)
    articles = [
        dataclasses.replace(e.article, published=e.article.published or published) for e in fresh
    ]
    logger.info("%s: %d entries, %d new", url, len(parsed.entries), len(fresh))
    status = f"{fetched.status} ok, {len(parsed.entries)} entries, {len(fresh)} new"
    if parsed.error:
        status += f"; malformed: {parsed.error}"
    seen = tuple(
        {"entry_key": entry_key(e.entry_id), "link_key": entry_key(e.link) if e.link else None,
         "entry_id": e.entry_id, "link": e.link, "article_url": e.article.url}
        for e in fresh
    )
    poll = FeedPoll(url, state.id, now, True, status, parsed.title, fetched.etag,
                    fetched.last_modified, seen)
    return poll, articles, list(parsed.failures)


@flow(name="newswatch-poll-feeds", log_prints=True)
def poll_all_feeds(feeds: list[str] | None = None) -> Any:
    """Poll feeds and ingest their new entries: the flow `newswatch serve` schedules.

    `feeds` defaults to NEWSWATCH_FEEDS as read by the process running the flow (a worker's
    environment, under a work pool). Returns the ingest summary.
    """
    from newswatch.flows.ingest import ingest

    urls = list(feeds or get_settings().feed_urls)
    if not urls:
        _logger().warning("no feeds to poll: give --feed URL to serve or set NEWSWATCH_FEEDS")
        return None
    return ingest(inputs=[], feeds=urls)


def _aware(value: dt.datetime) -> dt.datetime:
    """SQLite hands back naive datetimes; they were stored in UTC."""
    return value if value.tzinfo else value.replace(tzinfo=dt.timezone.utc)


def poll_feeds(
    feeds: Sequence[str],
    settings: Settings,
    *,
    published: dt.date | None = None,
    source: str | None = None,
) -> tuple[list[Article], list[str], list[FeedPoll]]:
    """Poll each feed in turn; a failing feed is reported and the others go on."""
    articles: list[Article] = []
    failures: list[str] = []
    polls: list[FeedPoll] = []
    for url in dict.fromkeys(feeds):
        poll, found, failed = poll_feed(url, settings, published=published, source=source)
        articles.extend(found)
        failures.extend(failed)
        if poll is not None:
            polls.append(poll)
    return articles, failures, polls


def save_feed_polls(polls: Sequence[FeedPoll], settings: Settings) -> None:
    """Record polls once their articles are stored: validators, seen entries, health, backoff."""
    for poll in polls:
        with open_session(settings.database_url) as session, session.begin():
            if poll.ok:
                feed_state.save_seen_entries(session, poll.feed_id, poll.entries)
                feed_state.save_feed_success(
                    session, poll.feed_id, polled_at=poll.polled_at, status=poll.status,
                    title=poll.title, etag=poll.etag, last_modified=poll.last_modified,
                )
            else:
                errors = feed_state.save_feed_error(session, poll.feed_id, polled_at=poll.polled_at,
                                                 status=poll.status)
                delay = feed_backoff(errors, settings.feed_backoff_seconds)
                feed_state.save_feed_backoff(session, poll.feed_id, poll.polled_at + delay if delay else None)
