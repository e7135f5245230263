"""Query-string values of the web view and API, checked into query filters or a clear 400 message.

Pages and API share these checks, so `?type=demnd` says the same thing in a browser and in a
script: what is wrong, and what would be right.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable

from newswatch.db.queries import EventFilters
from newswatch.pipeline.records import EventType

#: Most rows one page or API call returns.
MAX_LIMIT = 500
#: Deepest offset a page or API call may ask for (deep pages cost a scan up to the offset:
#: narrow the listing with filters instead).
MAX_OFFSET = 1_000_000
MAX_SEARCH = 200
EVENT_TYPES = tuple(EventType.__members__)
ALERT_STATUSES = ("stored", "pending", "retrying", "sent", "failed")
_CODE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,15}")
_SLUG = re.compile(r"[a-z0-9][a-z0-9-]{0,127}")
#: C0 controls (NUL breaks PostgreSQL text parameters) and lone surrogates
_UNPRINTABLE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff]")


class BadFilter(ValueError):
    """A query-string value that cannot be used; the message names it and what would do."""


def _given(value: str | None) -> str | None:
    """A form sends empty fields as `?actor=`: an empty value is no filter."""
    if value is None:
        return None
    value = value.strip()
    if _UNPRINTABLE.search(value):
        raise BadFilter("control characters are not allowed in a filter value")
    return value or None


def parse_date(name: str, value: str | None) -> dt.date | None:
    """Read a YYYY-MM-DD value."""
    value = _given(value)
    if value is None:
        return None
    try:
        if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
            raise ValueError
        return dt.date.fromisoformat(value)
    except ValueError:
        raise BadFilter(f"{name}: {value!r} is not a date like 2021-12-17") from None


def parse_type(value: str | None) -> str | None:
    """Read an event type, in any case."""
    value = _given(value)
    if value is None:
        return None
    if value.upper() not in EVENT_TYPES:
        raise BadFilter(f"type: unknown event type {value!r}; one of {', '.join(EVENT_TYPES)}")
    return value.upper()


def parse_code(name: str, value: str | None) -> str | None:
    """Read an actor code (RUS, NATO), in any case."""
    value = _given(value)
    if value is None:
        return None
    if not _CODE.fullmatch(value):
        raise BadFilter(f"{name}: {value!r} is not an actor code like RUS or NATO")
    return value.upper()


def parse_topic(value: str | None, is_known: Callable[[str], bool], known: list[str]) -> str | None:
    """Read a topic slug that the topics file names or stored events matched."""
    value = _given(value)
    if value is None:
        return None
    slug = value.lower()
    if not _SLUG.fullmatch(slug) or not is_known(slug):
        raise BadFilter(f"topic: unknown topic {value!r}; topics: {', '.join(known) or 'none'}")
    return slug


def parse_status(value: str | None) -> str | None:
    """Read an alert delivery status."""
    value = _given(value)
    if value is None:
        return None
    if value.lower() not in ALERT_STATUSES:
        raise BadFilter(f"status: unknown alert status {value!r}; one of {', '.join(ALERT_STATUSES)}")
    return value.lower()


def parse_search(value: str | None) -> str | None:
    """Read the words to look for in an event's content."""
    value = _given(value)
    if value is not None and len(value) > MAX_SEARCH:
        raise BadFilter(f"search: at most {MAX_SEARCH} characters ({len(value)} given)")
    return value


def check_page(limit: int, offset: int) -> None:
    """Refuse a page size or offset out of bounds (FastAPI checks them too; pages call this)."""
    if not 1 <= limit <= MAX_LIMIT:
        raise BadFilter(f"limit: between 1 and {MAX_LIMIT} ({limit} given)")
    if not 0 <= offset <= MAX_OFFSET:
        raise BadFilter(f"offset: between 0 and {MAX_OFFSET} ({offset} given)")


def event_filters(
    *, type: str | None, actor: str | None, topic: str | None, since: str | None, until: str | None,
    search: str | None, limit: int, offset: int, is_known_topic: Callable[[str], bool], topics: list[str],
) -> EventFilters:
    """Check every event filter and return them; `limit` asks for one row more (is there a next page?)."""
    check_page(limit, offset)
    first, last = parse_date("since", since), parse_date("until", until)
    if first and last and first > last:
        raise BadFilter(f"since ({first}) is after until ({last})")
    return EventFilters(
        type=parse_type(type), actor=parse_code("actor", actor),
        topic=parse_topic(topic, is_known_topic, topics), since=first, until=last,
        search=parse_search(search), limit=limit + 1, offset=offset,
    )
