"""Tests for pipeline/sources.py read_article: files and article URLs, good and bad."""

from __future__ import annotations

import datetime as dt
import gzip
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from newswatch.pipeline.errors import FetchError, SourceError
from newswatch.pipeline.sources import USER_AGENT, make_client, read_article
from tests._http import LocalServer, Reply, static

SEED = Path(__file__).resolve().parent.parent / "seeds" / "000_30228fdb78730024.txt"

PAGE = """<!doctype html><html><head><title>Kyiv urges timeline | Example News</title>
<meta property="article:published_time" content="2022-01-10T09:00:00Z"></head>
<body><nav>Home World Politics</nav><article><h1>Kyiv urges NATO membership timeline</h1>
<p>KYIV — Ukraine's president on Monday urged NATO to set out a clear timeline for his
country's membership, saying the alliance's open door must be more than words.</p>
<p>NATO officials said no decision would be made soon.</p></article></body></html>"""


@pytest.fixture
def client() -> Iterator[httpx.Client]:
    with make_client(timeout=2.0) as c:
        yield c


# ---- files -------------------------------------------------------------------------------


def test_seed_file() -> None:
    article = read_article(str(SEED), published=dt.date(2021, 12, 17), source="AP")
    assert article.title.startswith("SIGNS: Russia Demands USA, NATO")
    assert article.byline == "Associated Press"
    assert article.text.startswith("MOSCOW — Russia on Friday published draft security pacts")
    assert "By Associated Press" not in article.text
    assert article.published == dt.date(2021, 12, 17)
    assert article.url == str(SEED)


def test_html_file(tmp_path: Path) -> None:
    path = tmp_path / "story.html"
    path.write_text(PAGE, encoding="utf-8")
    article = read_article(str(path), published=dt.date(2000, 1, 1))
    assert article.title == "Kyiv urges NATO membership timeline"
    assert "clear timeline" in article.text and "Home World" not in article.text
    assert article.published == dt.date(2022, 1, 10)


def test_utf8_bom_is_dropped(tmp_path: Path) -> None:
    path = tmp_path / "bom.txt"
    path.write_bytes(b"\xef\xbb\xbfHeadline\nBody text.\n")
    assert read_article(str(path)).title == "Headline"


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("missing.txt", None, "no such file; check the path"),
        ("empty.txt", b"", "the file is empty; an article needs a headline and a body"),
        ("blank.txt", b"  \n\n \t\n", "the file is empty"),
        ("binary.txt", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00", "binary file, not a text or HTML article"),
        ("latin1.txt", "Caf\u00e9 headline\nBody\n".encode("latin-1"), "not UTF-8 (invalid byte 0xe9 at offset 3); convert it"),
        ("feed.xml", b'<?xml version="1.0"?><rss version="2.0"><channel></channel></rss>', "this is a feed; give it with --feed"),
    ],
)
def test_bad_files(tmp_path: Path, name: str, content: bytes | None, message: str) -> None:
    path = tmp_path / name
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(SourceError) as info:
        read_article(str(path))
    assert str(info.value).startswith(f"{path}: {message}")


def test_one_line_file_is_a_one_sentence_article(tmp_path: Path) -> None:
    """Regression: one-sentence files (coded example sentences) were refused as "only a headline"."""
    path = tmp_path / "flash.txt"
    path.write_text("Russia demanded that NATO halt its expansion.\n")
    article = read_article(str(path))
    assert article.title == article.text == "Russia demanded that NATO halt its expansion."


def test_directory(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match=r"is a directory; give the article files inside it"):
        read_article(str(tmp_path))


def test_too_large_file(tmp_path: Path) -> None:
    path = tmp_path / "big.txt"
    path.write_text("Headline\n" + "word " * 1000)
    with pytest.raises(SourceError, match=r"big.txt: file too large \(\d+ bytes, limit 100\)"):
        read_article(str(path), max_bytes=100)


# ---- URLs --------------------------------------------------------------------------------


def test_article_url(server: LocalServer, client: httpx.Client) -> None:
    server.routes["/story"] = static(PAGE)
    url = server.url("/story")
    article = read_article(url, source="Example", client=client)
    assert article.url == url
    assert article.title == "Kyiv urges NATO membership timeline"
    assert article.published == dt.date(2022, 1, 10)
    assert server.hits("/story")[0].headers["user-agent"] == USER_AGENT


def test_article_url_plain_text_gzip_and_redirect(server: LocalServer, client: httpx.Client) -> None:
    body = gzip.compress("Headline here\nBy Staff Reporter\nBody text of the story.\n".encode())
    server.routes["/old"] = lambda _r: Reply(301, b"", {"Location": "/new"})
    server.routes["/new"] = static(body, "text/plain; charset=utf-8", **{"Content-Encoding": "gzip"})
    article = read_article(server.url("/old"), client=client)
    assert (article.title, article.byline, article.text) == (
        "Headline here", "Staff Reporter", "Body text of the story.")
    assert article.url == server.url("/old")


@pytest.mark.parametrize(("status", "hint"), [(404, "check the URL"), (500, "the server failed")])
def test_article_url_http_errors(server: LocalServer, client: httpx.Client, status: int, hint: str) -> None:
    server.routes["/bad"] = static("nope", status=status)
    url = server.url("/bad")
    with pytest.raises(FetchError) as info:
        read_article(url, client=client)
    assert str(info.value).startswith(f"{url}: HTTP {status} ")
    assert hint in str(info.value)


def test_unreachable_url(client: httpx.Client) -> None:
    with pytest.raises(FetchError, match=r"^http://127\.0\.0\.1:9/x: cannot connect \(ConnectError"):
        read_article("http://127.0.0.1:9/x", client=client)


def test_unsupported_scheme() -> None:
    with pytest.raises(FetchError, match=r"only http and https URLs are supported"):
        read_article("ftp://example.org/story.txt")


def test_url_too_large(server: LocalServer, client: httpx.Client) -> None:
    server.routes["/big"] = static("<p>" + "x" * 5000 + "</p>")
    with pytest.raises(FetchError, match=r"response too large \(5007 bytes, limit 1000\)"):
        read_article(server.url("/big"), client=client, max_bytes=1000)


def test_url_binary(server: LocalServer, client: httpx.Client) -> None:
    server.routes["/img"] = static(b"\x89PNG\x00\x00\x00\x00" * 10, "image/png")
    with pytest.raises(FetchError, match=r"not a text or HTML page \(content type image/png\)"):
        read_article(server.url("/img"), client=client)


def test_feed_url_given_as_article(server: LocalServer, client: httpx.Client) -> None:
    server.routes["/news"] = static('<?xml version="1.0"?><rss version="2.0"><channel><title>T</title></channel></rss>',
                                    "application/xml")
    url = server.url("/news")
    with pytest.raises(SourceError, match=rf"^{url}: this is a feed; give it with --feed {url}$"):
        read_article(url, client=client)
