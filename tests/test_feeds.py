"""Tests for feed fetching and parsing (pipeline/sources.py) and feed polling (flows/feeds.py).

Feeds are served by a real HTTP server on 127.0.0.1 (tests/_http.py); the RSS 2.0 and Atom
documents below were written for these tests.
"""

from __future__ import annotations

import datetime as dt
import gzip
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from email.utils import formatdate
from pathlib import Path

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from newswatch.pipeline.errors import FeedParseError, FetchError
from newswatch.pipeline.records import Article, FeedEntry
from newswatch.pipeline.sources import (
    USER_AGENT,
    check_public_address,
    feed_backoff,
    fetch_feed,
    fetch_full_text,
    make_client,
    parse_feed,
)
from tests._faults import prefect_api_url  # noqa: F401 (fixture)
from tests._http import LocalServer, Reply, Request, static

REPO = Path(__file__).resolve().parent.parent


def rss(*items: str, title: str = "World Desk") -> bytes:
    return f"""<?xml version="1.0" encoding="utf-8"?>
<rss version="2.0"><channel><title>{title}</title><link>https://news.example.org/</link>
<description>Test feed</description>{''.join(items)}</channel></rss>""".encode()


def rss_item(n: int, title: str, body: str, date: str = "Fri, 17 Dec 2021 23:30:00 -0500") -> str:
    return f"""<item><title>{title}</title><link>https://news.example.org/story/{n}</link>
<guid isPermaLink="false">story-{n}</guid><pubDate>{date}</pubDate>
<description><![CDATA[{body}]]></description></item>"""


ITEM1 = rss_item(1, "Russia demands NATO guarantees",
                 "<p>Russia on Friday demanded that NATO deny membership to Ukraine.</p>"
                 "<script>alert('x')</script><p>The alliance refused.</p>")
ITEM2 = rss_item(2, "Turkey blocks Sweden bid", "<p>Turkey said it would not approve Sweden's bid to join NATO.</p>",
                 "Mon, 16 May 2022 10:00:00 GMT")

ATOM = b"""<?xml version="1.0" encoding="utf-8"?>
<feed xmlns="http://www.w3.org/2005/Atom"><title>Atom Desk</title><id>urn:atom-desk</id>
<updated>2022-01-10T09:00:00Z</updated><link href="https://atom.example.org/"/>
<entry><title>Kyiv urges membership timeline</title><id>urn:entry:1</id>
<link href="https://atom.example.org/a/1"/><updated>2022-01-10T23:59:00-03:00</updated>
<author><name>Jane Reporter</name></author>
<content type="html">&lt;p&gt;Ukraine urged NATO to set a timeline for its membership.&lt;/p&gt;</content></entry>
<entry><title>Second entry</title><id>urn:entry:2</id><link href="/a/2"/>
<published>2022-01-11T08:00:00Z</published><summary>A plain summary.</summary></entry>
</feed>"""


@pytest.fixture
def client() -> Iterator[httpx.Client]:
    with make_client(timeout=1.0, max_redirects=3) as c:
        yield c


def conditional(body: bytes, etag: str, modified: str, content_type: str = "application/rss+xml"):
    """A route honouring If-None-Match / If-Modified-Since as a real feed server does."""

    def route(request: Request) -> Reply:
        if request.headers.get("if-none-match") == etag or request.headers.get("if-modified-since") == modified:
            return Reply(304, b"", {"ETag": etag, "Last-Modified": modified})
        return Reply(200, body, {"Content-Type": content_type, "ETag": etag, "Last-Modified": modified})

    return route


# ---- fetching ----------------------------------------------------------------------------


def test_conditional_get_304(server: LocalServer, client: httpx.Client) -> None:
    server.routes["/feed.xml"] = conditional(rss(ITEM1), '"v1"', "Sat, 18 Dec 2021 00:00:00 GMT")
    url = server.url("/feed.xml")
    first = fetch_feed(client, url)
    assert first.status == 200 and not first.not_modified
    assert (first.etag, first.last_modified) == ('"v1"', "Sat, 18 Dec 2021 00:00:00 GMT")
    second = fetch_feed(client, url, first.etag, first.last_modified)
    assert second.not_modified and second.content is None and second.status == 304
    sent = server.hits("/feed.xml")[1].headers
    assert sent["if-none-match"] == '"v1"'
    assert sent["if-modified-since"] == "Sat, 18 Dec 2021 00:00:00 GMT"
    assert sent["user-agent"] == USER_AGENT
    assert "gzip" in sent["accept-encoding"]


def test_gzip_response(server: LocalServer, client: httpx.Client) -> None:
    server.routes["/gz.xml"] = static(gzip.compress(rss(ITEM1)), "application/rss+xml",
                                      **{"Content-Encoding": "gzip"})
    fetched = fetch_feed(client, server.url("/gz.xml"))
    assert fetched.content == rss(ITEM1)
    assert parse_feed(fetched.content or b"", "u").entries[0].article.title == "Russia demands NATO guarantees"


def test_gzip_bomb_is_cut_at_the_limit(server: LocalServer, client: httpx.Client) -> None:
    bomb = gzip.compress(b"<" + b" " * 5_000_000)
    server.routes["/bomb.xml"] = static(bomb, "application/rss+xml", **{"Content-Encoding": "gzip"})
    with pytest.raises(FetchError, match=r"response too large \(over 100000 bytes\)"):
        fetch_feed(client, server.url("/bomb.xml"), max_bytes=100_000)


def test_redirect_followed_and_bounded(server: LocalServer, client: httpx.Client) -> None:
    server.routes["/moved"] = lambda _r: Reply(301, b"", {"Location": "/feed.xml"})
    server.routes["/feed.xml"] = static(rss(ITEM1), "application/rss+xml")
    fetched = fetch_feed(client, server.url("/moved"))
    assert fetched.final_url == server.url("/feed.xml") and fetched.content == rss(ITEM1)
    server.routes["/loop"] = lambda _r: Reply(302, b"", {"Location": "/loop"})
    with pytest.raises(FetchError, match=r"too many redirects \(more than 3\)"):
        fetch_feed(client, server.url("/loop"))
    assert len(server.hits("/loop")) == 4


def test_redirect_to_other_scheme_refused(server: LocalServer, client: httpx.Client) -> None:
    server.routes["/ftp"] = lambda _r: Reply(302, b"", {"Location": "file:///etc/passwd"})
    with pytest.raises(FetchError, match=r"refusing to fetch file:///etc/passwd: only http and https"):
        fetch_feed(client, server.url("/ftp"))


@pytest.mark.parametrize("status", [404, 500])
def test_http_errors(server: LocalServer, client: httpx.Client, status: int) -> None:
    server.routes["/feed.xml"] = static("error", status=status)
    url = server.url("/feed.xml")
    with pytest.raises(FetchError, match=rf"^{url}: HTTP {status} "):
        fetch_feed(client, url)


def test_slow_server_times_out(server: LocalServer, client: httpx.Client) -> None:
    server.routes["/slow.xml"] = lambda _r: Reply(200, rss(ITEM1), delay=3.0)
    started = time.monotonic()
    with pytest.raises(FetchError, match=r"timed out after 1 s \(ReadTimeout\)"):
        fetch_feed(client, server.url("/slow.xml"))
    assert time.monotonic() - started < 2.5


def test_over_size_limit(server: LocalServer, client: httpx.Client) -> None:
    server.routes["/big.xml"] = static(rss(*[ITEM1] * 200), "application/rss+xml")
    with pytest.raises(FetchError, match=r"response too large \(\d+ bytes, limit 10000\)"):
        fetch_feed(client, server.url("/big.xml"), max_bytes=10_000)


def test_over_size_limit_without_content_length(client: httpx.Client) -> None:
    """A server that streams without Content-Length is cut off once it passes the limit."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        port = listener.getsockname()[1]
        import threading

        def serve_once() -> None:
            conn, _ = listener.accept()
            conn.recv(4096)
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/rss+xml\r\nConnection: close\r\n\r\n")
            try:
                for _ in range(100):
                    conn.sendall(b"x" * 10_000)
            except OSError:
                pass
            conn.close()

        thread = threading.Thread(target=serve_once, daemon=True)
        thread.start()
        with pytest.raises(FetchError, match=r"response too large \(over 50000 bytes\)"):
            fetch_feed(client, f"http://127.0.0.1:{port}/stream.xml", max_bytes=50_000)
        thread.join(5)


def test_local_feed_file_unchanged_is_not_modified(tmp_path: Path) -> None:
    path = tmp_path / "feed.xml"
    path.write_bytes(rss(ITEM1))
    with make_client() as c:
        first = fetch_feed(c, str(path))
        assert first.content == rss(ITEM1)
        assert first.last_modified == formatdate(path.stat().st_mtime, usegmt=True)
        assert fetch_feed(c, str(path), None, first.last_modified).not_modified


# ---- parsing -----------------------------------------------------------------------------


def test_parse_rss() -> None:
    parsed = parse_feed(rss(ITEM1, ITEM2), "http://feeds.test/rss")
    assert parsed.title == "World Desk" and parsed.error is None and parsed.failures == ()
    first, second = parsed.entries
    assert (first.entry_id, first.link) == ("story-1", "https://news.example.org/story/1")
    assert first.article.url == "https://news.example.org/story/1"
    assert first.article.title == "Russia demands NATO guarantees"
    assert first.article.text == "Russia on Friday demanded that NATO deny membership to Ukraine.\nThe alliance refused."
    assert first.article.source == "World Desk"
    # 23:30 at UTC-5 is 04:30 on the 18th in UTC
    assert first.published_at == dt.datetime(2021, 12, 18, 4, 30, tzinfo=dt.timezone.utc)
    assert first.article.published == dt.date(2021, 12, 18)
    assert second.article.published == dt.date(2022, 5, 16)


def test_parse_atom() -> None:
    parsed = parse_feed(ATOM, "http://feeds.test/atom")
    assert parsed.title == "Atom Desk"
    first, second = parsed.entries
    assert first.entry_id == "urn:entry:1"
    assert first.article.text == "Ukraine urged NATO to set a timeline for its membership."
    assert first.article.byline == "Jane Reporter"
    assert first.article.published == dt.date(2022, 1, 11)  # 23:59 at UTC-3
    assert second.link == "https://atom.example.org/a/2"  # relative link resolved
    assert second.article.text == "A plain summary."


def test_malformed_feed_keeps_what_parses() -> None:
    broken = rss(ITEM1, ITEM2).replace(b"</channel></rss>", b"<item><title>Cut off")
    parsed = parse_feed(broken, "http://feeds.test/broken")
    assert parsed.error is not None
    assert [e.entry_id for e in parsed.entries][:2] == ["story-1", "story-2"]


def test_bad_entry_does_not_stop_others() -> None:
    empty = "<item><guid>empty-1</guid></item>"
    parsed = parse_feed(rss(ITEM1, empty, ITEM2), "http://feeds.test/rss")
    assert [e.entry_id for e in parsed.entries] == ["story-1", "story-2"]
    # nothing to read (a picture post) is noted, not a failure: a poll of such a feed exits 0
    assert parsed.failures == ()
    assert parsed.skipped == ("http://feeds.test/rss: entry 2 skipped: entry 'empty-1' has neither a title nor any text",)


def test_not_a_feed() -> None:
    with pytest.raises(FeedParseError, match=r"^http://x/: not an RSS or Atom feed"):
        parse_feed(b"<html><body>hello</body></html>", "http://x/")


def test_external_entity_is_not_read(tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET-VALUE")
    feed = f"""<?xml version="1.0"?>
<!DOCTYPE rss [<!ENTITY xxe SYSTEM "file://{secret}">]>
<rss version="2.0"><channel><title>T</title><item><title>Hello &xxe;</title>
<link>https://e.example.org/1</link><description>body &xxe; end</description></item></channel></rss>""".encode()
    parsed = parse_feed(feed, "http://x/")
    dump = repr(parsed)
    assert "TOP-SECRET-VALUE" not in dump
    assert parsed.entries and parsed.entries[0].link == "https://e.example.org/1"


def test_entity_expansion_is_not_expanded() -> None:
    decl = '<!ENTITY lol "lolololololololololol">' + "".join(
        f'<!ENTITY lol{i} "{("&lol" + (str(i - 1) if i > 1 else "") + ";") * 10}">' for i in range(1, 9))
    feed = f"""<?xml version="1.0"?><!DOCTYPE rss [{decl}]>
<rss version="2.0"><channel><title>T</title><item><title>x &lol8;</title>
<link>https://e.example.org/1</link><description>d</description></item></channel></rss>""".encode()
    started = time.monotonic()
    parsed = parse_feed(feed, "http://x/")
    assert time.monotonic() - started < 5
    assert all(len(e.article.title) < 1000 and len(e.article.text) < 1000 for e in parsed.entries)


def test_deeply_nested_feed() -> None:
    nested = "<div>" * 50_000 + "deep" + "</div>" * 50_000
    feed = rss(rss_item(1, "Nested", nested), ITEM2)
    parsed = parse_feed(feed, "http://x/")
    assert "story-2" in [e.entry_id for e in parsed.entries]


@settings(max_examples=150, deadline=None)
@given(st.binary(max_size=2000) | st.text(max_size=500).map(lambda t: rss(rss_item(1, t, t)) + t.encode("utf-8", "surrogatepass")))
def test_parse_feed_never_fails_on_arbitrary_bytes(content: bytes) -> None:
    """Whatever a server sends, parse_feed returns entries or raises FeedParseError, nothing else."""
    try:
        parsed = parse_feed(content, "http://x/")
    except FeedParseError:
        return
    for entry in parsed.entries:
        assert "\x00" not in entry.article.text and "\x00" not in entry.article.title


# ---- full text and private addresses -----------------------------------------------------


def _entry(link: str) -> FeedEntry:
    return FeedEntry("e1", link, Article(url=link, title="T", text="Short summary."))


def test_full_text_refuses_loopback_by_default(server: LocalServer, client: httpx.Client) -> None:
    server.routes["/article"] = static("<html><body><p>" + "Full text. " * 50 + "</p></body></html>")
    link = server.url("/article")
    with pytest.raises(FetchError, match=r"refusing to fetch: 127\.0\.0\.1 resolves to the non-public address 127\.0\.0\.1"):
        fetch_full_text(client, _entry(link))
    assert server.hits("/article") == []
    expanded = fetch_full_text(client, _entry(link), allow_private=True)
    assert expanded.article.text.startswith("Full text. Full text.")
    assert expanded.article.url == link


@pytest.mark.parametrize("url", ["http://10.1.2.3/x", "http://192.168.0.1/", "http://169.254.169.254/latest/meta-data",
                                 "http://[::1]/", "http://[fe80::1]/", "http://0.0.0.0/", "http://localhost/"])
def test_private_addresses_refused(url: str) -> None:
    with pytest.raises(FetchError, match=r"non-public address"):
        check_public_address(url)


def test_redirect_to_private_address_refused(server: LocalServer, client: httpx.Client) -> None:
    """A public-looking link that redirects inward is checked again at every hop."""
    with pytest.raises(FetchError, match="non-public address"):
        fetch_full_text(client, _entry(server.url("/article")))


def test_backoff_grows_and_is_capped() -> None:
    assert feed_backoff(1, 300) == dt.timedelta(0)
    assert feed_backoff(2, 300) == dt.timedelta(seconds=300)
    assert feed_backoff(4, 300) == dt.timedelta(seconds=1200)
    assert feed_backoff(40, 300) == dt.timedelta(days=1)


# ---- feed-entry decisions (pipeline/feeds.py) ----------------------------------------------


def test_new_entries_are_those_unseen_by_id_and_by_link_and_not_repeated() -> None:
    from newswatch.pipeline.feeds import lookup_keys, select_new_entries
    from newswatch.pipeline.sources import entry_key

    seen_by_id = FeedEntry("a", "https://x.org/1", Article("https://x.org/1", "T", "x"))
    seen_by_link = FeedEntry("b", "https://x.org/2", Article("https://x.org/2", "T", "x"))
    new = FeedEntry("c", "https://x.org/3", Article("https://x.org/3", "T", "x"))
    repeat = FeedEntry("c", "https://x.org/3b", Article("https://x.org/3b", "T", "x"))
    no_link = FeedEntry("d", None, Article("urn:d", "T", "x"))
    entries = [seen_by_id, seen_by_link, new, repeat, no_link]
    keys, links = lookup_keys(entries)
    assert keys == [entry_key(e.entry_id) for e in entries] and len(links) == 4
    fresh = select_new_entries(entries, {entry_key("a")}, {entry_key("https://x.org/2")})
    assert fresh == [new, no_link]


def test_undated_entries_get_the_given_date_and_dated_ones_keep_theirs() -> None:
    from newswatch.pipeline.feeds import date_articles

    dated = FeedEntry("a", None, Article("u1", "T", "x", published=dt.date(2022, 5, 16)))
    undated = FeedEntry("b", None, Article("u2", "T", "x"))
    articles = date_articles([dated, undated], dt.date(2021, 12, 17))
    assert [a.published for a in articles] == [dt.date(2022, 5, 16), dt.date(2021, 12, 17)]


def test_only_a_scheduled_poll_waits_for_a_backing_off_feed() -> None:
    from newswatch.pipeline.feeds import backoff_until, is_backing_off

    now = dt.datetime(2022, 1, 1, 12, tzinfo=dt.timezone.utc)
    later_naive = dt.datetime(2022, 1, 1, 13)  # as SQLite hands it back (UTC, no zone)
    assert is_backing_off(later_naive, now, scheduled=True)
    assert not is_backing_off(later_naive, now, scheduled=False)
    assert not is_backing_off(dt.datetime(2022, 1, 1, 11), now, scheduled=True)
    assert not is_backing_off(None, now, scheduled=True)
    assert backoff_until(now, 1, 300) is None
    assert backoff_until(now, 3, 300) == now + dt.timedelta(seconds=600)


# ---- polling through the ingest flow -------------------------------------------------------


def _rows(url: str, sql: str) -> list[tuple]:
    import sqlalchemy as sa

    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            return [tuple(r) for r in conn.execute(sa.text(sql))]
    finally:
        engine.dispose()


class Feed:
    """A feed whose content and validators a test changes between polls."""

    def __init__(self, body: bytes, version: str = "v1") -> None:
        self.body, self.version = body, version

    def update(self, body: bytes, version: str) -> None:
        self.body, self.version = body, version

    def route(self, request: Request) -> Reply:
        etag, modified = f'"{self.version}"', f"Sat, 18 Dec 2021 00:00:0{len(self.version) % 10} GMT"
        if request.headers.get("if-none-match") == etag:
            return Reply(304, b"", {"ETag": etag, "Last-Modified": modified})
        return Reply(200, self.body, {"Content-Type": "application/rss+xml", "ETag": etag,
                                       "Last-Modified": modified})


@pytest.fixture
def flow_db(settings_env: str, prefect_harness: None) -> str:
    return settings_env


def test_cli_ingest_feed_twice_unchanged_feed_inserts_nothing(flow_db: str, server: LocalServer) -> None:
    """Issue 6, done when: the second poll sends the validators, gets 304 and inserts nothing."""
    from typer.testing import CliRunner

    from newswatch.cli import app

    feed = Feed(rss(ITEM1, ITEM2))
    server.routes["/feed.xml"] = feed.route
    url = server.url("/feed.xml")
    first = CliRunner().invoke(app, ["ingest", "--feed", url])
    assert first.exit_code == 0, first.output
    assert "articles: 2 new" in first.output
    before = {t: _rows(flow_db, f"SELECT count(*) FROM {t}")[0][0] for t in ("articles", "events", "mentions", "alerts", "feed_entries")}
    assert before["articles"] == 2 and before["feed_entries"] == 2

    second = CliRunner().invoke(app, ["ingest", "--feed", url])
    assert second.exit_code == 0, second.output
    assert "articles: 0 new" in second.output
    headers = server.hits("/feed.xml")[-1].headers
    assert headers["if-none-match"] == '"v1"' and headers["if-modified-since"]
    after = {t: _rows(flow_db, f"SELECT count(*) FROM {t}")[0][0] for t in before}
    assert after == before
    (status, errors, title), = _rows(flow_db, "SELECT last_status, consecutive_errors, title FROM feeds")
    assert status == "304 not modified" and errors == 0 and title == "World Desk"


def test_new_entries_between_polls_skip_seen_ones_before_nlp(flow_db: str, server: LocalServer) -> None:
    from newswatch.flows.ingest import ingest

    feed = Feed(rss(ITEM1))
    server.routes["/feed.xml"] = feed.route
    url = server.url("/feed.xml")
    first = ingest(feeds=[url])
    assert (first.articles_new, first.failures) == (1, [])
    feed.update(rss(ITEM2, ITEM1), "v2")
    second = ingest(feeds=[url])
    # the old entry never reached the flow's article batches: skipped by id before any NLP
    assert (second.articles_new, second.articles_known, second.failures) == (1, 0, [])
    urls = sorted(r[0] for r in _rows(flow_db, "SELECT url FROM articles"))
    assert urls == ["https://news.example.org/story/1", "https://news.example.org/story/2"]
    assert _rows(flow_db, "SELECT published FROM articles WHERE url LIKE '%/2'")[0][0] in (dt.date(2022, 5, 16), "2022-05-16")
    assert _rows(flow_db, "SELECT etag FROM feeds") == [('"v2"',)]


def test_failing_feed_is_reported_counted_and_backs_off(flow_db: str, server: LocalServer) -> None:
    from newswatch.flows.ingest import ingest

    server.routes["/feed.xml"] = static("down", status=500)
    url = server.url("/feed.xml")
    for attempt in (1, 2):
        summary = ingest(feeds=[url])
        assert len(summary.failures) == 1 and summary.failures[0].startswith(f"{url}: HTTP 500 ")
        (errors, after), = _rows(flow_db, "SELECT consecutive_errors, next_poll_after FROM feeds")
        assert errors == attempt
        assert (after is None) == (attempt == 1)
    server.routes["/feed.xml"] = static(rss(ITEM1), "application/rss+xml")
    summary = ingest(feeds=[url])  # a poll by hand does not wait for the backoff
    assert summary.failures == [] and summary.articles_new == 1
    assert _rows(flow_db, "SELECT consecutive_errors, next_poll_after FROM feeds") == [(0, None)]


def test_malformed_feed_and_bad_entry_in_the_flow(flow_db: str, server: LocalServer) -> None:
    from newswatch.flows.ingest import ingest

    broken = rss(ITEM1, "<item><guid>empty-1</guid></item>", ITEM2).replace(b"</channel></rss>", b"<item><title>Cut")
    server.routes["/feed.xml"] = static(broken, "application/rss+xml")
    summary = ingest(feeds=[server.url("/feed.xml")])
    assert summary.articles_new == 2
    # the entry with nothing to read is no failure; the others are stored
    assert not any("empty-1" in failure for failure in summary.failures)
    (status,), = _rows(flow_db, "SELECT last_status FROM feeds")
    assert "malformed" in status


def test_full_text_link_to_loopback_refused_in_the_flow(
    flow_db: str, server: LocalServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    from newswatch.flows.ingest import ingest

    monkeypatch.setenv("NEWSWATCH_FEED_FULL_TEXT", "true")
    server.routes["/article"] = static("<html><body><article><p>" + "Secret internal page. " * 40 + "</p></article></body></html>")
    item = f"""<item><title>Russia demands guarantees</title><link>{server.url('/article')}</link>
<guid>inner-1</guid><description>Russia demanded that NATO deny membership to Ukraine.</description></item>"""
    server.routes["/feed.xml"] = static(rss(item), "application/rss+xml")
    summary = ingest(feeds=[server.url("/feed.xml")])
    assert summary.articles_new == 1 and summary.failures == []
    assert server.hits("/article") == []
    assert _rows(flow_db, "SELECT text FROM articles") == [("Russia demanded that NATO deny membership to Ukraine.",)]


@pytest.mark.slow
def test_two_polls_of_one_feed_at_once(tmp_path: Path, server: LocalServer, prefect_api_url: str) -> None:
    """Two `newswatch ingest --feed` processes racing on one feed store each entry once."""
    from tests._faults import ingest_env

    feed = Feed(rss(ITEM1, ITEM2, rss_item(3, "Kyiv urges timeline", "<p>Ukraine urged NATO to set a membership timeline.</p>")))
    server.routes["/feed.xml"] = lambda r: Reply(**{**feed.route(r).__dict__, "delay": 0.5})
    db_url = f"sqlite:///{tmp_path / 'race.db'}"
    env = ingest_env(db_url, api_url=prefect_api_url)
    newswatch = str(Path(sys.executable).parent / "newswatch")
    procs = [subprocess.Popen([newswatch, "ingest", "--feed", server.url("/feed.xml")], env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    outputs = [p.communicate(timeout=300) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outputs
    assert _rows(db_url, "SELECT count(*), count(DISTINCT url) FROM articles") == [(3, 3)]
    assert _rows(db_url, "SELECT count(*) FROM feed_entries") == [(3,)]
    assert _rows(db_url, "SELECT count(*), max(consecutive_errors) FROM feeds") == [(1, 0)]
    events = _rows(db_url, "SELECT count(*) FROM events")[0][0]
    assert _rows(db_url, "SELECT count(*) FROM mentions")[0][0] == events


# ---- newswatch serve -----------------------------------------------------------------------


@pytest.mark.slow
def test_serve_polls_on_its_interval(tmp_path: Path, server: LocalServer) -> None:
    """The README's `newswatch serve` works as written: it polls again and again.

    No PREFECT_API_URL: serve starts its own local Prefect server (in a temporary PREFECT_HOME).
    """
    feed = Feed(rss(ITEM1))
    server.routes["/feed.xml"] = feed.route
    env = {k: v for k, v in os.environ.items() if not k.startswith(("NEWSWATCH_", "PREFECT_"))}
    env.update(PREFECT_HOME=str(tmp_path / "prefect"), PREFECT_SERVER_ANALYTICS_ENABLED="false",
               NEWSWATCH_DATABASE_URL=f"sqlite:///{tmp_path / 'serve.db'}")
    newswatch = str(Path(sys.executable).parent / "newswatch")
    proc = subprocess.Popen([newswatch, "serve", "--interval", "3", "--feed", server.url("/feed.xml")],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            cwd=tmp_path)
    try:
        deadline = time.monotonic() + 400
        while len(server.hits("/feed.xml")) < 2 and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(1)
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            out, _ = proc.communicate(timeout=90)
        except subprocess.TimeoutExpired:
            proc.kill()
            out, _ = proc.communicate()
    hits = server.hits("/feed.xml")
    assert len(hits) >= 2, out[-5000:]
    assert hits[1].headers.get("if-none-match") == '"v1"'
    assert "Started a local Prefect server" in out
    rows = _rows(f"sqlite:///{tmp_path / 'serve.db'}", "SELECT url FROM articles")
    assert rows == [("https://news.example.org/story/1",)]


@pytest.mark.slow
def test_prefect_yaml_deployment_runs_on_a_process_worker(
    tmp_path: Path, server: LocalServer, prefect_api_url: str
) -> None:
    """The README's work-pool recipe: `prefect deploy --all` from prefect.yaml, a process worker
    with NEWSWATCH_FEEDS in its environment, `prefect deployment run` -> the feed is polled."""
    server.routes["/feed.xml"] = Feed(rss(ITEM1, ITEM2)).route
    prefect = str(Path(sys.executable).parent / "prefect")
    db_url = f"sqlite:///{tmp_path / 'worker.db'}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("NEWSWATCH_")}
    env.update(PREFECT_API_URL=prefect_api_url, NEWSWATCH_DATABASE_URL=db_url,
               NEWSWATCH_FEEDS=server.url("/feed.xml"))

    def run(*args: str, timeout: float = 300) -> str:
        done = subprocess.run([prefect, *args], cwd=REPO, env=env, capture_output=True, text=True,
                              timeout=timeout)
        assert done.returncode == 0, f"prefect {' '.join(args)}:\n{done.stdout}\n{done.stderr}"
        return done.stdout

    existing = subprocess.run([prefect, "work-pool", "inspect", "newswatch"], cwd=REPO, env=env,
                              capture_output=True, text=True, timeout=120)
    if existing.returncode != 0:
        run("work-pool", "create", "newswatch", "--type", "process")
    run("--no-prompt", "deploy", "--all")
    run("deployment", "run", "newswatch-poll-feeds/poll-feeds")
    run("worker", "start", "--pool", "newswatch", "--run-once", timeout=400)
    assert len(server.hits("/feed.xml")) == 1
    assert sorted(_rows(db_url, "SELECT url FROM articles")) == [
        ("https://news.example.org/story/1",), ("https://news.example.org/story/2",)]


def test_network_failures_are_retried_once_http_errors_not(
    flow_db: str, server: LocalServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    from newswatch.flows.ingest import ingest

    monkeypatch.setenv("NEWSWATCH_FETCH_TIMEOUT", "1")
    server.routes["/slow.xml"] = lambda _r: Reply(200, rss(ITEM1), {"Content-Type": "application/rss+xml"}, delay=3)
    server.routes["/gone.xml"] = static("gone", status=404)
    summary = ingest(feeds=[server.url("/slow.xml"), server.url("/gone.xml")])
    assert len(summary.failures) == 2
    assert "timed out after 1 s" in summary.failures[0] and "HTTP 404" in summary.failures[1]
    assert len(server.hits("/slow.xml")) == 2  # one retry on a timeout
    assert len(server.hits("/gone.xml")) == 1  # none on an HTTP status


def test_full_text_connects_to_the_address_it_checked(
    server: LocalServer, client: httpx.Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    """DNS rebinding: the connection goes to the checked address, never to a second lookup.

    `news.example.test` does not resolve at all; the fetch succeeds only because the request is
    sent to the address the check returned (here the local server), with the original Host.
    """
    import newswatch.pipeline.sources as sources

    port = server.httpd.server_address[1]
    monkeypatch.setattr(sources, "check_public_address", lambda url: "127.0.0.1")
    server.routes["/a"] = static("<html><body><p>" + "Full story text. " * 30 + "</p></body></html>")
    expanded = fetch_full_text(client, _entry(f"http://news.example.test:{port}/a"))
    assert expanded.article.text.startswith("Full story text.")
    assert server.hits("/a")[0].headers["host"] == f"news.example.test:{port}"


@pytest.mark.usefixtures("prefect_harness")
def test_serve_drops_runs_a_previous_serve_scheduled_for_other_feeds() -> None:
    """Bug: `serve` restarted with other feeds first ran a leftover run with the old feed list."""
    import asyncio

    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import DeploymentFilter, DeploymentFilterName
    from prefect.states import Scheduled

    from newswatch.flows.deployments import DEPLOYMENT_NAME, _drop_stale_runs
    from newswatch.flows.poll import poll_all_feeds

    async def setup() -> tuple[str, str]:
        async with get_client() as client:
            flow_id = await client.create_flow(poll_all_feeds)
            deployment_id = await client.create_deployment(flow_id=flow_id, name=DEPLOYMENT_NAME)
            old = await client.create_flow_run_from_deployment(
                deployment_id, parameters={"feeds": ["https://old.test/rss"]}, state=Scheduled())
            new = await client.create_flow_run_from_deployment(
                deployment_id, parameters={"feeds": ["https://new.test/rss"]}, state=Scheduled())
            return str(old.id), str(new.id)

    async def remaining() -> set[str]:
        async with get_client() as client:
            runs = await client.read_flow_runs(deployment_filter=DeploymentFilter(
                name=DeploymentFilterName(any_=[DEPLOYMENT_NAME])))
            return {str(r.id) for r in runs}

    old, new = asyncio.run(setup())
    _drop_stale_runs(["https://new.test/rss"])
    left = asyncio.run(remaining())
    assert new in left and old not in left
