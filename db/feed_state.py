"""Feed state: conditional-GET validators, health and backoff, and the entries already ingested.

The `save_*`, `get_*` and `list_*` functions take an open session and never commit. The three
at the end (`register_feed`, `lookup_seen_entries`, `record_poll`) are what a feed poll does
with the database: each takes the run's engine and is one short transaction of its own.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine, func, or_, select, update
from sqlalchemy.orm import Session

from newswatch.db.models import FeedEntryRow, FeedRow
from newswatch.db.session import open_session
from newswatch.db.upsert import insert_for
from newswatch.pipeline.feeds import FeedPoll, backoff_until


@dataclass(frozen=True)
class FeedState:
    """What is known about a polled feed (a `FeedRow` as a plain value)."""

    id: int
    url: str
    title: str | None
    etag: str | None
    last_modified: str | None
    last_polled: dt.datetime | None
    last_status: str | None
    consecutive_errors: int
    next_poll_after: dt.datetime | None


def _feed_state(row: FeedRow) -> FeedState:
    return FeedState(
        id=row.id, url=row.url, title=row.title, etag=row.etag, last_modified=row.last_modified,
        last_polled=row.last_polled, last_status=row.last_status,
        consecutive_errors=row.consecutive_errors or 0, next_poll_after=row.next_poll_after,
    )


def save_feed(session: Session, url: str) -> FeedState:
    """Register a feed unless known (safe when two polls race) and return its state."""
    session.execute(
        insert_for(session, FeedRow)
        .values(url=url, consecutive_errors=0)
        .on_conflict_do_nothing(index_elements=["url"])
    )
    row = session.scalars(select(FeedRow).where(FeedRow.url == url)).one()
    session.refresh(row)
    return _feed_state(row)


def get_feed(session: Session, url: str) -> FeedState | None:
    """Return the state of the feed at `url`, if it was ever polled."""
    row = session.scalars(select(FeedRow).where(FeedRow.url == url)).one_or_none()
    return _feed_state(row) if row else None


def list_feeds(session: Session) -> list[FeedState]:
    """Return every known feed, by URL."""
    return [_feed_state(r) for r in session.scalars(select(FeedRow).order_by(FeedRow.url))]


def list_seen_entries(
    session: Session, feed_id: int, entry_keys: Iterable[str], link_keys: Iterable[str]
) -> tuple[set[str], set[str]]:
    """Return which of the given entry keys and link keys this feed already ingested."""
    seen_entries: set[str] = set()
    seen_links: set[str] = set()
    entries, links = list(entry_keys), list(link_keys)
    for start in range(0, max(len(entries), len(links)), 500):
        chunk_e, chunk_l = entries[start:start + 500], links[start:start + 500]
        stmt = select(FeedEntryRow.entry_key, FeedEntryRow.link_key).where(
            FeedEntryRow.feed_id == feed_id,
            or_(FeedEntryRow.entry_key.in_(chunk_e), FeedEntryRow.link_key.in_(chunk_l)),
        )
        for entry_key, link_key in session.execute(stmt):
            seen_entries.add(entry_key)
            if link_key:
                seen_links.add(link_key)
    return seen_entries, seen_links


def save_seen_entries(session: Session, feed_id: int, entries: Iterable[dict[str, Any]]) -> None:
    """Remember ingested entries (`entry_key`, `link_key`, `entry_id`, `link`, `article_url`).

    Idempotent: an entry another poll already recorded is left as it is.
    """
    rows = [{"feed_id": feed_id, **e} for e in {e["entry_key"]: e for e in entries}.values()]
    for start in range(0, len(rows), 500):
        session.execute(
            insert_for(session, FeedEntryRow)
            .values(rows[start:start + 500])
            .on_conflict_do_nothing(index_elements=["feed_id", "entry_key"])
        )


def save_feed_success(
    session: Session,
    feed_id: int,
    *,
    polled_at: dt.datetime,
    status: str,
    title: str | None,
    etag: str | None,
    last_modified: str | None,
) -> None:
    """Record a successful poll: new validators for the next conditional GET, errors reset."""
    values: dict[str, Any] = {
        "last_polled": polled_at, "last_status": status, "consecutive_errors": 0,
        "next_poll_after": None, "etag": etag, "last_modified": last_modified,
    }
    if title:
        values["title"] = title
    session.execute(update(FeedRow).where(FeedRow.id == feed_id).values(**values))


def save_feed_error(
    session: Session, feed_id: int, *, polled_at: dt.datetime, status: str
) -> int:
    """Record a failed poll and return how many polls in a row have now failed."""
    session.execute(
        update(FeedRow)
        .where(FeedRow.id == feed_id)
        .values(last_polled=polled_at, last_status=status,
                consecutive_errors=func.coalesce(FeedRow.consecutive_errors, 0) + 1)
    )
    return int(session.scalar(select(FeedRow.consecutive_errors).where(FeedRow.id == feed_id)) or 0)


def save_feed_backoff(session: Session, feed_id: int, until: dt.datetime | None) -> None:
    """Hold scheduled polls of a failing feed until `until` (None: poll on schedule)."""
    session.execute(update(FeedRow).where(FeedRow.id == feed_id).values(next_poll_after=until))


# --------------------------------------------------------------------------------------------
# One poll's transactions (each takes the run's engine)


def register_feed(engine: Engine, url: str) -> FeedState:
    """Register the feed at `url` unless known, commit, and return its state."""
    with open_session(engine) as session, session.begin():
        return save_feed(session, url)


def lookup_seen_entries(
    engine: Engine, feed_id: int, entry_keys: Iterable[str], link_keys: Iterable[str]
) -> tuple[set[str], set[str]]:
    """Return which of the entry keys and link keys this feed already ingested (a read)."""
    with open_session(engine) as session:
        return list_seen_entries(session, feed_id, entry_keys, link_keys)


def record_poll(engine: Engine, poll: FeedPoll, *, backoff_seconds: int) -> None:
    """Record a poll once its articles are stored: validators, seen entries, health, backoff."""
    with open_session(engine) as session, session.begin():
        if poll.ok:
            save_seen_entries(session, poll.feed_id, poll.entries)
            save_feed_success(
                session, poll.feed_id, polled_at=poll.polled_at, status=poll.status,
                title=poll.title, etag=poll.etag, last_modified=poll.last_modified,
            )
        else:
            errors = save_feed_error(session, poll.feed_id, polled_at=poll.polled_at, status=poll.status)
            save_feed_backoff(session, poll.feed_id, backoff_until(poll.polled_at, errors, backoff_seconds))
