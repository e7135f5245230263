"""Read queries behind the CLI's `events`, `articles` and `alerts` commands.

Kept apart from the writing modules so that read commands import as little as possible.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Select, exists, func, or_, select, union_all
from sqlalchemy.orm import Session, aliased

from newswatch.db.models import (
    AlertRow,
    ArticleActorRow,
    ArticleRow,
    EventRow,
    MentionRow,
    TopicMatchRow,
)
from newswatch.pipeline.records import Actor

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


# --------------------------------------------------------------------------------------------
# Reading events


def select_events(filters: EventFilters) -> Select[EventRow]:
    """Build the statement behind `newswatch events`, newest first.

    With `--actor`, the events are those of two index reads, one per side (source, target),
    each newest first and stopped at the limit, then merged: an actor with hundreds of
    thousands of events costs as little as a rare one (a million stored articles: about 1 ms
    on SQLite, where one OR over both indexes sorted every match since `--since`, 285 ms).
    `--topic` is checked per event against the topic index (EXISTS), never by collecting
    every event of the topic first.
    """
    conditions: list[Any] = []
    if filters.type:
        conditions.append(EventRow.type == filters.type.upper())
    if filters.topic:
        conditions.append(exists().where(TopicMatchRow.event_id == EventRow.id,
                                         TopicMatchRow.topic == filters.topic.lower()))
    if filters.since:
        conditions.append(EventRow.event_date >= filters.since)
    if filters.until:
        conditions.append(EventRow.event_date <= filters.until)
    if filters.search:
        # The user's text is matched literally: LIKE's own wildcards are escaped.
        literal = filters.search.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        conditions.append(func.lower(EventRow.content).like(f"%{literal}%", escape="\\"))
    newest = (EventRow.event_date.desc(), EventRow.id.desc())
    stmt = select(EventRow)
    if filters.actor:
        code = filters.actor.upper()
        sides = [
            select(EventRow.id).where(side == code, *conditions).order_by(*newest).limit(filters.limit).subquery()
            for side in (EventRow.source_code, EventRow.target_code)
        ]
        stmt = stmt.where(EventRow.id.in_(union_all(*(select(side.c.id) for side in sides))))
    else:
        stmt = stmt.where(*conditions)
    return stmt.order_by(*newest).limit(filters.limit)


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


def list_alerts(
    session: Session, *, status: str | None = None, since: dt.date | None = None,
    topic: str | None = None, limit: int = 1000,
) -> Sequence[AlertRow]:
    """Return alerts oldest first, optionally of one delivery status, topic, or from a day on."""
    stmt = select(AlertRow)
    if status:
        stmt = stmt.where(AlertRow.status == status)
    if topic:
        stmt = stmt.where(AlertRow.topic == topic.lower())
    if since:
        stmt = stmt.where(AlertRow.created_at >= dt.datetime.combine(since, dt.time.min))
    return session.scalars(stmt.order_by(AlertRow.id).limit(limit)).all()


def stored_codes(session: Session) -> set[str]:
    """The actor codes that occur in stored events, for a hint when a filter finds nothing."""
    sources = select(EventRow.source_code).where(EventRow.source_code.is_not(None)).distinct()
    targets = select(EventRow.target_code).where(EventRow.target_code.is_not(None)).distinct()
    return {c for c in session.scalars(sources.union(targets)) if c}



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
