"""Feed-entry decisions: which entries are new, how their articles are dated, when a feed waits.

Plain functions over values: the entries a feed served, the keys already known (looked up by
`db.feed_state`), the clock. `flows/feeds.py` wires them between the fetch and the store.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Iterable, Sequence
from typing import Any

from newswatch.pipeline.records import Article, FeedEntry
from newswatch.pipeline.sources import entry_key, feed_backoff


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


def lookup_keys(entries: Iterable[FeedEntry]) -> tuple[list[str], list[str]]:
    """Return the keys to look up for `entries`: one per entry id, one per entry link."""
    entries = list(entries)
    return [entry_key(e.entry_id) for e in entries], [entry_key(e.link) for e in entries if e.link]


def select_new_entries(
    entries: Sequence[FeedEntry], seen_ids: set[str], seen_links: set[str]
) -> list[FeedEntry]:
    """Drop entries the feed already delivered (same id or same link) and repeats within `entries`.

    `seen_ids` and `seen_links` are the `entry_key`s of what earlier polls ingested.
    """
    fresh: list[FeedEntry] = []
    batch_keys: set[str] = set()
    for entry in entries:
        key = entry_key(entry.entry_id)
        link_key = entry_key(entry.link) if entry.link else None
        if key in seen_ids or key in batch_keys or (link_key and link_key in seen_links):
            continue
        batch_keys.add(key)
        fresh.append(entry)
    return fresh


def date_articles(entries: Iterable[FeedEntry], published: dt.date | None) -> list[Article]:
    """Return the entries' articles; one the feed left undated gets `published` (may be None)."""
    return [dataclasses.replace(e.article, published=e.article.published or published) for e in entries]


def seen_entry_rows(entries: Iterable[FeedEntry]) -> tuple[dict[str, Any], ...]:
    """Return what to remember of ingested entries (keys, id, link, article URL), one dict each."""
    return tuple(
        {"entry_key": entry_key(e.entry_id), "link_key": entry_key(e.link) if e.link else None,
         "entry_id": e.entry_id, "link": e.link, "article_url": e.article.url}
        for e in entries
    )


def as_utc(value: dt.datetime) -> dt.datetime:
    """Return `value` with a time zone: SQLite hands back naive datetimes, stored in UTC."""
    return value if value.tzinfo else value.replace(tzinfo=dt.timezone.utc)


def is_backing_off(next_poll_after: dt.datetime | None, now: dt.datetime, *, scheduled: bool) -> bool:
    """Tell whether a poll skips a failing feed: only a scheduled one, and only until its time.

    A poll by hand (`newswatch ingest --feed`) never waits.
    """
    return scheduled and next_poll_after is not None and as_utc(next_poll_after) > now


def backoff_until(polled_at: dt.datetime, consecutive_errors: int, base_seconds: int) -> dt.datetime | None:
    """Return until when scheduled polls skip a feed after a failed poll (None: poll on schedule)."""
    delay = feed_backoff(consecutive_errors, base_seconds)
    return polled_at + delay if delay else None


def poll_status(http_status: int, entries: int, new: int, error: str | None) -> str:
    """Return the status line recorded for a successful poll."""
    status = f"{http_status} ok, {entries} entries, {new} new"
    return f"{status}; malformed: {error}" if error else status
