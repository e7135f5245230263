"""`newswatch web` over real HTTP: the API's fields and filters, pages, Atom feeds, safety.

Every test runs against a uvicorn server on 127.0.0.1 over a database filled by real ingests
(the seed article, and an article full of markup whose alerts go to a channel with secrets),
once on SQLite and once on PostgreSQL (`web_db`, `site` in conftest.py).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import feedparser
import httpx
import pytest
from typer.testing import CliRunner

from newswatch.cli import app as cli_app
from tests._web import REPO, SECRETS, SEED_DEMAND, free_port


def _get(site: str, path: str, **params: object) -> httpx.Response:
    return httpx.get(site + path, params=params or None, timeout=30)


def _all(site: str, path: str, **params: object) -> list[dict]:
    """Every item of a paged API listing, following `next` links."""
    items: list[dict] = []
    response = _get(site, path, **params)
    while True:
        assert response.status_code == 200, response.text
        page = response.json()
        items.extend(page["items"])
        if not page["next"]:
            return items
        response = httpx.get(site + page["next"], timeout=30)


def _event(site: str, content: str) -> dict:
    (found,) = [e for e in _all(site, "/api/events", limit=500) if e["content"] == content]
    return found


def _cli_json(web_db: str, *args: str) -> list[dict]:
    result = CliRunner().invoke(cli_app, [*args, "--json"], env={"NEWSWATCH_DATABASE_URL": web_db})
    assert result.exit_code == 0, result.output
    return [json.loads(line) for line in result.stdout.splitlines() if line.strip()]


# ---- the API --------------------------------------------------------------------------------


def test_api_events_are_the_cli_json_lines(site: str, web_db: str) -> None:
    """Same fields, same values, same order as `newswatch events --json`."""
    assert _all(site, "/api/events", limit=3) == _cli_json(web_db, "events", "--limit", "1000")


def test_api_articles_and_alerts_are_the_cli_json_lines(site: str, web_db: str) -> None:
    assert _all(site, "/api/articles", limit=1) == _cli_json(web_db, "articles")
    # the API lists alerts newest first, the CLI oldest first
    assert _all(site, "/api/alerts", limit=7) == list(reversed(_cli_json(web_db, "alerts")))


def test_api_topics_are_the_cli_json_lines_with_the_file_name_only(site: str, web_db: str) -> None:
    cli = _cli_json(web_db, "topics")
    api = _get(site, "/api/topics").json()["items"]
    assert [t["slug"] for t in api] == [t["slug"] for t in cli] and "nato-enlargement" in [t["slug"] for t in api]
    assert api == [{**t, "file": Path(t["file"]).name} for t in cli]  # no server path


def test_api_event_by_id_has_the_seed_demand(site: str) -> None:
    event = _event(site, SEED_DEMAND)
    one = _get(site, f"/api/events/{event['id']}").json()
    assert one == event
    assert (one["type"], one["source"]["code"], one["target"]["code"]) == ("DEMAND", "RUS", "NATO")
    assert "nato-enlargement" in one["topics"]
    assert one["mentions"][0]["article"].endswith("seeds/000_30228fdb78730024.txt")
    missing = _get(site, "/api/events/999999")
    assert missing.status_code == 404 and missing.json() == {"detail": "no event 999999"}


def test_api_event_filters(site: str) -> None:
    demands = _all(site, "/api/events", type="demand")
    assert demands and {e["type"] for e in demands} == {"DEMAND"}
    nato = _all(site, "/api/events", actor="nato")
    assert nato and all("NATO" in (e["source"]["code"], (e["target"] or {}).get("code")) for e in nato)
    topic = _all(site, "/api/events", topic="nato-enlargement")
    assert SEED_DEMAND in [e["content"] for e in topic]
    assert all("nato-enlargement" in e["topics"] for e in topic)
    assert [e["content"] for e in _all(site, "/api/events", search="EX-SOVIET")] == [SEED_DEMAND]
    assert {e["event_date"] for e in _all(site, "/api/events", since="2021-12-18")} == {"2021-12-18"}
    assert {e["event_date"] for e in _all(site, "/api/events", until="2021-12-17")} == {"2021-12-17"}
    assert _all(site, "/api/events", actor="ZZZ") == []


def test_api_paging_visits_every_event_once(site: str) -> None:
    everything = [e["id"] for e in _all(site, "/api/events", limit=500)]
    paged = [e["id"] for e in _all(site, "/api/events", limit=4)]
    assert paged == everything and len(set(paged)) == len(paged) > 8
    # an actor's events are the union of two index walks, each cut at the page's end
    rus = [e["id"] for e in _all(site, "/api/events", actor="RUS", limit=500)]
    assert [e["id"] for e in _all(site, "/api/events", actor="RUS", limit=3)] == rus
    assert rus == [i for i in everything if i in set(rus)] and len(rus) > 6
    page = _get(site, "/api/events", limit=4, offset=4, type="DEMAND").json()
    assert page["limit"] == 4 and page["offset"] == 4
    assert page["next"] is None or ("offset=8" in page["next"] and "type=DEMAND" in page["next"])


@pytest.mark.parametrize("path,params,message", [
    ("/api/events", {"type": "demnd"}, "type: unknown event type 'demnd'; one of DEMAND, REJECT"),
    ("/api/events", {"topic": "nato-enlargment"}, "topic: unknown topic 'nato-enlargment'; topics: nato-enlargement"),
    ("/api/events", {"since": "2021-13-01"}, "since: '2021-13-01' is not a date like 2021-12-17"),
    ("/api/events", {"until": "yesterday"}, "until: 'yesterday' is not a date like 2021-12-17"),
    ("/api/events", {"since": "2022-01-02", "until": "2022-01-01"}, "since (2022-01-02) is after until (2022-01-01)"),
    ("/api/events", {"limit": "0"}, "limit: Input should be greater than or equal to 1"),
    ("/api/events", {"limit": "501"}, "limit: Input should be less than or equal to 500"),
    ("/api/events", {"limit": "ten"}, "limit: Input should be a valid integer"),
    ("/api/events", {"offset": "-1"}, "offset: Input should be greater than or equal to 0"),
    ("/api/events", {"actor": "R U S"}, "actor: 'R U S' is not an actor code like RUS or NATO"),
    ("/api/events", {"search": "x\x00y"}, "control characters are not allowed"),
    ("/api/alerts", {"status": "lost"}, "status: unknown alert status 'lost'; one of stored, pending"),
    ("/api/articles", {"since": "17/12/2021"}, "since: '17/12/2021' is not a date"),
    ("/api/actors", {"limit": "100000"}, "limit: Input should be less than or equal to 500"),
])
def test_bad_filters_are_a_400_that_says_what_is_wrong(site: str, path: str, params: dict, message: str) -> None:
    response = _get(site, path, **params)
    assert response.status_code == 400
    assert message in response.json()["detail"], response.json()


def test_a_bad_filter_on_a_page_is_a_400_page(site: str) -> None:
    response = _get(site, "/events", type="demnd")
    assert response.status_code == 400 and response.headers["content-type"].startswith("text/html")
    assert "unknown event type &#39;demnd&#39;" in response.text


def test_api_actors_and_one_actor(site: str) -> None:
    actors = {a["code"]: a for a in _all(site, "/api/actors")}
    assert actors["RUS"]["name"] == "Russia" and actors["RUS"]["made"] >= 6
    rus = _get(site, "/api/actors/rus").json()
    assert rus["code"] == "RUS" and rus["made"] == actors["RUS"]["made"]
    assert rus["made_by_type"]["DEMAND"] >= 5
    assert {m["month"] for m in rus["months"]} == {"2021-12"}
    assert sum(m["made"] for m in rus["months"]) == rus["made"]
    assert "NATO" in {c["code"] for c in rus["counterparts"]}
    demands = _get(site, "/api/actors/RUS", type="DEMAND").json()
    assert set(demands["made_by_type"]) == {"DEMAND"}
    assert _get(site, "/api/actors/XYZ").status_code == 404


def test_openapi_document_lists_the_api_and_no_cdn_docs(site: str) -> None:
    document = _get(site, "/openapi.json").json()
    assert {"/api/events", "/api/events/{event_id}", "/api/articles", "/api/actors", "/api/actors/{code}",
            "/api/alerts", "/api/topics", "/feeds/alerts.atom", "/feeds/topics/{slug}.atom"} <= set(document["paths"])
    assert all(set(ops) == {"get"} for ops in document["paths"].values())
    assert _get(site, "/docs").status_code == 404  # Swagger UI would load from a CDN


# ---- feeds ----------------------------------------------------------------------------------


def test_alerts_feed_parses_and_holds_who_what_and_links(site: str) -> None:
    response = _get(site, "/feeds/alerts.atom")
    assert response.status_code == 200 and response.headers["content-type"].startswith("application/atom+xml")
    feed = feedparser.parse(response.content)
    assert not feed.bozo, feed.get("bozo_exception")
    assert feed.feed.title == "newswatch alerts"
    event = _event(site, SEED_DEMAND)
    (entry,) = [e for e in feed.entries if e.title.endswith(SEED_DEMAND) and "nato-enlargement" in
                [t.term for t in e.tags]]
    assert entry.title == f"RUS (Russia) -> NATO: DEMAND: {SEED_DEMAND}"
    assert entry.link == f"{site}/events/{event['id']}"
    assert "Source: RUS (Russia)" in entry.summary and "Target: NATO" in entry.summary
    assert "seeds/000_30228fdb78730024.txt" in entry.summary
    assert "DEMAND" in [t.term for t in entry.tags]
    ids = [e.id for e in feed.entries]
    assert len(ids) == len(set(ids)) and all(i.startswith("urn:newswatch:alert:") for i in ids)


def test_topic_feed_holds_that_topic_only(site: str) -> None:
    feed = feedparser.parse(_get(site, "/feeds/topics/nato-enlargement.atom").content)
    assert not feed.bozo and feed.entries
    assert all("nato-enlargement" in [t.term for t in e.tags] for e in feed.entries)
    assert any(e.title.endswith(SEED_DEMAND) for e in feed.entries)
    missing = _get(site, "/feeds/topics/no-such-topic.atom")
    assert missing.status_code == 404 and "no topic 'no-such-topic'" in missing.json()["detail"]


def test_markup_in_stored_text_stays_text_in_the_feed(site: str) -> None:
    feed = feedparser.parse(_get(site, "/feeds/alerts.atom").content)
    assert not feed.bozo
    titles = [e.title for e in feed.entries if "__xss_body" in e.title]
    assert titles and "<script>window.__xss_body=1</script>" in titles[0]


# ---- pages and safety -----------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/", "/events", "/actors", "/actors/RUS", "/topics", "/alerts",
                                  "/alerts?topic=nato-enlargement", "/events?type=DEMAND&actor=RUS"])
def test_pages_answer_with_security_headers(site: str, path: str) -> None:
    response = httpx.get(site + path, timeout=30)
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/html")
    csp = response.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp and "frame-ancestors 'none'" in csp
    assert response.headers["x-content-type-options"] == "nosniff"
    assert "<script>" not in response.text  # no inline script: only <script src> and JSON data
    assert "http://" not in response.text.replace(site, "") and "https://" not in response.text


def test_event_page_shows_every_report_with_the_content_marked(site: str) -> None:
    event = _event(site, SEED_DEMAND)
    page = _get(site, f"/events/{event['id']}").text
    assert f"<mark>{SEED_DEMAND}</mark>" in page
    assert "Russia on Friday published draft security pacts demanding NATO" in page
    assert "matched the words" in page and "membership" in page
    assert "SIGNS: Russia Demands USA, NATO stay out" in page
    assert _get(site, "/events/999999").status_code == 404


def test_stored_markup_is_shown_as_text_on_every_page(site: str) -> None:
    hostile = [e for e in _all(site, "/api/events") if "__xss_body" in e["content"]]
    assert hostile, "the markup article gave no event"
    for path in ["/", f"/events/{hostile[0]['id']}", "/alerts", "/actors/RUS", "/events?search=__xss"]:
        page = _get(site, path).text
        if path != "/alerts":  # the alerts page shows each alert's title line, not the content
            assert "&lt;script&gt;window.__xss_body=1&lt;/script&gt;" in page, path
        assert "<script>window.__xss" not in page and "<img src=x" not in page and "<iframe" not in page, path
    article = _get(site, f"/events/{hostile[0]['id']}").text
    assert "&lt;script&gt;window.__xss_title = 1&lt;/script&gt; Russia demands &lt;b&gt;NATO&lt;/b&gt;" in article


def test_no_response_shows_a_channel_secret(site: str) -> None:
    alerts = _all(site, "/api/alerts")
    assert any(a["channel"].startswith("json://") for a in alerts)
    hostile = [e for e in _all(site, "/api/events") if "__xss_body" in e["content"]]
    for path in ["/api/alerts", "/alerts", f"/events/{hostile[0]['id']}", "/feeds/alerts.atom", "/topics",
                 "/api/topics", "/openapi.json"]:
        body = _get(site, path).text
        assert not any(secret in body for secret in SECRETS), path


def test_behind_a_proxy_prefix_links_and_feeds_carry_it(web_db: str) -> None:
    """`--root-path /newswatch`: the proxy strips the prefix, the pages and feeds put it back."""
    from tests._web import serve

    with serve(web_db, root_path="/newswatch") as base:
        page = httpx.get(f"{base}/events", timeout=30)
        assert page.status_code == 200
        assert 'href="/newswatch/static/style.css"' in page.text and 'href="/newswatch/actors/RUS"' in page.text
        assert httpx.get(f"{base}/static/vendor/chart.umd.min.js", timeout=30).status_code == 200
        feed = feedparser.parse(httpx.get(f"{base}/feeds/alerts.atom", timeout=30).content)
        assert feed.entries and all(e.link.startswith(f"{base}/newswatch/events/") for e in feed.entries)


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE", "PATCH"])
def test_only_get_is_answered(site: str, method: str) -> None:
    response = httpx.request(method, site + "/api/events", timeout=30)
    assert response.status_code == 405 and response.headers["allow"] == "GET, HEAD"


def test_the_web_engine_cannot_write(web_db: str) -> None:
    """The database itself refuses writes on the web view's connections."""
    from sqlalchemy import text
    from sqlalchemy.exc import DBAPIError

    from newswatch.db.session import connect

    with connect(web_db, read_only=True) as engine, engine.connect() as conn:
        with pytest.raises(DBAPIError, match="(?i)read.only|readonly"):
            conn.execute(text("DELETE FROM alerts"))
        conn.rollback()
        assert conn.execute(text("SELECT count(*) FROM alerts")).scalar_one() > 0


# ---- the command ----------------------------------------------------------------------------


def test_web_command_serves_the_seed_database(web_db: str) -> None:
    if not web_db.startswith("sqlite"):
        pytest.skip("the command is the same on PostgreSQL; served once")
    port = free_port()
    env = {**os.environ, "NEWSWATCH_DATABASE_URL": web_db}
    proc = subprocess.Popen([sys.executable, "-m", "newswatch", "web", "--port", str(port)], cwd=REPO, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                response = httpx.get(f"http://127.0.0.1:{port}/api/events", params={"search": "ex-Soviet"}, timeout=5)
                break
            except httpx.TransportError:
                assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
                time.sleep(0.2)
        assert [e["content"] for e in response.json()["items"]] == [SEED_DEMAND]
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=30)
    # uvicorn shuts down gracefully on SIGTERM, then ends by the signal it caught
    assert proc.returncode in (0, -signal.SIGTERM), err
    assert "Traceback" not in err
    assert f"newswatch web: http://127.0.0.1:{port}/" in err


def test_web_command_without_a_database_says_so_and_creates_none(tmp_path: Path) -> None:
    missing = tmp_path / "none.db"
    result = CliRunner().invoke(cli_app, ["web"], env={"NEWSWATCH_DATABASE_URL": f"sqlite:///{missing}"})
    assert result.exit_code == 1
    assert result.stderr.strip() == (
        f"Error: no newswatch database at sqlite:///{missing} ({missing} does not exist). "
        "Run 'newswatch db upgrade' (or ingest something) first.")
    assert not missing.exists()


def test_web_command_refuses_a_database_older_than_the_code(tmp_path: Path) -> None:
    from newswatch.db.migrate import alembic_config
    from alembic import command

    url = f"sqlite:///{tmp_path / 'old.db'}"
    command.upgrade(alembic_config(url), "0005")
    result = CliRunner().invoke(cli_app, ["web"], env={"NEWSWATCH_DATABASE_URL": url})
    assert result.exit_code == 1
    assert result.stderr.strip() == (f"Error: the database at {url} is older than this newswatch. "
                                     "Run 'newswatch db upgrade' first.")


def test_an_unreachable_database_is_a_503_that_names_nothing_of_it(caplog: pytest.LogCaptureFixture) -> None:
    """The reason (host, user of the database) goes to the server's log, not to the client."""
    from tests._web import serve

    with serve("postgresql+psycopg://watcher:pw-secret@127.0.0.1:1/newswatch") as base:
        api = httpx.get(f"{base}/api/events", timeout=30)
        page = httpx.get(f"{base}/events", timeout=30)
    assert api.status_code == page.status_code == 503
    assert api.json() == {"detail": "the database cannot be read now; the server's log says why"}
    for body in (api.text, page.text):
        assert "127.0.0.1:1" not in body and "watcher" not in body and "pw-secret" not in body
    assert "127.0.0.1" in caplog.text and "pw-secret" not in caplog.text


def test_a_match_by_meaning_shows_the_nearest_example_and_its_cosine(tmp_path: Path) -> None:
    import datetime as dt

    from newswatch.db import store
    from newswatch.db.migrate import upgrade
    from newswatch.db.session import open_session
    from newswatch.pipeline.records import Actor, Event, EventType, TopicMatch
    from tests._web import serve

    url = f"sqlite:///{tmp_path / 'meaning.db'}"
    upgrade(url)
    event = Event(EventType.DEMAND, Actor("Turkey", "TUR", "state"), Actor("Sweden", "SWE", "state"),
                  "curb Kurdish groups before it backs the bid", "Turkey told Sweden to curb Kurdish groups "
                  "before it backs the bid.", 0, 10)
    with open_session(url) as session, session.begin():
        article, _ = store.save_article(session, {
            "url": "https://example.org/news/1", "canonical_url": "https://example.org/news/1", "title": "T",
            "byline": None, "source": "Example News", "published": dt.date(2022, 6, 1), "text": "x",
            "text_hash": "h", "duplicate_of_id": None})
        event_id, _ = store.save_event(session, event, event_key="k", article_id=article, event_date=dt.date(2022, 6, 1))
        store.save_mention(session, event_id, article, event)
        store.save_topic_matches(session, event_id, [TopicMatch("nato-enlargement", (),
                                                                example="Sweden and Finland apply to join NATO",
                                                                score=0.734)])
    with serve(url) as base:
        page = httpx.get(f"{base}/events/{event_id}", timeout=30).text
    assert "matched by meaning: nearest example <q class=\"example\">Sweden and Finland apply to join NATO</q>" in page
    assert "(cosine 0.73)" in page
    assert '<a href="https://example.org/news/1" rel="noopener noreferrer nofollow" class="article-link">T</a>' in page
    assert '<span class="outlet">Example News</span>' in page
