"""Migrations create the schema the models describe, and nothing drifts."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Engine, inspect

from newswatch.db.migrate import upgrade
from newswatch.db.models import Base, include_object
from newswatch.db.session import connect


def _insert_article(conn: Any, at: Any) -> None:
    """One stored article (id 1) for a migration test's events to belong to."""
    from sqlalchemy import text

    conn.execute(text("INSERT INTO articles (id, url, canonical_url, title, text, text_hash, shingle_count, "
                      "ingested_at) VALUES (1, 'a.txt', 'a.txt', 't', 'x', 'h', 0, :at)"), {"at": at})


def _insert_event(conn: Any, at: Any) -> None:
    """One stored article (id 1) with one demand (id 1), as a migration test's starting rows."""
    from sqlalchemy import text

    _insert_article(conn, at)
    conn.execute(text("INSERT INTO events (id, event_key, type, content, event_date, article_id, first_seen) "
                      "VALUES (1, 'k', 'DEMAND', 'c', :day, 1, :at)"), {"day": at.date(), "at": at})


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    """The test's engine on the (unmigrated) database, disposed at the end."""
    with connect(database_url) as engine:
        yield engine


def test_upgrade_creates_every_table(db: str) -> None:
    with connect(db) as engine:
        tables = set(inspect(engine).get_table_names())
    assert set(Base.metadata.tables) <= tables
    assert "alembic_version" in tables


def test_models_and_migrations_do_not_drift(db: str) -> None:
    with connect(db) as engine, engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True,
                                                               "include_object": include_object})
        diff = compare_metadata(context, Base.metadata)
    assert diff == []


def test_upgrade_twice_is_a_no_op(db: str) -> None:
    with connect(db) as engine:
        upgrade(engine)
        upgrade(engine)
        assert "events" in inspect(engine).get_table_names()


def test_band_keys_move_under_their_articles_week(database_url: str, engine: Engine) -> None:
    """0002 keeps every stored band key, filed under the week of its article's date."""
    import datetime as dt

    from alembic import command
    from sqlalchemy import text

    from newswatch.db.migrate import alembic_config
    from newswatch.pipeline.dedup import band_bucket

    config = alembic_config(database_url)
    command.upgrade(config, "0001")
    published, ingested = dt.date(2022, 3, 9), dt.datetime(2023, 5, 1, 23, 30, tzinfo=dt.timezone.utc)
    with engine.begin() as conn:
        for id_, day in ((1, published), (2, None)):
            conn.execute(
                text("INSERT INTO articles (id, url, canonical_url, title, published, text, text_hash, "
                     "shingle_count, ingested_at) VALUES (:id, :url, :url, 't', :day, 'x', 'h', 0, :at)"),
                {"id": id_, "url": f"a{id_}.txt", "day": day, "at": ingested},
            )
        conn.execute(text("INSERT INTO article_bands (band, article_id) VALUES (:band, :id)"),
                     [{"band": band, "id": id_} for id_ in (1, 2) for band in (-(2**63), 5, 2**63 - 1)])
    command.upgrade(config, "head")
    with engine.connect() as conn:
        rows = set(conn.execute(text("SELECT bucket, band, article_id FROM article_bands")))
    weeks = {1: band_bucket(published), 2: band_bucket(ingested.date())}
    assert rows == {(weeks[id_], band, id_) for id_ in (1, 2) for band in (-(2**63), 5, 2**63 - 1)}
    command.downgrade(config, "0001")
    with engine.connect() as conn:
        rows = set(conn.execute(text("SELECT band, article_id FROM article_bands")))
    assert rows == {(band, id_) for id_ in (1, 2) for band in (-(2**63), 5, 2**63 - 1)}


def test_event_keys_get_their_date_in_front_and_back(database_url: str, engine: Engine) -> None:
    """0003 rewrites each stored key into the one the store step now computes for the event."""
    import datetime as dt
    import hashlib

    from alembic import command
    from sqlalchemy import text

    from newswatch.db.migrate import alembic_config
    from newswatch.pipeline.dedup import event_key
    from newswatch.pipeline.records import Actor, Event, EventType

    day = dt.date(2022, 1, 21)
    event = Event(type=EventType.DEMAND, source=Actor(name="Moscow", code="RUS", type="state"),
                  target=Actor(name="NATO", code="NATO", type="organisation"),
                  content="deny  Ukraine membership", sentence="s", start=0, end=1)
    old_key = hashlib.sha256("\x1f".join(
        ["DEMAND", "RUS", "NATO", "deny ukraine membership", day.isoformat()]).encode()).hexdigest()
    config = alembic_config(database_url)
    command.upgrade(config, "0002")
    with engine.begin() as conn:
        _insert_article(conn, dt.datetime(2022, 1, 21, tzinfo=dt.timezone.utc))
        conn.execute(text("INSERT INTO events (id, event_key, type, cameo, source_code, source_name, target_code, "
                          "target_name, content, event_date, article_id, first_seen) VALUES (1, :key, 'DEMAND', "
                          "'10', 'RUS', 'Moscow', 'NATO', 'NATO', 'deny  Ukraine membership', :day, 1, :day)"),
                     {"key": old_key, "day": day})
    command.upgrade(config, "head")
    with engine.connect() as conn:
        key = conn.scalar(text("SELECT event_key FROM events"))
    assert key == event_key(event, day) == f"2022-01-21/{old_key[:40]}"
    command.downgrade(config, "0002")
    with engine.connect() as conn:
        assert conn.scalar(text("SELECT event_key FROM events")) == old_key


def test_events_get_a_nullable_content_vector_and_lose_it_on_downgrade(database_url: str, engine: Engine) -> None:
    """0004 adds `events.content_vector`: stored events keep their rows and have no vector
    until a comparison computes one; downgrading drops the column and keeps the events."""
    import datetime as dt

    from alembic import command
    from sqlalchemy import text

    from newswatch.db.migrate import alembic_config

    config = alembic_config(database_url)
    command.upgrade(config, "0003")
    day = dt.date(2023, 7, 30)
    with engine.begin() as conn:
        _insert_article(conn, dt.datetime(2023, 7, 30, tzinfo=dt.timezone.utc))
        conn.execute(text("INSERT INTO events (id, event_key, type, source_code, source_name, target_code, "
                          "target_name, content, event_date, article_id, first_seen) VALUES (1, '2023-07-30/k', "
                          "'DEMAND', 'ECOWAS', 'ECOWAS', 'NER', 'Niger', 'reinstate the president', :day, 1, :day)"),
                     {"day": day})
    command.upgrade(config, "head")
    assert "content_vector" in {c["name"] for c in inspect(engine).get_columns("events")}
    with engine.begin() as conn:
        assert conn.scalar(text("SELECT content_vector FROM events")) is None
        conn.execute(text("UPDATE events SET content_vector = :v"), {"v": b"\x00\x3c" * 384})
        assert conn.scalar(text("SELECT content_vector FROM events")) == b"\x00\x3c" * 384
    command.downgrade(config, "0003")
    assert "content_vector" not in {c["name"] for c in inspect(engine).get_columns("events")}
    with engine.connect() as conn:
        assert conn.scalar(text("SELECT content FROM events")) == "reinstate the president"


def test_alert_states_are_rewritten_to_what_happened(database_url: str, engine: Engine) -> None:
    """0005: an alert written as `sent` with no channel becomes `stored`; one tried and still
    pending becomes `retrying`; untried pending and real sent ones keep their status."""
    import datetime as dt

    from alembic import command
    from sqlalchemy import text

    from newswatch.db.migrate import alembic_config

    config = alembic_config(database_url)
    command.upgrade(config, "0004")
    at = dt.datetime(2023, 7, 30, tzinfo=dt.timezone.utc)
    with engine.begin() as conn:
        _insert_event(conn, at)
        for n, (channel, status, attempts) in enumerate(
            [("", "sent", 0), ("json://h/a", "pending", 2), ("json://h/b", "pending", 0), ("json://h/c", "sent", 1)], 1
        ):
            conn.execute(text("INSERT INTO alerts (id, event_id, topic, channel, message, status, attempts, "
                              "created_at, sent_at) VALUES (:id, 1, 't', :channel, 'm', :status, :attempts, :at, "
                              ":sent)"),
                         {"id": n, "channel": channel, "status": status, "attempts": attempts, "at": at,
                          "sent": at if status == "sent" else None})
    command.upgrade(config, "head")
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT status, sent_at IS NULL FROM alerts ORDER BY id")).all()
    assert [tuple(r) for r in rows] == [("stored", True), ("retrying", True), ("pending", True), ("sent", False)]
    command.downgrade(config, "0004")
    with engine.connect() as conn:
        assert [r[0] for r in conn.execute(text("SELECT status FROM alerts ORDER BY id"))] == [
            "sent", "pending", "pending", "sent"]


def test_web_reads_widen_the_event_indexes_and_topic_matches_keep_why(database_url: str, engine: Engine) -> None:
    """0006: the event indexes on date and on each actor carry type and both codes (the web
    view's pages read them alone), alerts get an index by topic, and a topic match gains a
    nullable nearest example and cosine; stored matches keep their words. Downgrading puts
    the narrow indexes back and keeps the matches."""
    import datetime as dt

    from alembic import command
    from sqlalchemy import text

    from newswatch.db.migrate import alembic_config

    config = alembic_config(database_url)
    command.upgrade(config, "0005")
    at = dt.datetime(2023, 7, 30, tzinfo=dt.timezone.utc)
    with engine.begin() as conn:
        _insert_event(conn, at)
        conn.execute(text("INSERT INTO topic_matches (id, event_id, topic, words) VALUES (1, 1, 't', '[\"w\"]')"))

    def indexes(table: str) -> dict[str, list[str]]:
        return {i["name"]: list(i["column_names"]) for i in inspect(engine).get_indexes(table)}

    command.upgrade(config, "head")
    events = indexes("events")
    assert events["ix_events_event_date_type_source_code_target_code"] == [
        "event_date", "type", "source_code", "target_code"]
    assert events["ix_events_source_code_event_date_type_target_code"][:2] == ["source_code", "event_date"]
    assert events["ix_events_target_code_event_date_type_source_code"][:2] == ["target_code", "event_date"]
    assert events["ix_events_type_event_date_source_code_target_code"][:2] == ["type", "event_date"]
    assert "ix_events_event_date" not in events and "ix_events_source_code_event_date" not in events
    assert indexes("alerts")["ix_alerts_topic_id"] == ["topic", "id"]
    with engine.begin() as conn:
        assert tuple(conn.execute(text("SELECT example, score FROM topic_matches")).one()) == (None, None)
        conn.execute(text("UPDATE topic_matches SET example = 'Sweden joins NATO', score = 0.71"))
    command.downgrade(config, "0005")
    events = indexes("events")
    assert events["ix_events_event_date"] == ["event_date"]
    assert events["ix_events_source_code_event_date"] == ["source_code", "event_date"]
    assert "ix_alerts_topic_id" not in indexes("alerts")
    assert "ix_events_type_event_date_source_code_target_code" not in events
    assert "example" not in {c["name"] for c in inspect(engine).get_columns("topic_matches")}
    with engine.connect() as conn:
        assert conn.scalar(text("SELECT topic FROM topic_matches")) == "t"


def test_search_gets_a_trigram_index_on_postgresql(database_url: str, engine: Engine) -> None:
    """`--search` is LIKE '%word%' on lower(content): PostgreSQL serves it from a trigram index."""
    import sqlalchemy as sa

    upgrade(database_url)
    with engine.connect() as connection:
        names = {ix["name"] for ix in sa.inspect(connection).get_indexes("events")}
        if engine.dialect.name != "postgresql":
            assert "ix_events_content_trgm" not in names
            return
        assert "ix_events_content_trgm" in names
        connection.execute(sa.text("SET enable_seqscan = off"))
        plan = "\n".join(connection.execute(sa.text(
            "EXPLAIN SELECT id FROM events WHERE lower(content) LIKE '%ceasefire%'")).scalars())
    assert "ix_events_content_trgm" in plan, plan
    from alembic import command

    from newswatch.db.migrate import alembic_config

    command.downgrade(alembic_config(database_url), "0006")
    with engine.connect() as connection:
        assert "ix_events_content_trgm" not in {ix["name"] for ix in sa.inspect(connection).get_indexes("events")}
