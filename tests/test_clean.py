"""Tests for pipeline/clean.py: text files, HTML pages and feed fragments into Articles."""

from __future__ import annotations

import datetime as dt
import unicodedata

from hypothesis import given, settings
from hypothesis import strategies as st

from newswatch.pipeline.clean import clean_article, clean_fragment, normalize_text, split_text_article


def test_text_article_headline_byline_body() -> None:
    raw = "\n\n  Russia demands guarantees  \nBy Jim Heintz and Vladimir Isachenkov\nMOSCOW — Russia on Friday demanded.\n\nThe West refused.\n"
    article = clean_article(raw, url="a.txt", published=dt.date(2021, 12, 17), source="AP")
    assert article.title == "Russia demands guarantees"
    assert article.byline == "Jim Heintz and Vladimir Isachenkov"
    assert article.text == "MOSCOW — Russia on Friday demanded.\nThe West refused."
    assert article.published == dt.date(2021, 12, 17)
    assert article.source == "AP"
    assert article.url == "a.txt"


def test_by_sentence_is_body_not_byline() -> None:
    """A body that opens with "By noon, ..." must not lose its first paragraph as a byline."""
    raw = "Headline\nBy early Friday, troops had moved to the border.\nMore text."
    title, byline, body = split_text_article(raw)
    assert title == "Headline"
    assert byline is None
    assert body.startswith("By early Friday, troops")


def test_hard_wrapped_paragraphs_are_joined() -> None:
    raw = "Title\n\nFirst line of a\nwrapped paragraph.\n\nSecond\nparagraph here.\n"
    assert split_text_article(raw)[2] == "First line of a wrapped paragraph.\nSecond paragraph here."


def test_normalize_text_nfc_controls_and_spaces() -> None:
    raw = "Cafe\u0301\u00a0\u00a0 menu\x00\x07\u200b\ufeff\r\nnext\u2028line\t\tend\u00ad"
    assert normalize_text(raw) == "Café menu\nnext\nline end"


def test_html_article_main_text_title_and_date() -> None:
    html = """<html><head><title>Site | Story</title>
    <meta property="article:published_time" content="2021-12-17T23:30:00-05:00">
    <link rel="canonical" href="https://example.org/story">
    <script>document.write('tracking')</script><style>p { color: red }</style></head>
    <body><nav>Home About Contact</nav><article><h1>Russia demands NATO guarantees</h1>
    <p>MOSCOW — Russia on Friday demanded that NATO deny membership to Ukraine and other
    ex-Soviet countries, in a draft published by the foreign ministry.</p>
    <p>The alliance rejected the demand within hours.<script>evil()</script></p></article>
    <footer>Copyright 2021</footer></body></html>"""
    article = clean_article(html, url="page.html", published=dt.date(2000, 1, 1), source=None, html=True)
    assert article.title == "Russia demands NATO guarantees"
    assert "deny membership to Ukraine" in article.text
    assert "evil" not in article.text and "tracking" not in article.text and "color" not in article.text
    assert "Copyright" not in article.text
    # 23:30 at UTC-5 is the next day in UTC; the page date wins over the --published fallback
    assert article.published == dt.date(2021, 12, 18)
    assert article.canonical_url == "https://example.org/story"


def test_html_without_metadata_uses_fallback_date_and_short_pages() -> None:
    html = "<html><head><title>Short</title></head><body><p>Only one line here.</p></body></html>"
    article = clean_article(html, url="s.html", published=dt.date(2022, 3, 1), source="x", html=True)
    assert article.title == "Short"
    assert article.text == "Only one line here."
    assert article.published == dt.date(2022, 3, 1)


def test_html_json_ld_date() -> None:
    html = """<html><head><script type="application/ld+json">{"@type": "NewsArticle",
    "datePublished": "2023-05-04T08:00:00Z"}</script></head><body><h1>T</h1><p>Body text.</p></body></html>"""
    assert clean_article(html, url="j.html", published=None, source=None, html=True).published == dt.date(2023, 5, 4)


def test_clean_fragment_drops_scripts_keeps_paragraphs() -> None:
    fragment = "<p>One <b>two</b></p><p>three<script>x()</script></p><!-- hidden -->a &amp; b<br>c"
    assert clean_fragment(fragment) == "One two\nthree\na & b\nc"
    assert clean_fragment("plain  text") == "plain text"


@settings(max_examples=200, deadline=None)
@given(st.text())
def test_clean_article_never_fails_and_output_is_clean(raw: str) -> None:
    article = clean_article(raw, url="h.txt", published=None, source=None)
    for value in (article.title, article.text):
        assert unicodedata.is_normalized("NFC", value)
        assert all(ch == "\n" or unicodedata.category(ch) != "Cc" for ch in value)
        assert "\n\n" not in value and value == value.strip()
    assert "\n" not in article.title


@settings(max_examples=100, deadline=None)
@given(st.text())
def test_html_cleaning_never_fails(raw: str) -> None:
    article = clean_article(f"<html><body><p>{raw}</p></body></html>", url="h.html",
                            published=None, source=None, html=True)
    assert "\x00" not in article.text
