"""Reading word-list data files: one entry per line, `#` starts a comment."""

from __future__ import annotations

from pathlib import Path

from newswatch.pipeline.errors import DataFileError


def load_word_list(path: Path) -> tuple[str, ...]:
    """Return the entries of a word-list file, in file order.

    One entry per line, stripped; text from `#` to the end of a line is a comment, and blank
    lines are skipped. Raises `DataFileError` naming the file when it cannot be read.
    """
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else "not UTF-8"
        raise DataFileError(f"{path}: cannot read the word list ({reason})") from exc
    entries = (line.split("#", 1)[0].strip() for line in lines)
    return tuple(entry for entry in entries if entry)
