"""Frozen records passed from one pipeline step to the next."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from enum import StrEnum


class EventType(StrEnum):
    """Event types of SPEC.md, named as in CAMEO/PLOVER."""

    DEMAND = "DEMAND"
    REJECT = "REJECT"
    THREATEN = "THREATEN"
    PROPOSE = "PROPOSE"
    ACCUSE = "ACCUSE"
    DENY = "DENY"
    STATEMENT = "STATEMENT"


#: CAMEO root code for each event type (SPEC.md `cameo`).
CAMEO_ROOT: dict[EventType, str] = {
    EventType.STATEMENT: "01",
    EventType.PROPOSE: "03",
    EventType.DEMAND: "10",
    EventType.ACCUSE: "11",
    EventType.REJECT: "12",
    EventType.THREATEN: "13",
    EventType.DENY: "12",
}



#: The longest URL or path stored (and indexed) for an article; longer ones are refused as
#: inputs, since PostgreSQL would refuse the row and with it the whole batch.
MAX_URL_CHARS = 2048
#: The longest outlet or actor name stored; longer ones are cut (they are labels, not keys).
MAX_NAME_CHARS = 256

#: News dated before this is a wrong date (a zero or a default), not an old story.
EARLIEST_DATE = dt.date(1900, 1, 1)
#: How far ahead of today a date may lie: time zones and embargoed wires run a day ahead.
AHEAD_DAYS = 2


def plausible_date(day: dt.date | None, today: dt.date | None = None) -> dt.date | None:
    """`day` when it can be a publication date, else None (unknown).

    Pages and feeds carry dates such as 9999-12-31 or 0001-01-01; taken at their word they
    push date arithmetic (windows, buckets) off the calendar and file the story decades away
    from its neighbours.
    """
    if day is None:
        return None
    latest = (today or dt.datetime.now(dt.timezone.utc).date()) + dt.timedelta(days=AHEAD_DAYS)
    return day if EARLIEST_DATE <= day <= latest else None

@dataclass(frozen=True, slots=True)
class Article:
    """One news article as read from a file, a URL or a feed entry.

    `url` is the path or URL exactly as ingested (SPEC.md `mentions[].article`);
    `text` is the cleaned body (headline and byline removed) that character spans refer to.
    """

    url: str
    title: str
    text: str
    published: dt.date | None = None
    source: str | None = None
    byline: str | None = None
    canonical_url: str | None = None


@dataclass(frozen=True, slots=True)
class Actor:
    """An actor found in an article: `code` is the state or organisation it acts for.

    `code` is None for a person or organisation the dictionary and context cannot place.
    `type` is one of "state", "organisation", "person".
    """

    name: str
    code: str | None
    type: str


@dataclass(frozen=True, slots=True)
class Event:
    """An attributed statement: who demands, rejects, threatens... what from whom.

    `sentence` is the sentence it was read from; `start`/`end` are that sentence's
    character offsets in `Article.text`; `content` is the clause demanded, rejected...
    """

    type: EventType
    source: Actor | None
    target: Actor | None
    content: str
    sentence: str
    start: int
    end: int
    trigger: str = ""

    @property
    def cameo(self) -> str:
        return CAMEO_ROOT[self.type]


@dataclass(frozen=True, slots=True)
class Extraction:
    """What extraction found in one article, and the topics its events match.

    `topics` holds one tuple of `TopicMatch` per event, in the order of `events`; it is empty
    until topic tagging (`pipeline/topics.py` `tag_topics`) has run.
    """

    article: Article
    actors: tuple[Actor, ...] = ()
    events: tuple[Event, ...] = ()
    topics: tuple[tuple[TopicMatch, ...], ...] = ()

    def topics_of(self, event: Event) -> tuple[TopicMatch, ...]:
        """Return the topic matches of one of the extraction's events (none before tagging)."""
        for candidate, matches in zip(self.events, self.topics):
            if candidate == event:
                return matches
        return ()


@dataclass(frozen=True, slots=True)
class TopicMatch:
    """An event's match with a tracked topic and why: the pattern words that matched, or
    (a match by meaning) the topic example nearest to the event's sentence and its cosine."""

    topic: str
    words: tuple[str, ...] = ()
    example: str = ""
    score: float | None = None


@dataclass(frozen=True, slots=True)
class Alert:
    """A message to deliver to one channel about one event and topic."""

    event_id: int
    topic: str
    channel: str
    title: str
    body: str
    extra: dict[str, str] = field(default_factory=dict)


# --------------------------------------------------------------------------------------------
# Feeds (pipeline/sources.py)


@dataclass(frozen=True, slots=True)
class FeedFetch:
    """The outcome of one conditional GET of a feed.

    `not_modified` is True for a 304 (nothing to do; `content` is None). `etag` and
    `last_modified` are what to send next time.
    """

    url: str
    final_url: str
    status: int
    content: bytes | None
    etag: str | None = None
    last_modified: str | None = None
    not_modified: bool = False
    #: the server's Content-Type, whose charset feedparser needs (None for a local file)
    content_type: str | None = None


@dataclass(frozen=True, slots=True)
class FeedEntry:
    """One feed entry as an article, with the id and link it is deduplicated by."""

    entry_id: str
    link: str | None
    article: Article
    published_at: dt.datetime | None = None


@dataclass(frozen=True, slots=True)
class ParsedFeed:
    """A parsed feed: its entries, the feed-level error if malformed, and skipped entries."""

    url: str
    title: str | None
    entries: tuple[FeedEntry, ...] = ()
    error: str | None = None
    failures: tuple[str, ...] = ()
    #: entries with nothing to read (an image or a video only): noted, not failures
    skipped: tuple[str, ...] = ()
