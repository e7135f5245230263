"""Reading the JSON Lines data files (actors, triggers) with errors that name file and line."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from newswatch.pipeline.errors import PatternError


def read_jsonl(path: Path, *, what: str, setting: str) -> Iterator[tuple[str, dict[str, Any]]]:
    """Yield (`path:line`, object) for each line that is not blank or a `//` comment.

    The location lets the caller's own checks name the line. Raises PatternError when the file
    cannot be read (naming `setting`, the variable that points at it) or a line is not a JSON
    object.
    """
    path = Path(path)
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise PatternError(f"{path}: cannot read the {what} ({exc.strerror}); check {setting}") from exc
    for number, line in enumerate(lines, start=1):
        if not line.strip() or line.lstrip().startswith("//"):
            continue
        where = f"{path}:{number}"
        try:
            entry = json.loads(line)
        except json.JSONDecodeError as exc:
            raise PatternError(f"{where}: not valid JSON ({exc.msg})") from exc
        if not isinstance(entry, dict):
            raise PatternError(f"{where}: a line must be a JSON object")
        yield where, entry
