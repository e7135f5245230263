"""Tables of the newswatch database: articles, actors, events, mentions, topics, alerts."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import (
    JSON,
    BigInteger,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from newswatch.pipeline.records import Actor, Article

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> dt.datetime:
    """Return the current time in UTC (stored naive-free as timezone-aware)."""
    return dt.datetime.now(dt.timezone.utc)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class ArticleRow(Base):
    """An ingested article; a copy of an earlier one points to it with `duplicate_of_id`."""

    __tablename__ = "articles"
    __table_args__ = (
        # articles --since and the default newest-first listing
        Index("ix_articles_published", "published"),
        # exact duplicate lookup by normalised text
        Index("ix_articles_text_hash", "text_hash"),
        # duplicate lookup by canonical URL
        Index("ix_articles_canonical_url", "canonical_url"),
        # articles --duplicates: copies of one original
        Index("ix_articles_duplicate_of_id", "duplicate_of_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    url: Mapped[str] = mapped_column(String(2048), unique=True)
    canonical_url: Mapped[str] = mapped_column(String(2048))
    title: Mapped[str] = mapped_column(Text)
    byline: Mapped[str | None] = mapped_column(Text)
    source: Mapped[str | None] = mapped_column(String(256))
    published: Mapped[dt.date | None] = mapped_column(Date)
    text: Mapped[str] = mapped_column(Text)
    text_hash: Mapped[str] = mapped_column(String(64))
    duplicate_of_id: Mapped[int | None] = mapped_column(ForeignKey("articles.id"))
    # near-duplicate detection (pipeline/dedup.py): MinHash signature and shingle-set size
    signature: Mapped[bytes | None] = mapped_column(LargeBinary)
    shingle_count: Mapped[int] = mapped_column(Integer, default=0)
    ingested_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    @classmethod
    def from_record(cls, article: Article, text_hash: str, canonical_url: str) -> ArticleRow:
        return cls(
            url=article.url,
            canonical_url=canonical_url,
            title=article.title,
            byline=article.byline,
            source=article.source,
            published=article.published,
            text=article.text,
            text_hash=text_hash,
        )

    def to_record(self) -> Article:
        return Article(
            url=self.url,
            title=self.title,
            text=self.text,
            published=self.published,
            source=self.source,
            byline=self.byline,
            canonical_url=self.canonical_url,
        )


class ArticleActorRow(Base):
    """An actor named in an article."""

    __tablename__ = "article_actors"
    __table_args__ = (
        UniqueConstraint("article_id", "name", "type"),
        # articles --actor and events by actor context
        Index("ix_article_actors_code", "code"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    article_id: Mapped[int] = mapped_column(ForeignKey("articles.id", ondelete="CASCADE"))
    code: Mapped[str | None] = mapped_column(String(16))
    name: Mapped[str] = mapped_column(String(256))
    type: Mapped[str] = mapped_column(String(32))

    def to_record(self) -> Actor:
        return Actor(name=self.name, code=self.code, type=self.type)


class EventRow(Base):
    """An event (demand, rejection, threat...) however many articles reported it."""

    __tablename__ = "events"
    __table_args__ = (
        # rerun idempotency: the same extraction maps to the same row
        UniqueConstraint("event_key"),
        # events --actor (source side) newest first; an actor's page (demands made by month,
        # type and counterpart) read from the index alone
        Index("ix_events_source_code_event_date_type_target_code", "source_code", "event_date", "type",
              "target_code"),
        # events --actor (target side); an actor's page (demands received)
        Index("ix_events_target_code_event_date_type_source_code", "target_code", "event_date", "type",
              "source_code"),
        # events --type newest first (the web view's type filter and its facets)
        Index("ix_events_type_event_date_source_code_target_code", "type", "event_date", "source_code",
              "target_code"),
        # event merge candidates: same type and source within a date window
        Index("ix_events_type_source_code_event_date", "type", "source_code", "event_date"),
        # events newest first, --since/--until; the web view's facets (type, actors) of the
        # newest matching events read from the index alone
        Index("ix_events_event_date_type_source_code_target_code", "event_date", "type", "source_code",
              "target_code"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    event_key: Mapped[str] = mapped_column(String(64))
    type: Mapped[str] = mapped_column(String(16))
    cameo: Mapped[str | None] = mapped_column(String(8))
    source_code: Mapped[str | None] = mapped_column(String(16))
    source_name: Mapped[str | None] = mapped_column(String(256))
    target_code: Mapped[str | None] = mapped_column(String(16))
    target_name: Mapped[str | None] = mapped_column(String(256))
    content: Mapped[str] = mapped_column(Text)
    event_date: Mapped[dt.date | None] = mapped_column(Date)
    first_seen: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    article_id: Mapped[int] = mapped_column(ForeignKey("articles.id"))
    # the sentence vector of the content framed by its actors (pipeline.embed.to_bytes), for
    # event identity; None until stored or compared with a model configured
    content_vector: Mapped[bytes | None] = mapped_column(LargeBinary)


class MentionRow(Base):
    """One article's report of an event: the sentence and its character span."""

    __tablename__ = "mentions"
    __table_args__ = (
        UniqueConstraint("event_id", "article_id", "start"),
        # mentions of an article (articles listing, dedup of a copy's events)
        Index("ix_mentions_article_id", "article_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("events.id", ondelete="CASCADE"))
    article_id: Mapped[int] = mapped_column(ForeignKey("articles.id", ondelete="CASCADE"))
    sentence: Mapped[str] = mapped_column(Text)
    content: Mapped[str] = mapped_column(Text)
    start: Mapped[int] = mapped_column(Integer)
    end: Mapped[int] = mapped_column(Integer)
    recorded_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class TopicMatchRow(Base):
    """An event's match with a tracked topic and why: the words that matched, or (a match by
    meaning) the nearest topic example and its cosine."""

    __tablename__ = "topic_matches"
    __table_args__ = (
        UniqueConstraint("event_id", "topic"),
        # events --topic
        Index("ix_topic_matches_topic_event_id", "topic", "event_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("events.id", ondelete="CASCADE"))
    topic: Mapped[str] = mapped_column(String(128))
    words: Mapped[list[str]] = mapped_column(JSON, default=list)
    example: Mapped[str | None] = mapped_column(Text)
    score: Mapped[float | None] = mapped_column(Float)


class AlertRow(Base):
    """An alert to deliver to one channel (an outbox row, written with its event)."""

    __tablename__ = "alerts"
    __table_args__ = (
        UniqueConstraint("event_id", "topic", "channel"),
        # delivery: pending alerts oldest first; alerts --status
        Index("ix_alerts_status_id", "status", "id"),
        # alerts --topic; the web view's alerts of a topic and its Atom feed, newest first
        Index("ix_alerts_topic_id", "topic", "id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("events.id", ondelete="CASCADE"))
    topic: Mapped[str] = mapped_column(String(128))
    channel: Mapped[str] = mapped_column(String(2048))
    status: Mapped[str] = mapped_column(String(16), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    sent_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    message: Mapped[str] = mapped_column(Text)
    last_error: Mapped[str | None] = mapped_column(Text)


# --------------------------------------------------------------------------------------------
# Feeds (polled by flows/feeds.py)


class FeedRow(Base):
    """A polled RSS/Atom feed: what to send on the next conditional GET, and its health."""

    __tablename__ = "feeds"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    url: Mapped[str] = mapped_column(String(2048), unique=True)
    title: Mapped[str | None] = mapped_column(Text)
    etag: Mapped[str | None] = mapped_column(String(1024))
    last_modified: Mapped[str | None] = mapped_column(String(128))
    last_polled: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    last_status: Mapped[str | None] = mapped_column(Text)
    consecutive_errors: Mapped[int] = mapped_column(Integer, default=0)
    next_poll_after: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))


class FeedEntryRow(Base):
    """A feed entry already ingested, remembered by its id and link so a poll skips it before NLP."""

    __tablename__ = "feed_entries"
    __table_args__ = (
        # seen check by entry id; the conflict target that makes recording a poll idempotent
        UniqueConstraint("feed_id", "entry_key"),
        # seen check by link (an entry re-published under a new id)
        Index("ix_feed_entries_feed_id_link_key", "feed_id", "link_key"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    feed_id: Mapped[int] = mapped_column(ForeignKey("feeds.id", ondelete="CASCADE"))
    entry_key: Mapped[str] = mapped_column(String(64))
    link_key: Mapped[str | None] = mapped_column(String(64))
    entry_id: Mapped[str] = mapped_column(Text)
    link: Mapped[str | None] = mapped_column(Text)
    article_url: Mapped[str] = mapped_column(String(2048))
    first_seen: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


# --------------------------------------------------------------------------------------------
# Deduplication (pipeline/dedup.py; its queries in db/store.py)


class ArticleBandRow(Base):
    """One LSH band key of an original article's MinHash signature, under the article's week.

    A new article's candidates are the originals of nearby weeks sharing a band key with it: an
    index lookup per (week, band). The primary key is the table itself (SQLite WITHOUT ROWID),
    ordered by week first, so one week's keys share pages: storing an article writes pages of
    its own week, however many weeks are stored. Copies store no bands (they resolve to their
    original).
    """

    __tablename__ = "article_bands"
    __table_args__ = (
        # near-duplicate candidates: (week, band key) -> articles (list_duplicate_candidates)
        PrimaryKeyConstraint("bucket", "band", "article_id"),
        # deleting an article deletes its bands
        Index("ix_article_bands_article_id", "article_id"),
        {"sqlite_with_rowid": False},
    )

    bucket: Mapped[int] = mapped_column(Integer)  # pipeline.dedup.band_bucket of the article's date
    band: Mapped[int] = mapped_column(BigInteger)
    article_id: Mapped[int] = mapped_column(ForeignKey("articles.id", ondelete="CASCADE"))


class DedupLockRow(Base):
    """A row that a store transaction updates first, so dedup decisions happen one at a time.

    Deciding "this article copies that one" or "this event restates that one" is a read
    followed by a write; holding this row's lock (PostgreSQL row lock, SQLite write lock)
    from the start of the transaction keeps two ingest processes from both deciding "new".
    """

    __tablename__ = "dedup_locks"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    taken: Mapped[int] = mapped_column(BigInteger, default=0)
