"""Queries for newswatch: statements that read and upserts that write; callers commit."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import cache
from typing import Any

from sqlalchemy import Select, case, func, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session, aliased

from db.models import (
    AlertRow,
    ArticleActorRow,
    ArticleRow,
    EventRow,
    FeedEntryRow,
    FeedRow,
    MentionRow,
    TopicMatchRow,
)
from pipeline.records import Actor, Event, TopicMatch

# Deduplication section (end of this file)
from db.models import ArticleBandRow, DedupLockRow  # noqa: E402
from pipeline.dedup import ArticleFingerprint, KnownEvent, actor_key  # noqa: E402
from pipeline.records import EventType  # noqa: E402

# --------------------------------------------------------------------------------------------
# Views returned to the CLI (SPEC.md JSON shapes)


@dataclass(frozen=True)
class StoredMention:
    article: str
    sentence: str
    content: str


@dataclass(frozen=True)
class StoredEvent:
    id: int
    type: str
    cameo: str | None
    source: Actor | None
    target: Actor | None
    content: str
    event_date: dt.date | None
    first_seen: dt.datetime
    topics: list[str] = field(default_factory=list)
    mentions: list[StoredMention] = field(default_factory=list)


@dataclass(frozen=True)
class StoredArticle:
    id: int
    url: str
    title: str
    published: dt.date | None
    source: str | None
    duplicate_of: str | None
    actors: list[Actor] = field(default_factory=list)


@dataclass(frozen=True)
class EventFilters:
    type: str | None = None
    actor: str | None = None
    topic: str | None = None
    since: dt.date | None = None
    until: dt.date | None = None
    search: str | None = None
    limit: int = 50


@cache
def _insert_ignoring(dialect: str, table: Any, keys: tuple[str, ...], returning: Any = None) -> Any:
    """Return INSERT ... ON CONFLICT (keys) DO NOTHING [RETURNING], built once per table.

    Executed with the row as parameters: building a statement per row costs more than
    running it (the store step writes a few dozen rows per article).
    """
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    stmt = insert(table).on_conflict_do_nothing(index_elements=list(keys))
    return stmt if returning is None else stmt.returning(returning)


def _dialect(session: Session) -> str:
    return session.get_bind().dialect.name


def _insert(session: Session, table: Any) -> Any:
    """Return an INSERT for the session's dialect that supports ON CONFLICT.

    Writers run it on `session.connection()` (Core, same transaction): these rows need no
    identity map, and the ORM's bulk-insert path costs about twice as much per statement.
    """
    if session.get_bind().dialect.name == "postgresql":
        return postgresql.insert(table)
    return sqlite.insert(table)


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
    stmt = _insert_ignoring(_dialect(session), ArticleRow, ("url",), ArticleRow.id)
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
        stmt = _insert_ignoring(_dialect(session), ArticleActorRow, ("article_id", "name", "type"))
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
    stmt = _insert_ignoring(_dialect(session), EventRow, ("event_key",), EventRow.id)
    new_id = session.connection().scalar(stmt, values)
    if new_id is not None:
        return new_id, True
    existing = session.scalar(select(EventRow.id).where(EventRow.event_key == event_key))
    assert existing is not None
    return existing, False


def save_mention(session: Session, event_id: int, article_id: int, event: Event) -> bool:
    """Record that an article reported an event; return whether the mention is new."""
    keys = ("event_id", "article_id", "start")
    stmt = _insert_ignoring(_dialect(session), MentionRow, keys, MentionRow.id)
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
        stmt = _insert_ignoring(_dialect(session), TopicMatchRow, ("event_id", "topic"))
        session.connection().execute(stmt, rows)


def save_alert(
    session: Session, *, event_id: int, topic: str, channel: str, message: str, status: str
) -> int | None:
    """Add an alert to the outbox unless one exists; return its id when new."""
    now = dt.datetime.now(dt.timezone.utc)
    stmt = _insert_ignoring(_dialect(session), AlertRow, ("event_id", "topic", "channel"), AlertRow.id)
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
# Reading events


def select_events(filters: EventFilters) -> Select[EventRow]:
    """Build the statement behind `newswatch events`, newest first."""
    stmt = select(EventRow)
    if filters.type:
        stmt = stmt.where(EventRow.type == filters.type.upper())
    if filters.actor:
        code = filters.actor.upper()
        stmt = stmt.where(or_(EventRow.source_code == code, EventRow.target_code == code))
    if filters.topic:
        stmt = stmt.where(
            EventRow.id.in_(select(TopicMatchRow.event_id).where(TopicMatchRow.topic == filters.topic))
        )
    if filters.since:
        stmt = stmt.where(EventRow.event_date >= filters.since)
    if filters.until:
        stmt = stmt.where(EventRow.event_date <= filters.until)
    if filters.search:
        # The user's text is matched literally: LIKE's own wildcards are escaped.
        literal = filters.search.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        stmt = stmt.where(func.lower(EventRow.content).like(f"%{literal}%", escape="\\"))
    return stmt.order_by(EventRow.event_date.desc(), EventRow.id.desc()).limit(filters.limit)


def list_events(session: Session, filters: EventFilters) -> list[StoredEvent]:
    """Return events with their topics and mentions (three queries, not one per event)."""
    rows = list(session.scalars(select_events(filters)))
    ids = [r.id for r in rows]
    topics: dict[int, list[str]] = defaultdict(list)
    mentions: dict[int, list[StoredMention]] = defaultdict(list)
    if ids:
        for event_id, topic in session.execute(
            select(TopicMatchRow.event_id, TopicMatchRow.topic)
            .where(TopicMatchRow.event_id.in_(ids))
            .order_by(TopicMatchRow.topic)
        ):
            topics[event_id].append(topic)
        for event_id, url, sentence, content in session.execute(
            select(MentionRow.event_id, ArticleRow.url, MentionRow.sentence, MentionRow.content)
            .join(ArticleRow, ArticleRow.id == MentionRow.article_id)
            .where(MentionRow.event_id.in_(ids))
            .order_by(MentionRow.id)
        ):
            mentions[event_id].append(StoredMention(url, sentence, content))
    return [
        StoredEvent(
            id=r.id,
            type=r.type,
            cameo=r.cameo,
            source=_actor(r.source_code, r.source_name),
            target=_actor(r.target_code, r.target_name),
            content=r.content,
            event_date=r.event_date,
            first_seen=r.first_seen,
            topics=topics[r.id],
            mentions=mentions[r.id],
        )
        for r in rows
    ]


def _actor(code: str | None, name: str | None) -> Actor | None:
    if code is None and name is None:
        return None
    return Actor(name=name or code or "", code=code, type="")


# --------------------------------------------------------------------------------------------
# Reading articles and alerts


def list_articles(
    session: Session, *, duplicates: bool = False, since: dt.date | None = None, limit: int = 50
) -> list[StoredArticle]:
    """Return stored articles newest first, with their actors and duplicate status."""
    original = aliased(ArticleRow)
    stmt = select(ArticleRow, original.url).outerjoin(
        original, original.id == ArticleRow.duplicate_of_id
    )
    if duplicates:
        stmt = stmt.where(ArticleRow.duplicate_of_id.is_not(None))
    if since:
        stmt = stmt.where(ArticleRow.published >= since)
    stmt = stmt.order_by(ArticleRow.id.desc()).limit(limit)
    result = session.execute(stmt).all()
    ids = [row.id for row, _ in result]
    actors: dict[int, list[Actor]] = defaultdict(list)
    if ids:
        for actor_row in session.scalars(
            select(ArticleActorRow)
            .where(ArticleActorRow.article_id.in_(ids))
            .order_by(ArticleActorRow.id)
        ):
            actors[actor_row.article_id].append(actor_row.to_record())
    return [
        StoredArticle(
            id=row.id,
            url=row.url,
            title=row.title,
            published=row.published,
            source=row.source,
            duplicate_of=dup_url,
            actors=actors[row.id],
        )
        for row, dup_url in result
    ]


def list_alerts(session: Session, *, status: str | None = None, limit: int = 1000) -> Sequence[AlertRow]:
    """Return alerts oldest first, optionally of one delivery status."""
    stmt = select(AlertRow)
    if status:
        stmt = stmt.where(AlertRow.status == status)
    return session.scalars(stmt.order_by(AlertRow.id).limit(limit)).all()


def mark_alert(session: Session, alert_id: int, *, sent: bool, error: str | None = None) -> None:
    """Record one delivery attempt of an alert."""
    row = session.get(AlertRow, alert_id)
    if row is None:
        return
    row.attempts += 1
    if sent:
        row.status = "sent"
        row.sent_at = dt.datetime.now(dt.timezone.utc)
        row.last_error = None
    else:
        row.last_error = error


# --------------------------------------------------------------------------------------------
# Alert delivery (the outbox): what is left to deliver, claiming an attempt, its outcome.
# An alert is written with its event (save_alert); delivery happens afterwards, so a channel
# that is down only delays it. A sent alert is never selected again, and an attempt is claimed
# with a compare-and-set on `attempts`, so two runs never both send the same alert.


@dataclass(frozen=True)
class AlertToDeliver:
    """A stored alert still to deliver, with the attempts counted so far."""

    id: int
    channel: str
    message: str
    attempts: int


def select_undelivered_alerts(
    channels: Sequence[str] | None = None, limit: int = 1000
) -> Select[AlertRow]:
    """Build the statement for alerts not yet delivered (pending, or failed earlier), oldest first.

    With `channels`, only alerts for those channels (a channel removed from the settings is
    left alone rather than retried forever).
    """
    stmt = select(AlertRow).where(AlertRow.status.in_(("pending", "failed")))
    if channels is not None:
        stmt = stmt.where(AlertRow.channel.in_(list(channels)))
    return stmt.order_by(AlertRow.id).limit(limit)


def list_undelivered_alerts(
    session: Session, *, channels: Sequence[str] | None = None, limit: int = 1000
) -> list[AlertToDeliver]:
    """Return the alerts a delivery run should try, oldest first."""
    return [
        AlertToDeliver(id=r.id, channel=r.channel, message=r.message, attempts=r.attempts)
        for r in session.scalars(select_undelivered_alerts(channels, limit))
    ]


def claim_alert(session: Session, alert_id: int, attempts: int) -> bool:
    """Count one delivery attempt; False when another run claimed or sent the alert first."""
    result = session.execute(
        update(AlertRow)
        .where(AlertRow.id == alert_id, AlertRow.attempts == attempts, AlertRow.status != "sent")
        .values(attempts=attempts + 1)
    )
    return bool(getattr(result, "rowcount", 0) == 1)


def save_alert_sent(session: Session, alert_id: int) -> None:
    """Record that an alert was delivered."""
    session.execute(
        update(AlertRow)
        .where(AlertRow.id == alert_id)
        .values(status="sent", sent_at=dt.datetime.now(dt.timezone.utc), last_error=None)
    )


def save_alert_failed(session: Session, alert_id: int, error: str, *, max_attempts: int) -> None:
    """Record a failed attempt: still pending, or failed once `max_attempts` are used up.

    Failed alerts are still tried by later runs; the status tells people the channel has been
    down for a while.
    """
    session.execute(
        update(AlertRow)
        .where(AlertRow.id == alert_id, AlertRow.status != "sent")
        .values(
            status=case((AlertRow.attempts >= max_attempts, "failed"), else_="pending"),
            last_error=error[:2000],
        )
    )


def list_alerts_since(session: Session, since: dt.datetime) -> Sequence[AlertRow]:
    """Return the alerts raised at or after `since` (one run's alerts), oldest first."""
    return session.scalars(
        select(AlertRow).where(AlertRow.created_at >= since).order_by(AlertRow.id)
    ).all()


def count_delivery(session: Session, since: dt.datetime) -> tuple[int, int]:
    """Return (alerts delivered since `since`, alerts tried but still undelivered)."""
    sent = session.scalar(
        select(func.count())
        .select_from(AlertRow)
        .where(AlertRow.status == "sent", AlertRow.sent_at >= since, AlertRow.channel != "")
    )
    waiting = session.scalar(
        select(func.count())
        .select_from(AlertRow)
        .where(AlertRow.status.in_(("pending", "failed")), AlertRow.attempts > 0)
    )
    return int(sent or 0), int(waiting or 0)


# --------------------------------------------------------------------------------------------
# Feeds: conditional-GET state, health and backoff, and the entries already ingested


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
        _insert(session, FeedRow)
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
            _insert(session, FeedEntryRow)
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
# Deduplication: the dedup lock, near-duplicate candidates by LSH band, event merge candidates


def lock_dedup(session: Session) -> None:
    """Take the dedup lock until the transaction ends; call it first in a store transaction.

    An upsert of one row in `dedup_locks`: PostgreSQL holds that row's lock, SQLite its write
    lock, until commit or rollback. It must be the transaction's first statement: a SQLite
    transaction that has read before it writes cannot wait for the lock, only fail.
    """
    stmt = _insert(session, DedupLockRow).values(name="store", taken=1)
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
        stmt = _insert_ignoring(_dialect(session), ArticleBandRow, ("band", "article_id"))
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


def list_duplicate_groups(
    session: Session, *, since: dt.date | None = None, limit: int = 50
) -> list[tuple[StoredArticle, list[StoredArticle]]]:
    """Return originals that have copies, newest first, each with its copies in ingest order."""
    originals = select(ArticleRow.duplicate_of_id).where(ArticleRow.duplicate_of_id.is_not(None)).distinct()
    stmt = select(ArticleRow.id).where(ArticleRow.id.in_(originals))
    if since:
        stmt = stmt.where(ArticleRow.published >= since)
    ids = list(session.scalars(stmt.order_by(ArticleRow.id.desc()).limit(limit)))
    if not ids:
        return []
    rows = session.scalars(
        select(ArticleRow)
        .where(or_(ArticleRow.id.in_(ids), ArticleRow.duplicate_of_id.in_(ids)))
        .order_by(ArticleRow.id)
    ).all()
    url_of = {r.id: r.url for r in rows}
    actors: dict[int, list[Actor]] = defaultdict(list)
    for actor_row in session.scalars(
        select(ArticleActorRow).where(ArticleActorRow.article_id.in_(list(url_of))).order_by(ArticleActorRow.id)
    ):
        actors[actor_row.article_id].append(actor_row.to_record())

    def stored(r: ArticleRow) -> StoredArticle:
        return StoredArticle(
            id=r.id, url=r.url, title=r.title, published=r.published, source=r.source,
            duplicate_of=url_of.get(r.duplicate_of_id) if r.duplicate_of_id else None,
            actors=actors[r.id],
        )

    copies: dict[int, list[StoredArticle]] = defaultdict(list)
    for r in rows:
        if r.duplicate_of_id is not None:
            copies[r.duplicate_of_id].append(stored(r))
    by_id = {r.id: r for r in rows}
    return [(stored(by_id[i]), copies[i]) for i in ids]
