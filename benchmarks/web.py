"""Benchmark the web view: p95 time of its main pages and API routes over 100k stored articles.

    python benchmarks/web.py                      # SQLite, 100k articles (~450k events)
    python benchmarks/web.py --articles 10000     # smaller
    python benchmarks/web.py --db /tmp/big.db     # reuse (or keep) a filled SQLite file
    python benchmarks/web.py --postgres postgresql+psycopg://postgres@127.0.0.1:5432/test
    python benchmarks/web.py --json

The database is filled by `run.py`'s bulk loader (the rows the store step writes for the
generator's articles), plus one stored alert per topic match; then `newswatch web` itself is
started in a subprocess and each route is requested `--rounds` times, one request at a time
over one keep-alive connection, after three warm-up requests. Event and actor pages take a
different id or code each round. Reported: p50, p95 and max in ms per route, against the
issue's target of p95 <= 200 ms.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(HERE))

TARGET_MS = 200.0
#: (name, path) of the routes measured; {event} and {actor} change each round
ROUTES = [
    ("page: events", "/events"),
    ("page: events type", "/events?type=DEMAND"),
    ("page: events actor", "/events?actor={actor}"),
    ("page: events topic", "/events?topic=nato-enlargement"),
    ("page: events actor+topic+since", "/events?actor=RUS&topic=nato-enlargement&since=2022-07-01"),
    ("page: events search", "/events?search=ceasefire"),
    ("page: events page 20", "/events?offset=1000"),
    ("page: event", "/events/{event}"),
    ("page: actors", "/actors"),
    ("page: actor", "/actors/{actor}"),
    ("page: topics", "/topics"),
    ("page: alerts", "/alerts"),
    ("api: events", "/api/events"),
    ("api: events actor+type", "/api/events?actor={actor}&type=DEMAND"),
    ("api: event", "/api/events/{event}"),
    ("api: articles", "/api/articles"),
    ("api: actors", "/api/actors"),
    ("api: actor", "/api/actors/{actor}"),
    ("api: alerts", "/api/alerts"),
    ("feed: alerts", "/feeds/alerts.atom"),
    ("feed: topic", "/feeds/topics/nato-enlargement.atom"),
]


def _fill(url: str, articles: int) -> dict[str, int]:
    """Fill `url` with `articles` generated articles and their rows, plus alerts; return counts."""
    from sqlalchemy import text

    from newswatch.db.migrate import upgrade
    from newswatch.db.session import connect
    from run import PER_DAY, _bulk_load

    upgrade(url)
    with connect(url) as engine, engine.connect() as conn:
        stored = conn.execute(text("SELECT count(*) FROM articles")).scalar_one()
    if stored < articles:
        _bulk_load(url, stored, articles - stored, seed=11, per_day=PER_DAY)
    with connect(url) as engine, engine.begin() as conn:
        if not conn.execute(text("SELECT count(*) FROM alerts")).scalar_one():
            conn.execute(text(
                "INSERT INTO alerts (event_id, topic, channel, status, attempts, created_at, message) "
                "SELECT m.event_id, m.topic, '', 'stored', 0, e.first_seen, "
                "'[' || m.topic || '] ' || coalesce(e.source_code, '?') || ' -> ' || "
                "coalesce(e.target_code, '-') || ': ' || e.type || '\n\nContent: ' || e.content "
                "FROM topic_matches m JOIN events e ON e.id = m.event_id ORDER BY m.event_id"))
        return {t: conn.execute(text(f"SELECT count(*) FROM {t}")).scalar_one()
                for t in ("articles", "events", "mentions", "topic_matches", "alerts")}


def _sample(url: str, n: int) -> tuple[list[int], list[str]]:
    """Event ids and busy actor codes to request, drawn at random from what is stored."""
    from sqlalchemy import text

    from newswatch.db.session import connect

    with connect(url) as engine, engine.connect() as conn:
        top = conn.execute(text("SELECT max(id) FROM events")).scalar_one()
        codes = [c for (c,) in conn.execute(text(
            "SELECT source_code FROM events WHERE source_code IS NOT NULL GROUP BY source_code "
            "ORDER BY count(*) DESC LIMIT 30"))]
    rng = random.Random(7)
    return [rng.randint(1, top) for _ in range(n)], [rng.choice(codes) for _ in range(n)]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def measure(url: str, rounds: int) -> dict[str, Any]:
    """Start `newswatch web` on `url` and time every route; return per-route figures in ms."""
    import httpx

    events, actors = _sample(url, rounds + 3)
    port = _free_port()
    env = {**os.environ, "NEWSWATCH_DATABASE_URL": url, "PYTHONPATH": str(REPO)}
    server = subprocess.Popen([sys.executable, "-m", "newswatch", "web", "--port", str(port)],
                              env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    base = f"http://127.0.0.1:{port}"
    results: dict[str, Any] = {}
    try:
        with httpx.Client(base_url=base, timeout=60) as client:
            for _ in range(600):
                try:
                    client.get("/api/topics")
                    break
                except httpx.TransportError:
                    time.sleep(0.1)
            for name, pattern in ROUTES:
                times: list[float] = []
                for i in range(rounds + 3):
                    path = pattern.format(event=events[i], actor=actors[i])
                    start = time.perf_counter()
                    response = client.get(path)
                    elapsed = (time.perf_counter() - start) * 1000
                    if response.status_code != 200:
                        raise SystemExit(f"{path}: {response.status_code} {response.text[:200]}")
                    if i >= 3:
                        times.append(elapsed)
                times.sort()
                results[name] = {
                    "path": pattern, "p50_ms": round(statistics.median(times), 1),
                    "p95_ms": round(times[max(0, int(round(0.95 * len(times))) - 1)], 1),
                    "max_ms": round(times[-1], 1), "bytes": len(response.content),
                }
    finally:
        server.terminate()
        server.wait(timeout=30)
    return results


def _table(figures: dict[str, Any]) -> str:
    lines = [f"{'route':34} {'p50 ms':>8} {'p95 ms':>8} {'max ms':>8}  target p95 <= {TARGET_MS:.0f} ms"]
    for name, row in figures.items():
        verdict = "ok" if row["p95_ms"] <= TARGET_MS else "OVER"
        lines.append(f"{name:34} {row['p50_ms']:8.1f} {row['p95_ms']:8.1f} {row['max_ms']:8.1f}  {verdict}")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description="p95 time of the web view's routes over a big database")
    parser.add_argument("--articles", type=int, default=100_000, help="stored articles (~4.5 events each)")
    parser.add_argument("--rounds", type=int, default=40, help="timed requests per route")
    parser.add_argument("--db", help="a SQLite file to fill (or reuse when already filled); default a temp file")
    parser.add_argument("--postgres", help="also measure on this PostgreSQL server (a fresh schema, dropped after)")
    parser.add_argument("--skip-sqlite", action="store_true", help="measure PostgreSQL only")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()

    out: dict[str, Any] = {"articles": args.articles, "rounds": args.rounds, "target_p95_ms": TARGET_MS}
    if not args.skip_sqlite:
        with tempfile.TemporaryDirectory() as work:
            sqlite_url = f"sqlite:///{Path(args.db) if args.db else Path(work) / 'web.db'}"
            start = time.perf_counter()
            out["sqlite_counts"] = _fill(sqlite_url, args.articles)
            out["sqlite_fill_s"] = round(time.perf_counter() - start, 1)
            out["sqlite"] = measure(sqlite_url, args.rounds)
            out["sqlite_load_avg"] = os.getloadavg()[0]
    if args.postgres:
        import psycopg

        schema = f"bench_web_{uuid.uuid4().hex[:8]}"
        plain = args.postgres.replace("postgresql+psycopg", "postgresql")
        with psycopg.connect(plain, autocommit=True) as conn:
            conn.execute(f'CREATE SCHEMA "{schema}"')
        try:
            pg_url = f"{args.postgres}?options=-csearch_path%3D{schema}"
            start = time.perf_counter()
            out["postgres_counts"] = _fill(pg_url, args.articles)
            # what autovacuum does to tables after a bulk insert: statistics, and the visibility
            # map that lets index-only scans skip the table
            with psycopg.connect(plain, autocommit=True, options=f"-csearch_path={schema}") as conn:
                conn.execute("VACUUM ANALYZE")
            out["postgres_fill_s"] = round(time.perf_counter() - start, 1)
            out["postgres"] = measure(pg_url, args.rounds)
            out["postgres_load_avg"] = os.getloadavg()[0]
        finally:
            with psycopg.connect(plain, autocommit=True) as conn:
                conn.execute(f'DROP SCHEMA "{schema}" CASCADE')
    if args.json:
        print(json.dumps(out))
        return
    for backend in ("sqlite", "postgres"):
        if backend in out:
            print(f"\n{backend}: {out[f'{backend}_counts']}")
            print(_table(out[backend]))


if __name__ == "__main__":
    main()
