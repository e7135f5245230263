"""Helpers for the fault, hostile-input and scale-out tests.

- `write_articles`: a small corpus (distinct stories, a syndicated copy, a follow-up that repeats
  an event, stories on NATO enlargement so alerts are raised);
- `Webhook`: a real HTTP channel on 127.0.0.1 that records what Apprise's `json://` posts, and
  can be down (refusing connections) or hold a request open;
- `run_ingest` / `start_ingest`: the real `newswatch ingest` command in a subprocess, talking to
  the test run's Prefect server (no 11 s temporary server per subprocess);
- `snapshot`: the whole database by natural keys (no ids, no timestamps), so two databases filled
  by different runs, or on SQLite and PostgreSQL, compare equal when they hold the same data.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator, Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

NEWSWATCH = str(Path(sys.executable).with_name("newswatch"))
PUBLISHED = "2021-12-17"
# A credential in every channel URL the tests use: it must never reach output or logs.
SECRET = "s3cr3t-T0KEN-never-printed"

# Headline, optional byline, one paragraph per line (SPEC.md text article format).
ARTICLES: dict[str, str] = {
    "01-taiwan.txt": """China demands U.S. halt arms sales to Taiwan
By Staff reporters
BEIJING — China on Friday demanded that the United States stop selling weapons to Taiwan, saying the sales threatened peace in the region.
Foreign Ministry spokesperson Wang Wenbin said Beijing would take firm measures to defend its sovereignty.
The U.S. State Department rejected the demand and said it would keep supporting Taiwan's self-defence.
""",
    "02-iran.txt": """Iran rejects European call to return to nuclear talks
TEHRAN — Iran on Friday rejected a call by France, Germany and Britain to return to the nuclear talks in Vienna without preconditions.
Foreign Minister Hossein Amirabdollahian said Tehran would not negotiate under pressure.
The European Union urged Iran to resume full cooperation with the UN nuclear watchdog.
""",
    "03-serbia.txt": """EU urges Serbia to align with sanctions on Moscow
BRUSSELS — The European Union on Friday urged Serbia to align its foreign policy with the bloc and impose sanctions on Russia.
Serbian President Aleksandar Vucic said Belgrade would not be pressured into a decision.
Diplomats said the talks on Serbia's accession would continue in the spring.
""",
    "04-armenia.txt": """Armenia accuses Azerbaijan of shelling border villages
YEREVAN — Armenia on Friday accused Azerbaijan of shelling villages along the border overnight.
Armenian Prime Minister Nikol Pashinyan called on Russia to honour its security commitments.
Azerbaijan denied the accusation and said its forces had only returned fire.
""",
    "05-ukraine-nato.txt": """Ukraine presses NATO allies for a clear membership timetable
By Staff and wire reports
KYIV — Ukraine's foreign minister Dmytro Kuleba on Friday urged NATO to give Kyiv a firm timetable for joining the alliance, saying vague promises only encourage Moscow.
NATO Secretary-General Jens Stoltenberg said the door to membership remained open.
The Kremlin warned that any step bringing Ukraine closer to the alliance would cross a red line.
""",
    "06-russia-nato.txt": """Russia demands NATO deny membership to Ukraine
By Associated Press
MOSCOW — Russia on Friday demanded that NATO deny membership to Ukraine and other former Soviet countries and roll back its deployments in Eastern Europe.
Deputy Foreign Minister Sergei Ryabkov said Moscow proposed that the United States start talks on the drafts in Geneva.
The United States rejected the demands and warned Russia of severe consequences if it attacked Ukraine.
""",
    # A syndicated copy of 06: another headline, the same body (a duplicate article).
    "07-russia-nato-syndicated.txt": """Moscow wants NATO to shut its door to Ukraine
By Associated Press
MOSCOW — Russia on Friday demanded that NATO deny membership to Ukraine and other former Soviet countries and roll back its deployments in Eastern Europe.
Deputy Foreign Minister Sergei Ryabkov said Moscow proposed that the United States start talks on the drafts in Geneva.
The United States rejected the demands and warned Russia of severe consequences if it attacked Ukraine.
""",
    # A follow-up that reports one of 06's events again among new text (an event merge).
    "08-turkey-sweden.txt": """Turkey tells Sweden to act on militants before it backs NATO bid
ANKARA — Turkish President Recep Tayyip Erdogan on Friday demanded that Sweden extradite dozens of people before Turkey ratifies Stockholm's application to join NATO.
Russia on Friday demanded that NATO deny membership to Ukraine and other former Soviet countries and roll back its deployments in Eastern Europe.
Swedish Prime Minister Ulf Kristersson said extradition decisions rested with Swedish courts.
""",
}


def write_articles(folder: Path, names: Sequence[str] | None = None) -> list[str]:
    """Write the corpus (or the named articles) into `folder`; return the paths in order."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for name in names or sorted(ARTICLES):
        path = folder / name
        path.write_text(ARTICLES[name], encoding="utf-8")
        paths.append(str(path))
    return paths


# ---------------------------------------------------------------------------------------------
# A notification channel on 127.0.0.1


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Webhook:
    """A JSON webhook on 127.0.0.1 (Apprise `json://127.0.0.1:PORT/hook`) that records posts.

    `start()`/`stop()` can be called repeatedly on the same port, so a channel can be down for
    one run (nothing listening: connection refused) and up for the next. With `hold` set, each
    request from the `hold_from`-th on waits (without answering, `arrived` set) until `release`
    is set: a delivery caught in flight.
    """

    def __init__(self, port: int | None = None) -> None:
        self.port = port or free_port()
        self.received: list[dict[str, Any]] = []
        self.hold = threading.Event()
        self.hold_from = 0  # with `hold` set, requests from this one on (counting from 0) are held
        self.requests = 0
        self.lock = threading.Lock()
        self.release = threading.Event()
        self.arrived = threading.Event()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"json://newswatch:{SECRET}@127.0.0.1:{self.port}/hook"

    def start(self) -> Webhook:
        hook = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server naming)
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with hook.lock:
                    index = hook.requests
                    hook.requests += 1
                if hook.hold.is_set() and index >= hook.hold_from:
                    hook.arrived.set()
                    hook.release.wait(60)
                    self.close_connection = True
                    return  # no answer: the sender never learns whether it arrived
                try:
                    hook.received.append(json.loads(body))
                except ValueError:
                    hook.received.append({"raw": body.decode("utf-8", "replace")})
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        ThreadingHTTPServer.allow_reuse_address = True
        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self.release.set()
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def messages(self) -> list[str]:
        """The delivered alerts, as `title | message` strings, in arrival order."""
        return [f"{r.get('title', '')} | {r.get('message', r.get('raw', ''))}" for r in self.received]


# ---------------------------------------------------------------------------------------------
# Running the real command in a subprocess


@pytest.fixture(scope="session")
def prefect_api_url(prefect_harness: None) -> str:
    """The API of the test run's Prefect server, for `newswatch ingest` subprocesses."""
    import prefect.settings

    return str(prefect.settings.PREFECT_API_URL.value())


def ingest_env(
    database_url: str, *, api_url: str | None, notify: str | None = None, batch_size: int = 3,
    **extra: str,
) -> dict[str, str]:
    """The environment of a `newswatch ingest` subprocess: settings plus the Prefect server."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("NEWSWATCH_")}
    env.pop("PREFECT_API_URL", None)
    env["NEWSWATCH_DATABASE_URL"] = database_url
    env["NEWSWATCH_BATCH_SIZE"] = str(batch_size)
    if notify:
        env["NEWSWATCH_NOTIFY"] = notify
    if api_url:
        env["PREFECT_API_URL"] = api_url
    else:  # no server of the test run: each command's own temporary one, left nothing behind
        env["NEWSWATCH_PREFECT_SERVER"] = "temporary"
    env.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
    env.update(extra)
    return env


def start_ingest(paths: Sequence[str], env: dict[str, str], *args: str) -> subprocess.Popen[str]:
    """Start `newswatch ingest PATHS --published 2021-12-17` in its own process group."""
    return subprocess.Popen(
        [NEWSWATCH, "ingest", *paths, "--published", PUBLISHED, *args],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        start_new_session=True,
    )


def run_ingest(
    paths: Sequence[str], env: dict[str, str], *args: str, timeout: float = 240
) -> subprocess.CompletedProcess[str]:
    """Run `newswatch ingest` to the end; return its exit code and output."""
    proc = start_ingest(paths, env, *args)
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        kill(proc)
        out, err = proc.communicate()
        raise AssertionError(f"ingest did not finish in {timeout} s:\n{out}\n{err}") from None
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


def kill(proc: subprocess.Popen[str]) -> None:
    """kill -9 the ingest and everything it started (its process group)."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(30)


def wait_for(predicate: Any, timeout: float, what: str, proc: subprocess.Popen[str] | None = None) -> None:
    """Poll `predicate` until it is true; fail naming `what` (with the ingest's output)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        if proc is not None and proc.poll() is not None:
            out, err = proc.communicate()
            raise AssertionError(f"ingest ended (exit {proc.returncode}) before {what}:\n{out}\n{err}")
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


# ---------------------------------------------------------------------------------------------
# Databases


def plain_engine(url: str) -> sa.Engine:
    """An engine of the test's own (no pool), for looking and locking."""
    if url.startswith("sqlite"):
        return sa.create_engine(url, connect_args={"timeout": 60}, poolclass=sa.pool.NullPool)
    return sa.create_engine(url, poolclass=sa.pool.NullPool)


@contextlib.contextmanager
def postgres_schema(server: str, application_name: str | None = None) -> Iterator[str]:
    """A fresh PostgreSQL schema; its URL tags connections with `application_name`."""
    import psycopg

    schema = f"t_{uuid.uuid4().hex[:12]}"
    plain = server.replace("postgresql+psycopg", "postgresql")
    with psycopg.connect(plain, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    sep = "&" if "?" in server else "?"
    url = f"{server}{sep}options=-csearch_path%3D{schema}"
    if application_name:
        url += f"&application_name={application_name}"
    try:
        yield url
    finally:
        with psycopg.connect(plain, autocommit=True) as conn:
            conn.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE application_name = %s AND pid <> pg_backend_pid()",
                (application_name or "-",),
            )
            conn.execute(f'DROP SCHEMA "{schema}" CASCADE')


def count(url: str, table: str) -> int:
    engine = plain_engine(url)
    try:
        with engine.connect() as conn:
            return int(conn.execute(sa.text(f"SELECT count(*) FROM {table}")).scalar_one())
    except sa.exc.OperationalError:
        return 0  # not migrated yet, or locked for a moment
    except sa.exc.ProgrammingError:
        return 0  # PostgreSQL: table not created yet
    finally:
        engine.dispose()


def snapshot(url: str, *, order_free: bool = False) -> dict[str, list[Any]]:
    """Return every stored fact by natural keys: no ids, no timestamps, no channel ports.

    Lists, not sets, so a duplicated row shows. With `order_free`, what legitimately depends
    on which of two concurrent workers stored first is left out: which copy of a duplicate
    pair is the original (kept as the pair) and which article created an event.
    """
    engine = plain_engine(url)
    q = sa.text
    try:
        with engine.connect() as conn:
            urls = dict(conn.execute(q("SELECT id, url FROM articles")).all())
            keys = dict(conn.execute(q("SELECT id, event_key FROM events")).all())
            articles = []
            groups: dict[str, set[str]] = {}
            for row in conn.execute(q(
                "SELECT url, canonical_url, title, byline, source, published, text, text_hash, "
                "duplicate_of_id FROM articles"
            )).mappings():
                original = urls.get(row["duplicate_of_id"])
                if order_free:
                    root = original or row["url"]
                    groups.setdefault(root, {root}).add(row["url"])
                    original = None
                articles.append((row["url"], row["canonical_url"], row["title"], row["byline"],
                                 row["source"], str(row["published"]), row["text"], row["text_hash"],
                                 original))
            events = [
                (r["event_key"], r["type"], r["cameo"], r["source_code"], r["source_name"],
                 r["target_code"], r["target_name"], r["content"], str(r["event_date"]),
                 None if order_free else urls[r["article_id"]])
                for r in conn.execute(q("SELECT * FROM events")).mappings()
            ]
            mentions = [
                (keys[r["event_id"]], urls[r["article_id"]], r["sentence"], r["content"],
                 r["start"], r["end"])
                for r in conn.execute(q("SELECT * FROM mentions")).mappings()
            ]
            actors = [
                (urls[r["article_id"]], r["code"], r["name"], r["type"])
                for r in conn.execute(q("SELECT * FROM article_actors")).mappings()
            ]
            topics = [
                (keys[r["event_id"]], r["topic"], json.dumps(r["words"]) if not isinstance(r["words"], str) else r["words"])
                for r in conn.execute(q("SELECT * FROM topic_matches")).mappings()
            ]
            alerts = [
                (keys[r["event_id"]], r["topic"], re.sub(r":\d+/", ":PORT/", r["channel"]),
                 r["status"], r["message"])
                for r in conn.execute(q("SELECT * FROM alerts")).mappings()
            ]
    finally:
        engine.dispose()
    result: dict[str, list[Any]] = {
        "articles": sorted(articles, key=repr),
        "actors": sorted(actors, key=repr),
        "events": sorted(events, key=repr),
        "mentions": sorted(mentions, key=repr),
        "topic_matches": sorted(topics, key=repr),
        "alerts": sorted(alerts, key=repr),
    }
    if order_free:
        result["duplicate_groups"] = sorted(sorted(g) for g in groups.values() if len(g) > 1)
    return result


def assert_same(actual: dict[str, list[Any]], expected: dict[str, list[Any]]) -> None:
    """Compare two snapshots table by table, naming the table and the rows that differ."""
    assert actual.keys() == expected.keys()
    for table in expected:
        missing = [r for r in expected[table] if r not in actual[table]]
        extra = [r for r in actual[table] if r not in expected[table]]
        assert actual[table] == expected[table], (
            f"{table}: {len(actual[table])} rows, expected {len(expected[table])}; "
            f"missing {missing[:3]}; unexpected {extra[:3]}"
        )
