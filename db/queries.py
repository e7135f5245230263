"""Queries for newswatch: statements that read and upserts that write; callers commit."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Select, func, or_, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session, aliased

from db.models import (
    AlertRow,
    ArticleActorRow,
    ArticleRow,
    EventRow,
    MentionRow,
    TopicMatchRow,
)
from pipeline.records import Actor, Event, TopicMatch

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


def _insert(session: Session, table: Any) -> Any:
    """Return an INSERT for the session's dialect that supports ON CONFLICT."""
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
    stmt = (
        _insert(session, ArticleRow)
        .values(**values)
        .on_conflict_do_nothing(index_elements=["url"])
        .returning(ArticleRow.id)
    )
    new_id = session.scalar(stmt)
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
        session.execute(
            _insert(session, ArticleActorRow)
            .values(rows)
            .on_conflict_do_nothing(index_elements=["article_id", "name", "type"])
        )


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
    stmt = (
        _insert(session, EventRow)
        .values(**values)
        .on_conflict_do_nothing(index_elements=["event_key"])
        .returning(EventRow.id)
    )
    new_id = session.scalar(stmt)
    if new_id is not None:
        return new_id, True
    existing = session.scalar(select(EventRow.id).where(EventRow.event_key == event_key))
    assert existing is not None
    return existing, False


def save_mention(session: Session, event_id: int, article_id: int, event: Event) -> bool:
    """Record that an article reported an event; return whether the mention is new."""
    stmt = (
        _insert(session, MentionRow)
        .values(
            event_id=event_id,
            article_id=article_id,
            sentence=event.sentence,
            content=event.content,
            start=event.start,
            end=event.end,
        )
        .on_conflict_do_nothing(index_elements=["event_id", "article_id", "start"])
        .returning(MentionRow.id)
    )
    return session.scalar(stmt) is not None


def save_topic_matches(session: Session, event_id: int, matches: Iterable[TopicMatch]) -> None:
    """Record an event's topics (idempotent)."""
    rows = [{"event_id": event_id, "topic": m.topic, "words": list(m.words)} for m in matches]
    if rows:
        session.execute(
            _insert(session, TopicMatchRow)
            .values(rows)
            .on_conflict_do_nothing(index_elements=["event_id", "topic"])
        )


def save_alert(
    session: Session, *, event_id: int, topic: str, channel: str, message: str, status: str
) -> int | None:
    """Add an alert to the outbox unless one exists; return its id when new."""
    now = dt.datetime.now(dt.timezone.utc)
    stmt = (
        _insert(session, AlertRow)
        .values(
            event_id=event_id,
            topic=topic,
            channel=channel,
            message=message,
            status=status,
            attempts=0,
            created_at=now,
            sent_at=now if status == "sent" else None,
        )
        .on_conflict_do_nothing(index_elements=["event_id", "topic", "channel"])
        .returning(AlertRow.id)
    )
    return session.scalar(stmt)


# --------------------------------------------------------------------------------------------
# Reading events


def select_events(filters: EventFilters) -> Select[tuple[EventRow]]:
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
