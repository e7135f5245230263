"""Writes of the store step: articles, actors, events, mentions, topics and alerts, and the
dedup lookups made under the dedup lock. Callers commit."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable, Sequence
from functools import cache
from typing import Any

from sqlalchemy import bindparam, func, or_, select, union, update
from sqlalchemy.orm import Session

from newswatch.db.models import (
    AlertRow,
    ArticleActorRow,
    ArticleBandRow,
    ArticleRow,
    DedupLockRow,
    EventRow,
    MentionRow,
    TopicMatchRow,
)
from newswatch.db.upsert import dialect_of, insert_function, insert_ignoring
from newswatch.pipeline.dedup import ArticleFingerprint, KnownEvent, actor_key
from newswatch.pipeline.records import MAX_NAME_CHARS, Actor, Event, EventType, TopicMatch

# --------------------------------------------------------------------------------------------
# Articles


def get_article_id(session: Session, url: str) -> int | None:
    """Return the id of the article ingested from `url`, if any."""
    return session.scalar(select(ArticleRow.id).where(ArticleRow.url == url))


def list_known_urls(session: Session, urls: Iterable[str]) -> set[str]:
    """Return which of `urls` are stored already (one query, in chunks for long lists)."""
    wanted = sorted(set(urls))
    known: set[str] = set()
    for i in range(0, len(wanted), 500):
        known.update(session.scalars(_known_urls_stmt(), {"urls": wanted[i : i + 500]}))
    return known


@cache
def _known_urls_stmt() -> Any:
    return select(ArticleRow.url).where(ArticleRow.url.in_(bindparam("urls", expanding=True)))


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
        {"article_id": article_id, "code": a.code, "name": a.name[:MAX_NAME_CHARS], "type": a.type}
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
    return save_events(session, [(event, event_key)], article_id=article_id, event_date=event_date)[0]


def save_events(
    session: Session,
    events: Sequence[tuple[Event, str]],
    *,
    article_id: int,
    event_date: dt.date | None,
    vectors: Sequence[bytes | None] | None = None,
) -> list[tuple[int, bool]]:
    """Insert an article's events (with their keys) unless stored; return (id, created) per event.

    One INSERT for all of them. Of two events with one key, the first is created and the
    second is the same event. `vectors` are the events' content vectors (`embed.to_bytes`),
    one per event, where they were computed.
    """
    if not events:
        return []
    stored_vectors = list(vectors) if vectors is not None else [None] * len(events)
    rows = [
        {
            "event_key": key,
            "type": event.type.value,
            "cameo": event.cameo,
            "source_code": event.source.code if event.source else None,
            "source_name": event.source.name[:MAX_NAME_CHARS] if event.source else None,
            "target_code": event.target.code if event.target else None,
            "target_name": event.target.name[:MAX_NAME_CHARS] if event.target else None,
            "content": event.content,
            "event_date": event_date,
            "article_id": article_id,
            "content_vector": vector,
        }
        for (event, key), vector in zip(events, stored_vectors, strict=True)
    ]
    stmt = insert_ignoring(dialect_of(session), EventRow, ("event_key",), (EventRow.id, EventRow.event_key))
    created = {key: event_id for event_id, key in session.connection().execute(stmt, rows)}
    keys = [key for _, key in events]
    stored = dict(created)
    if missing := set(keys) - set(created):
        stored.update(
            (key, event_id) for event_id, key in session.connection().execute(
                _event_ids_stmt(), {"keys": sorted(missing)}
            )
        )
    result = []
    for key in keys:
        result.append((stored[key], key in created))
        created.pop(key, None)  # a second event with this key is not new
    return result


def save_event_vectors(session: Session, vectors: dict[int, bytes]) -> None:
    """Store the content vectors of events stored without one (computed at their first comparison)."""
    if vectors:
        session.connection().execute(
            _event_vector_stmt(), [{"event_id": key, "vector": value} for key, value in sorted(vectors.items())]
        )


@cache
def _event_vector_stmt() -> Any:
    return update(EventRow).where(EventRow.id == bindparam("event_id")).values(content_vector=bindparam("vector"))


@cache
def _event_ids_stmt() -> Any:
    return select(EventRow.id, EventRow.event_key).where(EventRow.event_key.in_(bindparam("keys", expanding=True)))


_MENTION_KEY = ("event_id", "article_id", "start")  # one mention per article and sentence


def _mention_row(event_id: int, article_id: int, event: Event) -> dict[str, Any]:
    return {
        "event_id": event_id,
        "article_id": article_id,
        "sentence": event.sentence,
        "content": event.content,
        "start": event.start,
        "end": event.end,
    }


def save_mention(session: Session, event_id: int, article_id: int, event: Event) -> bool:
    """Record that an article reported an event; return whether the mention is new."""
    stmt = insert_ignoring(dialect_of(session), MentionRow, _MENTION_KEY, MentionRow.id)
    return session.connection().scalar(stmt, _mention_row(event_id, article_id, event)) is not None


def save_mentions(session: Session, article_id: int, mentions: Iterable[tuple[int, Event]]) -> None:
    """Record that an article reported these (event id, event) pairs (idempotent)."""
    rows = [_mention_row(event_id, article_id, event) for event_id, event in mentions]
    if rows:
        # executemany of one cached statement: a multi-row VALUES is compiled anew each time
        stmt = insert_ignoring(dialect_of(session), MentionRow, _MENTION_KEY)
        session.connection().execute(stmt, rows)


def save_topic_matches(session: Session, event_id: int, matches: Iterable[TopicMatch]) -> None:
    """Record an event's topics (idempotent)."""
    rows = [{"event_id": event_id, "topic": m.topic, "words": list(m.words), "example": m.example or None,
             "score": m.score} for m in matches]
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
        "sent_at": None,
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
    session.connection().execute(_lock_stmt(dialect_of(session)))


@cache
def _lock_stmt(dialect: str) -> Any:
    stmt = insert_function(dialect)(DedupLockRow).values(name="store", taken=1)
    return stmt.on_conflict_do_update(index_elements=["name"], set_={"taken": DedupLockRow.taken + 1})


def _fingerprint_of(row: Any) -> ArticleFingerprint:
    return ArticleFingerprint(
        canonical_url=row.canonical_url,
        text_hash=row.text_hash,
        signature=ArticleFingerprint.unpack_signature(row.signature),
        shingle_count=row.shingle_count or 0,
    )


@cache
def _duplicate_candidates_stmt() -> Any:
    """Articles sharing the text hash, the canonical URL or an LSH band key, built once."""
    columns = (
        ArticleRow.id, ArticleRow.duplicate_of_id, ArticleRow.canonical_url, ArticleRow.text_hash,
        ArticleRow.signature, ArticleRow.shingle_count,
    )
    same_hash = select(ArticleRow.id).where(ArticleRow.text_hash == bindparam("text_hash")) \
        .order_by(ArticleRow.id).limit(20)
    same_url = select(ArticleRow.id).where(ArticleRow.canonical_url == bindparam("canonical_url")) \
        .order_by(ArticleRow.id).limit(20)
    banded = select(ArticleBandRow.article_id).where(
        ArticleBandRow.bucket.in_(bindparam("buckets", expanding=True)),
        ArticleBandRow.band.in_(bindparam("bands", expanding=True)),
    )
    ids = union(same_hash.subquery().select(), same_url.subquery().select(), banded)
    return select(*columns).where(ArticleRow.id.in_(ids)).order_by(ArticleRow.id)


def list_duplicate_candidates(
    session: Session, fp: ArticleFingerprint, buckets: Sequence[int]
) -> list[tuple[int, ArticleFingerprint]]:
    """Return stored articles that may be copies of `fp`'s article, as (original id, fingerprint).

    Candidates share the text hash or the canonical URL (whatever their date), or an LSH band key
    under one of `buckets` (`pipeline.dedup.band_buckets_near`): index lookups in one statement,
    never a scan. A candidate that is itself a copy is reported under its original's id.
    """
    rows = session.connection().execute(
        _duplicate_candidates_stmt(),
        {"text_hash": fp.text_hash, "canonical_url": fp.canonical_url, "bands": list(fp.bands),
         "buckets": list(buckets)},
    )
    return [(row.duplicate_of_id or row.id, _fingerprint_of(row)) for row in rows]


def save_bands(session: Session, article_id: int, fp: ArticleFingerprint, bucket: int) -> None:
    """Index an original article's LSH band keys under its `bucket` (`pipeline.dedup.band_bucket`; idempotent)."""
    rows = [{"bucket": bucket, "band": band, "article_id": article_id} for band in sorted(set(fp.bands))]
    if rows:
        # executemany of one cached statement: a multi-row VALUES is compiled anew each time
        stmt = insert_ignoring(dialect_of(session), ArticleBandRow, ("bucket", "band", "article_id"))
        session.connection().execute(stmt, rows)


@cache
def _candidates_stmt(source: str, dated: bool, target: str = "any") -> Any:
    """The candidate query for one (type, source) of an article's events, built once.

    `source` is "code" (a coded source), "name" (a source known by name only), "none" or
    "original" (the events of the article a copy copies); `target` is "any", "coded" (the
    same target code, or none) or "uncoded" (no target code). Run once per pair with the values
    as parameters: equality on the type and source and a range on the date is what the index
    `ix_events_type_source_code_event_date` serves, on SQLite as on PostgreSQL. Plain column
    rows, not ORM entities; the mentions' contents come from `_mention_contents_stmt`.
    """
    # whether a mention says it in other words: only those events' contents are read apart
    reworded = (select(MentionRow.id)
                .where(MentionRow.event_id == EventRow.id, MentionRow.content != EventRow.content)
                .exists().label("reworded"))
    columns = (
        EventRow.id, EventRow.type, EventRow.source_code, EventRow.source_name, EventRow.target_code,
        EventRow.target_name, EventRow.content, EventRow.event_date, EventRow.article_id,
        EventRow.content_vector, reworded,
    )
    stmt = select(*columns)
    if source == "original":
        copied = select(MentionRow.event_id).where(MentionRow.article_id == bindparam("original"))
        return stmt.where(EventRow.id.in_(copied)).order_by(EventRow.id)
    stmt = stmt.where(EventRow.type == bindparam("type"))
    if source == "code":
        stmt = stmt.where(EventRow.source_code == bindparam("source"))
    elif source == "name":
        stmt = stmt.where(EventRow.source_code.is_(None), EventRow.source_name == bindparam("source"))
    else:
        stmt = stmt.where(EventRow.source_code.is_(None), EventRow.source_name.is_(None))
    if target == "coded":
        stmt = stmt.where(or_(EventRow.target_code == bindparam("target"), EventRow.target_code.is_(None)))
    elif target == "uncoded":
        stmt = stmt.where(EventRow.target_code.is_(None))
    if dated:
        stmt = stmt.where(EventRow.event_date.between(bindparam("first"), bindparam("last")))
    return stmt.order_by(EventRow.id)


@cache
def _mention_contents_stmt() -> Any:
    """The distinct mention contents of some events, each in the order it was first stored.

    Read apart from the candidate rows, and only for the candidates a mention rewords: joined
    to them, each candidate's columns (its vector too) would come back once per mention, and
    copies repeat a mention's content.
    """
    first = func.min(MentionRow.id)
    return (select(MentionRow.event_id, MentionRow.content)
            .where(MentionRow.event_id.in_(bindparam("ids", expanding=True)))
            .group_by(MentionRow.event_id, MentionRow.content)
            .order_by(MentionRow.event_id, first))


#: Event ids per `_mention_contents_stmt` query (bound parameters: SQLite's limit is 32,766).
_IDS_PER_QUERY = 500


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
    of `event_date`, or were reported by the article `original_id` that the new article copies
    (those match whatever their date). `pipeline.dedup.match_events` then compares targets and
    contents.
    """
    window: dict[str, Any] = {}
    if event_date is not None:
        window = {"first": event_date - dt.timedelta(days=window_days),
                  "last": event_date + dt.timedelta(days=window_days)}
    keys: set[tuple[str, str, str | None, str, str | None]] = set()
    for e in events:
        if e.source is None:
            kind, source = "none", None
        elif e.source.code:
            kind, source = "code", e.source.code
        else:
            kind, source = "name", e.source.name
        # a compatible target: the same, or none (match_events compares names exactly)
        target = "any" if e.target is None else ("coded" if e.target.code else "uncoded")
        keys.add((kind, e.type.value, source, target, e.target.code if e.target else None))
    # an event with no target takes every target of its type and source, so the narrower
    # queries of the same type and source would only return its rows again
    unbounded = {key[:3] for key in keys if key[3] == "any"}
    keys = {key for key in keys if key[3] == "any" or key[:3] not in unbounded}
    queries = [
        (_candidates_stmt(kind, event_date is not None, target),
         {"type": etype, "source": source, "target": code, **window}, False)
        for kind, etype, source, target, code in sorted(keys, key=str)
    ]
    if original_id is not None:
        queries.append((_candidates_stmt("original", False), {"original": original_id}, True))
    rows: dict[int, tuple[Any, bool]] = {}
    connection = session.connection()
    for stmt, values, from_original in queries:
        for row in connection.execute(stmt, values):
            if from_original or row.id not in rows:
                rows[row.id] = (row, from_original)
    contents: dict[int, list[str]] = defaultdict(list)
    ids = [event_id for event_id, (row, _) in rows.items() if row.reworded]
    for at in range(0, len(ids), _IDS_PER_QUERY):
        for event_id, content in connection.execute(_mention_contents_stmt(),
                                                    {"ids": ids[at:at + _IDS_PER_QUERY]}):
            contents[event_id].append(content)
    return [
        KnownEvent(
            key=row.id,
            type=EventType(row.type),
            source=actor_key(row.source_code, row.source_name),
            target=actor_key(row.target_code, row.target_name),
            contents=tuple(dict.fromkeys([row.content, *contents[row.id]])),
            event_date=None if copied_from_original else row.event_date,
            article=row.article_id,
            vector=row.content_vector,
            source_name=row.source_name,
            target_name=row.target_name,
        )
        for row, copied_from_original in rows.values()
    ]

