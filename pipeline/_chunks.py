"""Splitting a text longer than spaCy's `max_length` into pieces spaCy accepts.

spaCy refuses a text over `nlp.max_length` characters (error E088) because the parser's
memory grows with it. A long article is therefore processed piece by piece: the pieces
partition the text exactly (joined, they give it back), each fits the limit, and a cut falls
at a paragraph end where possible, else a sentence end, else a space, so no sentence that
fits is torn in two. Offsets found in a piece are shifted by the piece's start.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

_SENTENCE_END = re.compile(r"[.!?][\"'\u201d\u2019)\]]*\s")


def _cut(text: str, start: int, limit: int) -> int:
    """Return where the piece starting at `start` should end (at most `start + limit`)."""
    window = text[start:start + limit]
    candidates = (
        window.rfind("\n") + 1,  # after the last paragraph break
        max((m.end() for m in _SENTENCE_END.finditer(window)), default=0),  # a sentence end
        window.rfind(" ") + 1,  # a space
    )
    for position in candidates:
        if position > limit // 4:  # a cut too early would make many tiny pieces
            return start + position
    return start + limit


def split_text(text: str, max_length: int) -> Iterator[tuple[int, str]]:
    """Yield `(offset, piece)` pairs that cover `text` in order, each at most `max_length` long.

    A text within the limit is yielded whole, as `(0, text)`.
    """
    if max_length < 1:
        raise ValueError("max_length must be positive")
    start = 0
    while len(text) - start > max_length:
        end = _cut(text, start, max_length)
        yield start, text[start:end]
        start = end
    yield start, text[start:]
