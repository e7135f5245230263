"""Reading inputs: article files, article URLs and RSS/Atom feeds, with fetch limits.

Every failure becomes a `SourceError` (or `FetchError`, `FeedParseError`) whose message names
the input, says what went wrong and what to do, with the original exception as `__cause__`.
The HTTP client is passed in (`make_client` builds one with newswatch's limits) so a flow can
share one connection pool across a batch and tests can point it at a local server.
"""

from __future__ import annotations

import calendar
import codecs
import dataclasses
import datetime as dt
import hashlib
import ipaddress
import os
import re
import socket
import stat
import time
import xml.sax
from collections.abc import Iterator
from contextlib import contextmanager
from email.utils import formatdate
from functools import cache
from importlib import metadata
from pathlib import Path
from typing import Any
from urllib.parse import urljoin, urlsplit

import httpx

from newswatch.pipeline.clean import clean_article, clean_fragment
from newswatch.pipeline.errors import FeedParseError, FetchError, SourceError
from newswatch.pipeline.records import (
    MAX_URL_CHARS, Article, FeedEntry, FeedFetch, ParsedFeed, plausible_date,
)
from newswatch.pipeline.settings import DATA_DIR
from newswatch.pipeline.wordlist import load_word_list

try:
    _VERSION = metadata.version("newswatch")
except metadata.PackageNotFoundError:  # running from a checkout that was never installed
    _VERSION = "0"

#: Sent with every request so site owners can tell who is polling them.
USER_AGENT = f"newswatch/{_VERSION} (news-event monitor; +https://github.com/newswatch/newswatch)"
#: Default limits; the flows pass the configured values (settings `fetch_*`).
TIMEOUT_SECONDS = 10.0
MAX_BYTES = 10 * 1024 * 1024
MAX_REDIRECTS = 5

_META_CHARSET = re.compile(rb"""<meta[^>]+charset=["']?([A-Za-z0-9_.:-]+)""", re.IGNORECASE)
_XML_CHARSET = re.compile(rb"""^\s*<\?xml[^>]*encoding=["']([A-Za-z0-9_.:-]+)""")
# A DOCTYPE with an internal subset (entity declarations) or an external DTD reference.
_DOCTYPE = re.compile(rb"<!DOCTYPE[^>\[]*(\[.*?\]\s*)?>", re.IGNORECASE | re.DOTALL)
_FIRST_ELEMENT = re.compile(rb"<[A-Za-z_]")


# --------------------------------------------------------------------------------------------
# HTTP


def make_client(
    *, timeout: float = TIMEOUT_SECONDS, max_redirects: int = MAX_REDIRECTS
) -> httpx.Client:
    """Build the HTTP client newswatch fetches with: timeouts, a User-Agent, gzip, no auto-redirects.

    Redirects are followed by `fetch_url` itself (at most `max_redirects`, http and https only,
    each hop checked), so the client never follows one on its own.
    """
    return httpx.Client(
        timeout=httpx.Timeout(timeout, connect=min(timeout, 5.0)),
        headers={"User-Agent": USER_AGENT, "Accept-Encoding": "gzip, deflate"},
        follow_redirects=False,
        max_redirects=max_redirects,
        trust_env=False,
    )


@contextmanager
def _client_or_new(client: httpx.Client | None) -> Iterator[httpx.Client]:
    if client is not None:
        yield client
        return
    with make_client() as new:
        yield new


def is_url(value: str) -> bool:
    """Tell whether an input names a URL (has a scheme) rather than a file path."""
    scheme = urlsplit(value).scheme
    return len(scheme) > 1 and "://" in value


def _check_scheme(url: str, original: str) -> None:
    scheme = urlsplit(url).scheme.lower()
    if scheme not in ("http", "https"):
        raise FetchError(
            f"{original}: refusing to fetch {url}: only http and https URLs are supported"
        )


def check_public_address(url: str) -> str:
    """Refuse a URL whose host is (or resolves to) a loopback, private or link-local address.

    Feed entries are written by whoever runs the feed; following their links to such addresses
    would let a feed probe the machine newswatch runs on or its network. Returns the checked
    address to connect to, so a second DNS answer cannot point elsewhere (DNS rebinding).
    """
    host = urlsplit(url).hostname or ""
    try:
        infos = socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)
    except (socket.gaierror, UnicodeError) as exc:
        raise FetchError(f"{url}: cannot resolve host {host!r} ({exc})") from exc
    for info in infos:
        address = ipaddress.ip_address(str(info[4][0]).split("%")[0])
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
            address = address.ipv4_mapped
        if not address.is_global or address.is_multicast:
            raise FetchError(
                f"{url}: refusing to fetch: {host} resolves to the non-public address {address}. "
                "Set NEWSWATCH_FETCH_ALLOW_PRIVATE=true if this network is yours to fetch from."
            )
    if not infos:
        raise FetchError(f"{url}: cannot resolve host {host!r}")
    return str(ipaddress.ip_address(str(infos[0][4][0]).split("%")[0]))


def _pinned(url: str, address: str) -> tuple[str, dict[str, str], dict[str, Any]]:
    """Return `url` aimed at `address`, with the Host header and TLS server name of its host."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    ip_host = f"[{address}]" if ":" in address else address
    netloc = ip_host + (f":{parts.port}" if parts.port else "")
    host_header = host + (f":{parts.port}" if parts.port else "")
    return parts._replace(netloc=netloc).geturl(), {"Host": host_header}, {"sni_hostname": host}


@dataclasses.dataclass(frozen=True)
class _Response:
    url: str
    status: int
    headers: httpx.Headers
    content: bytes


def _read_limited(response: httpx.Response, url: str, max_bytes: int, deadline: float) -> bytes:
    declared = response.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > max_bytes:
        raise FetchError(
            f"{url}: response too large ({int(declared)} bytes, limit {max_bytes}); "
            "raise NEWSWATCH_FETCH_MAX_BYTES if this source is trusted"
        )
    chunks: list[bytes] = []
    size = 0
    for chunk in response.iter_bytes():  # decoded: a gzip bomb is cut at max_bytes too
        size += len(chunk)
        if size > max_bytes:
            raise FetchError(
                f"{url}: response too large (over {max_bytes} bytes); "
                "raise NEWSWATCH_FETCH_MAX_BYTES if this source is trusted"
            )
        if time.monotonic() > deadline:
            raise FetchError(f"{url}: timed out while reading the response; try again later")
        chunks.append(chunk)
    return b"".join(chunks)


def fetch_url(
    client: httpx.Client,
    url: str,
    *,
    headers: dict[str, str] | None = None,
    max_bytes: int = MAX_BYTES,
    public_only: bool = False,
) -> _Response:
    """GET `url` within newswatch's limits and return the final response with its body.

    Redirects are followed up to the client's `max_redirects`, http/https only; with
    `public_only` every hop must resolve to a public address. 304 is returned as is; other
    4xx/5xx statuses and transport failures raise `FetchError`.
    """
    timeout = client.timeout.read or TIMEOUT_SECONDS
    deadline = time.monotonic() + 3 * timeout
    current = url
    for _hop in range(client.max_redirects + 1):
        _check_scheme(current, url)
        target, hop_headers = current, dict(headers or {})
        extensions: dict[str, Any] = {}
        if public_only:
            pinned, host_header, extensions = _pinned(current, check_public_address(current))
            target = pinned
            hop_headers.update(host_header)
        try:
            request = client.build_request("GET", target, headers=hop_headers, extensions=extensions)
            response = client.send(request, stream=True)
            try:
                if response.has_redirect_location:
                    current = urljoin(current, response.headers["location"])
                    continue
                if response.status_code == 304:
                    return _Response(current, 304, response.headers, b"")
                if response.status_code >= 400:
                    hint = (
                        "the server failed; newswatch will try again on the next poll"
                        if response.status_code >= 500
                        else "check the URL (the page or feed may have moved or gone)"
                    )
                    raise FetchError(
                        f"{url}: HTTP {response.status_code} {response.reason_phrase}; {hint}"
                    )
                body = _read_limited(response, url, max_bytes, deadline)
                return _Response(current, response.status_code, response.headers, body)
            finally:
                response.close()
        except httpx.TimeoutException as exc:
            raise FetchError(
                f"{url}: timed out after {timeout:g} s ({type(exc).__name__}); "
                "the server is slow or down, try again later"
            ) from exc
        except httpx.DecodingError as exc:
            raise FetchError(f"{url}: the response body is corrupt ({exc})") from exc
        except httpx.UnsupportedProtocol as exc:
            raise FetchError(f"{url}: only http and https URLs are supported ({exc})") from exc
        except httpx.HTTPError as exc:
            raise FetchError(
                f"{url}: cannot connect ({type(exc).__name__}: {exc}); "
                "check the URL and your network"
            ) from exc
    raise FetchError(
        f"{url}: too many redirects (more than {client.max_redirects}); check the URL"
    )


def _stray_bytes_as_cp1252(error: UnicodeError) -> tuple[str, int]:
    """Codec error handler: read the bytes that are not UTF-8 as Windows-1252, one by one."""
    if not isinstance(error, UnicodeDecodeError):
        raise error
    bad = error.object[error.start:error.end]
    return bytes(bad).decode("cp1252", errors="replace"), error.end


codecs.register_error("newswatch-cp1252", _stray_bytes_as_cp1252)
#: Share of bytes that may be stray for a text still to count as UTF-8 (a pasted quote).
STRAY_BYTES_SHARE = 0.01


def _decode(body: bytes, content_type: str | None, origin: str) -> str:
    """Decode fetched HTML/text: declared charset, then a <meta> charset, then UTF-8.

    A UTF-8 page with a few stray Windows-1252 bytes (a quote pasted from a word processor)
    stays UTF-8 with just those bytes read as Windows-1252; only a text mostly not UTF-8 is
    decoded wholly as Windows-1252.
    """
    candidates: list[str] = []
    if content_type and (m := re.search(r"charset=([\w.:-]+)", content_type, re.IGNORECASE)):
        candidates.append(m.group(1))
    if m2 := _META_CHARSET.search(body[:4096]):
        candidates.append(m2.group(1).decode("ascii"))
    candidates.append("utf-8")
    for encoding in candidates:
        try:
            return body.decode(encoding)
        except (LookupError, UnicodeDecodeError):
            continue
    stray = body.decode("utf-8", errors="replace").count("\ufffd") - body.decode(
        "utf-8", errors="ignore").count("\ufffd")
    if stray <= max(2, int(len(body) * STRAY_BYTES_SHARE)):
        return body.decode("utf-8", errors="newswatch-cp1252")
    return body.decode("cp1252", errors="replace")


# --------------------------------------------------------------------------------------------
# Articles (files and URLs)


def _looks_binary(data: bytes) -> bool:
    sample = data[:8192]
    if b"\x00" in sample:
        return True
    controls = sum(1 for b in sample if b < 32 and b not in (9, 10, 12, 13, 27))
    return controls > max(8, len(sample) // 20)


@cache
def _suffixes(path: Path) -> frozenset[str]:
    """Return the file name suffixes of a suffix list (`data/html_suffixes.txt` ...), lower case."""
    return frozenset(suffix.lower() for suffix in load_word_list(path))


def _kind(path: Path, data: bytes) -> str:
    suffix = path.suffix.lower()
    if suffix in _suffixes(DATA_DIR / "html_suffixes.txt"):
        return "html"
    if suffix in _suffixes(DATA_DIR / "text_suffixes.txt"):
        return "text"
    head = data[:1024].lstrip().lower()
    if head.startswith(b"<?xml") and (b"<rss" in data[:4096] or b"<feed" in data[:4096]):
        return "feed"
    if head.startswith((b"<!doctype html", b"<html")) or b"<body" in data[:4096].lower():
        return "html"
    return "text"


def check_length(path_or_url: str) -> None:
    """Refuse an input whose name is too long to be an article's key in the database."""
    if len(path_or_url) > MAX_URL_CHARS:
        raise SourceError(
            f"{path_or_url[:80]}...: longer than {MAX_URL_CHARS} characters ({len(path_or_url)})"
        )


def check_file(path_str: str, max_bytes: int) -> Path:
    """Refuse, without reading it, an input path that is missing, not a file, or too large.

    Only regular files are read: a FIFO would block the run for good and a device such as
    /dev/zero never ends, so both are refused by their type, not by a size they do not have.
    """
    path = Path(path_str).expanduser()
    try:
        info = path.stat()
    except FileNotFoundError:
        raise SourceError(f"{path_str}: no such file; check the path") from None
    except OSError as exc:
        raise SourceError(f"{path_str}: cannot read the file ({exc.strerror or exc})") from None
    if stat.S_ISDIR(info.st_mode):
        raise SourceError(
            f"{path_str}: is a directory; give the article files inside it (e.g. {path_str}/*.txt)"
        )
    if not stat.S_ISREG(info.st_mode):
        raise SourceError(f"{path_str}: not a regular file (a pipe, socket or device); give a file")
    if info.st_size > max_bytes:
        raise SourceError(
            f"{path_str}: file too large ({info.st_size} bytes, limit {max_bytes}); "
            "split it or raise NEWSWATCH_FETCH_MAX_BYTES"
        )
    return path


def _read_file(path_str: str, max_bytes: int, *, text: bool = True) -> tuple[Path, bytes]:
    """Read a checked file, at most `max_bytes`: a file that grows meanwhile is still bounded.

    The type is checked again on the open descriptor (O_NONBLOCK), so a path swapped for a FIFO
    after `check_file` cannot block the read. `text=False` (feeds) leaves the encoding to
    feedparser, which reads UTF-16 and UTF-32 feeds that look binary to a byte test.
    """
    path = check_file(path_str, max_bytes)
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
        with os.fdopen(fd, "rb") as handle:
            if not stat.S_ISREG(os.fstat(handle.fileno()).st_mode):
                raise SourceError(f"{path_str}: not a regular file (a pipe, socket or device); give a file")
            data = handle.read(max_bytes + 1)
    except OSError as exc:
        raise SourceError(f"{path_str}: cannot read the file ({exc.strerror or exc})") from exc
    if len(data) > max_bytes:
        raise SourceError(
            f"{path_str}: file too large (over {max_bytes} bytes); "
            "split it or raise NEWSWATCH_FETCH_MAX_BYTES"
        )
    if not data.strip():
        raise SourceError(f"{path_str}: the file is empty; an article needs a headline and a body")
    if text and _looks_binary(data):
        raise SourceError(
            f"{path_str}: binary file, not a text or HTML article; give a UTF-8 .txt or .html file"
        )
    return path, data


def _check_article(article: Article, origin: str) -> Article:
    if not article.text.strip() and not article.title.strip():
        raise SourceError(f"{origin}: no article text found; check that it is a news article")
    if not article.text.strip():
        # A one-line file is a one-sentence article (a wire flash, a coded example sentence):
        # its line is both headline and body, so its events are read too.
        return dataclasses.replace(article, text=article.title)
    return article


def read_article(
    path_or_url: str,
    *,
    published: dt.date | None = None,
    source: str | None = None,
    client: httpx.Client | None = None,
    max_bytes: int = MAX_BYTES,
) -> Article:
    """Read one article from a .txt/.html file or an http(s) URL and return it cleaned.

    `published` dates an article that carries no date of its own; `source` names the outlet.
    Raises `SourceError` (a `FetchError` for URLs) naming the input and the reason.
    """
    check_length(path_or_url)
    if is_url(path_or_url):
        with _client_or_new(client) as http:
            response = fetch_url(http, path_or_url, max_bytes=max_bytes)
        content_type = response.headers.get("content-type", "")
        if not response.content.strip():
            raise FetchError(f"{path_or_url}: the server sent an empty page")
        if _looks_binary(response.content):
            raise FetchError(
                f"{path_or_url}: not a text or HTML page (content type {content_type or 'unknown'})"
            )
        lowered = content_type.lower()
        kind = _kind(Path(urlsplit(path_or_url).path), response.content)
        if kind == "feed" or any(name in lowered for name in ("rss", "atom")):
            raise SourceError(f"{path_or_url}: this is a feed; give it with --feed {path_or_url}")
        html = "html" in lowered or kind == "html"
        text = _decode(response.content, content_type, path_or_url)
        article = clean_article(text, url=path_or_url, published=published, source=source, html=html)
        return _check_article(article, path_or_url)

    path, data = _read_file(path_or_url, max_bytes)
    kind = _kind(path, data)
    if kind == "feed":
        raise SourceError(f"{path_or_url}: this is a feed; give it with --feed {path_or_url}")
    if kind == "html":
        text = _decode(data, None, path_or_url)
    else:
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise SourceError(
                f"{path_or_url}: not UTF-8 (invalid byte 0x{data[exc.start]:02x} at offset "
                f"{exc.start}); convert it, e.g. iconv -f WINDOWS-1252 -t UTF-8"
            ) from exc
    article = clean_article(text, url=path_or_url, published=published, source=source,
                            html=kind == "html")
    return _check_article(article, path_or_url)


# --------------------------------------------------------------------------------------------
# Feeds


def fetch_feed(
    client: httpx.Client,
    url: str,
    etag: str | None = None,
    last_modified: str | None = None,
    *,
    max_bytes: int = MAX_BYTES,
) -> FeedFetch:
    """Fetch a feed, asking only for a change since `etag`/`last_modified` (conditional GET).

    A 304 (or an unchanged local feed file) comes back with `not_modified=True` and no content.
    A local path is read as a feed file; its modification time plays the part of Last-Modified.
    """
    if not is_url(url):
        path, data = _read_file(url, max_bytes, text=False)
        stamp = formatdate(path.stat().st_mtime, usegmt=True)
        if last_modified == stamp:
            return FeedFetch(url=url, final_url=url, status=304, content=None,
                             etag=etag, last_modified=stamp, not_modified=True)
        return FeedFetch(url=url, final_url=url, status=200, content=data,
                         etag=None, last_modified=stamp, not_modified=False)

    headers = {"Accept": "application/rss+xml, application/atom+xml, application/xml;q=0.9, */*;q=0.5"}
    if etag:
        headers["If-None-Match"] = etag
    if last_modified:
        headers["If-Modified-Since"] = last_modified
    response = fetch_url(client, url, headers=headers, max_bytes=max_bytes)
    if response.status == 304:
        return FeedFetch(
            url=url, final_url=response.url, status=304, content=None,
            etag=response.headers.get("etag", etag),
            last_modified=response.headers.get("last-modified", last_modified),
            not_modified=True,
        )
    return FeedFetch(
        url=url, final_url=response.url, status=response.status, content=response.content,
        etag=response.headers.get("etag"), last_modified=response.headers.get("last-modified"),
        not_modified=False, content_type=response.headers.get("content-type"),
    )


def _defuse(content: bytes) -> bytes:
    """Remove a DOCTYPE with entity declarations or an external DTD before parsing.

    Feeds have no use for them; they are how a hostile feed expands entities a billion times
    or makes a parser read local files (XXE). Undeclared entities then stay unexpanded.
    """
    head = content[:65536]
    m = _DOCTYPE.search(head)
    if m is None:
        return content
    # A DOCTYPE is only one before the root element; "<!DOCTYPE" inside an entry's CDATA is text.
    root = _FIRST_ELEMENT.search(head)
    if root is not None and root.start() < m.start():
        return content
    return content[: m.start()] + content[m.end():]


def _when(entry: Any) -> dt.datetime | None:
    for key in ("published_parsed", "updated_parsed", "created_parsed"):
        value = entry.get(key)
        if value:
            try:
                when = dt.datetime.fromtimestamp(calendar.timegm(value), dt.timezone.utc)
                if plausible_date(when.date()) is not None:
                    return when
            except (OverflowError, ValueError, TypeError):
                continue
    return None


def _entry_body(entry: Any) -> str:
    """Return the longest of the entry's content blocks and summary, as HTML or text."""
    candidates: list[str] = []
    for block in entry.get("content") or []:
        value = block.get("value") if isinstance(block, dict) else None
        if value:
            candidates.append(str(value))
    if entry.get("summary"):
        candidates.append(str(entry["summary"]))
    return max(candidates, key=len) if candidates else ""


def entry_key(value: str) -> str:
    """Return the fixed-length key an entry id or link is remembered by (sha256 hex)."""
    return hashlib.sha256(value.strip().encode("utf-8", "surrogatepass")).hexdigest()


class _NothingToRead(FeedParseError):
    """An entry with no title and no text: a picture or a video post, not a broken entry."""


def _parse_entry(entry: Any, feed_url: str, base_url: str, feed_title: str | None,
                 source: str | None) -> FeedEntry:
    link = str(entry.get("link") or "").strip() or None
    if link:
        link = urljoin(base_url, link)
        if urlsplit(link).scheme.lower() not in ("http", "https"):
            link = None
        elif len(link) > MAX_URL_CHARS:
            raise FeedParseError(f"link longer than {MAX_URL_CHARS} characters ({len(link)})")
    title = clean_fragment(str(entry.get("title") or ""))
    body = clean_fragment(_entry_body(entry))
    given_id = str(entry.get("id") or "").strip() or link
    raw_id = given_id or entry_key(title + "\n" + body)
    if not (title or body):
        raise _NothingToRead(
            f"entry {given_id!r} has neither a title nor any text" if given_id
            else "entry has no id, no link, no title and no text"
        )
    when = _when(entry)
    url = link or f"{feed_url}#{raw_id}"
    if len(url) > MAX_URL_CHARS:  # a long id: its digest names the entry as well
        url = f"{feed_url}#{entry_key(raw_id)}"
    article = clean_article(
        f"{title}\n{body}", url=url, published=when.date() if when else None,
        source=source or feed_title,
    )
    author = clean_fragment(str(entry.get("author") or "")) or None
    if author and not article.byline:
        article = dataclasses.replace(article, byline=author)
    if not article.text:  # a title-only entry: the title is all the text there is
        article = dataclasses.replace(article, text=article.title)
    return FeedEntry(entry_id=raw_id, link=link, article=article, published_at=when)


def parse_feed(content: bytes, url: str, *, source: str | None = None,
               content_type: str | None = None) -> ParsedFeed:
    """Parse RSS or Atom bytes into entries; a malformed feed yields whatever parses.

    `content_type` is the server's header: its charset wins over the XML declaration, as
    feedparser's rules say, so a feed served as windows-1251 is read as such.

    A feed error (`bozo`) is kept in `error`; an entry that cannot be read is named in
    `failures` and the others go on. Raises `FeedParseError` only when nothing in `content`
    is a feed at all.
    """
    import feedparser

    try:
        result = feedparser.parse(_defuse(content), response_headers={"content-type": content_type or "application/xml"},
                                  sanitize_html=True, resolve_relative_uris=True)
    except (xml.sax.SAXException, ValueError, RecursionError) as exc:  # feedparser guards most
        raise FeedParseError(f"{url}: cannot parse the feed ({exc})") from exc
    error = None
    if result.get("bozo"):
        problem = result.get("bozo_exception")
        error = f"{type(problem).__name__}: {problem}" if problem else "malformed feed"
    entries = list(result.get("entries") or [])
    if not entries and not result.get("version"):
        reason = error or "no RSS or Atom elements found"
        raise FeedParseError(
            f"{url}: not an RSS or Atom feed ({reason}); check the feed URL"
        )
    feed_info = result.get("feed") or {}
    feed_title = clean_fragment(str(feed_info.get("title") or "")) or None
    base_url = str(feed_info.get("link") or url)
    parsed: list[FeedEntry] = []
    failures: list[str] = []
    skipped: list[str] = []
    for index, entry in enumerate(entries):
        try:
            parsed.append(_parse_entry(entry, url, base_url if is_url(base_url) else url,
                                       feed_title, source))
        except _NothingToRead as exc:
            skipped.append(f"{url}: entry {index + 1} skipped: {exc}")
        except Exception as exc:  # one bad entry never stops the others
            failures.append(f"{url}: entry {index + 1} skipped: {exc}")  # the others go on
    return ParsedFeed(url=url, title=feed_title, entries=tuple(parsed),
                      error=error, failures=tuple(failures), skipped=tuple(skipped))


def fetch_full_text(
    client: httpx.Client,
    entry: FeedEntry,
    *,
    allow_private: bool = False,
    max_bytes: int = MAX_BYTES,
) -> FeedEntry:
    """Replace an entry's summary with the full text of the page it links to.

    The link must resolve to a public address unless `allow_private`; the entry keeps its
    summary when the page yields less text. Raises `FetchError` on refusal or failure.
    """
    if not entry.link:
        return entry
    response = fetch_url(client, entry.link, max_bytes=max_bytes, public_only=not allow_private)
    text = _decode(response.content, response.headers.get("content-type"), entry.link)
    page = clean_article(text, url=entry.link, published=None, source=None, html=True)
    if len(page.text) <= len(entry.article.text):
        return entry
    article = dataclasses.replace(
        entry.article,
        text=page.text,
        byline=entry.article.byline or page.byline,
        canonical_url=page.canonical_url,
        published=entry.article.published or page.published,
    )
    return dataclasses.replace(entry, article=article)


def feed_backoff(consecutive_errors: int, base_seconds: int) -> dt.timedelta:
    """Return how long scheduled polls skip a feed that failed `consecutive_errors` times in a row.

    Doubles from `base_seconds` after the second failure in a row, capped at one day; the first
    failure is retried on the next scheduled poll.
    """
    if consecutive_errors < 2:
        return dt.timedelta(0)
    return dt.timedelta(seconds=min(base_seconds * 2 ** min(consecutive_errors - 2, 16), 86_400))
