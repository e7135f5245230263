"""The language model on every core (NEWSWATCH_NLP_PROCESSES, `pipeline.workers.ModelPool`):
the same extractions as one process, small batches in-process, and a bad article, even one
that kills its process, failing alone without hanging the run."""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import gc
import os
import signal
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import CancelledError
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from typing import Any, TypeVar

import pytest

from newswatch.flows import _steps
from newswatch.pipeline import analysis
from newswatch.pipeline.embed import make_embedder
from newswatch.pipeline.errors import SettingsError
from newswatch.pipeline.records import Article, Extraction
from newswatch.pipeline.settings import Settings, get_settings, machine_cores
from newswatch.pipeline.sources import read_article
from newswatch.pipeline.workers import MAX_PER_CHUNK, MIN_PER_PROCESS, ModelPool, chunk_sizes, use_pool
from tests._faults import ARTICLES

REPO = Path(__file__).resolve().parent.parent
#: enough articles that the batch goes to two processes (`use_pool`), a chunk each
N = 4 * MIN_PER_PROCESS + 3
T = TypeVar("T")


def _within(seconds: float, call: Callable[[], T]) -> T:
    """Run `call`, failing the test instead of hanging it should it not return in time."""
    box: dict[str, Any] = {}

    def run() -> None:
        try:
            box["value"] = call()
        except BaseException as exc:  # noqa: BLE001  (re-raised in the test's thread)
            box["error"] = exc

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(seconds)
    assert not thread.is_alive(), f"still waiting after {seconds} s: the pool hangs"
    if "error" in box:
        raise box["error"]
    return box["value"]  # type: ignore[no-any-return]


def _real_articles(tmp_path: Path, n: int) -> list[Article]:
    """The seed article and the fault corpus's news articles, repeated under new URLs to `n`."""
    paths = [REPO / "seeds" / "000_30228fdb78730024.txt"]
    for name, text in sorted(ARTICLES.items()):
        (tmp_path / name).write_text(text, encoding="utf-8")
        paths.append(tmp_path / name)
    real = [read_article(str(p), published=None, source=None, client=None) for p in paths]
    return [dataclasses.replace(real[i % len(real)], url=f"{real[i % len(real)].url}#{i}") for i in range(n)]


# Worker-side functions: module level, so a spawned process finds them by name.

def _fragile_models(settings: Settings) -> analysis.Models:
    """A worker's models with a component that raises on a text marked EXPLODE."""
    from tests.test_isolation import _explode  # noqa: F401  (registers newswatch_test_explode)

    models = analysis.load_models(settings, ())
    models.nlp.add_pipe("newswatch_test_explode", first=True)
    return models


def _deadly_chunk(models: analysis.Models, articles: Sequence[Article]) -> tuple[list[Extraction], list[str]]:
    """`extract_chunk`, except that an article marked DIE kills its process, as the kernel's
    OOM killer would."""
    if any("DIE" in article.text for article in articles):
        os.kill(os.getpid(), signal.SIGKILL)
    return analysis.extract_chunk(models, articles)


def _many_objects() -> list[dict[str, int]]:
    """Models stand-in: long-lived objects the garbage collector would otherwise scan."""
    return [{"n": i} for i in range(10_000)]


def _process_state(models: list[dict[str, int]], chunk: Sequence[int]) -> tuple[list[tuple[int, int]], list[str]]:
    """Work that reports, per input, its process and how many objects are frozen there."""
    return [(os.getpid(), gc.get_freeze_count()) for _ in chunk], []


def test_two_processes_give_exactly_the_extractions_of_one(nlp: Any, tmp_path: Path) -> None:
    """Actors, events (with offsets) and topic matches read in worker processes equal those
    read in this one, in the batch's order."""
    articles = _real_articles(tmp_path, N)
    settings = Settings(nlp_processes=2)
    topics = analysis.read_topics(settings)
    one = analysis.extract(nlp, articles, settings, topics, make_embedder(settings.embedding_model))
    with _steps.model_pool(settings, topics) as pool:
        two, failures = _within(300, pool.submit(articles).result)
        processes = pool.worker_pids()
    assert len(processes) == 2 and os.getpid() not in processes  # it really ran elsewhere
    assert not failures and two == one
    assert sum(len(x.events) for x in one) >= N and any(t for x in one for t in x.topics)


def test_a_batch_is_split_so_every_process_has_work() -> None:
    assert not use_pool(2 * MIN_PER_PROCESS - 1, 2) and not use_pool(1000, 1)
    assert use_pool(2 * MIN_PER_PROCESS, 2)
    for n, processes in ((16, 2), (64, 2), (65, 2), (1000, 8), (17, 4)):
        sizes = chunk_sizes(n, processes)
        assert sum(sizes) == n and max(sizes) - min(sizes) <= 1
        assert len(sizes) >= min(processes, n // MIN_PER_PROCESS) and min(sizes) >= MIN_PER_PROCESS
    assert chunk_sizes(0, 2) == []
    # a chunk per process while that keeps chunks within MAX_PER_CHUNK, more chunks beyond
    assert chunk_sizes(64, 2) == [32, 32] and chunk_sizes(128, 2) == [64, 64]
    assert len(chunk_sizes(129, 2)) == 3 and chunk_sizes(1000, 8) == [63] * 8 + [62] * 8
    assert all(max(chunk_sizes(n, p)) <= MAX_PER_CHUNK for n in (16, 200, 5000) for p in (1, 2, 3, 8))


def test_model_processes_freeze_their_models_and_exit_when_the_run_ends(tmp_path: Path) -> None:
    """What a process loaded is out of the collector's scans; after a run that ended well the
    idle processes exit on their own (`close` does not wait for them)."""
    pool: ModelPool[int, tuple[int, int]] = ModelPool(2, _many_objects, _process_state)
    with pool:
        results, failures = _within(120, pool.submit(list(range(4 * MIN_PER_PROCESS))).result)
        pids = pool.worker_pids()
    assert not failures and len(results) == 4 * MIN_PER_PROCESS
    assert {pid for pid, _ in results} <= set(pids) and os.getpid() not in pids
    assert all(frozen >= 10_000 for _, frozen in results)

    def gone() -> bool:
        for pid in pids:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                continue
            with open(f"/proc/{pid}/stat") as stat:  # exited, not yet reaped by the executor
                if stat.read().rsplit(")", 1)[1].split()[0] != "Z":
                    return False
        return True

    deadline = time.monotonic() + 30
    while not gone():
        assert time.monotonic() < deadline, "model processes still running 30 s after the run"
        time.sleep(0.1)


def test_a_bad_article_fails_alone_in_a_worker_process(tmp_path: Path) -> None:
    """A component raising in a worker fails that article alone; the batch's others come back
    in order, and nothing waits for ever (the old n_process path hung here)."""
    settings = Settings(nlp_processes=2)
    articles = _real_articles(tmp_path, N)
    articles[5] = bad = dataclasses.replace(articles[5], url="file:///bad.txt", text="EXPLODE. " + articles[5].text)
    pool = ModelPool(2, functools.partial(_fragile_models, settings), analysis.extract_chunk,
                     describe=lambda a: a.url)
    with pool:
        extractions, failures = _within(300, pool.submit(articles).result)
    assert [e.article.url for e in extractions] == [a.url for a in articles if a is not bad]
    assert failures == ["file:///bad.txt: could not be analysed (ValueError: the parser gave up on this text)"]


def test_an_article_that_kills_its_process_fails_alone_and_the_rest_are_kept(tmp_path: Path) -> None:
    """A process killed mid-batch breaks the pool: its chunk is run again an article at a
    time in a fresh pool, so only the deadly article is reported; the other chunks of the
    batch and the next batch still come back."""
    settings = Settings(nlp_processes=2)
    articles = _real_articles(tmp_path, N)
    articles[9] = deadly = dataclasses.replace(articles[9], url="file:///deadly.txt", text="DIE. " + articles[9].text)
    pool = ModelPool(2, functools.partial(analysis.load_models, settings, ()), _deadly_chunk,
                     describe=lambda a: a.url)
    with pool:
        first = pool.submit(articles)
        second = pool.submit(articles[-2 * MIN_PER_PROCESS:])  # queued behind the one that breaks
        extractions, failures = _within(600, first.result)
        after, after_failures = _within(300, second.result)
    assert failures == ["file:///deadly.txt: could not be analysed (its language-model process died)"]
    assert [e.article.url for e in extractions] == [a.url for a in articles if a is not deadly]
    assert [e.article.url for e in after] == [a.url for a in articles[-2 * MIN_PER_PROCESS:]] and not after_failures


def test_closing_a_failing_run_terminates_busy_processes(tmp_path: Path) -> None:
    """A run that fails while chunks are in the processes stops them at once, not after them."""
    settings = Settings(nlp_processes=2)
    pool = _steps.model_pool(settings, ())
    job = pool.submit(_real_articles(tmp_path, 8 * MIN_PER_PROCESS))
    pids = _within(120, pool.worker_pids)
    _within(30, lambda: pool.close(failing=True))
    for pid in pids:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)
    # the batch that was in the processes fails at once, and starts no processes again
    with pytest.raises((BrokenProcessPool, CancelledError, RuntimeError)):
        _within(60, job.result)
    assert pool.worker_pids() == []


def test_model_processes_import_no_database_or_prefect_code() -> None:
    """A model process builds the real models (`analysis.load_models`) and imports neither
    the database layer nor Prefect: each would lengthen every process's start."""
    from tests import _probe

    pool: ModelPool[int, list[str]] = ModelPool(
        2, functools.partial(analysis.load_models, Settings(nlp_processes=2), ()), _probe.imported)
    with pool:
        results, failures = _within(300, pool.submit(list(range(2 * MIN_PER_PROCESS))).result)
    assert not failures and results == [[]] * (2 * MIN_PER_PROCESS)


def test_nlp_processes_defaults_to_the_cores_and_refuses_nonsense(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NEWSWATCH_NLP_PROCESSES", raising=False)
    assert get_settings().nlp_processes == machine_cores() == len(os.sched_getaffinity(0))
    monkeypatch.setenv("NEWSWATCH_NLP_PROCESSES", "3")
    assert get_settings().nlp_processes == 3
    for bad, problem in (("0", "greater than or equal to 1"), ("many", "valid integer")):
        monkeypatch.setenv("NEWSWATCH_NLP_PROCESSES", bad)
        with pytest.raises(SettingsError) as error:
            get_settings()
        assert str(error.value).startswith(f"NEWSWATCH_NLP_PROCESSES={bad!r}: ")
        assert problem in str(error.value) and "\n" not in str(error.value)


def test_the_flow_stores_the_same_with_worker_processes(
    prefect_harness: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The ingest flow with two model processes (batches extracted while earlier ones are
    stored, a small last batch in-process) leaves exactly the rows of a run with one process."""
    import sys

    sys.path.insert(0, str(REPO / "benchmarks"))
    from generate import write_articles

    from newswatch.flows.ingest import ingest
    from tests._faults import snapshot

    batch = 2 * MIN_PER_PROCESS
    paths = [str(p) for p in write_articles(tmp_path / "in", 3 * batch + 5, seed=5)]
    monkeypatch.setenv("NEWSWATCH_BATCH_SIZE", str(batch))
    rows = {}
    for processes in (1, 2):
        url = f"sqlite:///{tmp_path / f'p{processes}.db'}"
        monkeypatch.setenv("NEWSWATCH_DATABASE_URL", url)
        monkeypatch.setenv("NEWSWATCH_NLP_PROCESSES", str(processes))
        summary = ingest(inputs=paths, published=dt.date(2022, 1, 3))
        assert summary.articles_new + summary.articles_duplicate == len(paths) and not summary.failures
        rows[processes] = snapshot(url)
    assert rows[2] == rows[1] and rows[1]["events"]
