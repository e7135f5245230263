"""The JSON shapes of SPEC.md: one function per record, shared by the CLI's `--json` and the web API."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the CLI imports this module on every read command: keep it light
    from newswatch.db.queries import StoredAlert, StoredArticle, StoredEvent
    from newswatch.pipeline.records import Actor
    from newswatch.pipeline.topics import Topic


def iso_time(value: dt.datetime | None) -> str | None:
    """Return a time as UTC `2026-11-28T10:00:00Z` (a naive one is taken to be UTC)."""
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.timezone.utc)
    return value.astimezone(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def actor_json(actor: Actor | None) -> dict[str, Any] | None:
    """Return an event's source or target as `{"code", "name"}`, or None."""
    return None if actor is None else {"code": actor.code, "name": actor.name}


def event_json(event: StoredEvent) -> dict[str, Any]:
    """Return an event as `newswatch events --json` prints it."""
    return {
        "id": event.id, "type": event.type, "cameo": event.cameo,
        "source": actor_json(event.source), "target": actor_json(event.target),
        "content": event.content,
        "event_date": event.event_date.isoformat() if event.event_date else None,
        "first_seen": iso_time(event.first_seen), "topics": event.topics,
        "mentions": [
            {"article": m.article, "sentence": m.sentence, "content": m.content}
            for m in event.mentions
        ],
    }


def article_json(article: StoredArticle) -> dict[str, Any]:
    """Return an article as `newswatch articles --json` prints it."""
    return {
        "id": article.id, "url": article.url, "title": article.title,
        "published": article.published.isoformat() if article.published else None,
        "source": article.source, "duplicate_of": article.duplicate_of,
        "actors": [{"code": x.code, "name": x.name, "type": x.type} for x in article.actors],
    }


def alert_json(alert: StoredAlert) -> dict[str, Any]:
    """Return an alert as `newswatch alerts --json` prints it: the channel with secrets hidden."""
    from newswatch.pipeline.alerts import redact_url

    return {
        "id": alert.id, "event_id": alert.event_id, "topic": alert.topic,
        "channel": redact_url(alert.channel), "status": alert.status, "attempts": alert.attempts,
        "created_at": iso_time(alert.created_at), "sent_at": iso_time(alert.sent_at),
        "message": alert.message,
    }


def topic_json(topic: Topic, file: Path | str) -> dict[str, Any]:
    """Return a tracked topic as `newswatch topics --json` prints it (its channels left out)."""
    return {
        "slug": topic.slug, "name": topic.name, "description": topic.description,
        "actors": list(topic.actors), "event_types": list(topic.event_types),
        "patterns": len(topic.patterns), "file": str(file),
    }
