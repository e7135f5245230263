"""Hostile input: control characters and arbitrary Unicode, articles longer than spaCy's
max_length, HTML with scripts, SQL-looking text in every CLI filter, markup in alerts, and
secrets (database passwords, Apprise URLs) that must never be printed or logged.

Feed-specific attacks (entity expansion, external entities, huge and deeply nested feeds,
links to private addresses) are tested with the feed code in test_sources.py.
"""

from __future__ import annotations

import datetime as dt
import json
import unicodedata
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from newswatch.pipeline.clean import clean_article
from newswatch.pipeline.records import Actor, Article, Event, EventType
from tests._faults import (
    SECRET,
    ingest_env,
    prefect_api_url,  # noqa: F401 (fixture)
    run_ingest,
)

DEMAND = "Russia on Friday demanded that NATO deny membership to Ukraine."
REJECT = "The United States rejected the demand from Moscow."
FORBIDDEN_CATEGORIES = {"Cc", "Cs", "Co", "Cn"}

# Text from every corner of Unicode, with the control and format characters that break
# terminals, JSON, PostgreSQL (NUL) and offsets (CR, bidi overrides, zero-width joiners).
NASTY = st.sampled_from([
    "\x00", "\x1b[31m", "\r", "\r\n", "\x0b", "\x0c", "\x85", "\u2028", "\u2029", "\u202e",
    "\u2066", "\u200b", "\u200d", "\ufeff", "\u00ad", "\ud7ff", "\U0001f600", "\u0301", "e\u0301",
    "\ufdd0", "\U000e0001", "\t", "  ", "'", '"', "\\", "</script>", "%s", "{0}", "Ωμέγα",
    "مرحبا", "日本語", "\U0010fffd",
])
HOSTILE_TEXT = st.lists(
    st.one_of(st.text(max_size=12), NASTY, st.sampled_from([DEMAND, REJECT, "\n"])), max_size=25
).map("".join)


def _clean(value: str) -> bool:
    return not any(unicodedata.category(c) in FORBIDDEN_CATEGORIES and c != "\n" for c in value)


# ---------------------------------------------------------------------------------------------
# Arbitrary Unicode and control characters


@settings(max_examples=200, deadline=None)
@given(raw=HOSTILE_TEXT)
def test_cleaned_articles_hold_no_control_characters(raw: str) -> None:
    """Whatever the file holds, the stored title and text are NFC with no control characters."""
    article = clean_article(raw, url="x.txt", published=None, source=None)
    for value in (article.title, article.text, article.byline or ""):
        assert _clean(value), repr(value)
        assert unicodedata.is_normalized("NFC", value)
    assert "\n" not in article.title


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(raw=HOSTILE_TEXT)
def test_extraction_survives_hostile_text_and_offsets_hold(nlp: Any, raw: str) -> None:
    """Extraction never crashes, and every event's sentence is exactly its span of the text."""
    from newswatch.pipeline.extract import extract_events

    article = clean_article("Headline\n" + raw, url="x.txt", published=None, source=None)
    for extraction in extract_events(nlp, [article]):
        for event in extraction.events:
            assert article.text[event.start:event.end] == event.sentence


HOSTILE_FILE = (
    "Russia\x01 demands\x1b[2J NATO \u202eclose\u202c its door\r\n"
    "By\x07 Staff\r\n"
    "\ufeffMOSCOW \u2014 Russia on Friday demanded that NATO deny membership to Ukraine.\x7f\x08\r\n"
    "Officials said \u200bthe talks in Gen\u00adeva would continue \U0001f600 next week.\x0c"
    "Spokesman Dmitry Peskov said the decision was final.\u2028The Kremlin did not comment.\n"
)


def test_a_file_with_nul_bytes_is_refused_as_binary(tmp_path: Path) -> None:
    """NUL bytes mean a binary file: refused with a clear error, never stored (PostgreSQL
    text cannot hold NUL). Feed text and HTML have their control characters removed instead."""
    from newswatch.pipeline.errors import SourceError
    from newswatch.pipeline.sources import read_article

    path = tmp_path / "nul.txt"
    path.write_text(HOSTILE_FILE.replace("\x01", "\x00"), encoding="utf-8")
    with pytest.raises(SourceError, match="binary file"):
        read_article(str(path))


@pytest.mark.postgres
def test_control_characters_reach_neither_database_nor_json(
    postgres_server: str, tmp_path: Path, prefect_api_url: str, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A file full of control characters, escape sequences and bidi overrides is ingested into
    PostgreSQL and read back as clean, valid JSON."""
    from tests._faults import postgres_schema

    path = tmp_path / "hostile.txt"
    path.write_text(HOSTILE_FILE, encoding="utf-8")
    with postgres_schema(postgres_server, "nw_hostile") as url:
        result = run_ingest([str(path)], ingest_env(url, api_url=prefect_api_url))
        assert result.returncode == 0, result.stdout + result.stderr
        monkeypatch.setenv("NEWSWATCH_DATABASE_URL", url)
        from newswatch.cli import app

        listed = CliRunner().invoke(app, ["articles", "--json"])
        events = CliRunner().invoke(app, ["events", "--json"])
    assert listed.exit_code == 0 and events.exit_code == 0, listed.output + events.output
    [row] = [json.loads(line) for line in listed.stdout.splitlines()]
    assert row["title"] == "Russia demands[2J NATO close its door"  # ESC gone, the rest is text
    assert _clean(row["title"])
    for line in events.stdout.splitlines():
        event = json.loads(line)
        assert _clean(event["content"]) and all(_clean(m["sentence"]) for m in event["mentions"])


# ---------------------------------------------------------------------------------------------
# Longer than spaCy's max_length


@settings(max_examples=300, deadline=None)
@given(text=st.text(alphabet=st.sampled_from("ab .\n!?\u201d"), max_size=400), limit=st.integers(1, 60))
def test_long_texts_split_into_pieces_that_cover_them_exactly(text: str, limit: int) -> None:
    """The pieces given to spaCy partition the text: none is longer than the limit, none is
    lost or repeated, and each offset is where its piece starts."""
    from newswatch.pipeline._chunks import split_text

    pieces = list(split_text(text, limit))
    assert "".join(p for _, p in pieces) == text
    for offset, piece in pieces:
        assert len(piece) <= limit and text[offset:offset + len(piece)] == piece
    assert all(p for _, p in pieces[:-1])


def test_long_texts_are_cut_at_paragraph_then_sentence_ends() -> None:
    from newswatch.pipeline._chunks import split_text

    text = "One two. Three four.\nFive six seven. Eight."
    assert [p for _, p in split_text(text, 25)] == ["One two. Three four.\n", "Five six seven. Eight."]
    assert [p for _, p in split_text("Aaa bbb. Ccc ddd. Eee", 12)] == ["Aaa bbb. ", "Ccc ddd. Eee"]


def test_article_longer_than_max_length_is_processed_in_chunks(nlp: Any) -> None:
    """An article over `nlp.max_length` is split at paragraph and sentence ends, not refused:
    events at its start and its very end are found, with offsets into the whole text."""
    from newswatch.pipeline.extract import extract_events

    filler = "\n".join(
        f"Officials met in the capital on day {i} to discuss the harvest and the railway." for i in range(400)
    )
    text = f"{DEMAND}\n{filler}\n{REJECT} {DEMAND}"
    article = Article(url="long.txt", title="Long report", text=text, published=dt.date(2021, 12, 17))
    saved = nlp.max_length
    nlp.max_length = len(text) // 5
    try:
        [extraction] = list(extract_events(nlp, [article]))
    finally:
        nlp.max_length = saved
    starts = sorted(e.start for e in extraction.events if e.type is EventType.DEMAND)
    assert starts[0] == 0, "the event at the start was lost"
    assert starts[-1] == text.rindex(DEMAND), "the event beyond max_length was lost"
    for event in extraction.events:
        assert text[event.start:event.end] == event.sentence


# ---------------------------------------------------------------------------------------------
# HTML with scripts


HOSTILE_HTML = """<!doctype html><html><head><title>Russia demands NATO close its door</title>
<script>document.write("Iran demanded that Israel withdraw from Syria.")</script>
<style>body::after { content: "China demanded that Japan apologise." }</style>
<meta property="article:published_time" content="2021-12-17T10:00:00Z"></head>
<body onload="alert('pwned')"><article><h1>Russia demands NATO close its door</h1>
<p>MOSCOW &mdash; Russia on Friday demanded that NATO deny membership to Ukraine and other
former Soviet countries.<script>steal(document.cookie)</script></p>
<p onclick="evil()">Officials said the talks would continue next week in Geneva.
<a href="javascript:alert(1)">More</a></p>
<noscript>Turkey demanded that Sweden extradite dozens of people.</noscript>
<iframe srcdoc="&lt;p&gt;Germany demanded that France pay.&lt;/p&gt;"></iframe>
<template><p>Poland demanded that Belarus open the border.</p></template>
<p>Spokesman Dmitry Peskov said the decision was final and that the talks could wait.</p>
</article></body></html>"""


def test_html_scripts_styles_and_handlers_are_not_article_text(nlp: Any, tmp_path: Path) -> None:
    """Script, style, noscript, iframe and template content never becomes article text or events.

    Regression: trafilatura kept the text of `<template>` elements (inert markup no browser
    shows), so a page could plant sentences in the article. They are removed first."""
    from newswatch.pipeline.extract import extract_events
    from newswatch.pipeline.sources import read_article

    path = tmp_path / "page.html"
    path.write_text(HOSTILE_HTML, encoding="utf-8")
    article = read_article(str(path))
    stored = f"{article.title}\n{article.text}"
    assert "deny membership to Ukraine" in article.text
    for payload in ("document", "cookie", "alert", "evil", "content:", "Iran", "China", "Turkey",
                    "Germany", "Poland", "javascript", "<"):
        assert payload not in stored, payload
    [extraction] = list(extract_events(nlp, [article]))
    named = {a.code for e in extraction.events for a in (e.source, e.target) if a}
    assert not named & {"IRN", "ISR", "SYR", "CHN", "JPN", "TUR", "SWE", "DEU", "FRA", "POL", "BLR"}, named


# ---------------------------------------------------------------------------------------------
# SQL-looking text in every CLI filter

INJECTIONS = [
    "' OR '1'='1",
    "x'); DROP TABLE events; --",
    "RUS' UNION SELECT * FROM alerts --",
    '" OR ""="',
    "%",
    "_",
    "\\",
    "1; DELETE FROM articles",
]

EVENT_FILTERS = ["--type", "--actor", "--topic", "--search"]


@pytest.fixture
def stored_events(db: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """A database with two articles, two events, a topic and an alert; the CLI points at it."""
    from newswatch.db import store
    from newswatch.db.session import open_session
    from newswatch.pipeline.records import TopicMatch

    rus, nato = Actor("Russia", "RUS", "state"), Actor("NATO", "NATO", "organisation")
    with open_session(db) as session, session.begin():
        ids = []
        for n, content in enumerate(["deny membership to Ukraine", "cut gas prices by 50% now"]):
            article_id, _ = store.save_article(session, {
                "url": f"a{n}.txt", "canonical_url": f"a{n}.txt", "title": "t", "byline": None,
                "source": None, "published": dt.date(2021, 12, 17), "text": content,
                "text_hash": f"h{n}", "duplicate_of_id": None,
            })
            event = Event(EventType.DEMAND, rus, nato, content, f"Russia demanded {content}.", 0, 30)
            event_id, _ = store.save_event(session, event, event_key=f"k{n}", article_id=article_id,
                                             event_date=dt.date(2021, 12, 17))
            store.save_mention(session, event_id, article_id, event)
            ids.append(event_id)
        store.save_topic_matches(session, ids[0], [TopicMatch("nato-enlargement", ("membership",))])
        store.save_alert(session, event_id=ids[0], topic="nato-enlargement", channel="json://h/x",
                           message="m", status="pending")
    monkeypatch.setenv("NEWSWATCH_DATABASE_URL", db)
    yield db


def _events(*args: str) -> list[dict[str, Any]]:
    from newswatch.cli import app

    result = CliRunner().invoke(app, ["events", "--json", *args])
    assert result.exit_code == 0, result.output
    return [json.loads(line) for line in result.stdout.splitlines()]


@pytest.mark.parametrize("option", EVENT_FILTERS)
@pytest.mark.parametrize("value", INJECTIONS)
def test_sql_in_event_filters_is_only_ever_a_value(stored_events: str, option: str, value: str) -> None:
    """Each filter value is a bound parameter: it matches literally or not at all, and the
    tables are intact afterwards. `%` and `_` are literal characters in --search, not wildcards.
    --type takes only the event types, so anything else is refused (exit 2) before a query."""
    if option == "--type":
        from newswatch.cli import app

        assert CliRunner().invoke(app, ["events", "--type", value]).exit_code == 2
        assert len(_events()) == 2
        return
    found = _events(option, value)
    if option == "--search":
        assert all(value.lower() in e["content"].lower() for e in found), f"{value!r} matched {found}"
    else:
        assert found == [], f"{option} {value!r} matched {found}"
    assert len(_events()) == 2


def test_search_finds_a_literal_percent_sign(stored_events: str) -> None:
    """Regression: --search "50%" used LIKE with the user's text as the pattern, so "%" and "_"
    matched anything (--search % listed every event)."""
    assert [e["content"] for e in _events("--search", "50%")] == ["cut gas prices by 50% now"]
    assert _events("--search", "5_%") == []


@pytest.mark.parametrize("args", [
    ["articles", "--since", "2021-01-01' OR '1'='1"],
    ["events", "--until", "2021-12-17; DROP TABLE events"],
    ["alerts", "--status", "pending' OR '1'='1"],
])
def test_sql_in_checked_options_is_refused(stored_events: str, args: list[str]) -> None:
    """Dates and statuses are parsed before any query: the command refuses them (exit 2)."""
    from newswatch.cli import app

    result = CliRunner().invoke(app, args)
    assert result.exit_code == 2, result.output
    assert len(_events()) == 2


@settings(max_examples=300, deadline=None)
@given(value=st.text(min_size=1, max_size=30))
def test_event_filters_compile_to_bound_parameters(value: str) -> None:
    """Whatever the text, the SQL of `newswatch events` never contains it: it travels as a
    parameter (checked on the statement, for every text filter at once)."""
    from sqlalchemy.dialects import postgresql, sqlite

    from newswatch.db.queries import EventFilters, select_events

    marker = "Zq9" + value
    stmt = select_events(EventFilters(type=marker, actor=marker, topic=marker, search=marker))
    for dialect in (sqlite.dialect(), postgresql.dialect()):
        compiled = stmt.compile(dialect=dialect)
        assert "Zq9".lower() not in str(compiled).lower()
        assert any("zq9" in str(v).lower() for v in compiled.params.values())


# ---------------------------------------------------------------------------------------------
# Markup from the article in alert messages


MARKUP_TITLE = '<img src=x onerror="alert(1)"> **Breaking** [click](http://evil.example) <!channel> `rm -rf`'


@pytest.mark.parametrize("channel,fmt", [
    ("json://127.0.0.1:9/hook", "text"),
    ("mailto://user:pw@example.org", "html"),
    ("slack://T1JJ3T3L2/A1BRTD4JD/TIiajkdnlazkcOXrIdevi7FQ", "markdown"),
])
def test_alert_messages_escape_markup_from_the_article(channel: str, fmt: str) -> None:
    """An article's title and content reach a channel as text, never as live markup:
    HTML is escaped for HTML channels, Markdown for Markdown channels."""
    from newswatch.pipeline.alerts import alert_message, build_alerts, channel_format
    from newswatch.pipeline.records import TopicMatch

    assert channel_format(channel) == fmt
    event = Event(EventType.DEMAND, Actor("Russia", "RUS", "state"), Actor("NATO", "NATO", "organisation"),
                  '<script>alert("x")</script> deny *membership* to [Ukraine](javascript:alert(1))',
                  "s", 0, 1)
    article = Article(url="https://news.example/a?x=<b>", title=MARKUP_TITLE, text="t")
    [alert] = build_alerts(1, event, [TopicMatch("nato-enlargement", ("membership",))], article, [channel])
    message = alert_message(alert)
    if fmt == "html":
        assert "<script" not in message and "<img" not in message and "&lt;script&gt;" in message
    if fmt == "markdown":
        assert "**Breaking**" not in message and "[click](http" not in message
        assert "](javascript" not in message
    if fmt == "text":
        assert "\x1b" not in message
    assert "\n" not in alert.title


# ---------------------------------------------------------------------------------------------
# Secrets: database passwords and Apprise URLs


def test_database_password_is_not_in_connection_errors(monkeypatch: pytest.MonkeyPatch) -> None:
    """A database that cannot be reached is named in the error with its password hidden."""
    from newswatch.cli import app

    monkeypatch.setenv("NEWSWATCH_DATABASE_URL", f"postgresql+psycopg://newswatch:{SECRET}@127.0.0.1:9/nw")
    result = CliRunner().invoke(app, ["events"])
    assert result.exit_code == 1
    assert result.stderr.startswith("Error: ") and "postgresql+psycopg://newswatch:***@127.0.0.1:9/nw" in result.stderr
    assert SECRET not in result.output


@pytest.mark.postgres
def test_database_password_is_not_printed_by_db_upgrade(
    postgres_server: str, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """`db upgrade` names the database it upgraded, password hidden (trust auth ignores it)."""
    from newswatch.cli import app
    from tests._faults import postgres_schema

    with postgres_schema(postgres_server) as url:
        monkeypatch.setenv("NEWSWATCH_DATABASE_URL", url.replace("postgres@", f"postgres:{SECRET}@"))
        result = CliRunner().invoke(app, ["db", "upgrade"])
    assert result.exit_code == 0, result.output
    assert "postgres:***@" in result.stdout and SECRET not in result.output


# ---------------------------------------------------------------------------------------------
# More inputs than one flow run's parameters can hold


@pytest.mark.slow
def test_more_inputs_than_prefect_accepts_in_one_run_are_all_handled(tmp_path: Path, prefect_api_url: str) -> None:
    """Prefect's server refuses flow-run parameters over 512 kB (about 7,000 paths): one command
    over more runs the flow several times and still reports every input once."""
    from tests._faults import write_articles

    folder = tmp_path / ("a-folder-with-a-long-name-" * 5)
    (real,) = write_articles(folder, ["06-russia-nato.txt"])
    missing = [str(folder / f"missing-{i:05d}.txt") for i in range(4000)]
    paths = [*missing[:2500], real, *missing[2500:]]
    assert len(json.dumps(paths)) > 512_000
    url = f"sqlite:///{tmp_path / 'many.db'}"
    result = run_ingest(paths, ingest_env(url, api_url=prefect_api_url, batch_size=256), timeout=600)
    assert result.returncode == 1, result.stderr[-2000:]
    assert "articles: 1 new, 0 duplicate, 0 already stored, 4000 failed" in result.stdout, result.stderr[-2000:]
    errors = [line for line in result.stderr.splitlines() if line.startswith("Error: ")]
    assert sorted(errors) == sorted(f"Error: {p}: no such file; check the path" for p in missing)


@pytest.mark.slow
@pytest.mark.postgres
def test_secrets_never_reach_output_logs_or_the_prefect_server(
    postgres_server: str, tmp_path: Path, prefect_api_url: str,
) -> None:
    """An ingest with a database password and a channel token, the channel down so its failure
    is logged, at DEBUG level: neither secret is printed, logged, or stored by Prefect
    (flow and task run parameters, logs)."""
    import asyncio

    from prefect.client.orchestration import get_client

    from tests._faults import Webhook, postgres_schema, write_articles

    hook = Webhook()  # never started: delivery fails and is logged
    paths = write_articles(tmp_path, ["06-russia-nato.txt"])
    with postgres_schema(postgres_server) as url:
        secret_url = url.replace("postgres@", f"postgres:{SECRET}@")
        env = ingest_env(secret_url, api_url=prefect_api_url, notify=hook.url, PREFECT_LOGGING_LEVEL="DEBUG")
        result = run_ingest(paths, env)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 failed" in result.stdout or "failed" in result.stdout
    assert SECRET not in result.stdout + result.stderr

    async def stored_by_prefect() -> str:
        async with get_client() as client:
            flow_runs = await client.read_flow_runs()
            task_runs = await client.read_task_runs()
            logs = await client.read_logs()
        return "\n".join([*(r.model_dump_json() for r in flow_runs), *(r.model_dump_json() for r in task_runs),
                          *(log.message for log in logs)])

    stored = asyncio.run(stored_by_prefect())
    assert stored and SECRET not in stored


@pytest.mark.parametrize("backend", ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def test_failed_statements_do_not_carry_their_parameters(
    backend: str, request: pytest.FixtureRequest, tmp_path: Path,
) -> None:
    """Regression: a failed INSERT's error (logged with its traceback by Prefect when the
    store task gives up) listed its parameters, among them the alert's channel URL with its
    token. Protection: the engine is created with `hide_parameters=True`."""
    from sqlalchemy import text

    from newswatch.db.session import connect

    if backend == "sqlite":
        url = f"sqlite:///{tmp_path / 'x.db'}"
    else:
        from tests._faults import postgres_schema

        stack = postgres_schema(request.getfixturevalue("postgres_server"))
        url = stack.__enter__()
        request.addfinalizer(lambda: stack.__exit__(None, None, None))
    with connect(url) as engine, pytest.raises(Exception) as caught, engine.connect() as conn:
        conn.execute(text("INSERT INTO no_such_table (channel) VALUES (:c)"), {"c": f"json://u:{SECRET}@h/"})
    assert "no_such_table" in str(caught.value) and SECRET not in str(caught.value)


# ---------------------------------------------------------------------------------------------
# Nesting, CDATA and mixed encodings


def test_text_nested_deeper_than_the_parser_goes_is_kept(tmp_path: Path) -> None:
    """Bug: text inside 300 or more nested elements was dropped without a word."""
    from newswatch.pipeline.sources import read_article

    body = "<div>" * 400 + "<p>Moscow demanded on Friday that NATO halt its expansion.</p>" + "</div>" * 400
    page = tmp_path / "deep.html"
    page.write_text(f"<html><head><title>Russia demands guarantees</title></head><body>{body}</body></html>")
    article = read_article(str(page))
    assert article.text == "Moscow demanded on Friday that NATO halt its expansion."


def test_doctype_inside_cdata_is_entry_text_not_a_dtd() -> None:
    """Bug: "<!DOCTYPE" in an entry's CDATA was removed as a DTD, truncating the feed."""
    from newswatch.pipeline.sources import parse_feed

    feed = (b'<?xml version="1.0"?><rss version="2.0"><channel><title>t</title>'
            b"<item><title>Web tips</title><link>https://n.test/a</link><description><![CDATA["
            b"<p>Start pages with <!DOCTYPE html> always.</p> Moscow demanded that NATO halt expansion."
            b"]]></description></item><item><title>Second</title><link>https://n.test/b</link>"
            b"<description>Ankara demanded that Sweden act.</description></item></channel></rss>")
    parsed = parse_feed(feed, "https://n.test/rss")
    assert parsed.error is None
    assert [e.article.title for e in parsed.entries] == ["Web tips", "Second"]
    assert "Moscow demanded that NATO halt expansion." in parsed.entries[0].article.text


def test_a_doctype_with_entities_before_the_root_is_still_removed() -> None:
    from newswatch.pipeline.sources import parse_feed

    feed = (b'<?xml version="1.0"?><!DOCTYPE rss [<!ENTITY a "AAAAAAAAAA"><!ENTITY b "&a;&a;&a;">]>'
            b'<rss version="2.0"><channel><title>t</title><item><title>x &b;</title>'
            b"<link>https://n.test/a</link><description>Moscow demanded talks.</description></item></channel></rss>")
    (entry,) = parse_feed(feed, "https://n.test/rss").entries
    assert "AAAAAAAAAA" not in entry.article.title


def test_utf8_page_with_two_stray_latin1_bytes_stays_utf8() -> None:
    """Bug: two stray Windows-1252 bytes made the whole UTF-8 page decode as Windows-1252."""
    from newswatch.pipeline.sources import _decode

    body = "Zelenskyy’s café — Kyiv demanded".encode() + b" \x93a quote\x94"
    assert _decode(body, None, "x") == "Zelenskyy’s café — Kyiv demanded “a quote”"
    assert _decode("Ça va très bien, déjà".encode("cp1252"), None, "x") == "Ça va très bien, déjà"
