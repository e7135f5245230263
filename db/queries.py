"""Read queries behind the CLI's `events`, `articles` and `alerts` commands and the web view.

Kept apart from the writing modules so that read commands import as little as possible.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar, Unpack

from sqlalchemy import Select, func, or_, select, union
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

S = TypeVar("S", bound="Select[Unpack[tuple[Any, ...]]]")

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
class StoredAlert:
    id: int
    event_id: int
    topic: str
    channel: str
    status: str
    attempts: int
    created_at: dt.datetime
    sent_at: dt.datetime | None
    message: str
    last_error: str | None

    @classmethod
    def from_row(cls, row: AlertRow) -> StoredAlert:
        return cls(id=row.id, event_id=row.event_id, topic=row.topic, channel=row.channel,
                   status=row.status, attempts=row.attempts, created_at=row.created_at,
                   sent_at=row.sent_at, message=row.message, last_error=row.last_error)


@dataclass(frozen=True)
class EventFilters:
    type: str | None = None
    actor: str | None = None
    topic: str | None = None
    since: dt.date | None = None
    until: dt.date | None = None
    search: str | None = None
    limit: int = 50
    offset: int = 0


# --------------------------------------------------------------------------------------------
# Reading events


def select_events(filters: EventFilters, *, common_topic: bool = False) -> Select[EventRow]:
    """Build the statement behind `newswatch events`, newest first.

    An actor is matched on either side as the union of two newest-first walks, one down each
    actor index, each cut at the page's end: an OR of the two would collect every event of a
    busy actor and sort them all (RUS at 100k stored articles: 22k events, 0.2 s). A topic's
    events are collected and sorted, unless `common_topic` (`is_common_topic`): then the
    newest events are walked and each is looked up in the topic index, which finds a page of a
    topic tagging many events at once instead of sorting them all.
    """
    stmt = _filtered(select(EventRow), filters, common_topic)
    newest = (EventRow.event_date.desc(), EventRow.id.desc())
    if filters.actor:
        code = filters.actor.upper()
        end = filters.limit + filters.offset
        sides = [_filtered(select(EventRow.id, EventRow.event_date), filters, common_topic).where(column == code)
                 .order_by(*newest).limit(end).subquery()
                 for column in (EventRow.source_code, EventRow.target_code)]
        either = union(*(select(side.c.id) for side in sides)).subquery()
        stmt = stmt.where(EventRow.id.in_(select(either.c.id)))
    stmt = stmt.order_by(*newest).limit(filters.limit)
    return stmt.offset(filters.offset) if filters.offset else stmt


def _filtered(stmt: S, filters: EventFilters, common_topic: bool = False) -> S:
    """Add every event filter but the actor's to `stmt`."""
    if filters.type:
        stmt = stmt.where(EventRow.type == filters.type.upper())
    if filters.topic:
        topic = TopicMatchRow.topic == filters.topic.lower()
        if common_topic:
            stmt = stmt.where(select(TopicMatchRow.id).where(TopicMatchRow.event_id == EventRow.id)
                              .where(topic).exists())
        else:
            stmt = stmt.where(EventRow.id.in_(select(TopicMatchRow.event_id).where(topic)))
    if filters.since:
        stmt = stmt.where(EventRow.event_date >= filters.since)
    if filters.until:
        stmt = stmt.where(EventRow.event_date <= filters.until)
    if filters.search:
        # The user's text is matched literally: LIKE's own wildcards are escaped.
        literal = filters.search.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        stmt = stmt.where(func.lower(EventRow.content).like(f"%{literal}%", escape="\\"))
    return stmt


def is_common_topic(session: Session, filters: EventFilters) -> bool:
    """Tell whether walking the newest events finds a page of the topic sooner than sorting all
    of the topic's events (two index lookups: the topic's count, the newest event id).

    The walk reads about `wanted * stored / tagged` index entries, each checked in the topic
    index; a row read and sorted costs about ten of those (SQLite, 100k articles: the newest
    1,000 of 15.8k tagged events in 5 ms walking, 40-65 ms sorting).
    """
    if not filters.topic:
        return False
    tagged = session.scalar(select(func.count()).select_from(TopicMatchRow)
                            .where(TopicMatchRow.topic == filters.topic.lower())) or 0
    stored = session.scalar(select(func.max(EventRow.id))) or 0
    wanted = filters.limit + filters.offset
    return tagged > 0 and wanted * stored / tagged < 10 * tagged


def list_events(session: Session, filters: EventFilters) -> list[StoredEvent]:
    """Return events with their topics and mentions (three queries, not one per event)."""
    stmt = select_events(filters, common_topic=is_common_topic(session, filters))
    return _stored_events(session, list(session.scalars(stmt)))


def get_events(session: Session, ids: Sequence[int]) -> dict[int, StoredEvent]:
    """Return the events with these ids (those that exist), keyed by id."""
    if not ids:
        return {}
    rows = list(session.scalars(select(EventRow).where(EventRow.id.in_(list(ids)))))
    return {e.id: e for e in _stored_events(session, rows)}


def _stored_events(session: Session, rows: Sequence[EventRow]) -> list[StoredEvent]:
    """The view of event rows, with their topics and mentions in two more queries."""
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
    session: Session, *, duplicates: bool = False, since: dt.date | None = None, limit: int = 50,
    offset: int = 0,
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
    stmt = stmt.order_by(ArticleRow.id.desc()).limit(limit).offset(offset)
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
    topic: str | None = None, limit: int = 1000, offset: int = 0, newest_first: bool = False,
) -> list[StoredAlert]:
    """Return alerts oldest first (the CLI) or newest first (the web view), optionally of one
    delivery status, topic, or from a day on."""
    stmt = select(AlertRow)
    if status:
        stmt = stmt.where(AlertRow.status == status)
    if topic:
        stmt = stmt.where(AlertRow.topic == topic.lower())
    if since:
        stmt = stmt.where(AlertRow.created_at >= dt.datetime.combine(since, dt.time.min))
    order = AlertRow.id.desc() if newest_first else AlertRow.id
    return [StoredAlert.from_row(r) for r in session.scalars(stmt.order_by(order).limit(limit).offset(offset))]


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


# --------------------------------------------------------------------------------------------
# The web view: one event, facets, actors, topics, alert feeds


@dataclass(frozen=True)
class MentionDetail:
    """One article's report of an event, with what the event page shows of the article."""

    article_id: int
    url: str
    title: str
    source: str | None
    published: dt.date | None
    sentence: str
    content: str


@dataclass(frozen=True)
class TopicReason:
    """Why an event matched a topic: the pattern words, or the nearest example and its cosine."""

    topic: str
    words: list[str]
    example: str | None
    score: float | None


@dataclass(frozen=True)
class EventDetail:
    event: StoredEvent
    mentions: list[MentionDetail]
    reasons: list[TopicReason]
    alerts: list[StoredAlert]


def get_event_detail(session: Session, event_id: int) -> EventDetail | None:
    """Return one event with its mentions' articles, why it matched each topic, and its alerts.

    None when no event has this id. Every mention is listed, in the order recorded.
    """
    found = get_events(session, [event_id]).get(event_id)
    if found is None:
        return None
    mentions = [
        MentionDetail(article_id=aid, url=url, title=title, source=source, published=published,
                      sentence=sentence, content=content)
        for aid, url, title, source, published, sentence, content in session.execute(
            select(ArticleRow.id, ArticleRow.url, ArticleRow.title, ArticleRow.source, ArticleRow.published,
                   MentionRow.sentence, MentionRow.content)
            .join(ArticleRow, ArticleRow.id == MentionRow.article_id)
            .where(MentionRow.event_id == event_id)
            .order_by(MentionRow.id)
        )
    ]
    reasons = [
        TopicReason(topic=m.topic, words=list(m.words or []), example=m.example, score=m.score)
        for m in session.scalars(
            select(TopicMatchRow).where(TopicMatchRow.event_id == event_id).order_by(TopicMatchRow.topic)
        )
    ]
    alerts = [StoredAlert.from_row(r) for r in session.scalars(
        select(AlertRow).where(AlertRow.event_id == event_id).order_by(AlertRow.id))]
    return EventDetail(event=found, mentions=mentions, reasons=reasons, alerts=alerts)


@dataclass(frozen=True)
class EventFacets:
    """Counts of the newest matching events by type, topic and actor, for the filter sidebar.

    `counted` is how many events were counted: all that match, or the newest `cap` of them
    when `capped` (then `counted` is also a lower bound of how many match).
    """

    types: list[tuple[str, int]]
    topics: list[tuple[str, int]]
    actors: list[tuple[str, int]]
    days: list[tuple[str, int]]
    counted: int
    capped: bool


def count_facets(session: Session, filters: EventFilters, *, cap: int = 5000, top: int = 12) -> EventFacets:
    """Count the newest `cap` events matching `filters` by type, topic, actor (top `top`) and day.

    Bounded so that a page costs the same on 1k and 1M stored events: the type and actor
    counts come from the event_date index alone (it carries both codes and the type).
    """
    bounded = EventFilters(type=filters.type, actor=filters.actor, topic=filters.topic, since=filters.since,
                           until=filters.until, search=filters.search, limit=cap)
    newest = select_events(bounded, common_topic=is_common_topic(session, bounded)).with_only_columns(
        EventRow.id, EventRow.event_date, EventRow.type, EventRow.source_code, EventRow.target_code)
    rows = session.execute(newest).all()
    types: Counter[str] = Counter()
    actors: Counter[str] = Counter()
    days: Counter[str] = Counter()
    for _, day, type_, source, target in rows:
        types[type_] += 1
        if day is not None:
            days[day.isoformat()] += 1
        for code in {source, target}:
            if code is not None:
                actors[code] += 1
    # the counted events' topics, by their ids (running the filtered query again costs more)
    tagged: Counter[str] = Counter()
    ids = [row[0] for row in rows]
    for at in range(0, len(ids), 500):
        tagged.update(dict(list(session.execute(
            select(TopicMatchRow.topic, func.count())
            .where(TopicMatchRow.event_id.in_(ids[at:at + 500]))
            .group_by(TopicMatchRow.topic)))))
    topics = sorted(tagged.items(), key=lambda kv: (-kv[1], kv[0]))[:top]
    return EventFacets(
        types=sorted(types.items(), key=lambda kv: (-kv[1], kv[0])),
        topics=topics,
        actors=sorted(actors.items(), key=lambda kv: (-kv[1], kv[0]))[:top],
        days=sorted(days.items()), counted=len(rows), capped=len(rows) >= cap,
    )


@dataclass(frozen=True)
class ActorSummary:
    """An actor code with how many stored events it made (source) and received (target)."""

    code: str
    made: int
    received: int


def list_actors(session: Session, *, limit: int = 100, offset: int = 0) -> list[ActorSummary]:
    """Return the actor codes of stored events, most events first.

    Two grouped scans of the actor indexes (source side, target side), merged here: one
    grouped UNION ALL over both columns costs four times as much on SQLite.
    """
    made = dict(list(session.execute(
        select(EventRow.source_code, func.count()).where(EventRow.source_code.is_not(None))
        .group_by(EventRow.source_code))))
    received = dict(list(session.execute(
        select(EventRow.target_code, func.count()).where(EventRow.target_code.is_not(None))
        .group_by(EventRow.target_code))))
    summaries = [ActorSummary(code=c, made=made.get(c, 0), received=received.get(c, 0))
                 for c in set(made) | set(received) if c]
    summaries.sort(key=lambda a: (-(a.made + a.received), a.code))
    return summaries[offset:offset + limit]


@dataclass(frozen=True)
class Counterpart:
    """Another actor (None: events naming no target or an uncoded one) and the events between."""

    code: str | None
    made_to: int
    received_from: int


@dataclass(frozen=True)
class ActorDetail:
    """What an actor's page shows: its events by type and month, each way, and counterparts.

    `months` holds (YYYY-MM, made, received) oldest first, over the months with any event;
    `names` the names its stored events give it, most used first.
    """

    code: str
    made: int
    received: int
    made_by_type: dict[str, int]
    received_by_type: dict[str, int]
    months: list[tuple[str, int, int]]
    counterparts: list[Counterpart]
    names: list[str]


def get_actor(session: Session, code: str, *, type: str | None = None, top: int = 20) -> ActorDetail | None:
    """Return the summary of one actor code's events (of one type if given); None if it has none.

    Both sides are read from the actor indexes alone (code, date, type, other code), grouped
    by day: a busy actor's page reads its index entries once.
    """
    months: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    by_type: tuple[Counter[str], Counter[str]] = (Counter(), Counter())
    others: dict[str | None, list[int]] = defaultdict(lambda: [0, 0])
    for side, (own, other) in enumerate(((EventRow.source_code, EventRow.target_code),
                                         (EventRow.target_code, EventRow.source_code))):
        # three small groupings over the same index range rather than one by (day, type,
        # other), whose thousands of groups cost more to send than to count
        def grouped(column: Any) -> Any:
            stmt = select(column, func.count()).where(own == code).group_by(column)
            return session.execute(stmt.where(EventRow.type == type) if type else stmt)

        for type_, n in grouped(EventRow.type):
            by_type[side][type_] += n
        for other_code, n in grouped(other):
            others[other_code][side] += n
        for day, n in grouped(EventRow.event_date):
            if day is not None:
                months[f"{day:%Y-%m}"][side] += n
    made, received = sum(by_type[0].values()), sum(by_type[1].values())
    if not made and not received:
        return None
    # names from its latest events (an index walk; counting all of a busy actor's names would
    # read each of its rows)
    latest = Counter(name for name in session.scalars(
        select(EventRow.source_name).where(EventRow.source_code == code)
        .order_by(EventRow.event_date.desc()).limit(200)) if name)
    names = [name for name, _ in latest.most_common(5)]
    counterparts = sorted(
        (Counterpart(code=c, made_to=m, received_from=r) for c, (m, r) in others.items()),
        key=lambda c: (-(c.made_to + c.received_from), c.code or ""),
    )[:top]
    return ActorDetail(
        code=code, made=made, received=received,
        made_by_type=dict(by_type[0].most_common()), received_by_type=dict(by_type[1].most_common()),
        months=[(m, v[0], v[1]) for m, v in sorted(months.items())],
        counterparts=counterparts, names=names,
    )


def count_topic_events(session: Session) -> dict[str, int]:
    """Return how many stored events matched each topic (from the topic index alone)."""
    return dict(list(session.execute(
        select(TopicMatchRow.topic, func.count()).group_by(TopicMatchRow.topic))))


def count_topic_alerts(session: Session) -> dict[str, int]:
    """Return how many alerts each topic raised (from the alerts-by-topic index alone)."""
    return dict(list(session.execute(select(AlertRow.topic, func.count()).group_by(AlertRow.topic))))


def topic_is_stored(session: Session, slug: str) -> bool:
    """Tell whether any stored event matched the topic `slug` (one index lookup)."""
    stmt = select(TopicMatchRow.id).where(TopicMatchRow.topic == slug).limit(1)
    return session.execute(stmt).first() is not None


def list_alert_entries(
    session: Session, *, topic: str | None = None, limit: int = 50
) -> list[tuple[StoredAlert, StoredEvent]]:
    """Return the newest alerts with their events, one per event and topic, for a feed.

    An event raises one alert per channel; a feed shows it once (the first alert). The newest
    `4 * limit` alerts are read, so with more than four channels a feed may hold fewer entries.
    """
    stmt = select(AlertRow).order_by(AlertRow.id.desc()).limit(4 * limit)
    if topic:
        stmt = stmt.where(AlertRow.topic == topic)
    first: dict[tuple[int, str], AlertRow] = {}
    for row in session.scalars(stmt):
        first[(row.event_id, row.topic)] = row  # newest first: the last seen is the first raised
    chosen = sorted(first.values(), key=lambda r: r.id, reverse=True)[:limit]
    events = get_events(session, [r.event_id for r in chosen])
    return [(StoredAlert.from_row(r), events[r.event_id]) for r in chosen if r.event_id in events]
