"""The language model on every core (NEWSWATCH_NLP_PROCESSES): same extractions, small batches
in-process, and one bad article still failing alone."""

from __future__ import annotations

import dataclasses
import datetime as dt
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from newswatch.flows import _steps
from newswatch.pipeline.errors import SettingsError
from newswatch.pipeline.extract import MIN_ARTICLES_PER_PROCESS, analyse_articles, model_processes
from newswatch.pipeline.records import Article
from newswatch.pipeline.settings import Settings, get_settings, machine_cores
from newswatch.pipeline.sources import read_article
from tests._faults import ARTICLES

REPO = Path(__file__).resolve().parent.parent
#: enough articles that two processes run (`model_processes`)
N = 2 * MIN_ARTICLES_PER_PROCESS + 3


@pytest.fixture
def forks() -> Iterator[list[int]]:
    """Count the processes this process forks (spaCy starts its workers by fork on Linux)."""
    counted: list[int] = []
    os.register_at_fork(after_in_parent=lambda: counted.append(1))
    yield counted
    counted.append(-10**9)  # register_at_fork has no unregister: later forks no longer count


def _real_articles(tmp_path: Path, n: int) -> list[Article]:
    """The seed article and the fault corpus's news articles, repeated under new URLs to `n`."""
    paths = [REPO / "seeds" / "000_30228fdb78730024.txt"]
    for name, text in sorted(ARTICLES.items()):
        (tmp_path / name).write_text(text, encoding="utf-8")
        paths.append(tmp_path / name)
    real = [read_article(str(p), published=None, source=None, client=None) for p in paths]
    return [dataclasses.replace(real[i % len(real)], url=f"{real[i % len(real)].url}#{i}") for i in range(n)]


def test_two_processes_give_exactly_the_extractions_of_one(nlp: Any, tmp_path: Path, forks: list[int]) -> None:
    """Actors, events (with offsets) and topic matches read in worker processes equal those
    read in this one: the Docs cross the process boundary with their extension values."""
    articles = _real_articles(tmp_path, N)
    topics = _steps.read_topics(Settings())
    one = _steps.extract(nlp, articles, Settings(nlp_processes=1), topics)
    assert not forks
    two = _steps.extract(nlp, articles, Settings(nlp_processes=2), topics)
    assert len(forks) == 2  # the model really ran in two worker processes
    assert two == one
    assert sum(len(x.events) for x in one) >= N and any(t for x in one for t in x.topics)
    # the Spans topic tagging reads come back too, with their tags and actor mentions
    spans = [s for _, sentences in analyse_articles(nlp, articles[:N], 64, n_process=2) for s in sentences]
    assert spans and all(s.doc.has_annotation("TAG") for s in spans)


def test_a_small_batch_runs_in_this_process(nlp: Any, tmp_path: Path, forks: list[int]) -> None:
    """One article (a feed poll's typical batch) never pays for starting processes."""
    articles = _real_articles(tmp_path, MIN_ARTICLES_PER_PROCESS * 2 - 1)
    assert model_processes(len(articles), 2) == 1
    assert model_processes(1, 8) == 1 and model_processes(2 * MIN_ARTICLES_PER_PROCESS, 2) == 2
    assert model_processes(1000, 4) == 4
    list(analyse_articles(nlp, articles, 64, n_process=2))
    assert not forks


def test_a_bad_article_fails_alone_with_worker_processes(tmp_path: Path) -> None:
    """A component raising in a worker process fails the batch (spaCy E871); each article is
    then run alone in this process, so only the bad one is reported."""
    from tests.test_isolation import _explode  # noqa: F401  (registers newswatch_test_explode)

    s = Settings(nlp_processes=2)
    fragile = _steps.load_nlp(s.spacy_model, str(s.actors), str(s.triggers))
    fragile.add_pipe("newswatch_test_explode", first=True)
    articles = _real_articles(tmp_path, N)
    bad = dataclasses.replace(articles[5], url="file:///bad.txt", text="EXPLODE. " + articles[5].text)
    articles[5] = bad
    extractions, failures = _steps.extract_each(fragile, articles, s, topics=())
    assert [e.article.url for e in extractions] == [a.url for a in articles if a is not bad]
    assert failures == ["file:///bad.txt: could not be analysed (ValueError: the parser gave up on this text)"]


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
    """The ingest flow with two model processes (and the next batch extracted while one is
    stored) leaves exactly the rows of a run with one process."""
    import sys

    sys.path.insert(0, str(REPO / "benchmarks"))
    from generate import write_articles

    from newswatch.flows.ingest import ingest
    from tests._faults import snapshot

    paths = [str(p) for p in write_articles(tmp_path / "in", 2 * MIN_ARTICLES_PER_PROCESS * 2 + 5, seed=5)]
    monkeypatch.setenv("NEWSWATCH_BATCH_SIZE", str(2 * MIN_ARTICLES_PER_PROCESS))
    rows = {}
    for processes in (1, 2):
        url = f"sqlite:///{tmp_path / f'p{processes}.db'}"
        monkeypatch.setenv("NEWSWATCH_DATABASE_URL", url)
        monkeypatch.setenv("NEWSWATCH_NLP_PROCESSES", str(processes))
        summary = ingest(inputs=paths, published=dt.date(2022, 1, 3))
        assert summary.articles_new == len(paths) and not summary.failures
        rows[processes] = snapshot(url)
    assert rows[2] == rows[1] and rows[1]["events"]
