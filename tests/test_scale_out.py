"""Scale-out: several workers ingesting into one PostgreSQL database at once.

The README's "Running at scale" recipe runs the ingest flow on a process work pool with two
workers; here two `newswatch ingest` processes (two flow runs on the test run's Prefect
server) over overlapping inputs stand for them. Together they must leave what one run over
all the inputs leaves: no article, event, mention or alert twice, none lost, and each alert
delivered once.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import psycopg
import pytest

from tests._faults import (
    ARTICLES,
    Webhook,
    assert_same,
    ingest_env,
    kill,
    postgres_schema,
    prefect_api_url,  # noqa: F401 (fixture)
    run_ingest,
    snapshot,
    start_ingest,
    wait_for,
    write_articles,
)

pytestmark = pytest.mark.postgres


def _tagged(url: str, app: str) -> str:
    """The same database URL, its connections named `app` in pg_stat_activity."""
    return f"{url}&application_name={app}"


def _admin(url: str) -> psycopg.Connection[Any]:
    base, _, query = url.partition("?")
    options = [p for p in query.split("&") if p.startswith("options=")]
    return psycopg.connect(base.replace("postgresql+psycopg", "postgresql") + "?" + options[0])


def _waiting(url: str, app: str) -> bool:
    with _admin(url) as conn:
        return conn.execute(
            "SELECT 1 FROM pg_stat_activity WHERE application_name = %s AND wait_event_type = 'Lock'",
            (app,),
        ).fetchone() is not None


def _without_order(snap: dict[str, list[Any]]) -> dict[str, list[Any]]:
    """Drop alert texts: they name the article that first reported the event, and which of
    two workers gets there first is a race neither wins wrongly."""
    snap = dict(snap)
    snap["alerts"] = sorted(a[:4] for a in snap["alerts"])
    return snap


@pytest.mark.slow
def test_two_concurrent_ingests_equal_one_run(
    postgres_server: str, tmp_path: Path, prefect_api_url: str,
) -> None:
    """Two flow runs at once over overlapping inputs (in opposite orders) = one run over all."""
    corpus = write_articles(tmp_path / "corpus")
    first_half, second_half = corpus[:6], list(reversed(corpus[2:]))
    hook = Webhook().start()
    try:
        with postgres_schema(postgres_server) as single:
            result = run_ingest(corpus, ingest_env(single, api_url=prefect_api_url, notify=hook.url))
            assert result.returncode == 0, result.stdout + result.stderr
            expected = _without_order(snapshot(single, order_free=True))
        assert expected["alerts"] and expected["duplicate_groups"]
        alerts = len(expected["alerts"])
        hook.received.clear()

        with postgres_schema(postgres_server) as shared:
            env = ingest_env(shared, api_url=prefect_api_url, notify=hook.url, batch_size=2)
            workers = [start_ingest(first_half, env), start_ingest(second_half, env)]
            outputs = [w.communicate(timeout=300) for w in workers]
            for worker, (out, err) in zip(workers, outputs):
                assert worker.returncode == 0, out + err
            assert_same(_without_order(snapshot(shared, order_free=True)), expected)
        delivered = Counter(hook.messages())
        assert sum(delivered.values()) == alerts and set(delivered.values()) == {1}, delivered
    finally:
        hook.stop()


@pytest.mark.slow
def test_copies_stored_at_the_same_moment_agree_on_the_original(
    postgres_server: str, tmp_path: Path, prefect_api_url: str,
) -> None:
    """Worker A is inside the transaction storing a story when worker B stores its syndicated
    copy: B must wait and record the copy as a duplicate of A's article.

    Regression: each worker looked for an earlier original before writing, and did not see
    the other's uncommitted article, so both copies were stored as originals. Protection:
    article transactions on PostgreSQL take one advisory lock, so they run one at a time
    (extraction, the slow part, still runs in parallel).
    """
    original, copy = write_articles(tmp_path, ["06-russia-nato.txt", "07-russia-nato-syndicated.txt"])
    with postgres_schema(postgres_server) as single:
        assert run_ingest([original, copy], ingest_env(single, api_url=prefect_api_url)).returncode == 0
        expected = snapshot(single)
    assert any(a[-1] for a in expected["articles"]), "the copy is not a duplicate even in one run"

    with postgres_schema(postgres_server) as shared:
        a_url, b_url = _tagged(shared, "nw_worker_a"), _tagged(shared, "nw_worker_b")
        worker_a = worker_b = None
        from newswatch.db.migrate import upgrade

        upgrade(shared)
        try:
            with _admin(shared) as lock:
                lock.execute("LOCK TABLE alerts IN EXCLUSIVE MODE")  # A stops before its alerts
                worker_a = start_ingest([original], ingest_env(a_url, api_url=prefect_api_url))
                wait_for(lambda: _waiting(shared, "nw_worker_a"), 180, "worker A inside its transaction", worker_a)
                worker_b = start_ingest([copy], ingest_env(b_url, api_url=prefect_api_url))
                wait_for(lambda: _waiting(shared, "nw_worker_b"), 180, "worker B to wait for A", worker_b)
                lock.rollback()
            for worker in (worker_a, worker_b):
                out, err = worker.communicate(timeout=240)
                assert worker.returncode == 0, out + err
        finally:
            for worker in (worker_a, worker_b):
                if worker is not None and worker.poll() is None:
                    kill(worker)
        assert_same(snapshot(shared), expected)


def test_corpus_is_what_the_tests_think(tmp_path: Path) -> None:
    """The syndicated copy has the same body as its original (so dedup must catch it)."""
    original = ARTICLES["06-russia-nato.txt"].split("\n", 2)[2]
    assert ARTICLES["07-russia-nato-syndicated.txt"].split("\n", 2)[2] == original
