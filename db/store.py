"""Writes of the store step: articles, actors, events, mentions, topics and alerts, and the
dedup lookups made under the dedup lock. Callers commit."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from db.models import (
    AlertRow,
    ArticleActorRow,
    ArticleBandRow,
    ArticleRow,
    DedupLockRow,
    EventRow,
    MentionRow,
    TopicMatchRow,
)
from db.upsert import dialect_of, insert_for, insert_ignoring
from pipeline.dedup import ArticleFingerprint, KnownEvent, actor_key
from pipeline.records import Actor, Event, EventType, TopicMatch

# --------------------------------------------------------------------------------------------
# Articles


def get_article_id(session: Session, url: str) -> int | None:
    """Return the id of the article ingested from `url`, if any."""
    return session.scalar(select(ArticleRow.id).where(ArticleRow.url == url))


def find_original(session: Session, text_hash: str, canonical_url: str, url: str) -> int | None:
    """Return the earliest other article with the same normalised text or canonical URL."""
    stmt = (
        select(ArticleRow.id)
        .where(
            or_(ArticleRow.text_hash == text_hash, ArticleRow.canonical_url == canonical_url),
            ArticleRow.url != url,
            ArticleRow.duplicate_of_id.is_(None),
        )
        .order_by(ArticleRow.id)
        .limit(1)
    )
    return session.scalar(stmt)


def save_article(session: Session, values: dict[str, Any]) -> tuple[int, bool]:
    """Insert an article unless its URL is stored; return (id, created)."""
    stmt = insert_ignoring(dialect_of(session), ArticleRow, ("url",), ArticleRow.id)
    new_id = session.connection().scalar(stmt, values)
    if new_id is not None:
        return new_id, True
    existing = get_article_id(session, values["url"])
    assert existing is not None
    return existing, False


def save_actors(session: Session, article_id: int, actors: Iterable[Actor]) -> None:
    """Record the actors named in an article (idempotent)."""
    rows = [
        {"article_id": article_id, "code": a.code, "name": a.name, "type": a.type}
        for a in {(a.name, a.type): a for a in actors}.values()
    ]
    if rows:
        # executemany of one cached statement: a multi-row VALUES is compiled anew each time
        stmt = insert_ignoring(dialect_of(session), ArticleActorRow, ("article_id", "name", "type"))
        session.connection().execute(stmt, rows)


# --------------------------------------------------------------------------------------------
# Events and mentions


def save_event(
    session: Session, event: Event, *, event_key: str, article_id: int, event_date: dt.date | None
) -> tuple[int, bool]:
    """Insert an event unless its key is stored; return (id, created)."""
    values = {
        "event_key": event_key,
        "type": event.type.value,
        "cameo": event.cameo,
        "source_code": event.source.code if event.source else None,
        "source_name": event.source.name if event.source else None,
        "target_code": event.target.code if event.target else None,
        "target_name": event.target.name if event.target else None,
        "content": event.content,
        "event_date": event_date,
        "article_id": article_id,
    }
    stmt = insert_ignoring(dialect_of(session), EventRow, ("event_key",), EventRow.id)
    new_id = session.connection().scalar(stmt, values)
    if new_id is not None:
        return new_id, True
    existing = session.scalar(select(EventRow.id).where(EventRow.event_key == event_key))
    assert existing is not None
    return existing, False


def save_mention(session: Session, event_id: int, article_id: int, event: Event) -> bool:
    """Record that an article reported an event; return whether the mention is new."""
    keys = ("event_id", "article_id", "start")
    stmt = insert_ignoring(dialect_of(session), MentionRow, keys, MentionRow.id)
    values = {
        "event_id": event_id,
        "article_id": article_id,
        "sentence": event.sentence,
        "content": event.content,
        "start": event.start,
        "end": event.end,
    }
    return session.connection().scalar(stmt, values) is not None


def save_topic_matches(session: Session, event_id: int, matches: Iterable[TopicMatch]) -> None:
    """Record an event's topics (idempotent)."""
    rows = [{"event_id": event_id, "topic": m.topic, "words": list(m.words)} for m in matches]
    if rows:
        # executemany of one cached statement: a multi-row VALUES is compiled anew each time
        stmt = insert_ignoring(dialect_of(session), TopicMatchRow, ("event_id", "topic"))
        session.connection().execute(stmt, rows)


def save_alert(
    session: Session, *, event_id: int, topic: str, channel: str, message: str, status: str
) -> int | None:
    """Add an alert to the outbox unless one exists; return its id when new."""
    now = dt.datetime.now(dt.timezone.utc)
    stmt = insert_ignoring(dialect_of(session), AlertRow, ("event_id", "topic", "channel"), AlertRow.id)
    values = {
        "event_id": event_id,
        "topic": topic,
        "channel": channel,
        "message": message,
        "status": status,
        "attempts": 0,
        "created_at": now,
        "sent_at": now if status == "sent" else None,
    }
    new_id: int | None = session.connection().scalar(stmt, values)
    return new_id


# --------------------------------------------------------------------------------------------
# Deduplication: the dedup lock, near-duplicate candidates by LSH band, event merge candidates


def lock_dedup(session: Session) -> None:
    """Take the dedup lock until the transaction ends; call it first in a store transaction.

    An upsert of one row in `dedup_locks`: PostgreSQL holds that row's lock, SQLite its write
    lock, until commit or rollback. It must be the transaction's first statement: a SQLite
    transaction that has read before it writes cannot wait for the lock, only fail.
    """
    stmt = insert_for(session, DedupLockRow).values(name="store", taken=1)
    session.execute(
        stmt.on_conflict_do_update(index_elements=["name"], set_={"taken": DedupLockRow.taken + 1})
    )


def _fingerprint_of(row: Any) -> ArticleFingerprint:
    return ArticleFingerprint(
        canonical_url=row.canonical_url,
        text_hash=row.text_hash,
        signature=ArticleFingerprint.unpack_signature(row.signature),
        shingle_count=row.shingle_count or 0,
    )


def list_duplicate_candidates(session: Session, fp: ArticleFingerprint) -> list[tuple[int, ArticleFingerprint]]:
    """Return stored articles that may be copies of `fp`'s article, as (original id, fingerprint).

    Candidates share the text hash, the canonical URL or an LSH band key: three index lookups,
    never a scan. A candidate that is itself a copy is reported under its original's id.
    """
    columns = (
        ArticleRow.id, ArticleRow.duplicate_of_id, ArticleRow.canonical_url, ArticleRow.text_hash,
        ArticleRow.signature, ArticleRow.shingle_count,
    )
    found: dict[int, Any] = {}
    for condition in (ArticleRow.text_hash == fp.text_hash, ArticleRow.canonical_url == fp.canonical_url):
        for row in session.execute(select(*columns).where(condition).order_by(ArticleRow.id).limit(20)):
            found.setdefault(row.id, row)
    if fp.bands:
        banded = select(ArticleBandRow.article_id).where(ArticleBandRow.band.in_(fp.bands)).distinct()
        for row in session.execute(select(*columns).where(ArticleRow.id.in_(banded))):
            found.setdefault(row.id, row)
    return [(row.duplicate_of_id or row.id, _fingerprint_of(row)) for row in found.values()]


def save_bands(session: Session, article_id: int, fp: ArticleFingerprint) -> None:
    """Index an original article's LSH band keys (idempotent)."""
    rows = [{"band": band, "article_id": article_id} for band in sorted(set(fp.bands))]
    if rows:
        # executemany of one cached statement: a multi-row VALUES is compiled anew each time
        stmt = insert_ignoring(dialect_of(session), ArticleBandRow, ("band", "article_id"))
        session.connection().execute(stmt, rows)


def list_event_candidates(
    session: Session,
    events: Iterable[Event],
    event_date: dt.date | None,
    *,
    window_days: int,
    original_id: int | None = None,
) -> list[KnownEvent]:
    """Return the stored events that `events` may restate, with their mention contents.

    Candidates have the type and source of one of `events` and a date within `window_days`
    of `event_date` (index `ix_events_type_source_code_event_date`), or were reported by the
    article `original_id` that the new article copies (those match whatever their date).
    """
    conditions = []
    for etype, code, name, target in sorted({
        (e.type.value, e.source.code if e.source else None, e.source.name if e.source else None,
         (e.target.code or "") if e.target else None)
        for e in events
    }, key=str):
        same_source = (
            EventRow.source_code == code if code
            else EventRow.source_code.is_(None) & (EventRow.source_name == name if name else EventRow.source_name.is_(None))
        )
        condition = (EventRow.type == etype) & same_source
        if target is not None:
            # a compatible target: the same, or none (match_events compares names exactly)
            condition = condition & (
                or_(EventRow.target_code == target, EventRow.target_code.is_(None)) if target
                else EventRow.target_code.is_(None)
            )
        if event_date is not None:
            condition = condition & EventRow.event_date.between(
                event_date - dt.timedelta(days=window_days), event_date + dt.timedelta(days=window_days)
            )
        conditions.append(condition)
    # plain column rows, not ORM entities, with the mentions' contents joined in: one query
    # (two for a copy) per stored article
    columns = (
        EventRow.id, EventRow.type, EventRow.source_code, EventRow.source_name, EventRow.target_code,
        EventRow.target_name, EventRow.content, EventRow.event_date, EventRow.article_id,
        MentionRow.content.label("mention_content"),
    )
    joined = select(*columns).outerjoin(MentionRow, MentionRow.event_id == EventRow.id)
    rows: dict[int, tuple[Any, bool]] = {}
    contents: dict[int, list[str]] = defaultdict(list)
    queries: list[tuple[Any, bool]] = []
    if conditions:
        queries.append((joined.where(or_(*conditions)), False))
    if original_id is not None:
        copied = select(MentionRow.event_id).where(MentionRow.article_id == original_id)
        queries.append((joined.where(EventRow.id.in_(copied)), True))
    for stmt, from_original in queries:
        for row in session.execute(stmt.order_by(EventRow.id, MentionRow.id)):
            if from_original or row.id not in rows:
                rows[row.id] = (row, from_original)
            if row.mention_content is not None and row.mention_content not in contents[row.id]:
                contents[row.id].append(row.mention_content)
    return [
        KnownEvent(
            key=row.id,
            type=EventType(row.type),
            source=actor_key(row.source_code, row.source_name),
            target=actor_key(row.target_code, row.target_name),
            contents=tuple(dict.fromkeys([row.content, *contents[row.id]])),
            event_date=None if copied_from_original else row.event_date,
            article=row.article_id,
        )
        for row, copied_from_original in rows.values()
    ]

