"""Turning raw article text or HTML into a clean `Article` record.

Text files follow SPEC.md: the first non-empty line is the headline, an optional `By ...`
line follows, the rest is the body. HTML goes through trafilatura: the main text without
boilerplate, and the page's metadata (title, publication date, canonical URL, author, site
name). Either way the result is NFC Unicode without control characters, one paragraph per line,
and runs of spaces collapsed, so character offsets that extraction computes on `Article.text`
are stable.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
import unicodedata
from functools import cache
from pathlib import Path
from typing import Any

from newswatch.pipeline.records import MAX_NAME_CHARS, MAX_URL_CHARS, Article, plausible_date
from newswatch.pipeline.settings import DATA_DIR
from newswatch.pipeline.wordlist import load_word_list

# Invisible characters that only get in the way of matching: BOM, zero-width space, word
# joiner, soft hyphen, bidirectional embedding/override/isolate controls.
_INVISIBLE = dict.fromkeys(
    map(ord, "\ufeff\u200b\u2060\u00ad\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"),
    None,
)
_LINE_BREAKS = re.compile(r"\r\n|[\r\u2028\u2029\x0b\x0c\x85]")
_SPACES = re.compile(r"[^\S\n]+")
_BYLINE = re.compile(r"^By\s+(\S.{0,150})$")
#: htmldate settings for the page date: no free-text search (a date an article mentions is not
#: the day it was published), and the time kept with its zone so the date is taken in UTC.
_DATE_CONFIG: dict[str, Any] = {"original_date": True, "extensive_search": False,
                "outputformat": "%Y-%m-%dT%H:%M:%S%z"}


@cache
def _byline_words(path: Path = DATA_DIR / "byline_words.txt") -> frozenset[str]:
    """Return the lower-case words a byline may hold (`data/byline_words.txt`)."""
    return frozenset(word.lower() for word in load_word_list(path))


def _is_control(ch: str) -> bool:
    """Control, surrogate, private-use and unassigned characters (tab and newline are kept)."""
    return ch not in "\n\t" and unicodedata.category(ch) in ("Cc", "Cs", "Co", "Cn")


def normalize_text(raw: str) -> str:
    """Return `raw` as NFC text with control characters dropped and whitespace tidied.

    Line breaks of every kind become `\\n`; other whitespace runs become one space; each line
    is stripped and empty lines are removed, so paragraphs are separated by exactly one `\\n`.
    """
    text = _LINE_BREAKS.sub("\n", raw).translate(_INVISIBLE)
    # an article has a few hundred distinct characters among its thousands: each is judged once
    dropped = {ord(ch): None for ch in set(text) if _is_control(ch)}
    if dropped:
        text = text.translate(dropped)
    text = unicodedata.normalize("NFC", text)
    lines = (_SPACES.sub(" ", line).strip() for line in text.split("\n"))
    return "\n".join(line for line in lines if line)


def _paragraphs(body: str) -> str:
    """Join hard-wrapped lines into paragraphs when the body separates paragraphs by blank lines.

    A body with one paragraph per line (the SPEC format, and the seed) is kept line for line.
    """
    body = _LINE_BREAKS.sub("\n", body)
    blocks = [b for b in re.split(r"\n[^\S\n]*\n", body) if b.strip()]
    if any(len([ln for ln in b.split("\n") if ln.strip()]) > 1 for b in blocks) and len(blocks) > 1:
        return "\n".join(" ".join(b.split("\n")) for b in blocks)
    return body


def _byline(line: str) -> str | None:
    """Return the name(s) of a `By ...` line, or None when the line is body text ("By noon, ...")."""
    m = _BYLINE.match(line)
    if not m:
        return None
    words = re.findall(r"[^\W\d_][\w'’.-]*", m.group(1))
    if not words or any(w[0].islower() and w.lower() not in _byline_words() for w in words):
        return None
    return m.group(1).strip()


def _utc_date(stamp: str | None) -> dt.date | None:
    """Return the date of an htmldate stamp (`2021-12-17T23:30:00-0500`) in UTC.

    A stamp without a zone (a bare date) keeps its own date.
    """
    if not stamp:
        return None
    try:
        when = dt.datetime.fromisoformat(stamp)
        return plausible_date(when.astimezone(dt.timezone.utc).date() if when.tzinfo else when.date())
    except (ValueError, OverflowError):  # not a stamp, or a zone that leaves the calendar
        return None


#: libxml2's HTML parser stops descending at 256 levels and drops what lies deeper, silently.
MAX_DEPTH = 200
_TAG = re.compile(r"<(/?)([a-zA-Z][a-zA-Z0-9]*)\b[^>]*?(/?)>")
_VOID = frozenset("area base br col embed hr img input link meta source track wbr".split())
#: Wrappers that carry no text of their own; dropped (blocks become line breaks) when too deep.
_WRAPPERS = re.compile(
    r"</?(?:div|span|section|article|main|aside|font|center|table|tbody|thead|tr|td|th|ul|ol|li|"
    r"blockquote|b|i|em|strong|small|big|u|s|sub|sup|nav|header|footer|figure)\b[^>]*>",
    re.IGNORECASE,
)


def _depth(html: str) -> int:
    depth = deepest = 0
    for m in _TAG.finditer(html):
        closing, name, selfclosing = m.group(1), m.group(2).lower(), m.group(3)
        if name in _VOID or selfclosing:
            continue
        depth = max(depth - 1, 0) if closing else depth + 1
        deepest = max(deepest, depth)
    return deepest


def _flatten_deep(html: str) -> str:
    """Unwrap a page nested deeper than the parser goes, so its text is not lost.

    Hostile or machine-made pages wrap text in hundreds of `<div>`s; without them the
    paragraphs and headings are still there for the extractor.
    """
    if _depth(html) <= MAX_DEPTH:
        return html
    return _WRAPPERS.sub("\n", html)


def _load_page(html: str) -> Any:
    """Parse a page with trafilatura, or return None when it holds no HTML at all.

    `<template>` elements are removed: inert markup a browser never shows, so not article
    text (trafilatura keeps their text). A file holding only a fragment (`<p>...</p>` without
    `<html>`) is read as the body of a page, since trafilatura expects whole documents.
    """
    import trafilatura

    html = _flatten_deep(html)
    tree = trafilatura.load_html(html)
    if tree is None and html.strip():
        tree = trafilatura.load_html(f"<html><body>{html}</body></html>")
    if tree is not None:
        for node in tree.xpath("//template"):
            node.drop_tree()
    return tree


_BLOCK_TAGS = frozenset(
    "p div br li ul ol h1 h2 h3 h4 h5 h6 blockquote pre tr table section article header "
    "footer figure figcaption dd dt hr".split()
)


def clean_fragment(fragment: str) -> str:
    """Return the text of an HTML fragment (a feed entry's summary or content).

    Scripts, styles and comments are dropped; block elements become paragraph breaks.
    Plain text without markup is only normalised.
    """
    if "<" not in fragment and "&" not in fragment:
        return normalize_text(fragment)
    import lxml.html

    try:
        root = lxml.html.fragment_fromstring(fragment, create_parent="div")
    except Exception:  # unparseable markup: fall back to the text with tags removed
        return normalize_text(re.sub(r"<[^>]*>", " ", fragment))
    for bad in root.xpath(".//script|.//style|.//noscript|.//template|.//iframe|.//object"):
        bad.drop_tree()
    for node in root.iter():
        if not isinstance(node.tag, str):  # comments and processing instructions
            continue
        if node.tag.lower() in _BLOCK_TAGS:
            node.tail = "\n" + (node.tail or "")
            if node.tag.lower() != "br":
                node.text = "\n" + (node.text or "")
    for comment in root.xpath(".//comment()"):
        comment.drop_tree()
    return normalize_text(root.text_content())


def split_text_article(raw: str) -> tuple[str, str | None, str]:
    """Split an article text file into (headline, byline, body) as SPEC.md describes."""
    lines = _LINE_BREAKS.sub("\n", raw).split("\n")
    index = 0
    while index < len(lines) and not normalize_text(lines[index]):
        index += 1
    title = normalize_text(lines[index]) if index < len(lines) else ""
    index += 1
    while index < len(lines) and not normalize_text(lines[index]):
        index += 1
    byline = None
    if index < len(lines) and (byline := _byline(normalize_text(lines[index]))):
        index += 1
    body = normalize_text(_paragraphs("\n".join(lines[index:])))
    return title, byline, body


#: Script and style markup a page shows as text (`&lt;script&gt;...` in its HTML): code, not
#: article text, and a hazard wherever the text is shown again.
_SHOWN_CODE = re.compile(r"<(script|style)\b[^>]*>(?:.*?</\1\s*>)?", re.IGNORECASE | re.DOTALL)


def _drop_shown_code(text: str) -> str:
    return normalize_text(_SHOWN_CODE.sub("", text)) if "<" in text else text


def clean_article(
    raw: str,
    *,
    url: str,
    published: dt.date | None,
    source: str | None,
    html: bool = False,
) -> Article:
    """Build an `Article` from raw text (SPEC.md text format) or an HTML page.

    `url` is the path or URL as ingested; `published` is used when the page declares no
    date of its own. The title never repeats as the first line of `text`.
    """
    if not html:
        title, byline, body = split_text_article(raw)
        return Article(url=url, title=title, text=body, published=published,
                       source=_label(source), byline=byline, canonical_url=None)

    import trafilatura

    tree = _load_page(raw)
    if tree is None:
        return Article(url=url, title="", text="", published=published, source=_label(source))
    meta = trafilatura.extract_metadata(tree, date_config=_DATE_CONFIG)
    text = normalize_text(trafilatura.extract(
        tree, url=url if url.startswith(("http://", "https://")) else None,
        include_comments=False, include_tables=False, favor_precision=True,
    ) or "")
    text = _drop_shown_code(text)
    title = _drop_shown_code(normalize_text(meta.title or "")).replace("\n", " ")
    if text.startswith(title + "\n") and title:
        text = text[len(title) + 1:]
    byline = normalize_text(meta.author or "").replace("\n", " ") or None
    first, _, rest = text.partition("\n")
    if rest and (named := _byline(first)):
        byline, text = byline or named, rest
    if not title and "\n" in text:
        title, _, text = text.partition("\n")
    return Article(
        url=url,
        title=title,
        text=text,
        published=_utc_date(meta.date) or published,
        source=_label(source or meta.sitename),
        byline=byline,
        # a page's own claim, so only kept when it fits beside the URL it was read from
        canonical_url=meta.url if meta.url and len(meta.url) <= MAX_URL_CHARS else None,
    )


def _label(name: str | None) -> str | None:
    return name[:MAX_NAME_CHARS].strip() or None if name else None


#: A headline longer than this is a body that lacked a line break; it is cut for analysis.
MAX_TITLE_CHARS = 2_000


def limit_text(article: Article, max_chars: int) -> tuple[Article, str | None]:
    """Cut an article's text to `max_chars` at a paragraph or sentence end; say so if cut.

    Analysis time and memory grow with the text; a bound keeps one huge input (a 10 MB
    single line, a book pasted into a page) from stalling its batch. The cut is reported,
    never silent.
    """
    if len(article.title) > MAX_TITLE_CHARS:  # a one-line file: its line is title and text
        cut = article.title.rfind(" ", 0, MAX_TITLE_CHARS)
        article = dataclasses.replace(article, title=article.title[: cut if cut > 0 else MAX_TITLE_CHARS])
    text = article.text
    if len(text) <= max_chars:
        return article, None
    window = text[:max_chars]
    cut = max(window.rfind("\n"), window.rfind(". "))
    end = cut + 1 if cut > max_chars // 2 else max_chars
    note = (f"{article.url}: text cut to its first {end:,} of {len(text):,} characters "
            "(NEWSWATCH_MAX_TEXT_CHARS)")
    return dataclasses.replace(article, text=text[:end].rstrip()), note
