"""Dedup lookup cost per article with SMALL vs BIG stored articles (SQLite).

    python benchmarks/dedup_lookup.py SMALL BIG PROBES WORKDIR

Fills two databases with the generator's articles (`run._bulk_load`: fingerprints, band keys,
events), then times, for PROBES fresh articles on each (alternating, first round discarded),
what the store step asks of dedup: duplicate candidates and their check, event candidates and
`match_events`. Prints JSON with the mean milliseconds, candidate counts and the big/small ratio.
"""

from __future__ import annotations

import json
import statistics
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE.parent), str(HERE)]

import run as bench  # noqa: E402
from generate import generate_articles  # noqa: E402

from db import store  # noqa: E402
from db.migrate import upgrade  # noqa: E402
from db.session import open_session  # noqa: E402
from pipeline.dedup import find_duplicates, fingerprint, match_events  # noqa: E402


def main() -> None:
    small, big, probe = (int(a) for a in sys.argv[1:4])
    work = Path(sys.argv[4])
    work.mkdir(parents=True, exist_ok=True)
    urls = {}
    for name, n in (("small", small), ("big", big)):
        path = work / f"{name}-{n}.db"
        url = f"sqlite:///{path}"
        if not path.exists():
            upgrade(url)
            start = time.perf_counter()
            bench._bulk_load(url, 0, n, seed=11)
            print(f"{name}: {n} articles loaded in {time.perf_counter() - start:.0f} s", file=sys.stderr)
        urls[name] = url
    probes = [g.extraction for g in generate_articles(probe, seed=12)]
    keys = ("articles_ms", "events_ms", "article_candidates", "event_candidates")
    found: dict[str, dict[str, list[float]]] = {name: {k: [] for k in keys} for name in urls}
    for round_ in range(3):
        for extraction in probes:
            for name, url in urls.items():
                article, events = extraction.article, extraction.events
                fp = fingerprint(article)
                with open_session(url) as session, session.begin():
                    t0 = time.perf_counter()
                    candidates = store.list_duplicate_candidates(session, fp)
                    find_duplicates(fp, candidates)
                    t1 = time.perf_counter()
                    known = store.list_event_candidates(session, events, article.published, window_days=2)
                    match_events(events, article.published, known)
                    t2 = time.perf_counter()
                if round_:  # the first round warms caches
                    row = found[name]
                    row["articles_ms"].append((t1 - t0) * 1000)
                    row["events_ms"].append((t2 - t1) * 1000)
                    row["article_candidates"].append(len(candidates))
                    row["event_candidates"].append(len(known))
    out: dict[str, object] = {"small": small, "big": big, "probes": probe}
    totals = {}
    for name, row in found.items():
        means = {k: round(statistics.mean(v), 3) for k, v in row.items()}
        totals[name] = means["articles_ms"] + means["events_ms"]
        out[name + "_stats"] = means
    out["ratio"] = round(totals["big"] / totals["small"], 3)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
