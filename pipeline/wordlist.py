"""Reading word-list data files: one entry per line, `#` starts a comment."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, TypeVar

from newswatch.pipeline.errors import DataFileError

W = TypeVar("W")


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


def pick_word_lists(cls: type[W], lists: Mapping[str, Iterable[str]], component: str) -> W:
    """Build the dataclass `cls` from the lists named by its fields, lower-cased, as sets.

    `lists` is what `load_word_lists` returns for words.tsv; raises `DataFileError` naming
    `component` and every list it lacks.
    """
    names = [f.name for f in dataclasses.fields(cls)]  # type: ignore[arg-type]
    missing = [name for name in names if name not in lists]
    if missing:
        raise DataFileError(f"word lists missing for {component}: {', '.join(missing)}")
    values: dict[str, Any] = {name: frozenset(w.lower() for w in lists[name]) for name in names}
    return cls(**values)
