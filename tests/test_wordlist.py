"""Tests for pipeline/wordlist.py: the one-entry-a-line data files."""

from __future__ import annotations

from pathlib import Path

import pytest

from newswatch.pipeline.errors import DataFileError
from newswatch.pipeline.settings import DATA_DIR
from newswatch.pipeline.wordlist import load_word_list


def test_entries_in_order_without_comments_or_blank_lines(tmp_path: Path) -> None:
    path = tmp_path / "words.txt"
    path.write_text("# a comment\n\n  staff  \nwriter # trailing comment\n\t\nde\n", encoding="utf-8")
    assert load_word_list(path) == ("staff", "writer", "de")


def test_unreadable_file_names_the_file(tmp_path: Path) -> None:
    with pytest.raises(DataFileError, match=r"missing\.txt: cannot read the word list"):
        load_word_list(tmp_path / "missing.txt")


@pytest.mark.parametrize("name", ["byline_words.txt", "host_prefixes.txt", "html_suffixes.txt",
                                  "text_suffixes.txt", "tracking_params.txt"])
def test_packaged_word_lists_load_without_duplicates(name: str) -> None:
    entries = load_word_list(DATA_DIR / name)
    assert entries and len(set(entries)) == len(entries)
