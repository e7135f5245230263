"""Turning raw article text or HTML into a clean `Article` record.

Text files follow SPEC.md: the first non-empty line is the headline, an optional `By ...`
line follows, the rest is the body. HTML goes through trafilatura (main text, title, no
boilerplate) with a plain lxml fallback. Either way the result is NFC Unicode without control
characters, one paragraph per line, and runs of spaces collapsed, so character offsets that
extraction computes on `Article.text` are stable.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import unicodedata
from typing import Any

from newswatch.pipeline.records import Article

# Invisible characters that only get in the way of matching: BOM, zero-width space, word
# joiner, soft hyphen, bidirectional embedding/override/isolate controls.
_INVISIBLE = dict.fromkeys(
    map(ord, "\ufeff\u200b\u2060\u00ad\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"),
    None,
)
_LINE_BREAKS = re.compile(r"\r\n|[\r\u2028\u2029\x0b\x0c\x85]")
_SPACES = re.compile(r"[^\S\n]+")
_BYLINE = re.compile(r"^By\s+(\S.{0,150})$")
# Lower-case words a byline may hold ("By Jim Heintz and Vladimir Isachenkov, Associated Press").
_BYLINE_WORDS = frozenset(
    "and the of in for from with at staff writer writers reporter reporters correspondent "
    "correspondents editor de da del der van von le la y".split()
)
# An ISO-like date at the start of a metadata value: 2021-12-17, 2021-12-17T10:00:00Z ...
_ISO_DATE = re.compile(r"^\s*(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2}))?(?:\.\d+)?\s*(Z|[+-]\d{2}:?\d{2})?)?")

_DATE_META = (
    "article:published_time",
    "og:article:published_time",
    "datepublished",
    "date",
    "dc.date",
    "dc.date.issued",
    "dcterms.created",
    "dcterms.issued",
    "pubdate",
    "publishdate",
    "publish-date",
    "sailthru.date",
    "parsely-pub-date",
)


def normalize_text(raw: str) -> str:
    """Return `raw` as NFC text with control characters dropped and whitespace tidied.

    Line breaks of every kind become `\\n`; other whitespace runs become one space; each line
    is stripped and empty lines are removed, so paragraphs are separated by exactly one `\\n`.
    """
    text = _LINE_BREAKS.sub("\n", raw).translate(_INVISIBLE)
    text = "".join(
        ch
        for ch in text
        if ch in "\n\t" or unicodedata.category(ch) not in ("Cc", "Cs", "Co", "Cn")
    )
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
    if not words or any(w[0].islower() and w.lower() not in _BYLINE_WORDS for w in words):
        return None
    return m.group(1).strip()


def _parse_date(value: Any) -> dt.date | None:
    """Read a date from a metadata value such as `2021-12-17T09:30:00+03:00` (as a UTC date)."""
    if not isinstance(value, str):
        return None
    m = _ISO_DATE.match(value)
    if not m:
        return None
    year, month, day, hour, minute, second, zone = m.groups()
    try:
        if hour is None or zone is None:
            return dt.date(int(year), int(month), int(day))
        zone = "+00:00" if zone == "Z" else zone
        if ":" not in zone:
            zone = zone[:3] + ":" + zone[3:]
        stamp = dt.datetime.fromisoformat(
            f"{year}-{month}-{day}T{hour}:{minute}:{second or '00'}{zone}"
        )
        return stamp.astimezone(dt.timezone.utc).date()
    except ValueError:
        return None


def _html_tree(html: str) -> Any:
    import lxml.html

    try:
        return lxml.html.document_fromstring(html)
    except Exception:  # lxml raises ParserError/ValueError on empty or odd documents
        return None


def _json_ld_dates(node: Any) -> list[Any]:
    found: list[Any] = []
    if isinstance(node, dict):
        for key in ("datePublished", "dateCreated", "uploadDate"):
            if key in node:
                found.append(node[key])
        for value in node.values():
            found.extend(_json_ld_dates(value))
    elif isinstance(node, list):
        for item in node:
            found.extend(_json_ld_dates(item))
    return found


def _page_date(tree: Any) -> dt.date | None:
    """Return the publication date declared in the page's metadata, if any.

    Only declared metadata counts (meta tags, JSON-LD, `<time datetime>` marked as the
    publication date): dates guessed from free text would date events wrongly.
    """
    if tree is None:
        return None
    for meta in tree.iter("meta"):
        key = (meta.get("property") or meta.get("name") or meta.get("itemprop") or "").lower()
        if key in _DATE_META and (day := _parse_date(meta.get("content"))):
            return day
    for script in tree.iter("script"):
        if (script.get("type") or "").lower() != "application/ld+json" or not script.text:
            continue
        try:
            data = json.loads(script.text)
        except ValueError:
            continue
        for value in _json_ld_dates(data):
            if day := _parse_date(value):
                return day
    for node in tree.iter("time"):
        if (node.get("itemprop") or "").lower() == "datepublished" or "pubdate" in node.attrib:
            if day := _parse_date(node.get("datetime")):
                return day
    return None


def _page_title(tree: Any) -> str:
    if tree is None:
        return ""
    for meta in tree.iter("meta"):
        if (meta.get("property") or "").lower() == "og:title" and meta.get("content"):
            return str(meta.get("content"))
    for tag in ("h1", "title"):
        for node in tree.iter(tag):
            text = node.text_content().strip()
            if text:
                return str(text)
    return ""


def _fallback_text(tree: Any) -> str:
    """Extract paragraphs with plain lxml when trafilatura finds no main text."""
    if tree is None:
        return ""
    from lxml.html.clean import Cleaner

    cleaned = Cleaner(
        scripts=True, javascript=True, style=True, comments=True, forms=True,
        page_structure=False, links=False, meta=True, embedded=True, frames=True,
    ).clean_html(tree)
    for bad in cleaned.xpath("//nav|//header|//footer|//aside|//title|//noscript|//template"):
        bad.drop_tree()
    blocks = cleaned.xpath("//p|//li|//h2|//h3|//h4|//blockquote|//pre")
    if blocks:
        return "\n".join(" ".join(b.text_content().split()) for b in blocks)
    return str(cleaned.text_content())


_TEMPLATE = re.compile(r"<template\b[^>]*>.*?</template\s*>", re.IGNORECASE | re.DOTALL)


def _drop_inert(html: str) -> str:
    """Remove `<template>` elements: inert markup a browser never shows, so not article text
    (trafilatura keeps their text)."""
    return _TEMPLATE.sub(" ", html) if "<template" in html.lower() else html


def _trafilatura(html: str, url: str) -> tuple[str, str]:
    """Return (title, main text) as trafilatura sees them, or empty strings."""
    try:
        import trafilatura

        doc = trafilatura.bare_extraction(
            html, url=url if url.startswith(("http://", "https://")) else None,
            include_comments=False, include_tables=False, favor_precision=True,
            with_metadata=True,
        )
    except Exception:  # trafilatura raises assorted parser errors on hostile markup
        return "", ""
    if doc is None:
        return "", ""
    title = getattr(doc, "title", None) or ""
    text = getattr(doc, "text", None) or ""
    return str(title), str(text)


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
                       source=source, byline=byline, canonical_url=None)

    tree = _html_tree(raw)
    title, text = _trafilatura(_drop_inert(raw), url)
    text = normalize_text(text)
    if not text:
        text = normalize_text(_fallback_text(_html_tree(raw)))
    title = normalize_text(title).replace("\n", " ") or normalize_text(_page_title(tree)).replace("\n", " ")
    if text.startswith(title + "\n") and title:
        text = text[len(title) + 1:]
    byline = None
    first, _, rest = text.partition("\n")
    if rest and (byline := _byline(first)):
        text = rest
    if not title and "\n" in text:
        title, _, text = text.partition("\n")
    canonical = None
    if tree is not None:
        for link in tree.iter("link"):
            if (link.get("rel") or "").lower() == "canonical" and link.get("href"):
                canonical = str(link.get("href")).strip()
                break
    return Article(
        url=url,
        title=title,
        text=text,
        published=_page_date(tree) or published,
        source=source,
        byline=byline,
        canonical_url=canonical,
    )
