"""Benchmark newswatch against spaCy itself: every figure a ratio measured side by side.

    python benchmarks/run.py [--quick] [--json] [--only throughput,scale,rss,cli]

The machine this runs on is shared and noisy, so each figure that matters is a ratio of two
measurements taken in the same run, interleaved where they are timings:

1. throughput: the ingest flow end to end into a fresh SQLite database against `nlp.pipe` of
   the same texts with the same model and the same number of processes (best of R rounds each,
   alternating);
2. scale: cost per article of the store step (dedup lookups and inserts, topics and alerts; NLP
   excluded: the generator's known extractions are stored) on a database holding 1k articles
   and on one holding 100k, batches alternating between the two;
3. rss: peak memory of a whole ingest of 1k and of 10k articles (one subprocess each);
4. query: `events --actor RUS --topic nato-enlargement --since ...` on the big database;
5. cli: wall time of the `newswatch events` command on a small database, and of a cold
   `newswatch ingest` of the seed article into a new database.

`--quick` runs the same measurements on smaller sizes (stated in the output under `n`).
Each measurement runs in its own subprocess (`--worker NAME`), which prints one JSON line.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(HERE))

SEED_ARTICLE = REPO / "seeds" / "000_30228fdb78730024.txt"
TARGETS = {
    "throughput_ratio": (">=", 0.85),
    "scale_ratio": ("<=", 1.3),
    "rss_ratio": ("<=", 1.2),
    "query_ms_100k": ("<=", 100.0),
    "query_ms_1m": ("<=", 100.0),
    "core_scaling": (">=", 1.6),
    "worker_scaling": (">=", 1.5),
    "scale_ratio_pg": ("<=", 1.3),
    "query_ms_1m_pg": ("<=", 100.0),
    "read_cli_s": ("<=", 0.5),
    "ingest_one_s": ("<=", 5.0),
    "ingest_one_cold_s": ("<=", 15.0),
}
SIZES = {
    "full": {"throughput": 1_000, "rounds": 2, "scale_small": 1_000, "scale_big": 1_000_000,
             "scale_probe": 2_560, "rss_small": 1_000, "rss_big": 10_000, "workers": 400, "worker_runs": 8},
    "quick": {"throughput": 120, "rounds": 1, "scale_small": 1_000, "scale_big": 10_000,
              "scale_probe": 256, "rss_small": 60, "rss_big": 600, "workers": 48, "worker_runs": 4},
}
QUERY_SINCE = dt.date(2022, 7, 1)  # the generator dates articles 2021-01-01 .. 2022-12-31
#: Steady dates (the default): stored articles arrive at this many a day, the oldest first, as
#: on a monitor that has been running (100k articles fill the generator's two years), and fresh
#: articles are the next ones. Uniform dates (`--dates uniform`): every article on a random day
#: of the two years, so a bigger database means more news on each day.
PER_DAY = 137


# ---------------------------------------------------------------------------------------------
# helpers shared by the workers


def _settings(database_url: str) -> Any:
    """Point the settings of this process at `database_url` and return them."""
    from newswatch.pipeline.settings import get_settings

    os.environ["NEWSWATCH_DATABASE_URL"] = database_url
    return get_settings()


def _nlp(settings: Any) -> Any:
    """Build the spaCy pipeline the flow builds (each flow run builds its own, about a second)."""
    from newswatch.pipeline.analysis import load_nlp

    return load_nlp(settings.spacy_model, str(settings.actors), str(settings.triggers))


def _raw_nlp(settings: Any) -> Any:
    """The flow's spaCy pipeline with a last component that empties `doc.user_data`.

    The raw figure is the model and newswatch's components run by `nlp.pipe`, which is what
    the flow runs them for; with `n_process` > 1 spaCy sends each Doc back whole, and its
    extension values (actors, events: dataclasses) are not msgpack values. Emptying them
    after the components ran leaves the work the same and sends back only the Doc.
    """
    from spacy.language import Language

    if "newswatch_bench_drop_user_data" not in Language.factories:
        @Language.component("newswatch_bench_drop_user_data")
        def _drop(doc: Any) -> Any:
            doc.user_data.clear()
            return doc

    nlp = _nlp(settings)
    nlp.add_pipe("newswatch_bench_drop_user_data", last=True)
    return nlp


def _n_process(settings: Any) -> int:
    return int(getattr(settings, "nlp_processes", 1) or 1)


def _peak_rss_mb() -> dict[str, float]:
    import resource

    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return {"self": own, "children": children}


# ---------------------------------------------------------------------------------------------
# workers (each runs in its own process and prints one JSON line)


def _flow_and_texts(work: Path) -> tuple[list[str], Any, Any, list[str]]:
    """The article files under `work`, the settings, the raw pipeline (`_raw_nlp`) and the
    texts the flow gives the model (each article's headline and body), all warmed up:
    Prefect's temporary server, the migrations and the model's first batch."""
    from newswatch.flows import _steps
    from newswatch.flows.ingest import ingest

    paths = [str(p) for p in sorted((work / "articles").glob("*.txt"))]
    settings = _settings(f"sqlite:///{work / 'warmup.db'}")
    nlp = _raw_nlp(settings)
    articles, failures = _steps.load_articles(paths, settings, published=None, source=None)
    assert not failures, failures[:3]
    texts = [t for a in articles for t in (a.title, a.text)]
    ingest(inputs=paths[:2], published=dt.date(2022, 1, 3))
    list(nlp.pipe(texts[:16], batch_size=settings.batch_size))
    return paths, settings, nlp, texts


def worker_throughput(args: argparse.Namespace) -> dict[str, Any]:
    """Time the ingest flow and raw `nlp.pipe` over the same article files, alternating."""
    from newswatch.flows.ingest import ingest

    work = Path(args.work)
    paths, settings, nlp, texts = _flow_and_texts(work)
    n_process = _n_process(settings)

    raw_times: list[float] = []
    model_times: list[float] = []
    flow_times: list[float] = []
    summary: Any = None
    own = [name for name in nlp.pipe_names if name.startswith("newswatch_")]
    for round_ in range(args.rounds):
        start = time.perf_counter()
        for _doc in nlp.pipe(texts, batch_size=settings.batch_size, n_process=n_process):
            pass
        raw_times.append(time.perf_counter() - start)

        # for reference only: the trained model without newswatch's actor and event components
        with nlp.select_pipes(disable=own):
            start = time.perf_counter()
            for _doc in nlp.pipe(texts, batch_size=settings.batch_size, n_process=n_process):
                pass
            model_times.append(time.perf_counter() - start)

        _settings(f"sqlite:///{work / f'flow{round_}.db'}")
        start = time.perf_counter()
        summary = ingest(inputs=paths, published=dt.date(2022, 1, 3))
        flow_times.append(time.perf_counter() - start)
    assert summary.articles_new + summary.articles_duplicate == len(paths), summary
    return {
        "n": len(paths), "n_process": n_process, "raw_s": raw_times, "model_only_s": model_times,
        "flow_s": flow_times,
        "duplicates": summary.articles_duplicate, "events_new": summary.events_new,
    }


def _store_all(generated: Any, nlp: Any, settings: Any, batch: int) -> int:
    """Store the generator's known extractions in batches; return how many were stored."""
    from newswatch.flows import _steps

    chunk: list[Any] = []
    stored = 0
    for item in generated:
        chunk.append(item.extraction)
        if len(chunk) == batch:
            stored += len(_steps.store(_tag_topics(nlp, chunk, settings), settings))
            chunk = []
    if chunk:
        stored += len(_steps.store(_tag_topics(nlp, chunk, settings), settings))
    return stored


#: Articles generated per chunk of the bulk loader; one transaction per chunk and table.
BULK_CHUNK = 5_000
#: Columns the bulk loader writes, table by table (the store step's rows, ids included where
#: other rows refer to them; the others take their database default).
BULK_COLUMNS = {
    "articles": ("id", "url", "canonical_url", "title", "byline", "source", "published", "text",
                 "text_hash", "signature", "shingle_count", "duplicate_of_id", "ingested_at"),
    "article_bands": ("bucket", "band", "article_id"),
    "article_actors": ("article_id", "code", "name", "type"),
    "events": ("id", "event_key", "type", "cameo", "source_code", "source_name", "target_code",
               "target_name", "content", "event_date", "first_seen", "article_id"),
    "mentions": ("event_id", "article_id", "sentence", "content", "start", "end", "recorded_at"),
    "topic_matches": ("event_id", "topic", "words"),
}


def _generate_rows(job: tuple[int, int, int, int | None]) -> list[Any]:
    """Generate articles `first`..`first+n` of a seed with what the store step derives from
    each (fingerprint, band keys, event keys): plain tuples, so a process pool can return them."""
    from generate import generate_articles
    from newswatch.pipeline.dedup import band_bucket, event_key, fingerprint

    first, n, seed, per_day = job
    out = []
    for generated in generate_articles(n, seed=seed, first=first, per_day=per_day):
        article, extraction = generated.article, generated.extraction
        fp = fingerprint(article)
        events = []
        for e in extraction.events:
            nato = "NATO" in e.content and ("membership" in e.content or "accession" in e.content)
            events.append((
                event_key(e, article.published), e.type.value, e.cameo,
                e.source.code if e.source else None, e.source.name if e.source else None,
                e.target.code if e.target else None, e.target.name if e.target else None,
                e.content, e.sentence, e.start, e.end, nato,
            ))
        out.append((
            (article.url, fp.canonical_url, article.title, article.byline, article.source,
             article.published, article.text, fp.text_hash, fp.signature_bytes() or None,
             fp.shingle_count),
            band_bucket(article.published), sorted(set(fp.bands)),
            [(a.code, a.name, a.type) for a in extraction.actors], events,
        ))
    return out


def _bulk_load(urls: str | list[str], first: int, n: int, seed: int, per_day: int | None = None,
               processes: int = 1) -> None:
    """Fill databases with the rows the store step writes for `n` generated articles, fast.

    Articles (with text hash, MinHash signature and LSH band keys from `pipeline.dedup`),
    actors, events (with the store step's event keys; the same key again is a mention of the
    stored event), mentions and topic matches. Topic matches are the generator's own: an event
    whose content asks about NATO membership or accession is tagged `nato-enlargement`
    (running the topic matcher over 1M articles would take longer than the benchmark).

    The schema is the migrations' own, indexes included, on every database (nothing is
    dropped and rebuilt). The rows are generated once (in `processes` processes) and written
    to each of `urls`: PostgreSQL with COPY, SQLite with executemany, one transaction per
    chunk of BULK_CHUNK articles. PostgreSQL's id sequences are moved past the loaded ids.
    """
    import multiprocessing

    from sqlalchemy import text

    from newswatch.db.session import make_engine

    engines = [make_engine(u) for u in ([urls] if isinstance(urls, str) else urls)]
    article_id = event_id = 0
    with engines[0].connect() as conn:
        article_id = conn.scalar(text("SELECT coalesce(max(id), 0) FROM articles")) or 0
        event_id = conn.scalar(text("SELECT coalesce(max(id), 0) FROM events")) or 0
    now = dt.datetime.now(dt.timezone.utc)
    known_keys: dict[str, int] = {}
    jobs = [(offset, min(BULK_CHUNK, first + n - offset), seed, per_day)
            for offset in range(first, first + n, BULK_CHUNK)]
    pool = multiprocessing.get_context("spawn").Pool(processes) if processes > 1 else None
    chunks = pool.imap(_generate_rows, jobs) if pool else map(_generate_rows, jobs)
    try:
        for generated in chunks:
            rows: dict[str, list[tuple[Any, ...]]] = {k: [] for k in BULK_COLUMNS}
            for article, bucket, bands, actors, events in generated:
                article_id += 1
                rows["articles"].append((article_id, *article, None, now))
                rows["article_bands"].extend((bucket, b, article_id) for b in bands)
                rows["article_actors"].extend((article_id, *a) for a in actors)
                published = article[5]
                for key, *fields, sentence, start, end, nato in events:
                    content = fields[6]
                    if key in known_keys:  # the same event again: the store step adds a mention
                        rows["mentions"].append((known_keys[key], article_id, sentence, content, start, end, now))
                        continue
                    event_id += 1
                    known_keys[key] = event_id
                    rows["events"].append((event_id, key, *fields, published, now, article_id))
                    rows["mentions"].append((event_id, article_id, sentence, content, start, end, now))
                    if nato:
                        rows["topic_matches"].append((event_id, "nato-enlargement", '["NATO", "membership"]'))
            for engine in engines:
                _write_rows(engine, rows)
    finally:
        if pool:
            pool.close()
    for engine in engines:
        if engine.dialect.name == "postgresql":
            with engine.begin() as conn:
                for table in ("articles", "article_actors", "events", "mentions", "topic_matches"):
                    conn.execute(text(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                                      f"(SELECT coalesce(max(id), 0) + 1 FROM {table}), false)"))
        engine.dispose()


def _write_rows(engine: Any, rows: dict[str, list[tuple[Any, ...]]]) -> None:
    """Write one chunk's rows in one transaction: COPY on PostgreSQL, executemany on SQLite."""
    raw = engine.raw_connection()
    try:
        cur = raw.cursor()
        for table, columns in BULK_COLUMNS.items():
            if not rows[table]:
                continue
            names = ", ".join(f'"{c}"' for c in columns)
            if engine.dialect.name == "postgresql":
                with cur.copy(f"COPY {table} ({names}) FROM STDIN") as copy:
                    for row in rows[table]:
                        copy.write_row(row)
            else:
                marks = ", ".join("?" for _ in columns)
                cur.executemany(f"INSERT INTO {table} ({names}) VALUES ({marks})", rows[table])
        raw.commit()
    finally:
        raw.close()


def _tag_topics(nlp: Any, extractions: list[Any], settings: Any) -> list[Any]:
    """Tag the generator's extractions with their topics, as the flow's extract step does.

    The store step only persists the matches it is given, so tagging (NLP) happens before it
    and stays outside a store measurement.
    """
    from newswatch.pipeline import analysis
    from newswatch.pipeline.topics import tag_topics

    return tag_topics(nlp, analysis.read_topics(settings), [(x, ()) for x in extractions])


#: Where the PostgreSQL scale databases are created (`NEWSWATCH_BENCH_PG`: a server URL whose
#: user may create databases); each gets a `nw_scale_` name of its own.
PG_ADMIN_URL = os.environ.get("NEWSWATCH_BENCH_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")


def _pg_admin(sql: str) -> None:
    """Run one statement (CREATE/DROP DATABASE) on the benchmark's PostgreSQL server."""
    import psycopg

    with psycopg.connect(PG_ADMIN_URL.replace("postgresql+psycopg", "postgresql"), autocommit=True) as conn:
        conn.execute(sql)


def _pg_version() -> int:
    import psycopg

    with psycopg.connect(PG_ADMIN_URL.replace("postgresql+psycopg", "postgresql")) as conn:
        return int(conn.info.server_version)


def _pg_url(name: str) -> str:
    return PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"


def _pg_exists(name: str) -> bool:
    import psycopg

    with psycopg.connect(PG_ADMIN_URL.replace("postgresql+psycopg", "postgresql")) as conn:
        return conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone() is not None


def _fresh_database(backend: str, work: Path, name: str) -> str:
    """Create an empty database `name` (dropping any earlier one) and return its URL."""
    if backend == "sqlite":
        path = work / f"{name}.db"
        path.unlink(missing_ok=True)
        return f"sqlite:///{path}"
    _pg_admin(f"DROP DATABASE IF EXISTS nw_scale_{name} WITH (FORCE)")
    _pg_admin(f"CREATE DATABASE nw_scale_{name}")
    return _pg_url(f"nw_scale_{name}")


def _analyze(url: str) -> None:
    """Collect planner statistics (PostgreSQL's autovacuum does this by itself after a load)."""
    from sqlalchemy import text

    from newswatch.db.session import make_engine

    engine = make_engine(url)
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("ANALYZE"))
    engine.dispose()


def _loaded_database(backend: str, work: Path, name: str, size: int, per_day: int | None,
                     cache: Path | None, processes: int) -> tuple[str, float, bool]:
    """A database holding the first `size` generated articles: (URL, load seconds, from cache).

    With a cache (`--cache DIR`), the loaded database is kept there as a template (a SQLite
    file, a PostgreSQL database `nw_scale_tpl_...`) and each run measures a fresh copy of it,
    so a 1M load is paid once.
    """
    from newswatch.db.migrate import upgrade

    dates = f"d{per_day}" if per_day else "uniform"
    start = time.perf_counter()
    if cache is None:
        url = _fresh_database(backend, work, name)
        upgrade(url)
        _bulk_load(url, 0, size, seed=11, per_day=per_day, processes=processes)
        if backend == "postgresql":
            _analyze(url)
        return url, time.perf_counter() - start, False
    tpl = f"scale_{size}_{dates}"
    found = (cache / f"{tpl}.db").exists() if backend == "sqlite" else _pg_exists(f"nw_scale_tpl_{tpl}")
    if not found:
        _fill_template(backend, cache, tpl, size, per_day, processes)
    loaded = time.perf_counter() - start
    if backend == "sqlite":
        target = work / f"{name}.db"
        shutil.copyfile(cache / f"{tpl}.db", target)
        # on disk before the clock starts: otherwise the first checkpoint's fsync waits for
        # the copy's 10 GB of dirty pages (one batch of 64 took 1.1 s at 1M)
        with open(target, "rb+") as copied:
            os.fsync(copied.fileno())
        return f"sqlite:///{target}", loaded, found
    _pg_admin(f"DROP DATABASE IF EXISTS nw_scale_{name} WITH (FORCE)")
    # FILE_COPY (PostgreSQL 15+): copy the files after a checkpoint instead of writing the
    # template's 10 GB through the WAL (15's default), minutes faster and no WAL to replay
    strategy = " STRATEGY FILE_COPY" if _pg_version() >= 150000 else ""
    _pg_admin(f"CREATE DATABASE nw_scale_{name} TEMPLATE nw_scale_tpl_{tpl}{strategy}")
    return _pg_url(f"nw_scale_{name}"), loaded, found


def _fill_template(backend: str, cache: Path, tpl: str, size: int, per_day: int | None,
                   processes: int) -> None:
    """Load a cached template under a temporary name; rename it when complete."""
    from newswatch.db.migrate import upgrade

    cache.mkdir(parents=True, exist_ok=True)
    if backend == "sqlite":
        part = cache / f"{tpl}.loading.db"
        part.unlink(missing_ok=True)
        upgrade(f"sqlite:///{part}")
        _bulk_load(f"sqlite:///{part}", 0, size, seed=11, per_day=per_day, processes=processes)
        part.rename(cache / f"{tpl}.db")
        return
    _pg_admin(f"DROP DATABASE IF EXISTS nw_scale_load_{tpl} WITH (FORCE)")
    _pg_admin(f"CREATE DATABASE nw_scale_load_{tpl}")
    url = _pg_url(f"nw_scale_load_{tpl}")
    upgrade(url)
    _bulk_load(url, 0, size, seed=11, per_day=per_day, processes=processes)
    _analyze(url)
    _pg_admin(f"ALTER DATABASE nw_scale_load_{tpl} RENAME TO nw_scale_tpl_{tpl}")


def worker_scale(args: argparse.Namespace) -> dict[str, Any]:
    """Store fresh articles on a small and a big database, batches alternating; then query."""
    from newswatch.db.migrate import upgrade
    from newswatch.db.queries import EventFilters, list_events
    from newswatch.db.session import make_engine, open_session
    from newswatch.flows import _steps
    from newswatch.pipeline import analysis
    from generate import generate_articles

    work = Path(args.work)
    backend = args.backend
    cache = Path(args.cache) if args.cache else None
    per_day = args.per_day or None
    load_s = {}
    # Both databases hold the same first `small` articles; the big one continues the stream.
    small_url, load_s["small"], _ = _loaded_database(backend, work, "small", args.small, per_day, None, 1)
    big_url, load_s["big"], cached = _loaded_database(backend, work, "big", args.big, per_day, cache,
                                                      args.load_processes)
    upgrade(big_url)  # a template loaded before a newer migration gets it now, as a deployment would
    settings = _settings(small_url)
    nlp = _nlp(settings)
    batch = settings.batch_size

    # Fresh articles for each database: with steady dates, the ones that come next (dated after
    # everything stored); with uniform dates, any day of the two years.
    small_probes = list(generate_articles(args.probe, seed=12, first=args.small, per_day=per_day))
    big_probes = list(generate_articles(args.probe, seed=13, first=args.big, per_day=per_day))
    # Warm up on a scratch database: first-use imports (datasketch) and compiled statements.
    warmup = list(generate_articles(batch, seed=14, per_day=per_day))
    settings = _settings(_fresh_database(backend, work, "warmup"))
    upgrade(settings.database_url)
    _steps.store(_tag_topics(nlp, [g.extraction for g in warmup], settings), settings)
    small_ms: list[float] = []
    big_ms: list[float] = []
    # one engine per database for the whole measurement, as a flow run holds one
    engines = {url: make_engine(url) for url in (small_url, big_url)}
    topics = analysis.read_topics(settings)
    for i in range(0, args.probe, batch):
        for url, probe, out in ((small_url, small_probes, small_ms), (big_url, big_probes, big_ms)):
            chunk = [g.extraction for g in probe[i:i + batch]]
            settings = _settings(url)
            chunk = _tag_topics(nlp, chunk, settings)  # NLP excluded: done before the clock starts
            start = time.perf_counter()
            _steps.store(chunk, settings, engines[url], topics)
            out.append((time.perf_counter() - start) * 1000 / len(chunk))
    for engine in engines.values():
        engine.dispose()

    settings = _settings(big_url)
    filters = EventFilters(actor="RUS", topic="nato-enlargement", since=QUERY_SINCE)
    query_ms: list[float] = []
    found = 0
    for _ in range(15):
        start = time.perf_counter()
        with open_session(big_url) as session:
            found = len(list_events(session, filters))
        query_ms.append((time.perf_counter() - start) * 1000)
    with open_session(big_url) as session:
        from sqlalchemy import text

        from newswatch.db.queries import is_common_topic, select_events

        counts = {t: session.scalar(text(f"SELECT count(*) FROM {t}"))
                  for t in ("articles", "events", "mentions", "topic_matches")}
        compiled = select_events(filters, common_topic=is_common_topic(session, filters)).compile(
            session.get_bind(), compile_kwargs={"literal_binds": True})
        explain = "EXPLAIN" if backend == "postgresql" else "EXPLAIN QUERY PLAN"
        plan = [" ".join(str(c) for c in row[-1:]) for row in session.execute(text(f"{explain} {compiled}"))]
    if backend == "postgresql":
        for name in ("small", "big", "warmup"):
            _pg_admin(f"DROP DATABASE IF EXISTS nw_scale_{name} WITH (FORCE)")
    return {
        "backend": backend, "small": args.small, "big": args.big, "probe": args.probe,
        "dates": "steady" if per_day else "uniform", "per_day": per_day,
        "load_s_small": load_s["small"], "load_s_big": load_s["big"], "big_from_cache": cached,
        "small_ms": small_ms, "big_ms": big_ms, "query_ms": query_ms, "query_rows": found,
        "mean_ms_small": statistics.mean(small_ms), "mean_ms_big": statistics.mean(big_ms),
        "big_counts": counts, "query_plan": plan, "load_avg": os.getloadavg()[0],
    }


def _descendants(pid: int) -> list[int]:
    """The processes below `pid` now (its children, theirs, ...), from /proc."""
    parents: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                fields = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            parents.setdefault(int(fields[1]), []).append(int(entry))
    found, todo = [], [pid]
    while todo:
        kids = parents.get(todo.pop(), [])
        found += kids
        todo += kids
    return found


class _ChildPeaks:
    """Each descendant's own peak RSS (VmHWM), read every 0.2 s while they run.

    `RUSAGE_CHILDREN`'s ru_maxrss cannot say it: a child forked and exec'd from a process of
    500 MB reports 500 MB, what the parent had at the fork, whatever the new program uses, so
    the pool a second flow run starts counted the run's own memory again."""

    def __init__(self) -> None:
        self.peaks: dict[int, tuple[str, float]] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)

    def __enter__(self) -> _ChildPeaks:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _watch(self) -> None:
        while not self._stop.is_set():
            for pid in _descendants(os.getpid()):
                try:
                    status = Path(f"/proc/{pid}/status").read_text()
                    command = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()[:80]
                except OSError:
                    continue
                hwm = next((int(line.split()[1]) / 1024 for line in status.splitlines()
                            if line.startswith("VmHWM:")), 0.0)
                if hwm > self.peaks.get(pid, ("", 0.0))[1]:
                    self.peaks[pid] = (command, hwm)
            self._stop.wait(0.2)

    def largest(self) -> float:
        return max((mb for _, mb in self.peaks.values()), default=0.0)


def worker_ingest(args: argparse.Namespace) -> dict[str, Any]:
    """Ingest every article file in a folder with the flow; report peak memory: this
    process's own and its largest descendant's (`_ChildPeaks`)."""
    from newswatch.flows.ingest import ingest_all

    work = Path(args.work)
    paths = [str(p) for p in sorted((work / "articles").glob("*.txt"))]
    _settings(f"sqlite:///{work / 'rss.db'}")
    start = time.perf_counter()
    with _ChildPeaks() as children:
        summary = ingest_all(paths, published=dt.date(2022, 1, 3))
    elapsed = time.perf_counter() - start
    peaks = _peak_rss_mb()
    return {"n": len(paths), "s": elapsed, "articles_new": summary.articles_new,
            "peak_rss_mb": {"self": peaks["self"], "children": children.largest(),
                            "children_maxrss_incl_fork": peaks["children"]},
            "children": sorted(((round(mb, 1), cmd) for cmd, mb in children.peaks.values()), reverse=True)[:6]}


WORKERS = {"throughput": worker_throughput, "scale": worker_scale, "ingest": worker_ingest}


# ---------------------------------------------------------------------------------------------
# hostile input (issue 18): extraction cost per word on long articles, and peak memory of an
# ingest over the generated worst cases against one over ordinary articles

HOSTILE_TARGETS = {
    "extract_length_ratio": ("<=", 1.3),
    "rss_hostile_ratio": ("<=", 1.5),
}
TARGETS.update(HOSTILE_TARGETS)
#: words of the short and the long article timed by `extract_ms_per_1k_words`
EXTRACT_WORDS = (2_500, 40_000)


def _hostile_corpus() -> Any:
    sys.path.insert(0, str(REPO / "scripts"))
    import make_hostile_corpus

    return make_hostile_corpus


def worker_extract_length(args: argparse.Namespace) -> dict[str, Any]:
    """Time the real analysis (load_nlp + analyse_articles) of a short and a long article."""
    from newswatch.pipeline.clean import clean_article
    from newswatch.pipeline.extract import analyse_articles

    corpus = _hostile_corpus()
    settings = _settings(f"sqlite:///{Path(args.work) / 'unused.db'}")
    nlp = _nlp(settings)
    articles = {}
    for words in EXTRACT_WORDS:
        text = corpus.news_text(words, seed=words)
        articles[words] = clean_article(text, url=f"bench-{words}.txt", published=None, source=None)
    list(analyse_articles(nlp, [articles[EXTRACT_WORDS[0]]]))  # warm up
    ms: dict[int, list[float]] = {w: [] for w in EXTRACT_WORDS}
    for _ in range(args.rounds):
        for words in EXTRACT_WORDS:
            start = time.perf_counter()
            events = sum(len(x.events) for x, _ in analyse_articles(nlp, [articles[words]]))
            elapsed = time.perf_counter() - start
            real_words = len(articles[words].text.split())
            ms[words].append(elapsed * 1000 / (real_words / 1000))
    return {"ms_per_1k_words": {str(w): v for w, v in ms.items()}, "events_long": events,
            "chars": {str(w): len(a.text) for w, a in articles.items()}}


def _ingest_peak(paths: list[str], work: Path, name: str) -> dict[str, float]:
    """Run `newswatch ingest PATHS` in a subprocess; return its wall time and peak RSS (wait4)."""
    env = _env(work)
    env["NEWSWATCH_DATABASE_URL"] = f"sqlite:///{work / (name + '.db')}"
    # the model in the command's own process for both corpora: the few worst cases are too
    # small a batch for model processes and the 100 ordinary articles are not, and the ratio
    # must compare one process holding the model with the same process
    env["NEWSWATCH_NLP_PROCESSES"] = "1"
    with open(work / f"{name}.out", "w") as out, open(work / f"{name}.err", "w") as err:
        start = time.perf_counter()
        # through a launcher exec'd afresh: a child forked from this process would count this
        # process's memory at the fork in its ru_maxrss (Linux keeps it over the exec)
        launcher = ("import resource, subprocess, sys; code = subprocess.call(sys.argv[1:]); "
                    "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss); sys.exit(code)")
        proc = subprocess.run([sys.executable, "-c", launcher, _newswatch(), "ingest", *paths,
                               "--published", "2021-12-17"],
                              cwd=work, env=env, stdout=subprocess.PIPE, stderr=err, text=True)
        elapsed = time.perf_counter() - start
        out.write(proc.stdout)
    code = proc.returncode
    peak_kb = int(proc.stdout.strip().splitlines()[-1])
    if code not in (0, 1):
        raise RuntimeError(f"ingest {name} failed ({code}):\n{(work / f'{name}.err').read_text()[-3000:]}")
    # with no PREFECT_API_URL the command's temporary server is a child too: the figure is the
    # largest single process
    return {"s": round(elapsed, 1), "peak_rss_mb": round(peak_kb / 1024, 1), "exit": code}


def measure_hostile(root: Path, quick: bool) -> dict[str, Any]:
    """Measure `extract_ms_per_1k_words` (2.5k and 40k words) and `peak_rss_mb_hostile`."""
    from generate import write_articles

    result: dict[str, Any] = {}
    work = root / "hostile"
    work.mkdir()
    _log(f"hostile: analysis of {EXTRACT_WORDS[0]} and {EXTRACT_WORDS[1]} words")
    e = _run_worker("extract_length", work, "--rounds", "1" if quick else "3")
    short, long_ = (min(e["ms_per_1k_words"][str(w)]) for w in EXTRACT_WORDS)
    result["extract_ms_per_1k_words_2500"] = round(short, 1)
    result["extract_ms_per_1k_words_40000"] = round(long_, 1)
    result["extract_length_ratio"] = round(long_ / short, 3)
    result["detail_extract_length"] = e
    _log("hostile: peak RSS of an ingest of the worst cases and of ordinary articles")
    worst = [str(p) for p in _hostile_corpus().write_large(work / "worst")]
    write_articles(work / "ordinary", 30 if quick else 100, seed=3)
    ordinary = [str(p) for p in sorted((work / "ordinary").glob("*.txt"))]
    hostile = _ingest_peak(worst, work, "hostile")
    plain = _ingest_peak(ordinary, work, "ordinary")
    result["peak_rss_mb_hostile"] = hostile["peak_rss_mb"]
    result["peak_rss_mb_ordinary"] = plain["peak_rss_mb"]
    result["rss_hostile_ratio"] = round(hostile["peak_rss_mb"] / plain["peak_rss_mb"], 3)
    result["detail_rss_hostile"] = {"hostile": hostile, "ordinary": plain, "n_ordinary": len(ordinary)}
    result["load_avg_hostile"] = round(os.getloadavg()[0], 2)
    return result


WORKERS["extract_length"] = worker_extract_length


# ---------------------------------------------------------------------------------------------
# all cores (issue 21): the ingest flow with one language-model process and with one per core;
# a backlog through one and then two Prefect process workers


def worker_cores(args: argparse.Namespace) -> dict[str, Any]:
    """Time the ingest flow and raw `nlp.pipe` with one process and with `--processes`, alternating."""
    from newswatch.flows.ingest import ingest

    work = Path(args.work)
    paths, settings, nlp, texts = _flow_and_texts(work)
    counts = (1, args.processes)
    raw: dict[int, list[float]] = {n: [] for n in counts}
    flow: dict[int, list[float]] = {n: [] for n in counts}
    events: dict[int, int] = {}
    for round_ in range(args.rounds):
        for n in counts:
            start = time.perf_counter()
            for _doc in nlp.pipe(texts, batch_size=settings.batch_size, n_process=n):
                pass
            raw[n].append(time.perf_counter() - start)
            os.environ["NEWSWATCH_NLP_PROCESSES"] = str(n)
            _settings(f"sqlite:///{work / f'flow{n}-{round_}.db'}")
            start = time.perf_counter()
            summary = ingest(inputs=paths, published=dt.date(2022, 1, 3))
            flow[n].append(time.perf_counter() - start)
            events[n] = summary.events_new
    os.environ.pop("NEWSWATCH_NLP_PROCESSES", None)
    assert events[1] == events[args.processes], events  # the same extraction either way
    return {"n": len(paths), "processes": args.processes, "raw_s": raw, "flow_s": flow, "events_new": events,
            "load_avg": os.getloadavg()[0]}


WORKERS["cores"] = worker_cores


def _prefect_server(work: Path, env: dict[str, str]) -> tuple[subprocess.Popen[bytes], str]:
    """Start `prefect server start` on a free port (its database under `work`); return it and its API URL."""
    import socket

    import httpx

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    api = f"http://127.0.0.1:{port}/api"
    log = open(work / "prefect-server.log", "w")
    server = subprocess.Popen([sys.executable, "-m", "prefect", "server", "start", "--host", "127.0.0.1",
                               "--port", str(port)], env=env, stdout=log, stderr=subprocess.STDOUT,
                              start_new_session=True)
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{api}/health", timeout=2).status_code == 200:
                return server, api
        except httpx.HTTPError:
            pass
        time.sleep(1)
    server.terminate()
    raise RuntimeError(f"the Prefect server did not start; see {log.name}")


def _backlog_done(api: str, ids: list[Any]) -> dict[str, int]:
    """Count the states of the backlog's flow runs."""
    import asyncio

    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId

    async def read() -> dict[str, int]:
        async with get_client() as client:
            runs = await client.read_flow_runs(flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=ids)))
            states: dict[str, int] = {}
            for run in runs:
                name = run.state.type.value if run.state else "NONE"
                states[name] = states.get(name, 0) + 1
            return states

    return asyncio.run(read())


def worker_workers(args: argparse.Namespace) -> dict[str, Any]:
    """Run a backlog through one and then two Prefect process workers into PostgreSQL.

    The backlog is split into `--runs` flow runs of the ingest deployment
    (`flows.deployments.deploy_ingest`) on a process work pool; the clock runs from starting
    the workers to the last run completed. Each worker runs one flow run at a time with one
    language-model process (`NEWSWATCH_NLP_PROCESSES=1`), as one machine of a scaled-out
    deployment would with its cores. Both databases must hold the same rows
    (`tests._faults.snapshot`, with what depends on which worker stored first left out).
    """
    sys.path.insert(0, str(REPO))
    from tests._faults import snapshot

    from newswatch.db.migrate import upgrade

    work = Path(args.work)
    paths = [str(p) for p in sorted((work / "articles").glob("*.txt"))]
    env = _env(work)
    server, api = _prefect_server(work, env)
    env["PREFECT_API_URL"] = api
    os.environ["PREFECT_API_URL"] = api
    env["PREFECT_WORKER_QUERY_SECONDS"] = "1"
    env["PREFECT_WORKER_PREFETCH_SECONDS"] = "1"
    seconds: dict[int, float] = {}
    snaps: dict[int, Any] = {}
    states: dict[int, dict[str, int]] = {}
    try:
        subprocess.run([sys.executable, "-m", "prefect", "work-pool", "create", "nw-bench", "--type", "process"],
                       env=env, check=True, capture_output=True)
        from newswatch.flows.deployments import deploy_ingest
        from prefect.deployments import run_deployment

        name = deploy_ingest("nw-bench", str(REPO))
        part = -(-len(paths) // args.runs)
        for count in (1, 2):
            url = _fresh_database("postgresql", work, f"workers{count}")
            upgrade(url)
            runs = [run_deployment(name, parameters={"inputs": paths[i:i + part], "published": "2022-01-03"},
                                   timeout=0) for i in range(0, len(paths), part)]
            ids = [r.id for r in runs]
            wenv = dict(env, NEWSWATCH_DATABASE_URL=url, NEWSWATCH_NLP_PROCESSES="1")
            start = time.perf_counter()
            workers = [subprocess.Popen([sys.executable, "-m", "prefect", "worker", "start", "--pool", "nw-bench",
                                         "--limit", "1", "--name", f"bench-{count}-{k}"],
                                        env=wenv, stdout=open(work / f"worker{count}-{k}.log", "w"),
                                        stderr=subprocess.STDOUT, start_new_session=True) for k in range(count)]
            try:
                while True:
                    states[count] = _backlog_done(api, ids)
                    finished = sum(v for k, v in states[count].items() if k in ("COMPLETED", "FAILED", "CRASHED", "CANCELLED"))
                    if finished == len(ids):
                        break
                    if time.perf_counter() - start > 3600:
                        raise RuntimeError(f"backlog not done in an hour: {states[count]}")
                    time.sleep(0.5)
                seconds[count] = time.perf_counter() - start
            finally:
                _stop_sessions(workers)
            snap = snapshot(url, order_free=True)
            snap["alerts"] = sorted(a[:4] for a in snap["alerts"])
            snaps[count] = snap
    finally:
        server.terminate()
        server.wait(timeout=60)
    same = snaps[1] == snaps[2]
    for count in (1, 2):
        _pg_admin(f"DROP DATABASE IF EXISTS nw_scale_workers{count} WITH (FORCE)")
    return {"n": len(paths), "runs": args.runs, "s": seconds, "states": states, "same_rows": same,
            "rows": {k: len(v) for k, v in snaps[1].items()}, "load_avg": os.getloadavg()[0]}


def _stop_sessions(processes: list[subprocess.Popen[Any]]) -> None:
    """Stop processes started with `start_new_session` and whatever they started: SIGTERM to
    each session, SIGKILL to a session still there after a minute (a Prefect worker may wait
    on a flow-run process of its own)."""
    for process in processes:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
    for process in processes:
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=60)


WORKERS["workers"] = worker_workers


# ---------------------------------------------------------------------------------------------
# the driver


def _env(work: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.update({
        "PREFECT_HOME": str(work / "prefect"),
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PREFECT_LOGGING_LEVEL": "WARNING",
        # a loaded machine starts the temporary API server slowly
        "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "180",
        "PREFECT_LOGGING_TO_API_ENABLED": env.get("PREFECT_LOGGING_TO_API_ENABLED", "true"),
        "PYTHONPATH": str(REPO),
    })
    env.pop("NEWSWATCH_DATABASE_URL", None)
    return env


def _run_worker(name: str, work: Path, *extra: str) -> dict[str, Any]:
    cmd = [sys.executable, str(Path(__file__).resolve()), "--worker", name, "--work", str(work), *extra]
    out = subprocess.run(cmd, cwd=work, env=_env(work), capture_output=True, text=True)
    if out.returncode != 0:
        raise RuntimeError(f"worker {name} failed ({out.returncode}):\n{out.stderr[-4000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def _articles(work: Path, n: int, seed: int) -> Path:
    from generate import write_articles

    write_articles(work / "articles", n, seed=seed)
    return work


def _newswatch() -> str:
    found = shutil.which("newswatch", path=str(Path(sys.executable).parent))
    return found or "newswatch"


def _timed(cmd: list[str], work: Path, env: dict[str, str]) -> float:
    start = time.perf_counter()
    out = subprocess.run(cmd, cwd=work, env=env, capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    if out.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{out.stderr[-3000:]}")
    return elapsed


def _log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def _settings_default() -> Any:
    """The settings as a run on this machine reads them (NEWSWATCH_NLP_PROCESSES: the cores)."""
    from newswatch.pipeline.settings import get_settings

    return get_settings()


def _size_label(n: int) -> str:
    """Name a database size in a key: 1000 -> 1k, 100000 -> 100k, 1000000 -> 1m."""
    if n >= 1_000_000 and n % 1_000_000 == 0:
        return f"{n // 1_000_000}m"
    return f"{n // 1000}k" if n % 1000 == 0 else str(n)


def measure(quick: bool, only: set[str], dates: str = "steady", cache: Path | None = None,
            load_processes: int = 1) -> dict[str, Any]:
    sizes = SIZES["quick" if quick else "full"]
    result: dict[str, Any] = {
        "date": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "quick": quick,
        "n": {},
        "cpus": os.cpu_count(),
        "load_avg": {},  # 1-minute load average after each part: how busy the shared machine was
    }
    root = Path(tempfile.mkdtemp(prefix="newswatch-bench-"))
    try:
        if "throughput" in only:
            work = _articles(root / "throughput", sizes["throughput"], seed=1)
            _log(f"throughput: {sizes['throughput']} articles x {sizes['rounds']} rounds")
            t = _run_worker("throughput", work, "--rounds", str(sizes["rounds"]))
            raw = t["n"] / min(t["raw_s"])
            flow = t["n"] / min(t["flow_s"])
            result["n"]["throughput"] = t["n"]
            result["n"]["n_process"] = t["n_process"]
            result["pipeline_articles_per_s"] = round(flow, 2)
            result["raw_nlp_articles_per_s"] = round(raw, 2)
            result["throughput_ratio"] = round(flow / raw, 3)
            result["model_only_articles_per_s"] = round(t["n"] / min(t["model_only_s"]), 2)
            result["detail_throughput"] = t
            result["load_avg"]["throughput"] = round(os.getloadavg()[0], 2)
        for part, backend, suffix in (("scale", "sqlite", ""), ("scale_pg", "postgresql", "_pg")):
            if part not in only:
                continue
            work = root / part
            work.mkdir()
            _log(f"{part}: {sizes['scale_small']} vs {sizes['scale_big']} stored articles on {backend}")
            extra = ["--cache", str(cache)] if cache else []
            s = _run_worker("scale", work, "--small", str(sizes["scale_small"]),
                            "--big", str(sizes["scale_big"]), "--probe", str(sizes["scale_probe"]),
                            "--per-day", str(PER_DAY if dates == "steady" else 0),
                            "--backend", backend, "--load-processes", str(load_processes), *extra)
            small = statistics.median(s["small_ms"])
            big = statistics.median(s["big_ms"])
            small_label, big_label = _size_label(s["small"]), _size_label(s["big"])
            result["n"][part] = [s["small"], s["big"]]
            result["n"][f"{part}_probe"] = s["probe"]
            result["n"][f"{part}_dates"] = s["dates"]
            result[f"lookup_ms_{small_label}{suffix}"] = round(small, 3)
            result[f"lookup_ms_{big_label}{suffix}"] = round(big, 3)
            result[f"scale_ratio{suffix}"] = round(big / small, 3)
            result[f"query_ms_{big_label}{suffix}"] = round(statistics.median(s["query_ms"]), 2)
            result[f"detail_{part}"] = {k: v for k, v in s.items() if k not in ("small_ms", "big_ms")}
            result["load_avg"][part] = round(os.getloadavg()[0], 2)
        if "rss" in only:
            peaks = {}
            for key in ("rss_small", "rss_big"):
                work = _articles(root / key, sizes[key], seed=2)
                _log(f"rss: ingest of {sizes[key]} articles")
                r = _run_worker("ingest", work)
                peaks[key] = r["peak_rss_mb"]["self"] + r["peak_rss_mb"]["children"]
                result.setdefault("detail_rss", {})[key] = r
            result["n"]["rss"] = [sizes["rss_small"], sizes["rss_big"]]
            result["peak_rss_mb_1k"] = round(peaks["rss_small"], 1)
            result["peak_rss_mb_10k"] = round(peaks["rss_big"], 1)
            result["rss_ratio"] = round(peaks["rss_big"] / peaks["rss_small"], 3)
            result["load_avg"]["rss"] = round(os.getloadavg()[0], 2)
        if "cli" in only:
            work = root / "cli"
            work.mkdir()
            env = _env(work)
            env.pop("PREFECT_API_URL", None)  # the background server newswatch keeps itself
            env["NEWSWATCH_PREFECT_SERVER"] = "background"
            _log("cli: cold ingest of the seed, then a second one, then `newswatch events`")

            def ingest_seed(db: str) -> float:
                env["NEWSWATCH_DATABASE_URL"] = f"sqlite:///{work / db}"
                return _timed([_newswatch(), "ingest", str(SEED_ARTICLE), "--published",
                               "2021-12-17"], work, env)

            try:
                # cold: no server yet (a fresh PREFECT_HOME), a new database, models not cached
                result["ingest_one_cold_s"] = round(ingest_seed("cold.db"), 2)
                # the second command in a row: the background server is up; each run stores
                # the seed afresh into its own database, so the work is the same
                warm = [ingest_seed(f"warm{i}.db") for i in range(3)]
                result["ingest_one_s"] = round(statistics.median(warm), 2)
                result["detail_cli"] = {"ingest_one_s": [round(w, 2) for w in warm]}
                reads = [_timed([_newswatch(), "events"], work, env) for _ in range(5)]
                result["read_cli_s"] = round(statistics.median(reads), 3)
            finally:
                subprocess.run([_newswatch(), "server", "stop"], cwd=work, env=env,
                               capture_output=True)
            result["load_avg"]["cli"] = round(os.getloadavg()[0], 2)
        if "cores" in only:
            work = _articles(root / "cores", sizes["throughput"], seed=1)
            cores = _n_process(_settings_default())
            _log(f"cores: {sizes['throughput']} articles, 1 and {cores} processes x {sizes['rounds']} rounds")
            c = _run_worker("cores", work, "--rounds", str(sizes["rounds"]), "--processes", str(cores))
            one, all_ = (c["n"] / min(c["flow_s"][str(k)]) for k in (1, cores))
            raw_one, raw_all = (c["n"] / min(c["raw_s"][str(k)]) for k in (1, cores))
            result["n"]["cores"] = [c["n"], cores]
            result["flow_articles_per_s_1_process"] = round(one, 2)
            result["flow_articles_per_s_all_cores"] = round(all_, 2)
            result["core_scaling"] = round(all_ / one, 3)
            result["raw_core_scaling"] = round(raw_all / raw_one, 3)
            result["detail_cores"] = c
            result["load_avg"]["cores"] = round(os.getloadavg()[0], 2)
        if "workers" in only:
            work = _articles(root / "workers", sizes["workers"], seed=4)
            _log(f"workers: {sizes['workers']} articles in {sizes['worker_runs']} flow runs, 1 then 2 workers")
            w = _run_worker("workers", work, "--runs", str(sizes["worker_runs"]))
            result["n"]["workers"] = [w["n"], w["runs"]]
            result["backlog_s_1_worker"] = round(w["s"]["1"], 1)
            result["backlog_s_2_workers"] = round(w["s"]["2"], 1)
            result["worker_scaling"] = round(w["s"]["1"] / w["s"]["2"], 3)
            result["workers_same_rows"] = w["same_rows"]
            result["detail_workers"] = w
            result["load_avg"]["workers"] = round(os.getloadavg()[0], 2)
        if "hostile" in only:
            result.update(measure_hostile(root, quick))
    except Exception as exc:  # noqa: BLE001  (what was measured before the failure is kept)
        result["error"] = f"{type(exc).__name__}: {exc}"[-4000:]
    finally:
        shutil.rmtree(root, ignore_errors=True)
    result["targets_met"] = {
        key: (result[key] >= bound if op == ">=" else result[key] <= bound)
        for key, (op, bound) in TARGETS.items() if key in result
    }
    return result


def _table(result: dict[str, Any]) -> str:
    rows = [
        ("pipeline_articles_per_s", "ingest flow, articles/s"),
        ("raw_nlp_articles_per_s", "raw nlp.pipe, articles/s"),
        ("throughput_ratio", "throughput ratio (target >= 0.85)"),
        ("model_only_articles_per_s", "trained model alone (reference), articles/s"),
        ("flow_articles_per_s_1_process", "ingest flow, 1 model process, articles/s"),
        ("flow_articles_per_s_all_cores", "ingest flow, a process per core, articles/s"),
        ("core_scaling", "core scaling (target >= 1.6)"),
        ("raw_core_scaling", "raw nlp.pipe core scaling (reference)"),
        ("backlog_s_1_worker", "backlog through 1 Prefect worker, s"),
        ("backlog_s_2_workers", "backlog through 2 Prefect workers, s"),
        ("worker_scaling", "worker scaling (target >= 1.5)"),
        ("workers_same_rows", "two workers stored the rows of one"),
        ("lookup_ms_1k", "store ms/article, 1k stored"),
        ("lookup_ms_100k", "store ms/article, 100k stored"),
        ("scale_ratio", "scale ratio (target <= 1.3)"),
        ("peak_rss_mb_1k", "peak RSS MB, ingest 1k"),
        ("peak_rss_mb_10k", "peak RSS MB, ingest 10k"),
        ("rss_ratio", "RSS ratio (target <= 1.2)"),
        ("query_ms_100k", "events query ms, 100k (target <= 100)"),
        ("lookup_ms_1m", "store ms/article, 1M stored"),
        ("query_ms_1m", "events query ms, 1M (target <= 100)"),
        ("lookup_ms_1k_pg", "PostgreSQL: store ms/article, 1k stored"),
        ("lookup_ms_1m_pg", "PostgreSQL: store ms/article, 1M stored"),
        ("scale_ratio_pg", "PostgreSQL scale ratio (target <= 1.3)"),
        ("query_ms_1m_pg", "PostgreSQL: events query ms, 1M (target <= 100)"),
        ("read_cli_s", "`newswatch events` s (target <= 0.5)"),
        ("ingest_one_s", "`newswatch ingest` of the seed, server up, s (target <= 5)"),
        ("ingest_one_cold_s", "cold `newswatch ingest` of the seed, s (target <= 15)"),
        ("extract_ms_per_1k_words_2500", "analysis ms/1k words, 2.5k-word article"),
        ("extract_ms_per_1k_words_40000", "analysis ms/1k words, 40k-word article"),
        ("extract_length_ratio", "40k/2.5k ms per word (target <= 1.3)"),
        ("peak_rss_mb_hostile", "peak RSS MB, ingest of the worst cases"),
        ("peak_rss_mb_ordinary", "peak RSS MB, ingest of ordinary articles"),
        ("rss_hostile_ratio", "worst/ordinary RSS (target <= 1.5)"),
    ]
    lines = [f"newswatch benchmarks, {result['date']}, sizes {result['n']}"]
    for key, label in rows:
        if key in result:
            ok = result["targets_met"].get(key)
            mark = "" if ok is None else ("  ok" if ok else "  MISSED")
            lines.append(f"  {label:<42} {result[key]}{mark}")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description="newswatch benchmarks: ratios measured side by side")
    parser.add_argument("--quick", action="store_true", help="smaller sizes, same keys (~3 min)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--only", default="throughput,scale,rss,cli",
                        help="comma-separated subset of throughput,cores,scale,scale_pg,workers,rss,cli,hostile")
    parser.add_argument("--rss-sizes", help="override the two RSS sizes, e.g. 300,3000")
    parser.add_argument("--scale-sizes", help="override the two stored sizes, e.g. 1000,30000")
    parser.add_argument("--dates", choices=("steady", "uniform"), default="steady",
                        help="scale: stored articles dated as they arrive (steady) or at random")
    parser.add_argument("--cache", help="scale: keep the loaded big databases here (a SQLite file, a "
                        "PostgreSQL template database) and measure a copy of them on later runs")
    parser.add_argument("--load-processes", type=int, default=1,
                        help="scale: processes generating the bulk loader's rows (default 1)")
    parser.add_argument("--worker", choices=sorted(WORKERS), help=argparse.SUPPRESS)
    parser.add_argument("--backend", choices=("sqlite", "postgresql"), default="sqlite", help=argparse.SUPPRESS)
    parser.add_argument("--work", help=argparse.SUPPRESS)
    parser.add_argument("--rounds", type=int, default=1, help=argparse.SUPPRESS)
    parser.add_argument("--small", type=int, default=1000, help=argparse.SUPPRESS)
    parser.add_argument("--big", type=int, default=100_000, help=argparse.SUPPRESS)
    parser.add_argument("--probe", type=int, default=256, help=argparse.SUPPRESS)
    parser.add_argument("--per-day", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--processes", type=int, default=2, help=argparse.SUPPRESS)
    parser.add_argument("--runs", type=int, default=4, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(WORKERS[args.worker](args)))
        return
    if args.scale_sizes:
        small, big = (int(x) for x in args.scale_sizes.split(","))
        SIZES["quick" if args.quick else "full"].update(scale_small=small, scale_big=big)
    if args.rss_sizes:
        small, big = (int(x) for x in args.rss_sizes.split(","))
        SIZES["quick" if args.quick else "full"].update(rss_small=small, rss_big=big)
    result = measure(args.quick, set(args.only.split(",")), args.dates,
                     Path(args.cache).resolve() if args.cache else None, args.load_processes)
    print(json.dumps(result) if args.json else _table(result))
    if "error" in result:  # printed with the figures measured before it
        sys.exit(f"benchmark failed: {result['error']}")


if __name__ == "__main__":
    main()
