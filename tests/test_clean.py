"""Tests for pipeline/clean.py: text files, HTML pages and feed fragments into Articles."""

from __future__ import annotations

import datetime as dt
import sys
import unicodedata

import pytest

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
    # private-use, unassigned and lone surrogate code points go too, wherever they repeat
    assert normalize_text("a\ue000b\u0378c\ud800d\ue000 e\x7f\x9f") == "abcd e"


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


def test_html_time_element_marked_as_publication_date() -> None:
    html = """<html><head><title>Talks</title></head><body><article><h1>Talks planned</h1>
    <time datetime="2021-12-17T22:00:00-05:00" pubdate>Dec 17</time>
    <p>Talks are set in Geneva, officials said on Monday.</p></article></body></html>"""
    article = clean_article(html, url="t.html", published=dt.date(2000, 1, 1), source=None, html=True)
    assert article.published == dt.date(2021, 12, 18)


def test_html_date_mentioned_in_the_text_does_not_date_the_article() -> None:
    """A date the story talks about is not the day it was published: `--published` stays."""
    html = """<html><head><title>Talks</title></head><body><article><h1>Talks planned</h1>
    <p>Talks are set for January 15, 2022 in Geneva, officials said on Monday.</p></article></body></html>"""
    article = clean_article(html, url="t.html", published=dt.date(2021, 12, 20), source=None, html=True)
    assert article.published == dt.date(2021, 12, 20)


def test_html_author_and_site_name_from_page_metadata() -> None:
    html = """<html><head><title>Kremlin warns | Example Times</title>
    <meta name="author" content="Jane Reporter"><meta property="og:site_name" content="Example Times">
    </head><body><article><h1>Kremlin warns NATO</h1><p>MOSCOW — The Kremlin warned NATO on Monday
    against sending troops to Ukraine, officials said.</p></article></body></html>"""
    article = clean_article(html, url="k.html", published=None, source=None, html=True)
    assert (article.title, article.byline, article.source) == ("Kremlin warns NATO", "Jane Reporter", "Example Times")
    assert article.text.startswith("MOSCOW — The Kremlin warned NATO")
    # a source given by the user (--source, the feed's title) wins over the page's site name
    assert clean_article(html, url="k.html", published=None, source="AP", html=True).source == "AP"


def test_html_by_line_opening_the_text_is_the_byline() -> None:
    """`Article.text` holds neither headline nor byline: a `By ...` paragraph the page does not
    mark as its author still becomes the byline (names only, as in text files)."""
    html = """<html><head><title>Kremlin warns</title></head><body><article><h1>Kremlin warns NATO</h1>
    <p>By Jim Heintz and Vladimir Isachenkov</p>
    <p>MOSCOW — The Kremlin warned NATO on Monday against sending troops, officials said.</p>
    </article></body></html>"""
    article = clean_article(html, url="b.html", published=None, source=None, html=True)
    assert article.byline == "Jim Heintz and Vladimir Isachenkov"
    assert article.text == "MOSCOW — The Kremlin warned NATO on Monday against sending troops, officials said."


def test_html_title_is_one_line() -> None:
    html = "<html><head><title>Line one\nline  two</title></head><body><p>Body text here.</p></body></html>"
    article = clean_article(html, url="m.html", published=None, source=None, html=True)
    assert (article.title, article.text) == ("Line one line two", "Body text here.")


def test_html_file_holding_only_a_fragment() -> None:
    """trafilatura refuses a document that is one bare block; it is read as a page's body."""
    article = clean_article("<p>Only text here.</p>", url="f.html", published=None, source=None, html=True)
    assert article.text == "Only text here."


def test_a_missing_trafilatura_is_an_error_not_an_empty_article(monkeypatch: pytest.MonkeyPatch) -> None:
    """Regression: the trafilatura import sat inside the `except Exception` meant for parser
    errors, so a broken install turned every HTML page into an empty or fallback article."""
    monkeypatch.setitem(sys.modules, "trafilatura", None)
    with pytest.raises(ImportError):
        clean_article("<html><body><p>Text.</p></body></html>", url="i.html", published=None,
                      source=None, html=True)


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


def test_script_markup_a_page_shows_as_text_is_not_article_text() -> None:
    """Regression (hostile corpus): `&lt;script&gt;alert(1)&lt;/script&gt;` in a page's paragraph
    reached the stored text as `<script>alert(1)</script>`; it is code shown, not the story."""
    page = ("<html><head><title>Hungary urges EU &lt;style&gt;x{}&lt;/style&gt;to act</title></head><body><article>"
            "<p>&lt;script&gt;alert(\"x\")&lt;/script&gt;Hungary on Tuesday urged the European Commission "
            "to release the frozen funds.</p><p>Officials said talks would go on. &lt;SCRIPT src=x&gt; The vote is on Friday.</p>"
            "</article></body></html>")
    article = clean_article(page, url="p.html", published=None, source=None, html=True)
    assert "script" not in article.text.lower() and "alert" not in article.text
    assert article.text.startswith("Hungary on Tuesday urged")
    assert "Officials said talks would go on. The vote is on Friday." in article.text
    assert article.title == "Hungary urges EU to act"
