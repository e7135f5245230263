"""Atom feeds of alerts: one entry per alert, source -> target, type, content and article link."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Sequence
from xml.etree import ElementTree as ET

from newswatch._json import iso_time
from newswatch.db.queries import StoredAlert, StoredEvent
from newswatch.pipeline.records import Actor

ATOM = "http://www.w3.org/2005/Atom"
#: Characters XML 1.0 cannot carry at all (stored text is arbitrary; a feed must still parse).
_NOT_XML = re.compile("[^\x09\x0a\x0d\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def _text(value: str) -> str:
    return _NOT_XML.sub("\ufffd", value)


def _who(actor: Actor | None) -> str:
    if actor is None:
        return "(no target)"
    if actor.code and actor.name and actor.name != actor.code:
        return f"{actor.code} ({actor.name})"
    return actor.code or actor.name or "?"


def is_web_url(url: str) -> bool:
    """Tell whether a stored article address is a web page a browser may open (http or https)."""
    return re.match(r"(?i)https?://[^\s/]", url) is not None


def entry_title(event: StoredEvent) -> str:
    """`RUS (Russia) -> NATO: DEMAND: deny membership to Ukraine ...`"""
    return f"{_who(event.source)} -> {_who(event.target)}: {event.type}: {event.content}"


def build_feed(
    *, title: str, feed_url: str, page_url: str, base_url: str,
    entries: Sequence[tuple[StoredAlert, StoredEvent]],
) -> bytes:
    """Return an Atom document of alerts (newest first); `base_url` makes event links absolute."""
    ET.register_namespace("", ATOM)

    def sub(parent: ET.Element, tag: str, text: str | None = None, **attrs: str) -> ET.Element:
        node = ET.SubElement(parent, f"{{{ATOM}}}{tag}", attrs)
        if text is not None:
            node.text = _text(text)
        return node

    feed = ET.Element(f"{{{ATOM}}}feed")
    sub(feed, "title", title)
    sub(feed, "id", feed_url)
    sub(feed, "link", rel="self", href=feed_url, type="application/atom+xml")
    sub(feed, "link", rel="alternate", href=page_url, type="text/html")
    newest = max((a.created_at for a, _ in entries), default=None)
    sub(feed, "updated", iso_time(newest or dt.datetime.now(dt.timezone.utc)))
    author = sub(feed, "author")
    sub(author, "name", "newswatch")
    sub(feed, "generator", "newswatch")
    for alert, event in entries:
        entry = sub(feed, "entry")
        sub(entry, "id", f"urn:newswatch:alert:{alert.id}")
        sub(entry, "title", entry_title(event))
        sub(entry, "updated", iso_time(alert.created_at))
        sub(entry, "published", iso_time(alert.created_at))
        event_url = f"{base_url}events/{event.id}"
        sub(entry, "link", rel="alternate", href=event_url, type="text/html")
        article = event.mentions[0].article if event.mentions else None
        if article and is_web_url(article):
            sub(entry, "link", rel="related", href=_text(article), type="text/html")
        sub(entry, "category", term=alert.topic)
        sub(entry, "category", term=event.type)
        lines = [
            f"Topic: {alert.topic}",
            f"Source: {_who(event.source)}",
            f"Target: {_who(event.target)}",
            f"Type: {event.type}",
            f"Content: {event.content}",
            f"Date: {event.event_date.isoformat() if event.event_date else 'unknown'}",
            f"Article: {article or 'none'}",
            f"Event: {event_url}",
        ]
        sub(entry, "summary", "\n".join(lines), type="text")
    return ('<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(feed, encoding="unicode")).encode()
