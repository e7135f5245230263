"""The hostile-input corpus (tests/hostile/, large cases from scripts/make_hostile_corpus.py)
ingested in one command with good articles: the good ones stored with their events, one
`Error:` line per bad input, bounded time and memory, and a rerun that changes nothing.

Issue 18: each bad input gets one clear line, every good input in the same command is stored,
no run hangs or grows without bound, and the next run picks up where it was.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import sqlalchemy as sa

from tests._faults import (
    NEWSWATCH,
    PUBLISHED,
    count,
    ingest_env,
    plain_engine,
    postgres_schema,
    prefect_api_url,  # noqa: F401 (fixture)
)

REPO = Path(__file__).resolve().parent.parent
CORPUS = REPO / "tests" / "hostile"
sys.path.insert(0, str(REPO / "scripts"))
from make_hostile_corpus import write_large  # noqa: E402

# Article inputs, in the corpus folder: the title each is stored under.
STORED_ARTICLES = {
    "good-01-lithuania.txt": "Lithuania demands Belarus close migrant route on its border",
    "good-02-japan.txt": "Japan urges China to stop patrols near disputed islands",
    "good-03-page.html": "Poland demands Germany pay war reparations",
    "page-escaped-script.html": "Hungary urges EU to release frozen funds",
    "page-nested-400.html": "Slovakia demands Hungary clarify minority law",
}
# Feed files: the titles of the entries stored from each.
STORED_ENTRIES = {
    "good-04-feed.xml": ["Greece calls on Turkey to pull survey ship from Aegean"],
    "feed-utf16.xml": ["Romania demands Russia withdraw troops from Transnistria"],
    "feed-utf32.xml": ["Finland urges Russia to respect airspace after incursion"],
    "feed-windows1251.xml": ["Болгария требует от России вернуть дипломатов"],
    "feed-year9999.xml": ["Estonia demands Russia explain border post incident"],
    "feed-long-link.xml": ["Latvia calls on Belarus to free detained journalist"],
    "feed-cdata-doctype.xml": ["Sweden demands Iran release Swedish citizen"],
    "feed-billion-laughs.xml": ["Norway urges Russia to investigate sabotage"],
    "feed-xxe.xml": ["Denmark demands Russia stop submarine patrols"],
    "feed-escaped-script.xml": ["Moldova urges Russia to stop gas cutoff"],
    "feed-image-only.xml": ["Georgia calls on Russia to leave occupied regions"],
}
# Stories whose main sentence is a demand-like event of these actors (source, target codes).
EVENTS = {
    "good-01-lithuania.txt": ("LTU", "BLR"),
    "good-02-japan.txt": ("JPN", "CHN"),
    "good-03-page.html": ("POL", "DEU"),
    "page-nested-400.html": ("SVK", "HUN"),
    "good-04-feed.xml": ("GRC", "TUR"),
    "feed-utf16.xml": ("ROU", "RUS"),
    "feed-xxe.xml": ("DNK", "RUS"),
}
# Inputs refused with one line each: the input as given and what its line says.
BAD_ARTICLES = {
    "bad-binary.bin": "binary file",
    "bad-empty.txt": "the file is empty",
    "bad-nul.txt": "binary file",
}
BAD_EXTRA = {  # created at test time, or not paths at all
    "fifo": "not a regular file",
    "a-folder": "is a directory",
    "missing.txt": "no such file",
    "not a url": "no such file",
    "foo://bar": "only http and https URLs",
}
# Worst cases that are stored, cut to NEWSWATCH_MAX_TEXT_CHARS with a warning.
LARGE = ["one-line-6mb.txt", "words-200k.txt", "nested-5000.html"]
# Analysing 2 x 300,000 characters on a shared 2-core machine takes minutes; the cut itself is
# what is tested here, its cost per word is benchmarks/run.py's extract_ms_per_1k_words.
MAX_TEXT_CHARS = 40_000
MAX_SECONDS = 420
# Measured 2026-12-01: largest process 1,156 MB on SQLite, 1,603 MB on PostgreSQL (not yet
# explained); the bound is against a runaway (a 5 MB line once took an ingest to 14 GB).
MAX_RSS_MB = 2000


@dataclass
class Run:
    returncode: int
    stdout: str
    stderr: str
    seconds: float
    peak_rss_mb: float


# A launcher exec'd afresh runs the command and writes its children's peak RSS: the command
# forked straight from pytest would count pytest's own memory at the fork (Linux carries the
# forked copy's high-water mark over the exec into ru_maxrss).
LAUNCHER = (
    "import resource, subprocess, sys\n"
    "code = subprocess.call(sys.argv[2:])\n"
    "open(sys.argv[1], 'w').write(str(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss))\n"
    "sys.exit(code)\n"
)


def run_measured(args: list[str], env: dict[str, str], timeout: float) -> Run:
    """Run a command to the end; return its output, wall time and peak RSS (of its process)."""
    peak_file = os.path.join(env["NW_TMP"], "peak.txt")
    args = [sys.executable, "-c", LAUNCHER, peak_file, *args]
    with open(os.devnull, "rb") as devnull, \
         contextlib.ExitStack() as stack:
        out = stack.enter_context(open(os.path.join(env["NW_TMP"], "out.txt"), "w+"))
        err = stack.enter_context(open(os.path.join(env["NW_TMP"], "err.txt"), "w+"))
        start = time.monotonic()
        proc = subprocess.Popen(args, env=env, stdin=devnull, stdout=out, stderr=err, text=True,
                                start_new_session=True)
        timer = threading.Timer(timeout, lambda: os.killpg(proc.pid, signal.SIGKILL))
        timer.start()
        try:
            _, status, _usage = os.wait4(proc.pid, 0)
        finally:
            timer.cancel()
        proc.returncode = os.waitstatus_to_exitcode(status)
        seconds = time.monotonic() - start
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read(), err.read()
    if seconds >= timeout:
        raise AssertionError(f"ingest did not finish in {timeout} s:\n{stdout}\n{stderr[-3000:]}")
    return Run(proc.returncode, stdout, stderr, seconds, int(Path(peak_file).read_text()) / 1024)


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def corpus_db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'hostile.db'}"
    else:
        with postgres_schema(request.getfixturevalue("postgres_server")) as url:
            yield url


def _command(tmp_path: Path) -> list[str]:
    large = write_large(tmp_path / "large")
    os.mkfifo(tmp_path / "fifo")
    (tmp_path / "a-folder").mkdir()
    articles = [str(CORPUS / name) for name in (*STORED_ARTICLES, *BAD_ARTICLES)]
    articles += [str(p) for p in large]
    articles += [str(tmp_path / "fifo"), str(tmp_path / "a-folder"), str(tmp_path / "missing.txt"),
                 "not a url", "foo://bar"]
    feeds = [arg for name in STORED_ENTRIES for arg in ("--feed", str(CORPUS / name))]
    return [NEWSWATCH, "ingest", *articles, *feeds, "--published", PUBLISHED]


def _titles(url: str) -> dict[str, str]:
    engine = plain_engine(url)
    try:
        with engine.connect() as conn:
            return {r.url: r.title for r in conn.execute(sa.text("SELECT url, title FROM articles"))}
    finally:
        engine.dispose()


def _events(url: str) -> list[tuple[str, str, str]]:
    engine = plain_engine(url)
    try:
        with engine.connect() as conn:
            return [tuple(r) for r in conn.execute(sa.text(
                "SELECT a.title, e.source_code, e.target_code FROM events e "
                "JOIN mentions m ON m.event_id = e.id JOIN articles a ON a.id = m.article_id"))]
    finally:
        engine.dispose()


def _texts(url: str) -> str:
    engine = plain_engine(url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(sa.text("SELECT title, text FROM articles")).all()
            sentences = conn.execute(sa.text("SELECT sentence FROM mentions")).scalars().all()
    finally:
        engine.dispose()
    return "\n".join([*(f"{t}\n{x}" for t, x in rows), *sentences])


@pytest.mark.slow
def test_hostile_corpus_in_one_command_with_good_articles(
    corpus_db: str, tmp_path: Path, prefect_api_url: str,
) -> None:
    """The whole corpus in one ingest: good inputs stored with their events, one line per bad
    input, time and memory bounded; the same command again stores nothing new."""
    command = _command(tmp_path)
    env = ingest_env(corpus_db, api_url=prefect_api_url, batch_size=8,
                     NEWSWATCH_MAX_TEXT_CHARS=str(MAX_TEXT_CHARS), NW_TMP=str(tmp_path))
    subprocess.run([NEWSWATCH, "db", "upgrade"], env=env, check=True, capture_output=True)

    first = run_measured(command, env, timeout=MAX_SECONDS)
    report = f"exit {first.returncode}\n{first.stdout}\n{first.stderr[-4000:]}"
    assert first.returncode == 1, report  # bad inputs: exit 1 after storing the good ones
    assert first.seconds < MAX_SECONDS and first.peak_rss_mb < MAX_RSS_MB, (first.seconds, first.peak_rss_mb)

    # one Error: line per bad input, naming it; nothing else is an error
    errors = [line for line in first.stderr.splitlines() if line.startswith("Error: ")]
    bad = {**{str(CORPUS / k): v for k, v in BAD_ARTICLES.items()},
           **{(k if k in ("not a url", "foo://bar") else str(tmp_path / k)): v for k, v in BAD_EXTRA.items()},
           str(CORPUS / "feed-long-link.xml"): "link longer than 2048 characters"}
    assert len(errors) == len(bad), "\n".join(errors)
    for name, reason in bad.items():
        mine = [line for line in errors if line.startswith(f"Error: {name}:")]
        assert len(mine) == 1 and reason in mine[0], (name, errors)
    assert "Traceback" not in first.stderr, report
    # the picture posts are noted (INFO, not shown at WARNING) and are not failures
    assert f"{len(bad)} failed" in first.stdout, first.stdout

    # every good input stored, under its own title, with its events
    titles = set(_titles(corpus_db).values())
    expected = {*STORED_ARTICLES.values(), *(t for ts in STORED_ENTRIES.values() for t in ts)}
    assert expected <= titles, expected - titles
    stored_large = [t for u, t in _titles(corpus_db).items() if any(u.endswith(n) for n in LARGE)]
    assert len(stored_large) == len(LARGE), _titles(corpus_db)
    assert len(titles) == len(expected) + len(LARGE)
    events = _events(corpus_db)
    title_of = {**STORED_ARTICLES, **{k: v[0] for k, v in STORED_ENTRIES.items()}}
    for name, (src, tgt) in EVENTS.items():
        assert (title_of[name], src, tgt) in events, (name, [e for e in events if e[0] == title_of[name]])
    for name in LARGE[:2]:
        assert f"{name}: text cut to its first" in first.stderr

    # article text is text: no markup or script, escaped or not, reached the database
    stored = _texts(corpus_db)
    for needle in ("<script", "alert(", "onerror", "onclick", "<!DOCTYPE", "lol9", "root:x:0:0"):
        assert needle not in stored, needle

    # the same command again: the same failures, nothing new stored
    counts = {t: count(corpus_db, t) for t in ("articles", "events", "mentions", "article_actors")}
    second = run_measured(command, env, timeout=MAX_SECONDS)
    assert second.returncode == 1, second.stderr[-3000:]
    assert second.peak_rss_mb < MAX_RSS_MB, second.peak_rss_mb
    # the bad inputs again; the feed files are unchanged since the first run (not modified), so
    # the long link of feed-long-link.xml is not read, nor reported, a second time
    again = [line for line in errors if not line.startswith(f"Error: {CORPUS / 'feed-long-link.xml'}:")]
    assert sorted(line for line in second.stderr.splitlines() if line.startswith("Error: ")) == sorted(again)
    assert "articles: 0 new" in second.stdout and "events:   0 new, 0 merged" in second.stdout, second.stdout
    assert {t: count(corpus_db, t) for t in counts} == counts
    print(f"\nhostile corpus: first run {first.seconds:.1f} s, peak RSS {first.peak_rss_mb:.0f} MB; "
          f"rerun {second.seconds:.1f} s, {second.peak_rss_mb:.0f} MB")
