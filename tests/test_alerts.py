"""Alerts: messages, secrets, delivery to a real HTTP server on 127.0.0.1, and the outbox."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
import json
import logging
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from newswatch.pipeline.alerts import (
    NO_CHANNEL,
    PendingAlert,
    alert_message,
    build_alerts,
    build_digest,
    redact_url,
    scrub,
    send_alerts,
    split_message,
)
from newswatch.pipeline.errors import AlertError
from newswatch.pipeline.records import Actor, Article, Event, EventType, TopicMatch

RUS = Actor("Russia", "RUS", "state")
NATO = Actor("NATO", "NATO", "organisation")
EVENT = Event(EventType.DEMAND, RUS, NATO, "deny membership to Ukraine",
              "Russia demanded NATO deny membership to Ukraine.", 0, 48)
ARTICLE = Article(url="https://news.example/russia-pacts", title="Russia demands <b>pacts</b>",
                  text="...", published=dt.date(2021, 12, 17))
MATCH = TopicMatch("nato-enlargement", ("membership",))


# ---------------------------------------------------------------------------------------------
# A real webhook receiver


class Receiver:
    """A JSON webhook server on 127.0.0.1 that records deliveries and can be told to fail."""

    def __init__(self, port: int = 0) -> None:
        self.received: list[dict[str, Any]] = []
        self.paths: list[str] = []
        self.fail_with: int | None = None
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                if receiver.fail_with:
                    self.send_response(receiver.fail_with)
                    self.end_headers()
                    return
                receiver.received.append(json.loads(body))
                receiver.paths.append(self.path)
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def url(self, path: str = "/hook") -> str:
        return f"json://127.0.0.1:{self.port}{path}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = Receiver()
    yield server
    server.close()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# ---------------------------------------------------------------------------------------------
# Secrets


@pytest.mark.parametrize("url,shown", [
    ("json://user:s3cret@127.0.0.1:8080/hook?token=abc", "json://user:****@127.0.0.1:8080/hook"),
    ("json://127.0.0.1:9000/alerts?format=markdown", "json://127.0.0.1:9000/alerts?format=markdown"),
    ("mailto://me:hunter2@gmail.com", "mailtos://me:****@gmail.com/"),
    ("slack://T1234ABCD/B5678EFGH/xoxbsecret9876/#news", "slack://T...D/B...H/x...6/%23news/"),
    ("json://127.0.0.1:9000/alerts", "json://127.0.0.1:9000/alerts"),
    ("nosuchscheme://host/T0PSECRET", "nosuchscheme://***"),
    ("slack://not-a-token!/x/y", "slack://***"),
    ("no url at all", "***"),
    ("", ""),
])
def test_redact_url_shows_what_apprise_shows_in_privacy_mode(url: str, shown: str) -> None:
    """Apprise's own privacy form per plugin (only the query parameters the URL gives), or
    only the scheme when Apprise cannot load the URL."""
    assert redact_url(url) == shown


@pytest.mark.parametrize("url,secrets", [
    ("slack://TOKENA/TOKENB/TOKENC", ["TOKENA", "TOKENB", "TOKENC"]),
    ("mailto://user:pass@example.com", ["pass"]),
    ("json://user:pass@host/path", ["pass"]),
    ("discord://1234567890/AbCdEfGhIjKlMnOpQrStUvWxYz0123456789",
     ["1234567890", "AbCdEfGhIjKlMnOpQrStUvWxYz0123456789"]),
    ("tgram://123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw/-100123456", ["AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw"]),
    # Apprise's privacy form shows HTTP header and payload values as given: newswatch hides them
    ("json://host/path?+Authorization=Bearer%20S3CRETX&:apikey=PAYS3CRET", ["S3CRETX", "PAYS3CRET"]),
])
def test_no_secret_part_of_a_real_apprise_url_is_shown_or_left_in_text(url: str, secrets: list[str]) -> None:
    shown = redact_url(url)
    text = scrub(f"delivery to {url} failed: {' and '.join(secrets)} refused", [url])
    for secret in secrets:
        assert secret not in shown and secret not in text, (secret, shown, text)
    assert shown.partition("://")[0] in ("slack", "mailto", "json", "discord", "tgram")


def test_redacting_a_bad_url_does_not_log_its_tokens(caplog: pytest.LogCaptureFixture) -> None:
    """Apprise's warning about a URL it cannot load quotes the token ("An invalid Slack (first)
    Token (...) was specified"); redacting, which loads the URL, must not log it."""
    with caplog.at_level(logging.DEBUG):
        assert redact_url("slack://BADT0KEN!!/B5678EFGH/xoxb9876") == "slack://***"
    assert "BADT0KEN" not in caplog.text


def test_scrub_removes_every_secret_of_a_channel_from_text() -> None:
    url = "json://user:s3cretpw@127.0.0.1:8080/hook?apikey=K3Y123456"
    text = f"failed {url} with s3cretpw and K3Y123456"
    assert "s3cretpw" not in scrub(text, [url]) and "K3Y123456" not in scrub(text, [url])


# ---------------------------------------------------------------------------------------------
# Messages


def test_text_alert_names_everything_a_reader_needs() -> None:
    (alert,) = build_alerts(7, EVENT, [MATCH], ARTICLE, ["json://127.0.0.1:1/h"])
    title, body = split_message(alert_message(alert))
    assert title == "[nato-enlargement] RUS (Russia) -> NATO: DEMAND"
    assert body.splitlines() == [
        "Topic: nato-enlargement",
        "Event: RUS (Russia) -> NATO: DEMAND",
        "Content: deny membership to Ukraine",
        "Matched: membership",
        "Article: Russia demands <b>pacts</b> (https://news.example/russia-pacts)",
        "Date: 2021-12-17",
    ]
    assert (alert.event_id, alert.topic, alert.extra["format"]) == (7, "nato-enlargement", "text")


def test_a_match_by_meaning_names_its_nearest_example() -> None:
    from newswatch.pipeline.records import TopicMatch

    meant = TopicMatch("nato-enlargement", example="The allies refused to give Kyiv a timetable.",
                       score=0.694)
    (alert,) = build_alerts(7, EVENT, [meant], ARTICLE, ["json://127.0.0.1:1/h"])
    _, body = split_message(alert_message(alert))
    assert ("Matched: by meaning (near 0.69: The allies refused to give Kyiv a timetable.)"
            in body.splitlines())


def test_html_channel_escapes_article_markup() -> None:
    (alert,) = build_alerts(1, EVENT, [MATCH], ARTICLE, ["mailto://me:pw@example.org"])
    assert alert.extra["format"] == "html"
    assert "Russia demands &lt;b&gt;pacts&lt;/b&gt;" in alert.body
    assert '<a href="https://news.example/russia-pacts">' in alert.body
    assert "<b>pacts</b>" not in alert.body


def test_markdown_channel_escapes_article_markup() -> None:
    evil = Article(url="https://x.example/a", title="[click](http://evil) *now*", text="")
    (alert,) = build_alerts(1, EVENT, [MATCH], evil, ["slack://T1234ABCD/B5678EFGH/xoxbsecret9876"])
    assert alert.extra["format"] == "markdown"
    assert r"\[click\]\(http://evil\) \*now\*" in alert.body


def test_one_alert_per_topic_per_channel_and_stored_only_without_channels() -> None:
    second = TopicMatch("security-guarantees", ("guarantees",))
    alerts = build_alerts(1, EVENT, [MATCH, second], ARTICLE, ["json://a:1/x", "json://b:1/y"],
                          topic_channels={"sanctions": ["json://c:1/z"]})
    assert {(a.topic, a.channel) for a in alerts} == {
        (t, c) for t in ("nato-enlargement", "security-guarantees")
        for c in ("json://a:1/x", "json://b:1/y")
    }
    assert [a.channel for a in build_alerts(1, EVENT, [MATCH], ARTICLE, [])] == [NO_CHANNEL]
    extra = build_alerts(1, EVENT, [MATCH], ARTICLE, [], topic_channels={"nato-enlargement": ["json://c:1/z"]})
    assert [a.channel for a in extra] == ["json://c:1/z"]
    assert build_alerts(1, EVENT, [], ARTICLE, ["json://a:1/x"]) == []


def test_digest_lists_every_alert() -> None:
    messages = [f"[t{i}] RUS -> NATO: DEMAND\n\nContent: c{i}" for i in range(3)]
    title, body = build_digest(messages, "text")
    assert title == "newswatch: 3 alerts (t0, t1, t2)"
    assert all(f"Content: c{i}" in body for i in range(3))


# ---------------------------------------------------------------------------------------------
# Delivery to a real local server


def test_delivery_to_a_local_json_webhook(receiver: Receiver) -> None:
    (alert,) = build_alerts(1, EVENT, [MATCH], ARTICLE, [receiver.url()])
    deliveries = list(send_alerts([PendingAlert(5, alert.channel, alert_message(alert))]))
    assert [(d.alert_id, d.ok, d.error) for d in deliveries] == [(5, True, None)]
    (payload,) = receiver.received
    assert payload["title"] == "[nato-enlargement] RUS (Russia) -> NATO: DEMAND"
    assert "Content: deny membership to Ukraine" in payload["message"]
    assert receiver.paths == ["/hook"]


def test_a_failing_channel_is_reported_without_raising_or_leaking_secrets(
    receiver: Receiver, caplog: pytest.LogCaptureFixture
) -> None:
    receiver.fail_with = 500
    secret_url = f"json://user:s3cretpw@127.0.0.1:{receiver.port}/hook?token=T0KEN12345"
    closed = f"json://127.0.0.1:{_free_port()}/hook"
    with caplog.at_level(logging.DEBUG):
        deliveries = list(send_alerts([(1, secret_url, "t\n\nb"), (2, closed, "t\n\nb"),
                                       (3, "nosuchscheme://x", "t\n\nb")]))
    assert [d.ok for d in deliveries] == [False, False, False]
    assert "error=500" in (deliveries[0].error or "")
    assert "Connection error" in (deliveries[1].error or "")
    assert "not a valid Apprise URL" in (deliveries[2].error or "")
    everything = caplog.text + " ".join(d.error or "" for d in deliveries)
    assert "s3cretpw" not in everything and "T0KEN12345" not in everything


def test_more_alerts_than_the_threshold_become_one_digest(receiver: Receiver) -> None:
    pending = [(i, receiver.url(), f"[t] A -> B: DEMAND\n\nContent: c{i}") for i in range(4)]
    deliveries = list(send_alerts(pending, digest_threshold=3))
    assert [d.ok for d in deliveries] == [True] * 4
    (digest,) = receiver.received
    assert digest["title"] == "newswatch: 4 alerts (t)"
    assert all(f"c{i}" in digest["message"] for i in range(4))
    receiver.received.clear()
    assert all(d.ok for d in send_alerts(pending[:3], digest_threshold=3))
    assert len(receiver.received) == 3


def test_a_notifier_that_raises_alert_error_fails_only_its_alert() -> None:
    def flaky(channel: str, title: str, body: str, fmt: str) -> None:
        if "bad" in channel:
            raise AlertError(f"{channel}: down")

    deliveries = list(send_alerts([(1, "json://bad:1/x", "t\n\nb"), (2, "json://good:1/x", "t\n\nb")],
                                  notifier=flaky))
    assert [(d.alert_id, d.ok) for d in deliveries] == [(1, False), (2, True)]


# ---------------------------------------------------------------------------------------------
# The outbox: alerts stored with their event, delivered afterwards, exactly once


def _settings(database_url: str, notify: str = "", **extra: Any):  # type: ignore[no-untyped-def]
    from newswatch.pipeline.settings import Settings

    return Settings(database_url=database_url, notify=notify, **extra)


def _queue(database_url: str, channel: str, count: int = 1) -> list[int]:
    """Store one article with `count` events, each with a pending alert on `channel`."""
    from newswatch.db import store
    from newswatch.db.session import open_session

    ids = []
    with open_session(database_url) as session, session.begin():
        article_id, _ = store.save_article(session, {
            "url": "a.txt", "canonical_url": "a.txt", "title": "t", "byline": None,
            "source": None, "published": dt.date(2021, 12, 17), "text": "x", "text_hash": "h",
            "duplicate_of_id": None,
        })
        for i in range(count):
            event_id, _ = store.save_event(session, EVENT, event_key=f"k{i}",
                                             article_id=article_id, event_date=None)
            (alert,) = build_alerts(event_id, EVENT, [MATCH], ARTICLE, [channel])
            alert_id = store.save_alert(session, event_id=event_id, topic=alert.topic,
                                          channel=channel, message=alert_message(alert),
                                          status="pending")
            assert alert_id is not None
            ids.append(alert_id)
    return ids


def _statuses(database_url: str) -> list[tuple[str, int]]:
    from newswatch.db import queries
    from newswatch.db.session import open_session

    with open_session(database_url) as session:
        return [(a.status, a.attempts) for a in queries.list_alerts(session)]


def test_a_channel_that_fails_then_recovers_gets_each_alert_exactly_once(
    db: str, receiver: Receiver
) -> None:
    from newswatch.flows._steps import deliver

    settings = _settings(db, receiver.url(), alert_max_attempts=2)
    _queue(db, receiver.url())
    receiver.fail_with = 500
    assert deliver(settings) == (0, 1)
    assert _statuses(db) == [("retrying", 1)]
    assert deliver(settings) == (0, 1)
    assert _statuses(db) == [("failed", 2)]  # out of attempts: given up
    receiver.fail_with = None
    assert deliver(settings) == (0, 0)  # a failed alert is not retried by itself
    from newswatch.db import outbox
    from newswatch.db.session import open_session

    with open_session(db) as session, session.begin():
        (alert,) = outbox.find_alerts(session, [])
        outbox.reroute_alert(session, alert, [receiver.url()])
    assert deliver(settings) == (1, 0)
    assert deliver(settings) == (0, 0)
    assert _statuses(db) == [("sent", 1)]
    assert len(receiver.received) == 1


def test_a_closed_port_keeps_alerts_pending_until_the_server_starts(db: str) -> None:
    from newswatch.flows._steps import deliver

    port = _free_port()
    channel = f"json://127.0.0.1:{port}/later"
    settings = _settings(db, channel)
    _queue(db, channel, count=2)
    assert deliver(settings) == (0, 2)
    assert _statuses(db) == [("retrying", 1), ("retrying", 1)]
    server = Receiver(port)
    try:
        assert deliver(settings) == (2, 0)
        assert deliver(settings) == (0, 0)
        assert len(server.received) == 2
    finally:
        server.close()


def test_an_attempt_is_claimed_once(db: str, receiver: Receiver) -> None:
    """Two runs that read the same pending alert cannot both send it."""
    from newswatch.db import outbox
    from newswatch.db.session import open_session

    (alert_id,) = _queue(db, receiver.url())
    with open_session(db) as session, session.begin():
        assert outbox.claim_alert(session, alert_id, 0)
        assert not outbox.claim_alert(session, alert_id, 0)
        outbox.save_alert_sent(session, alert_id)
        assert not outbox.claim_alert(session, alert_id, 1)
    with open_session(db) as session:
        assert outbox.list_undelivered_alerts(session) == []


def test_a_busy_run_sends_one_digest_per_channel(db: str, receiver: Receiver) -> None:
    from newswatch.flows._steps import deliver

    _queue(db, receiver.url(), count=3)
    assert deliver(_settings(db, receiver.url(), digest_threshold=2)) == (3, 0)
    (digest,) = receiver.received
    assert digest["title"] == "newswatch: 3 alerts (nato-enlargement)"
    assert _statuses(db) == [("sent", 1)] * 3


# ---------------------------------------------------------------------------------------------
# Alerts from the store step and the ingest flow: new events only, each delivered once


def _seed_article(url: str = "seed.txt", text: str | None = None) -> Article:
    from pathlib import Path

    from newswatch.pipeline.clean import clean_article

    raw = (Path(__file__).resolve().parent.parent / "seeds" / "000_30228fdb78730024.txt").read_text()
    article = clean_article(raw, url=url, published=dt.date(2021, 12, 17), source=None)
    if text is None:
        return article
    return Article(url=url, title="Moscow repeats its demands", text=text,
                   published=dt.date(2021, 12, 17))


def _topics_alerted(database_url: str) -> list[str]:
    from newswatch.db import queries
    from newswatch.db.session import open_session

    with open_session(database_url) as session:
        return [a.topic for a in queries.list_alerts(session)]


def test_no_alert_for_a_rerun_a_copy_or_a_merged_event(db: str, nlp, receiver: Receiver) -> None:  # type: ignore[no-untyped-def]
    from newswatch.flows._steps import deliver, store
    from newswatch.pipeline.analysis import extract

    settings = _settings(db, receiver.url(), digest_threshold=1000)
    seed = _seed_article()
    (outcome,) = store(extract(nlp, [seed], settings), settings)
    assert outcome.alerts_raised >= 1 and "nato-enlargement" in _topics_alerted(db)
    raised = len(_topics_alerted(db))
    assert deliver(settings) == (raised, 0)
    assert len(receiver.received) == raised

    # the same input again: nothing new to store, nothing to send
    (again,) = store(extract(nlp, [seed], settings), settings)
    assert again.known and again.alerts_raised == 0
    # a syndicated copy under another URL: a duplicate, whose events raise no alert
    (copy,) = store(extract(nlp, [_seed_article("copy.txt")], settings), settings)
    assert copy.duplicate and copy.alerts_raised == 0
    # a follow-up restating the seed's first demand: the event merges and raises no alert
    first = seed.text.split("\n")[0]
    follow = _seed_article("follow.txt", first + "\nThe weather in Moscow stayed cold all week.")
    (merged,) = store(extract(nlp, [follow], settings), settings)
    assert not merged.duplicate and merged.events_merged >= 1 and merged.alerts_raised == 0
    assert deliver(settings) == (0, 0)
    assert len(_topics_alerted(db)) == raised and len(receiver.received) == raised


@pytest.mark.slow
@pytest.mark.usefixtures("prefect_harness")
def test_ingest_flow_delivers_once_across_a_failing_then_recovering_channel(
    settings_env: str, receiver: Receiver, monkeypatch: pytest.MonkeyPatch, tmp_path
) -> None:  # type: ignore[no-untyped-def]
    from newswatch.flows.ingest import ingest

    monkeypatch.setenv("NEWSWATCH_NOTIFY", receiver.url("/flow"))
    monkeypatch.setenv("NEWSWATCH_ALERT_RETRIES", "1")
    monkeypatch.setenv("NEWSWATCH_ALERT_RETRY_DELAY", "0.1")
    monkeypatch.setenv("NEWSWATCH_DIGEST_THRESHOLD", "1000")
    seed = str(Path(__file__).resolve().parent.parent / "seeds" / "000_30228fdb78730024.txt")

    receiver.fail_with = 500
    down = ingest(inputs=[seed], published=dt.date(2021, 12, 17))
    assert down.alerts_raised >= 1 and down.alerts_sent == 0
    assert down.alerts_failed == down.alerts_raised
    assert {status for status, attempts in _statuses(settings_env)} == {"retrying"}
    assert {attempts for status, attempts in _statuses(settings_env)} == {2}  # task retried once

    receiver.fail_with = None
    rerun = ingest(inputs=[seed], published=dt.date(2021, 12, 17))
    assert rerun.articles_known == 1 and rerun.alerts_raised == 0
    assert rerun.alerts_sent == down.alerts_raised and rerun.alerts_failed == 0
    third = ingest(inputs=[seed], published=dt.date(2021, 12, 17))
    assert third.alerts_sent == 0
    assert len(receiver.received) == down.alerts_raised
    assert {status for status, _ in _statuses(settings_env)} == {"sent"}


def test_alerts_command_redacts_channels_and_filters_by_status(settings_env: str) -> None:
    from typer.testing import CliRunner

    from newswatch.cli import app
    from newswatch.db.migrate import upgrade

    upgrade(settings_env)
    secret = "json://user:s3cretpw@127.0.0.1:9/hook?token=T0KEN12345"
    _queue(settings_env, secret)
    runner = CliRunner()
    result = runner.invoke(app, ["alerts", "--json"])
    assert result.exit_code == 0, result.output
    (row,) = [json.loads(line) for line in result.output.splitlines()]
    assert row["channel"] == "json://user:****@127.0.0.1:9/hook"
    assert (row["status"], row["attempts"], row["sent_at"]) == ("pending", 0, None)
    assert row["message"].startswith("[nato-enlargement] RUS (Russia) -> NATO: DEMAND\n\n")
    assert set(row) == {"id", "event_id", "topic", "channel", "status", "attempts", "created_at",
                        "sent_at", "message"}
    assert runner.invoke(app, ["alerts", "--json", "--status", "sent"]).output == ""
    table = runner.invoke(app, ["alerts"], env={"COLUMNS": "250"})
    assert table.exit_code == 0 and "s3cretpw" not in table.output and "T0KEN12345" not in table.output
    bad = runner.invoke(app, ["alerts", "--status", "lost"])
    assert bad.exit_code == 2


def test_a_channel_removed_from_the_settings_is_left_alone(db: str, receiver: Receiver) -> None:
    from newswatch.flows._steps import deliver

    _queue(db, "json://127.0.0.1:9/removed")
    assert deliver(_settings(db, receiver.url())) == (0, 0)
    assert deliver(_settings(db, "")) == (0, 0)
    assert _statuses(db) == [("pending", 0)]


def test_without_a_channel_alerts_are_stored_not_sent(db: str, nlp: Any) -> None:
    """Bug: with no channel set, alerts showed `sent` with 0 attempts."""
    from newswatch.flows import _steps
    from newswatch.pipeline import analysis
    from newswatch.pipeline.sources import read_article

    seed = str(Path(__file__).resolve().parent.parent / "seeds" / "000_30228fdb78730024.txt")
    settings = _settings(db)
    topics = analysis.read_topics(settings)
    article = read_article(seed, published=dt.date(2021, 12, 17))
    _steps.store(analysis.extract(nlp, [article], settings, topics), settings, topics=topics)
    statuses = _statuses(db)
    assert statuses and set(statuses) == {("stored", 0)}
    assert _steps.deliver(settings) == (0, 0)
    assert set(_statuses(db)) == {("stored", 0)}


def test_retry_reroutes_to_the_corrected_channel_and_drop_removes(
    settings_env: str, receiver: Receiver, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Bug: a pending alert stayed bound to the URL it was raised with after NEWSWATCH_NOTIFY
    was corrected, and no command could retry, re-route or drop it."""
    from typer.testing import CliRunner

    from newswatch.cli import app
    from newswatch.db.migrate import upgrade

    upgrade(settings_env)
    _queue(settings_env, "json://127.0.0.1:9/typo", count=2)
    runner = CliRunner()
    monkeypatch.setenv("NEWSWATCH_NOTIFY", receiver.url("/fixed"))
    first, second = (json.loads(line)["id"] for line in runner.invoke(app, ["alerts", "--json"]).output.splitlines())
    result = runner.invoke(app, ["alerts", "retry", str(first)])
    assert result.exit_code == 0, result.output
    assert "alerts:   1 queued, 1 sent, 0 not delivered" in result.output
    assert len(receiver.received) == 1
    rows = {json.loads(line)["id"]: json.loads(line) for line in runner.invoke(app, ["alerts", "--json"]).output.splitlines()}
    assert rows[first]["status"] == "sent" and rows[first]["channel"].endswith("/fixed")
    assert rows[second]["status"] == "pending" and rows[second]["channel"].endswith("/typo")
    dropped = runner.invoke(app, ["alerts", "drop", str(second), str(first)])
    assert dropped.exit_code == 1  # the sent one cannot be dropped
    assert "alerts:   1 dropped" in dropped.output
    assert [json.loads(line)["id"] for line in runner.invoke(app, ["alerts", "--json"]).output.splitlines()] == [first]
    assert runner.invoke(app, ["alerts", "retry", "999"]).exit_code == 1
