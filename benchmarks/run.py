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
import datetime as dt
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
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
    "read_cli_s": ("<=", 0.5),
    "ingest_one_s": ("<=", 5.0),
    "ingest_one_cold_s": ("<=", 15.0),
}
SIZES = {
    "full": {"throughput": 400, "rounds": 3, "scale_small": 1_000, "scale_big": 100_000,
             "scale_probe": 640, "rss_small": 1_000, "rss_big": 10_000},
    "quick": {"throughput": 120, "rounds": 1, "scale_small": 1_000, "scale_big": 10_000,
              "scale_probe": 256, "rss_small": 60, "rss_big": 600},
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
    from newswatch.flows._steps import load_nlp

    return load_nlp(settings.spacy_model, str(settings.actors), str(settings.triggers))


def _n_process(settings: Any) -> int:
    return int(getattr(settings, "nlp_processes", 1) or 1)


def _peak_rss_mb() -> dict[str, float]:
    import resource

    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return {"self": own, "children": children}


# ---------------------------------------------------------------------------------------------
# workers (each runs in its own process and prints one JSON line)


def worker_throughput(args: argparse.Namespace) -> dict[str, Any]:
    """Time the ingest flow and raw `nlp.pipe` over the same article files, alternating."""
    from newswatch.flows import _steps
    from newswatch.flows.ingest import ingest

    work = Path(args.work)
    paths = [str(p) for p in sorted((work / "articles").glob("*.txt"))]
    settings = _settings(f"sqlite:///{work / 'warmup.db'}")
    nlp = _nlp(settings)
    n_process = _n_process(settings)
    articles, failures = _steps.load_articles(paths, settings, published=None, source=None)
    assert not failures, failures[:3]
    # The texts the flow gives the model: each article's headline and its body.
    texts = [t for a in articles for t in (a.title, a.text)]
    # Warm up: Prefect's temporary server, the model's first batch, the migrations.
    ingest(inputs=paths[:2], published=dt.date(2022, 1, 3))
    list(nlp.pipe(texts[:16], batch_size=settings.batch_size))

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


def _bulk_load(url: str, first: int, n: int, seed: int, per_day: int | None = None) -> None:
    """Fill a database with the rows the store step writes for `n` generated articles, fast.

    Articles (with text hash, MinHash signature and LSH band keys from `pipeline.dedup`),
    actors, events (with the store step's event keys), mentions and topic matches, inserted
    with executemany in large transactions. Topic matches are the generator's own: an event
    whose content asks about NATO membership or accession is tagged `nato-enlargement`
    (running the topic matcher over 100k articles would take longer than the benchmark).
    """
    from sqlalchemy import func, insert, select

    from newswatch.db.models import (ArticleActorRow, ArticleBandRow, ArticleRow, EventRow, MentionRow,
                           TopicMatchRow)
    from newswatch.db.session import make_engine
    from generate import generate_articles
    from newswatch.pipeline.dedup import band_bucket, event_key, fingerprint

    engine = make_engine(url)
    with engine.connect() as conn:
        article_id = conn.scalar(select(func.coalesce(func.max(ArticleRow.id), 0)))
        event_id = conn.scalar(select(func.coalesce(func.max(EventRow.id), 0)))
    chunk = 2000
    known_keys: dict[str, int] = {}
    for offset in range(first, first + n, chunk):
        rows: dict[str, list[dict[str, Any]]] = {k: [] for k in
                                                 ("articles", "bands", "actors", "events", "mentions", "topics")}
        for generated in generate_articles(min(chunk, first + n - offset), seed=seed, first=offset,
                                           per_day=per_day):
            article = generated.article
            extraction = generated.extraction
            fp = fingerprint(article)
            article_id += 1
            rows["articles"].append({
                "id": article_id, "url": article.url, "canonical_url": fp.canonical_url,
                "title": article.title, "byline": article.byline, "source": article.source,
                "published": article.published, "text": article.text, "text_hash": fp.text_hash,
                "signature": fp.signature_bytes() or None, "shingle_count": fp.shingle_count,
                "duplicate_of_id": None,
            })
            bucket = band_bucket(article.published)
            rows["bands"].extend({"bucket": bucket, "band": b, "article_id": article_id}
                                 for b in sorted(set(fp.bands)))
            rows["actors"].extend({"article_id": article_id, "code": a.code, "name": a.name, "type": a.type}
                                  for a in extraction.actors)
            for event in extraction.events:
                key = event_key(event, article.published)
                if key in known_keys:  # the same event again: the store step adds a mention
                    rows["mentions"].append({
                        "event_id": known_keys[key], "article_id": article_id, "sentence": event.sentence,
                        "content": event.content, "start": event.start, "end": event.end,
                    })
                    continue
                event_id += 1
                known_keys[key] = event_id
                rows["events"].append({
                    "id": event_id, "event_key": key,
                    "type": event.type.value, "cameo": event.cameo,
                    "source_code": event.source.code if event.source else None,
                    "source_name": event.source.name if event.source else None,
                    "target_code": event.target.code if event.target else None,
                    "target_name": event.target.name if event.target else None,
                    "content": event.content, "event_date": article.published, "article_id": article_id,
                })
                rows["mentions"].append({
                    "event_id": event_id, "article_id": article_id, "sentence": event.sentence,
                    "content": event.content, "start": event.start, "end": event.end,
                })
                if "NATO" in event.content and ("membership" in event.content or "accession" in event.content):
                    rows["topics"].append({"event_id": event_id, "topic": "nato-enlargement",
                                           "words": ["NATO", "membership"]})
        with engine.begin() as conn:
            for key, table in (("articles", ArticleRow), ("bands", ArticleBandRow),
                               ("actors", ArticleActorRow), ("events", EventRow),
                               ("mentions", MentionRow), ("topics", TopicMatchRow)):
                if rows[key]:
                    conn.execute(insert(table), rows[key])
    engine.dispose()


def _tag_topics(nlp: Any, extractions: list[Any], settings: Any) -> list[Any]:
    """Tag the generator's extractions with their topics, as the flow's extract step does.

    The store step only persists the matches it is given, so tagging (NLP) happens before it
    and stays outside a store measurement.
    """
    from newswatch.flows import _steps
    from newswatch.pipeline.topics import tag_topics

    return tag_topics(nlp, _steps.read_topics(settings), [(x, ()) for x in extractions])


def worker_scale(args: argparse.Namespace) -> dict[str, Any]:
    """Store fresh articles on a small and a big database, batches alternating; then query."""
    from newswatch.db.migrate import upgrade
    from newswatch.db.queries import EventFilters, list_events
    from newswatch.db.session import make_engine, open_session
    from newswatch.flows import _steps
    from generate import generate_articles

    work = Path(args.work)
    small_url = f"sqlite:///{work / 'small.db'}"
    big_url = f"sqlite:///{work / 'big.db'}"
    settings = _settings(small_url)
    nlp = _nlp(settings)
    batch = settings.batch_size
    per_day = args.per_day or None
    load_s = {}
    for url, size in ((small_url, args.small), (big_url, args.big)):
        settings = _settings(url)
        upgrade(url)
        start = time.perf_counter()
        # Both databases hold the same first `small` articles; the big one continues the stream.
        _bulk_load(url, 0, size, seed=11, per_day=per_day)
        load_s[url] = time.perf_counter() - start

    # Fresh articles for each database: with steady dates, the ones that come next (dated after
    # everything stored); with uniform dates, any day of the two years.
    small_probes = list(generate_articles(args.probe, seed=12, first=args.small, per_day=per_day))
    big_probes = list(generate_articles(args.probe, seed=13, first=args.big, per_day=per_day))
    # Warm up on a scratch database: first-use imports (datasketch) and compiled statements.
    warmup = list(generate_articles(batch, seed=14, per_day=per_day))
    settings = _settings(f"sqlite:///{work / 'warmup.db'}")
    upgrade(settings.database_url)
    _steps.store(_tag_topics(nlp, [g.extraction for g in warmup], settings), settings)
    small_ms: list[float] = []
    big_ms: list[float] = []
    # one engine per database for the whole measurement, as a flow run holds one
    engines = {url: make_engine(url) for url in (small_url, big_url)}
    topics = _steps.read_topics(settings)
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

        counts = {t: session.scalar(text(f"SELECT count(*) FROM {t}"))
                  for t in ("articles", "events", "mentions", "topic_matches")}
    return {
        "small": args.small, "big": args.big, "probe": args.probe,
        "dates": "steady" if per_day else "uniform", "per_day": per_day,
        "load_s_small": load_s[small_url], "load_s_big": load_s[big_url],
        "small_ms": small_ms, "big_ms": big_ms, "query_ms": query_ms, "query_rows": found,
        "mean_ms_small": statistics.mean(small_ms), "mean_ms_big": statistics.mean(big_ms),
        "big_counts": counts,
    }


def worker_ingest(args: argparse.Namespace) -> dict[str, Any]:
    """Ingest every article file in a folder with the flow; report peak memory."""
    from newswatch.flows.ingest import ingest_all

    work = Path(args.work)
    paths = [str(p) for p in sorted((work / "articles").glob("*.txt"))]
    _settings(f"sqlite:///{work / 'rss.db'}")
    start = time.perf_counter()
    summary = ingest_all(paths, published=dt.date(2022, 1, 3))
    elapsed = time.perf_counter() - start
    return {"n": len(paths), "s": elapsed, "articles_new": summary.articles_new,
            "peak_rss_mb": _peak_rss_mb()}


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


def measure(quick: bool, only: set[str], dates: str = "steady") -> dict[str, Any]:
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
        if "scale" in only:
            work = root / "scale"
            work.mkdir()
            _log(f"scale: {sizes['scale_small']} vs {sizes['scale_big']} stored articles")
            s = _run_worker("scale", work, "--small", str(sizes["scale_small"]),
                            "--big", str(sizes["scale_big"]), "--probe", str(sizes["scale_probe"]),
                            "--per-day", str(PER_DAY if dates == "steady" else 0))
            small = statistics.median(s["small_ms"])
            big = statistics.median(s["big_ms"])
            result["n"]["scale"] = [s["small"], s["big"]]
            result["n"]["scale_probe"] = s["probe"]
            result["n"]["scale_dates"] = s["dates"]
            result["lookup_ms_1k"] = round(small, 3)
            result["lookup_ms_100k"] = round(big, 3)
            result["scale_ratio"] = round(big / small, 3)
            result["query_ms_100k"] = round(statistics.median(s["query_ms"]), 2)
            result["detail_scale"] = {k: v for k, v in s.items() if k not in ("small_ms", "big_ms")}
            result["load_avg"]["scale"] = round(os.getloadavg()[0], 2)
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
        if "hostile" in only:
            result.update(measure_hostile(root, quick))
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
        ("lookup_ms_1k", "store ms/article, 1k stored"),
        ("lookup_ms_100k", "store ms/article, 100k stored"),
        ("scale_ratio", "scale ratio (target <= 1.3)"),
        ("peak_rss_mb_1k", "peak RSS MB, ingest 1k"),
        ("peak_rss_mb_10k", "peak RSS MB, ingest 10k"),
        ("rss_ratio", "RSS ratio (target <= 1.2)"),
        ("query_ms_100k", "events query ms, 100k (target <= 100)"),
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
                        help="comma-separated subset of throughput,scale,rss,cli,hostile")
    parser.add_argument("--rss-sizes", help="override the two RSS sizes, e.g. 300,3000")
    parser.add_argument("--scale-sizes", help="override the two stored sizes, e.g. 1000,30000")
    parser.add_argument("--dates", choices=("steady", "uniform"), default="steady",
                        help="scale: stored articles dated as they arrive (steady) or at random")
    parser.add_argument("--worker", choices=sorted(WORKERS), help=argparse.SUPPRESS)
    parser.add_argument("--work", help=argparse.SUPPRESS)
    parser.add_argument("--rounds", type=int, default=1, help=argparse.SUPPRESS)
    parser.add_argument("--small", type=int, default=1000, help=argparse.SUPPRESS)
    parser.add_argument("--big", type=int, default=100_000, help=argparse.SUPPRESS)
    parser.add_argument("--probe", type=int, default=256, help=argparse.SUPPRESS)
    parser.add_argument("--per-day", type=int, default=0, help=argparse.SUPPRESS)
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
    result = measure(args.quick, set(args.only.split(",")), args.dates)
    print(json.dumps(result) if args.json else _table(result))


if __name__ == "__main__":
    main()
