"""Work for a model process that reports what the process imported (`tests/test_processes.py`).

Kept apart from the test modules, which import the database layer themselves: the process
imports this module to find the function.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import Any

#: modules a model process has no use for
UNWANTED = ("sqlalchemy", "alembic", "prefect", "newswatch.db", "newswatch.flows")


def imported(models: Any, chunk: Sequence[Any]) -> tuple[list[list[str]], list[str]]:
    """Per input, the unwanted modules this process has imported."""
    return [sorted(m for m in UNWANTED if m in sys.modules) for _ in chunk], []
