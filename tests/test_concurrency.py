"""Two `newswatch ingest` processes at once over the same articles leave what one run leaves.

Exact identities (article URL, event key, mention, alert) are unique constraints written with
upserts; the fuzzy decisions (this article copies that one, this event restates that one) are
taken under the dedup lock (`db.store.lock_dedup`). Run on SQLite and on PostgreSQL.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from tests._faults import (
    assert_same,
    ingest_env,
    prefect_api_url,  # noqa: F401 (fixture)
    run_ingest,
    snapshot,
    start_ingest,
    write_articles,
)

pytestmark = pytest.mark.slow  # four pairs of `newswatch ingest` subprocesses


def _without_order(snap: dict[str, list]) -> dict[str, list]:
    """Drop alert texts: they name the article that first reported the event (a fair race)."""
    snap = dict(snap)
    snap["alerts"] = sorted(a[:4] for a in snap["alerts"])
    return snap


@pytest.mark.parametrize("order", ["same order", "opposite orders"])
def test_two_ingests_at_once_store_each_article_event_mention_and_alert_once(
    database_url: str, tmp_path: Path, prefect_api_url: str, order: str,
) -> None:
    """Regression (PostgreSQL): both processes migrated the fresh schema at once and the
    second failed creating `alembic_version`; migrations now hold an advisory lock."""
    corpus = write_articles(tmp_path / "corpus")
    reference = f"sqlite:///{tmp_path / 'one-run.db'}"
    result = run_ingest(corpus, ingest_env(reference, api_url=prefect_api_url))
    assert result.returncode == 0, result.stdout + result.stderr
    expected = _without_order(snapshot(reference, order_free=True))
    assert expected["duplicate_groups"], "the corpus must hold a syndicated copy"
    assert any(len({m[1] for m in expected["mentions"] if m[0] == key}) > 1
               for key, *_ in expected["events"]), "the corpus must hold an event reported twice"

    env = ingest_env(database_url, api_url=prefect_api_url, batch_size=1)
    second = corpus if order == "same order" else list(reversed(corpus))
    workers = [start_ingest(corpus, env), start_ingest(second, env)]
    for worker in workers:
        out, err = worker.communicate(timeout=300)
        assert worker.returncode == 0, out + err

    originals = Counter(a[7] for a in snapshot(database_url)["articles"] if a[-1] is None)
    assert [h for h, n in originals.items() if n > 1] == [], "one text stored as two originals"
    stored = snapshot(database_url, order_free=True)
    identities = Counter(e[1:9] for e in stored["events"])
    assert [e for e, n in identities.items() if n > 1] == []
    assert [m for m, n in Counter(stored["mentions"]).items() if n > 1] == []
    assert [a for a, n in Counter(a[:3] for a in stored["alerts"]).items() if n > 1] == []
    assert_same(_without_order(stored), expected)
