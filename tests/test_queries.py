"""Upserts are idempotent and reads return what was stored, on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from newswatch.db import outbox, queries, store
from newswatch.db.session import open_session
from newswatch.pipeline.records import Actor, Event, EventType

RUS = Actor("Russia", "RUS", "state")
NATO = Actor("NATO", "NATO", "organisation")


def _article(url: str, **extra: object) -> dict[str, object]:
    values: dict[str, object] = {
        "url": url, "canonical_url": url, "title": "t", "byline": None, "source": None,
        "published": dt.date(2021, 12, 17), "text": f"text of {url}", "text_hash": f"h-{url}",
        "duplicate_of_id": None,
    }
    values.update(extra)
    return values


def _event(content: str, start: int = 0) -> Event:
    return Event(EventType.DEMAND, RUS, NATO, content, f"Russia demanded NATO {content}.", start, start + 40)


def test_save_article_twice_keeps_one_row(db: str) -> None:
    with open_session(db) as session, session.begin():
        first, created = store.save_article(session, _article("a.txt"))
        again, created_again = store.save_article(session, _article("a.txt"))
    assert created and not created_again and first == again


def test_events_with_mentions_topics_and_filters(db: str) -> None:
    with open_session(db) as session, session.begin():
        a1, _ = store.save_article(session, _article("a.txt"))
        a2, _ = store.save_article(session, _article("b.txt"))
        e1, new1 = store.save_event(session, _event("deny membership"), event_key="k1",
                                      article_id=a1, event_date=dt.date(2021, 12, 17))
        e1b, new1b = store.save_event(session, _event("deny membership"), event_key="k1",
                                        article_id=a2, event_date=dt.date(2021, 12, 17))
        assert new1 and not new1b and e1 == e1b
        assert store.save_mention(session, e1, a1, _event("deny membership"))
        assert store.save_mention(session, e1, a2, _event("deny membership", 5))
        assert not store.save_mention(session, e1, a2, _event("deny membership", 5))
        e2, _ = store.save_event(session, _event("end drills"), event_key="k2", article_id=a1,
                                   event_date=dt.date(2021, 12, 10))
        store.save_topic_matches(session, e1, [])
        from newswatch.pipeline.records import TopicMatch

        store.save_topic_matches(session, e1, [TopicMatch("nato-enlargement", ("membership",))])
        store.save_topic_matches(session, e1, [TopicMatch("nato-enlargement", ("membership",))])
    with open_session(db) as session:
        events = queries.list_events(session, queries.EventFilters())
        assert [e.id for e in events] == [e1, e2]  # newest first
        assert [m.article for m in events[0].mentions] == ["a.txt", "b.txt"]
        assert events[0].topics == ["nato-enlargement"]
        assert events[0].source == Actor("Russia", "RUS", "")
        only_topic = queries.list_events(session, queries.EventFilters(topic="nato-enlargement"))
        assert [e.id for e in only_topic] == [e1]
        assert [e.id for e in queries.list_events(session, queries.EventFilters(since=dt.date(2021, 12, 15)))] == [e1]
        assert [e.id for e in queries.list_events(session, queries.EventFilters(search="DRILLS"))] == [e2]
        assert queries.list_events(session, queries.EventFilters(actor="usa")) == []
        assert len(queries.list_events(session, queries.EventFilters(actor="nato"))) == 2


def test_save_events_in_one_statement_reports_new_and_stored_per_event(db: str) -> None:
    """A stored key, a new key and a key given twice: ids in event order, only first uses new."""
    day = dt.date(2021, 12, 17)
    with open_session(db) as session, session.begin():
        a1, _ = store.save_article(session, _article("a.txt"))
        stored, _ = store.save_event(session, _event("deny membership"), event_key="k1", article_id=a1, event_date=day)
        saved = store.save_events(
            session,
            [(_event("end drills"), "k2"), (_event("deny membership"), "k1"), (_event("end drills", 9), "k2"),
             (_event("pull back troops"), "k3")],
            article_id=a1, event_date=day,
        )
        assert store.save_events(session, [], article_id=a1, event_date=day) == []
        store.save_mentions(session, a1, [(saved[0][0], _event("end drills")), (saved[3][0], _event("pull back troops", 50))])
        store.save_mentions(session, a1, [(saved[0][0], _event("end drills"))])  # again: no second row
    (k2, new2), (k1, new1), (k2_again, new2_again), (k3, new3) = saved
    assert (k1, new1) == (stored, False)
    assert new2 and not new2_again and k2 == k2_again
    assert new3 and len({stored, k2, k3}) == 3
    with open_session(db) as session:
        events = {e.id: e for e in queries.list_events(session, queries.EventFilters())}
        assert sorted(events) == sorted([stored, k2, k3])
        assert events[k3].content == "pull back troops"
        assert [m.article for m in events[k2].mentions] == ["a.txt"]


def test_list_known_urls_answers_for_many_urls_at_once(db: str) -> None:
    with open_session(db) as session, session.begin():
        for url in ("a.txt", "b.txt"):
            store.save_article(session, _article(url))
    with open_session(db) as session:
        asked = ["b.txt", "c.txt", "a.txt"] + [f"n{i}.txt" for i in range(1200)]  # more than one chunk
        assert store.list_known_urls(session, asked) == {"a.txt", "b.txt"}
        assert store.list_known_urls(session, []) == set()


def test_filters_bind_sql_looking_text(db: str) -> None:
    """Filters are bound parameters: SQL in a filter is just text that matches nothing."""
    with open_session(db) as session:
        hostile = "x' OR '1'='1"
        assert queries.list_events(session, queries.EventFilters(search=hostile, actor=hostile, topic=hostile)) == []


def test_alert_outbox_is_unique_per_event_topic_channel(db: str) -> None:
    with open_session(db) as session, session.begin():
        a1, _ = store.save_article(session, _article("a.txt"))
        e1, _ = store.save_event(session, _event("x"), event_key="k", article_id=a1, event_date=None)
        first = store.save_alert(session, event_id=e1, topic="t", channel="json://h/p", message="m", status="pending")
        second = store.save_alert(session, event_id=e1, topic="t", channel="json://h/p", message="m", status="pending")
        assert first is not None and second is None
        assert outbox.claim_alert(session, first, 0)
        outbox.save_alert_failed(session, first, "HTTP 500", max_attempts=10)
        assert outbox.claim_alert(session, first, 1)
        outbox.save_alert_sent(session, first)
    with open_session(db) as session:
        (alert,) = queries.list_alerts(session)
        assert (alert.status, alert.attempts, alert.last_error) == ("sent", 2, None)
        assert alert.sent_at is not None


def test_sqlite_connections_get_wal_a_busy_timeout_and_a_big_page_cache(tmp_path: Path) -> None:
    """Every pooled SQLite connection is set up for one writer and many readers at scale."""
    from sqlalchemy import text

    from newswatch.db.session import SQLITE_BUSY_TIMEOUT_MS, SQLITE_CACHE_KB, connect

    with connect(f"sqlite:///{tmp_path / 'p.db'}") as engine, engine.connect() as conn:
        pragmas = {name: conn.scalar(text(f"PRAGMA {name}"))
                   for name in ("journal_mode", "busy_timeout", "foreign_keys", "synchronous", "cache_size")}
    assert pragmas == {"journal_mode": "wal", "busy_timeout": SQLITE_BUSY_TIMEOUT_MS, "foreign_keys": 1,
                       "synchronous": 1, "cache_size": -SQLITE_CACHE_KB}


def _actors_event(content: str, source: Actor, target: Actor | None, kind: EventType = EventType.DEMAND) -> Event:
    return Event(kind, source, target, content, f"{source.name} said: {content}.", 0, 10)


def test_web_view_reads_event_detail_facets_actors_and_feed_entries(db: str) -> None:
    """The web view's reads: an event with every report and why it matched, facets bounded by
    a cap, an actor's events by type, month and counterpart, actors by events, feed entries one
    per event and topic whatever the number of channels."""
    from newswatch.pipeline.records import TopicMatch

    usa = Actor("United States", "USA", "state")
    with open_session(db) as session, session.begin():
        a1, _ = store.save_article(session, _article("https://example.org/a", title="A", source="Outlet"))
        a2, _ = store.save_article(session, _article("b.txt", published=dt.date(2022, 1, 3)))
        e1, _ = store.save_event(session, _actors_event("deny membership", RUS, NATO), event_key="k1",
                                 article_id=a1, event_date=dt.date(2021, 12, 17))
        store.save_mention(session, e1, a1, _actors_event("deny membership", RUS, NATO))
        store.save_mention(session, e1, a2, _actors_event("deny membership", RUS, NATO))
        e2, _ = store.save_event(session, _actors_event("bold demands", usa, RUS, EventType.REJECT), event_key="k2",
                                 article_id=a2, event_date=dt.date(2022, 1, 3))
        e3, _ = store.save_event(session, _actors_event("security guarantees", RUS, None), event_key="k3",
                                 article_id=a2, event_date=dt.date(2022, 1, 3))
        store.save_topic_matches(session, e1, [TopicMatch("nato-enlargement", ("membership",)),
                                               TopicMatch("security", (), example="a pact for Europe", score=0.71)])
        store.save_topic_matches(session, e3, [TopicMatch("security", ("guarantees",))])
        for channel in ("", "json://h/1", "json://h/2"):
            store.save_alert(session, event_id=e1, topic="nato-enlargement", channel=channel, message="m", status="stored")
        store.save_alert(session, event_id=e3, topic="security", channel="", message="m", status="stored")
    with open_session(db) as session:
        detail = queries.get_event_detail(session, e1)
        assert detail is not None and queries.get_event_detail(session, 10_000) is None
        assert [(m.url, m.title, m.source) for m in detail.mentions] == [
            ("https://example.org/a", "A", "Outlet"), ("b.txt", "t", None)]
        assert [(r.topic, r.words, r.example, r.score) for r in detail.reasons] == [
            ("nato-enlargement", ["membership"], None, None), ("security", [], "a pact for Europe", 0.71)]
        assert len(detail.alerts) == 3

        facets = queries.count_facets(session, queries.EventFilters())
        assert (facets.counted, facets.capped) == (3, False)
        assert dict(facets.types) == {"DEMAND": 2, "REJECT": 1}
        assert dict(facets.actors) == {"RUS": 3, "NATO": 1, "USA": 1}
        assert dict(facets.topics) == {"security": 2, "nato-enlargement": 1}
        assert facets.days == [("2021-12-17", 1), ("2022-01-03", 2)]
        capped = queries.count_facets(session, queries.EventFilters(actor="RUS"), cap=2)
        assert (capped.counted, capped.capped) == (2, True)  # the newest two: both of 2022-01-03
        assert dict(capped.types) == {"DEMAND": 1, "REJECT": 1}

        rus = queries.get_actor(session, "RUS")
        assert rus is not None and (rus.made, rus.received) == (2, 1)
        assert rus.made_by_type == {"DEMAND": 2} and rus.received_by_type == {"REJECT": 1}
        assert rus.months == [("2021-12", 1, 0), ("2022-01", 1, 1)]
        assert {(c.code, c.made_to, c.received_from) for c in rus.counterparts} == {
            ("NATO", 1, 0), (None, 1, 0), ("USA", 0, 1)}
        assert rus.names == ["Russia"]
        assert queries.get_actor(session, "RUS", type="REJECT").made == 0  # type: ignore[union-attr]
        assert queries.get_actor(session, "XYZ") is None
        assert [(a.code, a.made, a.received) for a in queries.list_actors(session)] == [
            ("RUS", 2, 1), ("NATO", 0, 1), ("USA", 1, 0)]
        assert [a.code for a in queries.list_actors(session, limit=1, offset=1)] == ["NATO"]

        entries = queries.list_alert_entries(session)
        assert [(a.event_id, a.topic) for a, _ in entries] == [(e3, "security"), (e1, "nato-enlargement")]
        assert entries[1][0].channel == ""  # the first alert raised for the event and topic
        assert [a.event_id for a, _ in queries.list_alert_entries(session, topic="security")] == [e3]
        assert queries.count_topic_events(session) == {"nato-enlargement": 1, "security": 2}
        assert queries.count_topic_alerts(session) == {"nato-enlargement": 3, "security": 1}
        assert queries.topic_is_stored(session, "security") and not queries.topic_is_stored(session, "nope")
        newest = queries.list_alerts(session, newest_first=True, limit=2, offset=1)
        assert [a.event_id for a in newest] == [e1, e1]


def test_a_topic_filter_finds_the_same_events_walking_or_collecting(db: str) -> None:
    """`is_common_topic` only picks the plan: walking the newest events and checking each in the
    topic index returns what collecting the topic's events and sorting them returns."""
    from newswatch.pipeline.records import TopicMatch

    with open_session(db) as session, session.begin():
        a1, _ = store.save_article(session, _article("a.txt"))
        for i in range(30):
            e, _ = store.save_event(session, _event(f"demand {i}"), event_key=f"k{i}", article_id=a1,
                                    event_date=dt.date(2021, 12, 1) + dt.timedelta(days=i % 7))
            if i % 3 == 0:
                store.save_topic_matches(session, e, [TopicMatch("t", ("w",))])
    with open_session(db) as session:
        for filters in (queries.EventFilters(topic="t", limit=4), queries.EventFilters(topic="t", limit=4, offset=4),
                        queries.EventFilters(topic="t", actor="RUS", since=dt.date(2021, 12, 3), limit=50)):
            found = [[e.id for e in session.scalars(queries.select_events(filters, common_topic=common))]
                     for common in (False, True)]
            assert found[0] == found[1] and found[0]
        assert queries.is_common_topic(session, queries.EventFilters(topic="t", limit=1))  # 1 * 30 / 10 < 100
        assert not queries.is_common_topic(session, queries.EventFilters(topic="t", limit=1000))
        assert not queries.is_common_topic(session, queries.EventFilters(topic="none", limit=1))
