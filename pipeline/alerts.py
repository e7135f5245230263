"""Alerts: building the message for each (event, topic, channel) and delivering it via Apprise.

`build_alerts` and `build_digest` are pure: they format a message for the channel's preferred
Apprise `body_format` (text, Markdown or HTML), escaping whatever came from the article.
`send_alerts` is the edge: one Apprise call per alert per channel (or one digest when a
channel has more pending alerts than the threshold); it reports success or failure per alert
and never raises for a channel that is down. Channel URLs carry secrets, so anything shown to
people goes through `redact_url` first (Apprise's privacy form of the URL, which each plugin
knows how to write), and Apprise's own log lines are scrubbed.
"""

from __future__ import annotations

import datetime as dt
import html
import logging
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, NamedTuple
from urllib.parse import unquote, unquote_plus, urlsplit

from newswatch.pipeline.errors import AlertError
from newswatch.pipeline.records import Actor, Alert, Article, Event, TopicMatch

#: The channel of alerts raised while no channel is configured: stored and printed only.
NO_CHANNEL = ""
TEXT, MARKDOWN, HTML = "text", "markdown", "html"
_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*")
_MARKDOWN_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-.!|>~<])")

log = logging.getLogger("newswatch.alerts")


class PendingAlert(NamedTuple):
    """A stored alert waiting for delivery: its id, channel URL and message."""

    id: int
    channel: str
    message: str


class Delivery(NamedTuple):
    """What happened to one alert in one delivery attempt."""

    alert_id: int
    ok: bool
    error: str | None = None


# ---------------------------------------------------------------------------------------------
# Secrets


class _Silence(logging.Filter):
    """Drop every record: Apprise logs the tokens of a URL it cannot load."""

    def filter(self, record: logging.LogRecord) -> bool:
        return False


def _load_channel(url: str) -> Any:
    """Return the Apprise plugin for a channel URL, or None when Apprise cannot load it.

    Apprise's warnings about a bad URL quote its tokens, so they are not logged here; the
    delivery attempt reports the problem (scrubbed) when the channel is used.
    """
    import apprise

    logger = logging.getLogger("apprise")
    silence = _Silence()
    logger.addFilter(silence)
    try:
        return apprise.Apprise.instantiate(url)
    finally:
        logger.removeFilter(silence)


def _query(url: str) -> list[tuple[str, str]]:
    """Return the raw (key, value) pairs of a URL's query, `+` and `%XX` left as written."""
    query = url.partition("?")[2].partition("#")[0]
    return [(key, value) for key, _, value in (p.partition("=") for p in query.split("&") if p)]


@lru_cache(maxsize=256)
def redact_url(url: str) -> str:
    """Return a channel URL safe to print: Apprise's privacy form of it, per plugin.

    `slack://TOKENA/TOKENB/TOKENC` -> `slack://T...A/T...B/T...C//`,
    `json://user:pw@host/path` -> `json://user:****@host/path`. Of the query only the
    parameters the URL itself gives are kept (not the defaults Apprise adds), and the values of
    HTTP headers and payload fields (`+Authorization=...`, `:key=...`, `-key=...`), which
    Apprise shows as given, become `***`. A URL Apprise cannot load shows only its scheme
    (`foo://***`), and a text that is no URL at all shows as `***`.
    """
    if not url:
        return url
    scheme, sep, _ = url.partition("://")
    if not sep or not _SCHEME.fullmatch(scheme):
        return "***"
    plugin = _load_channel(url)
    if plugin is None:
        return f"{scheme}://***"
    private = str(plugin.url(privacy=True))
    given = {unquote(key).lower() for key, _ in _query(url)}
    kept = [
        f"{key}={'***' if unquote(key)[:1] in '+-:' else value}" if value else key
        for key, value in _query(private)
        if unquote(key).lower() in given
    ]
    return private.partition("?")[0] + (f"?{'&'.join(kept)}" if kept else "")


def _pieces(url: str) -> set[str]:
    """Return the parts of a URL that may carry a secret, as written, decoded, split at spaces.

    The parts are the user, password, host, path segments, query values and fragment.
    """
    try:
        parts = urlsplit(url)
    except ValueError:
        return {url}
    userinfo, _, hostport = parts.netloc.rpartition("@")
    user, _, password = userinfo.partition(":")
    raw = [user, password, hostport, *hostport.split(":"), *parts.path.split("/"), parts.fragment,
           *(value for _, value in _query(url))]
    found: set[str] = set()
    for piece in raw:
        for form in (piece, unquote(piece), unquote_plus(piece)):
            found.update((form, form.lstrip("#")))
            found.update(form.split())
    return found


def _secrets(url: str) -> list[str]:
    """Return the parts of a channel URL that `redact_url` hides (longest first).

    Parts shorter than three characters are left out: replacing them would garble any text.
    """
    shown = redact_url(url)
    if shown == "***":  # no URL at all: only the whole text is known to be the secret
        return [url] if len(url) >= 3 else []
    hidden = _pieces(url) - _pieces(shown)
    if shown.endswith("://***"):  # Apprise could not load it: all after the scheme is hidden
        hidden.add(url.partition("://")[2])
    return sorted((s for s in hidden if len(s) >= 3), key=len, reverse=True)


def _replacements(urls: Sequence[str]) -> list[tuple[str, str]]:
    """Return (secret, shown) pairs that remove the secrets of the channel URLs from a text."""
    pairs: list[tuple[str, str]] = []
    for url in urls:
        if url:
            pairs.append((url, redact_url(url)))
            pairs.extend((secret, "***") for secret in _secrets(url))
    return pairs


def _apply(text: str, pairs: Sequence[tuple[str, str]]) -> str:
    for secret, shown in pairs:
        text = text.replace(secret, shown)
    return text


def scrub(text: str, urls: Sequence[str]) -> str:
    """Replace every secret of the given channel URLs in `text` with ***."""
    return _apply(text, _replacements(urls))


# ---------------------------------------------------------------------------------------------
# Formatting (pure)


@lru_cache(maxsize=64)
def channel_format(channel: str) -> str:
    """Return the body format a channel prefers: "text", "markdown" or "html".

    An unparsable channel gets "text"; delivering to it will fail and say so.
    """
    if channel == NO_CHANNEL:
        return TEXT
    import apprise

    plugin = _load_channel(channel)
    if plugin is None:
        return TEXT
    preferred = plugin.notify_format
    if isinstance(preferred, (tuple, list)):
        preferred = preferred[0] if preferred else apprise.NotifyFormat.TEXT
    return str(getattr(preferred, "value", preferred))


def _actor_label(actor: Actor | None) -> str:
    if actor is None:
        return "-"
    if actor.code and actor.name and actor.name.upper() != actor.code:
        return f"{actor.code} ({actor.name})"
    return actor.code or actor.name


def _plain(text: str) -> str:
    """Collapse whitespace and drop control characters (titles are one line)."""
    return " ".join("".join(ch for ch in text if ch.isprintable() or ch.isspace()).split())


def _escape(text: str, fmt: str) -> str:
    text = _plain(text)
    if fmt == HTML:
        return html.escape(text, quote=True)
    if fmt == MARKDOWN:
        return _MARKDOWN_SPECIAL.sub(r"\\\1", text)
    return text


def _link(url: str, label: str, fmt: str) -> str:
    is_web = url.startswith(("http://", "https://"))
    if fmt == HTML and is_web:
        return f'<a href="{html.escape(url, quote=True)}">{_escape(label, fmt)}</a>'
    if fmt == MARKDOWN and is_web:
        return f"[{_escape(label, fmt)}](<{url.replace('>', '%3E').replace(' ', '%20')}>)"
    return f"{_escape(label, fmt)} ({_escape(url, fmt)})"


def _matched(match: TopicMatch) -> str:
    """The pattern words of a match, or for a match by meaning its nearest example and cosine."""
    if match.words:
        return ", ".join(match.words)
    if match.example:
        score = f" {match.score:.2f}" if match.score is not None else ""
        return f"by meaning (near{score}: {match.example})"
    return "-"


def format_alert(
    event: Event,
    match: TopicMatch,
    article: Article,
    event_date: dt.date | None,
    fmt: str,
) -> tuple[str, str]:
    """Return (title, body) of the alert about one event and topic in one body format."""
    source, target = _actor_label(event.source), _actor_label(event.target)
    title = _plain(f"[{match.topic}] {source} -> {target}: {event.type.value}")
    fields = [
        ("Topic", _escape(match.topic, fmt)),
        ("Event", _escape(f"{source} -> {target}: {event.type.value}", fmt)),
        ("Content", _escape(event.content, fmt)),
        ("Matched", _escape(_matched(match), fmt)),
        ("Article", _link(article.url, article.title or article.url, fmt)),
        ("Date", event_date.isoformat() if event_date else "-"),
    ]
    if fmt == HTML:
        body = "<br/>\n".join(f"<b>{k}:</b> {v}" for k, v in fields)
    elif fmt == MARKDOWN:
        body = "  \n".join(f"**{k}:** {v}" for k, v in fields)
    else:
        body = "\n".join(f"{k}: {v}" for k, v in fields)
    return title, body


def build_alerts(
    event_id: int,
    event: Event,
    matches: Sequence[TopicMatch],
    article: Article,
    channels: Sequence[str],
    *,
    event_date: dt.date | None = None,
    topic_channels: Mapping[str, Sequence[str]] | None = None,
) -> list[Alert]:
    """Return one alert per matched topic per channel, formatted for that channel.

    `channels` are the Apprise URLs of NEWSWATCH_NOTIFY; `topic_channels` adds a topic's own
    channels. With no channel at all, each topic still gets one alert on `NO_CHANNEL` (stored
    and printed only, SPEC.md). The message stored is `title`, a blank line, then `body`.
    """
    day = event_date or article.published
    alerts: list[Alert] = []
    for match in matches:
        targets = list(dict.fromkeys([*channels, *(topic_channels or {}).get(match.topic, ())]))
        for channel in targets or [NO_CHANNEL]:
            fmt = channel_format(channel)
            title, body = format_alert(event, match, article, day, fmt)
            alerts.append(
                Alert(event_id=event_id, topic=match.topic, channel=channel, title=title,
                      body=body, extra={"format": fmt, "words": ", ".join(match.words)})
            )
    return alerts


def alert_message(alert: Alert) -> str:
    """Return the text stored with an alert (and later sent): title, blank line, body."""
    return f"{alert.title}\n\n{alert.body}"


def split_message(message: str) -> tuple[str, str]:
    """Split a stored alert message into (title, body)."""
    title, _, body = message.partition("\n\n")
    return title, body


def build_digest(messages: Sequence[str], fmt: str) -> tuple[str, str]:
    """Return (title, body) of one digest message standing for many alerts of one channel."""
    topics = sorted({split_message(m)[0].partition("]")[0].lstrip("[") for m in messages})
    title = _plain(f"newswatch: {len(messages)} alerts ({', '.join(topics)})")
    if fmt == HTML:
        parts = [f"<b>{html.escape(t)}</b><br/>\n{b}" for t, b in map(split_message, messages)]
        body = "\n<hr/>\n".join(parts)
    elif fmt == MARKDOWN:
        parts = [f"### {_escape(t, fmt)}\n{b}" for t, b in map(split_message, messages)]
        body = "\n\n---\n\n".join(parts)
    else:
        body = "\n\n---\n\n".join(messages)
    return title, body


# ---------------------------------------------------------------------------------------------
# Delivery (the edge)

Notifier = Callable[[str, str, str, str], None]


class _Scrubber(logging.Filter):
    """Remove channel secrets from Apprise's own log records."""

    def __init__(self, urls: Sequence[str]) -> None:
        super().__init__()
        # worked out before the filter is installed: redacting loads the URL with Apprise,
        # which would log from inside the filter
        self.pairs = _replacements(urls)

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = _apply(record.getMessage(), self.pairs)
        record.args = None
        return True


@contextmanager
def _scrubbed_apprise_logs(urls: Sequence[str]) -> Iterator[None]:
    logger = logging.getLogger("apprise")
    scrubber = _Scrubber(urls)
    logger.addFilter(scrubber)
    try:
        yield
    finally:
        logger.removeFilter(scrubber)


def notify(channel: str, title: str, body: str, fmt: str) -> None:
    """Deliver one message to one Apprise URL; raise `AlertError` saying why it failed."""
    import apprise

    shown = redact_url(channel)
    apobj = apprise.Apprise()
    if not apobj.add(channel):
        raise AlertError(
            f"{shown}: not a valid Apprise URL. Check NEWSWATCH_NOTIFY (or the topic's channels)."
        )
    try:
        with apprise.LogCapture(  # type: ignore[no-untyped-call]
            level=logging.WARNING, fmt="%(message)s"
        ) as captured:
            ok = apobj.notify(title=title, body=body, body_format=fmt)
    except Exception as exc:  # Apprise plugins may raise anything; the channel just failed
        raise AlertError(f"{shown}: delivery raised {type(exc).__name__}: "
                         f"{scrub(str(exc), [channel])}") from exc
    if not ok:
        reason = " ".join(captured.getvalue().split()) or "the channel refused the message"
        raise AlertError(f"{shown}: delivery failed: {scrub(reason, [channel])[:500]}")


def send_alerts(
    pending: Sequence[PendingAlert | tuple[int, str, str]],
    *,
    digest_threshold: int = 10,
    notifier: Notifier = notify,
) -> Iterator[Delivery]:
    """Deliver pending alerts: one call per alert per channel, or one digest per busy channel.

    Yields each alert's `Delivery` as soon as its call returns, so the caller can record it
    before the next call. A channel with more than `digest_threshold` pending alerts gets a
    single digest, and every alert in it shares the outcome. Never raises for a failing
    channel: a `Delivery` says whether the alert went and, if not, why (secrets redacted).
    """
    by_channel: dict[str, list[PendingAlert]] = {}
    for item in pending:
        alert = PendingAlert(*item)
        by_channel.setdefault(alert.channel, []).append(alert)
    with _scrubbed_apprise_logs(list(by_channel)):
        for channel, alerts in by_channel.items():
            if channel == NO_CHANNEL:
                yield from (Delivery(a.id, True) for a in alerts)
                continue
            fmt = channel_format(channel)
            if len(alerts) > digest_threshold:
                title, body = build_digest([a.message for a in alerts], fmt)
                outcome = _attempt(notifier, channel, title, body, fmt)
                yield from (Delivery(a.id, outcome is None, outcome) for a in alerts)
                continue
            for alert in alerts:
                title, body = split_message(alert.message)
                outcome = _attempt(notifier, channel, title, body, fmt)
                yield Delivery(alert.id, outcome is None, outcome)


def _attempt(notifier: Notifier, channel: str, title: str, body: str, fmt: str) -> str | None:
    """Call the notifier; return None on success or the (redacted) reason it failed."""
    try:
        notifier(channel, title, body, fmt)
    except AlertError as exc:
        log.warning("alert delivery failed: %s", exc)
        return str(exc)
    return None


def describe_channel(channel: str) -> str:
    """Return how a channel is shown to people: redacted, or "(none)" for stored-only alerts."""
    return redact_url(channel) if channel else "(none)"
