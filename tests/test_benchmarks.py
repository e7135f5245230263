"""The benchmark harness: its article generator and the promise that read commands start light."""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "benchmarks"))

from generate import generate_article, generate_articles, write_articles  # noqa: E402

from newswatch.pipeline.dedup import DUPLICATE_THRESHOLD, shingles, text_hash  # noqa: E402


def test_generator_is_deterministic_and_indexable() -> None:
    """Article i is the same whatever else is generated, so runs and slices are comparable."""
    first = list(generate_articles(5, seed=3))
    again = list(generate_articles(5, seed=3))
    assert [g.file_text() for g in first] == [g.file_text() for g in again]
    assert generate_article(4, seed=3).file_text() == first[4].file_text()
    assert generate_article(4, seed=4).file_text() != first[4].file_text()


def test_generated_articles_are_distinct_not_near_duplicates() -> None:
    """A benchmark article must never be a duplicate of another: dedup would skip its work."""
    articles = [g.article for g in generate_articles(400, seed=0)]
    assert len({text_hash(a.text) for a in articles}) == len(articles)
    assert len({a.url for a in articles}) == len(articles)
    sets = [shingles(a.text) for a in articles[:150]]
    worst = max(len(a & b) / len(a | b) for a, b in itertools.combinations(sets, 2))
    assert worst < DUPLICATE_THRESHOLD / 2, worst


def test_generated_events_point_at_their_sentences() -> None:
    """The known extractions the store benchmark uses must be consistent with the text."""
    for generated in generate_articles(50, seed=1):
        text = generated.article.text
        assert 3 <= len(generated.extraction.events) <= 7
        for event in generated.extraction.events:
            assert text[event.start:event.end] == event.sentence
            assert event.content in event.sentence
            assert event.source is not None and event.source.code


def test_written_files_follow_the_article_file_format(tmp_path: Path) -> None:
    """Headline line, `By ...` line, then the body (SPEC.md text article files)."""
    paths = write_articles(tmp_path, 3, seed=2)
    assert len(paths) == 3
    lines = paths[0].read_text(encoding="utf-8").splitlines()
    assert lines[0] and lines[1].startswith("By ")
    assert len(lines) > 8


@pytest.mark.parametrize("command", [["events", "--json"], ["articles"], ["alerts"]])
def test_read_commands_do_not_import_prefect_or_spacy(command: list[str], tmp_path: Path) -> None:
    """`python -X importtime` of a read command on a migrated database lists neither package."""
    env = dict(os.environ, NEWSWATCH_DATABASE_URL=f"sqlite:///{tmp_path / 'read.db'}")
    upgrade = subprocess.run([sys.executable, "-c", "from newswatch import cli; cli.app(['db', 'upgrade'])"],
                             cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert "up to date" in upgrade.stdout, upgrade.stderr
    code = f"from newswatch import cli\ntry:\n    cli.app({command!r})\nexcept SystemExit as e:\n    assert not e.code, e.code\n"
    out = subprocess.run([sys.executable, "-X", "importtime", "-c", code], cwd=tmp_path, env=env,
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    modules = {line.rsplit("|", 1)[-1].strip()
               for line in out.stderr.splitlines() if line.startswith("import time:")}
    imported = {m.split(".")[0] for m in modules} | {".".join(m.split(".")[:2]) for m in modules}
    assert "newswatch.cli" in modules
    assert not imported & {"prefect", "spacy", "thinc", "torch"}, sorted(imported & {"prefect", "spacy"})
    # nor the ingest side: flows, the store step's writes and dedup (SciPy via datasketch)
    heavy = {"newswatch.flows", "datasketch", "scipy", "apprise", "feedparser"}
    assert not imported & heavy, sorted(imported & heavy)
    writers = {f"newswatch.{m}" for m in ("db.store", "db.outbox", "db.feed_state", "pipeline.dedup", "pipeline.extract")}
    assert not modules & writers, sorted(modules & writers)


def test_quick_benchmark_reports_every_key() -> None:
    """The README table is filled from these keys; a renamed key would silently drop a row."""
    import run

    keys = {"pipeline_articles_per_s", "raw_nlp_articles_per_s", "throughput_ratio",
            "lookup_ms_1k", "lookup_ms_100k", "scale_ratio", "peak_rss_mb_1k", "peak_rss_mb_10k",
            "rss_ratio", "query_ms_100k", "read_cli_s", "ingest_one_cold_s", "ingest_one_s",
            # hostile input (issue 18)
            "extract_ms_per_1k_words_2500", "extract_ms_per_1k_words_40000", "extract_length_ratio",
            "peak_rss_mb_hostile", "peak_rss_mb_ordinary", "rss_hostile_ratio",
            # all cores, 1M stored articles on SQLite and PostgreSQL, Prefect workers (issue 21)
            "flow_articles_per_s_1_process", "flow_articles_per_s_all_cores", "core_scaling",
            "raw_core_scaling", "backlog_s_1_worker", "backlog_s_2_workers", "worker_scaling",
            "workers_same_rows", "lookup_ms_1m", "query_ms_1m", "lookup_ms_1k_pg", "lookup_ms_1m_pg",
            "scale_ratio_pg", "query_ms_1m_pg"}
    assert set(run.TARGETS) <= keys
    assert run.SIZES["quick"].keys() == run.SIZES["full"].keys()
    fake = dict.fromkeys(keys, 1.0) | {"date": "d", "n": {}, "targets_met": {}}
    table = run._table(fake)
    assert all(str(1.0) in line for line in table.splitlines()[1:])
    assert len(table.splitlines()) == len(keys) + 1
    json.dumps(fake)


_BIG_TABLES = ("articles", "article_bands", "article_actors", "events", "mentions", "topic_matches", "alerts")


def test_every_query_of_the_store_step_is_an_index_search(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest) -> None:
    """What keeps lookups flat as the database grows: SQLite's plan for every SELECT the store
    step runs (URLs, duplicate and event candidates, upsert fallbacks) searches an index and
    never scans a table or a whole index."""
    from sqlalchemy import event

    from newswatch.db.migrate import upgrade
    from newswatch.db.session import make_engine
    from newswatch.flows import _steps
    from newswatch.pipeline.settings import get_settings

    url = f"sqlite:///{tmp_path / 'plans.db'}"
    monkeypatch.setenv("NEWSWATCH_DATABASE_URL", url)
    upgrade(url)
    generated = list(generate_articles(12, seed=21))
    copy = generated[0].extraction  # stored twice under another URL: the copy path runs too
    import dataclasses

    copy = dataclasses.replace(copy, article=dataclasses.replace(copy.article, url="https://example.org/copy"))
    selects: list[tuple[str, object]] = []

    def record(conn, cursor, statement, parameters, context, executemany):  # type: ignore[no-untyped-def]
        if statement.lstrip().upper().startswith("SELECT") and not executemany:
            selects.append((statement, parameters))

    engine = make_engine(url)
    request.addfinalizer(engine.dispose)
    event.listen(engine, "before_cursor_execute", record)
    try:
        settings = get_settings()
        _steps.store([g.extraction for g in generated[:6]], settings, engine)
        _steps.store([g.extraction for g in generated[6:]] + [copy], settings, engine)
    finally:
        event.remove(engine, "before_cursor_execute", record)
    assert len(selects) >= 12 * 2  # duplicate and event candidates for every article at least
    with engine.connect() as conn:
        for statement, parameters in selects:
            plan = conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {statement}", parameters).all()
            details = [row[-1] for row in plan]
            scans = [d for d in details if d.startswith("SCAN") and d.split()[1] in _BIG_TABLES]
            assert not scans, (statement, details)


def test_size_labels_name_the_keys() -> None:
    import run

    assert [run._size_label(n) for n in (1000, 5000, 100_000, 1_000_000, 1500)] == ["1k", "5k", "100k", "1m", "1500"]


@pytest.mark.postgres
@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_bulk_loader_writes_what_the_store_step_writes(backend: str, tmp_path: Path) -> None:
    """The bulk loader's rows equal the store step's for the same generated articles (COPY on
    PostgreSQL, executemany on SQLite), and ids continue after a load."""
    import run

    from newswatch.db.migrate import upgrade
    from newswatch.flows import _steps
    from newswatch.pipeline.settings import get_settings
    from tests._faults import snapshot

    if backend == "postgresql":
        try:
            loaded = run._fresh_database(backend, tmp_path, "test_bulk")
            stored = run._fresh_database(backend, tmp_path, "test_store")
        except Exception as exc:  # noqa: BLE001
            pytest.skip(f"no PostgreSQL server: {exc}")
    else:
        loaded, stored = (run._fresh_database(backend, tmp_path, n) for n in ("bulk", "store"))
    try:
        for url in (loaded, stored):
            upgrade(url)
        run._bulk_load(loaded, 0, 30, seed=11, per_day=10)
        os.environ["NEWSWATCH_DATABASE_URL"] = stored
        settings = get_settings()
        generated = list(generate_articles(30, seed=11, per_day=10))
        _steps.store([g.extraction for g in generated], settings, topics=())
        ours, theirs = snapshot(loaded), snapshot(stored)
        # topic matches: the loader's are the generator's own (no topic matcher ran on either)
        ours.pop("topic_matches", None), theirs.pop("topic_matches", None)
        assert ours["articles"] == theirs["articles"] and ours["actors"] == theirs["actors"]
        assert sorted(ours["events"]) == sorted(theirs["events"])
        assert sorted(ours["mentions"]) == sorted(theirs["mentions"])
        # the store step goes on after a bulk load (PostgreSQL's sequences were moved on)
        os.environ["NEWSWATCH_DATABASE_URL"] = loaded
        more = list(generate_articles(3, seed=11, first=30, per_day=10))
        assert len(_steps.store([g.extraction for g in more], get_settings(), topics=())) == 3
    finally:
        os.environ.pop("NEWSWATCH_DATABASE_URL", None)
        if backend == "postgresql":
            for name in ("test_bulk", "test_store"):
                run._pg_admin(f"DROP DATABASE IF EXISTS nw_scale_{name} WITH (FORCE)")
