"""The `newswatch` command line: parses options, calls one flow or query, prints the result."""

from __future__ import annotations

import datetime as dt
import json
import os
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from enum import Enum
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer

from newswatch._json import alert_json, article_json, event_json, iso_time, topic_json
from newswatch._report import report_ingest
from newswatch.pipeline.errors import NewswatchError
from newswatch.pipeline.records import AHEAD_DAYS, EARLIEST_DATE, EventType, plausible_date
from newswatch.pipeline.settings import get_settings

app = typer.Typer(
    help="Watch the news for demands, rejections and threats; store them; alert on tracked topics.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)
db_app = typer.Typer(help="Manage the event database.", no_args_is_help=True)
app.add_typer(db_app, name="db")


def _print_version(value: bool) -> None:
    if value:
        from newswatch import __version__

        typer.echo(f"newswatch {__version__}")
        raise typer.Exit()


@app.callback()
def _main(
    version: Annotated[bool, typer.Option(
        "--version", callback=_print_version, is_eager=True, help="print the version and exit",
    )] = False,
) -> None:
    """Watch the news for demands, rejections and threats; store them; alert on tracked topics."""

F = TypeVar("F", bound=Callable[..., Any])


def _parse_date(value: str | None, *, publication: bool = False) -> dt.date | None:
    """A YYYY-MM-DD option; a publication date must also be one news can have."""
    if value is None:
        return None
    try:
        day = dt.date.fromisoformat(value)
    except ValueError:
        raise typer.BadParameter(f"{value!r} is not a date like 2021-12-17") from None
    if publication and plausible_date(day) is None:
        latest = dt.date.today() + dt.timedelta(days=AHEAD_DAYS)
        raise typer.BadParameter(
            f"{value} is not a publication date (between {EARLIEST_DATE} and {latest})"
        )
    return day


DateOption = Annotated[
    str | None, typer.Option(help="a date, YYYY-MM-DD", metavar="YYYY-MM-DD")
]
JsonOption = Annotated[bool, typer.Option("--json", help="print JSON lines instead of a table")]
#: More rows than any database holds; a bigger number is a typing mistake (and overflows SQLite).
MAX_LIMIT = 1_000_000_000
LimitOption = Annotated[int, typer.Option(min=1, max=MAX_LIMIT, help="show at most this many rows")]


def _exit_on_sigterm() -> None:
    """Make SIGTERM end the command the way Ctrl-C does: by unwinding, not by vanishing.

    By default SIGTERM kills the process at once, so exit handlers never run and the
    temporary Prefect server a run started is left behind. Raised as SystemExit, open
    transactions roll back and the server is stopped; a rerun completes the work.
    """
    import signal
    import threading

    def _terminate(signum: int, _frame: Any) -> None:
        raise SystemExit(128 + signum)

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _terminate)


@contextmanager
def _errors() -> Iterator[None]:
    """Turn a NewswatchError into `Error: <message>` on stderr and exit status 1."""
    try:
        yield
    except NewswatchError as exc:
        typer.echo(f"Error: {exc}", err=True)
        raise typer.Exit(1) from None


def _settings() -> Any:
    """The settings, or one line per bad value and exit status 1."""
    with _errors():
        return get_settings()


def _check_database(url: str) -> None:
    """Refuse a database a read command cannot read, without creating a SQLite file."""
    from newswatch.db.session import check_url, redact_url, sqlite_path

    check_url(url)
    path = sqlite_path(url)
    if path is not None and not path.exists():  # connecting would leave an empty file behind
        raise NewswatchError(
            f"no newswatch database at {redact_url(url)} ({path} does not exist). "
            "Run 'newswatch db upgrade' (or ingest something) first."
        )


@contextmanager
def _session() -> Iterator[Any]:
    """Open the configured database for one command; its engine is disposed when it ends."""
    from newswatch.db.session import connect, has_schema, open_session, redact_url

    url = _settings().database_url
    _check_database(url)
    with connect(url) as engine:
        if not has_schema(engine):
            raise NewswatchError(
                f"no newswatch database at {redact_url(url)}. "
                "Run 'newswatch db upgrade' (or ingest something) first."
            )
        with open_session(engine) as session:
            yield session


def _print_json(rows: list[dict[str, Any]]) -> None:
    out = sys.stdout
    for row in rows:
        out.write(json.dumps(row, ensure_ascii=False, default=str) + "\n")


_TEXT_COLUMNS = {"content", "alert", "message", "description", "title", "url", "last error", "actors",
                 "topics", "name"}


def _table(title: str, columns: list[str], rows: list[list[Any]]) -> None:
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    console = Console()
    if not console.is_terminal:  # piped or in a log: don't squeeze the table into 80 columns
        console = Console(width=160)
    table = Table(title=title, show_lines=False)
    for column in columns:
        if column in _TEXT_COLUMNS:  # long text takes the room that is left, wrapped
            table.add_column(column, overflow="fold", ratio=1, min_width=20)
        else:
            table.add_column(column, no_wrap=True)
    for row in rows:
        # Text cells are never parsed as Rich markup: "[UPDATE 2]" and "[/x]" in stored titles
        # and contents are shown as they were written
        table.add_row(*[Text("" if v is None else str(v)) for v in row])
    console.print(table)


# ---------------------------------------------------------------------------------------------
# ingest


@app.command()
def ingest(
    inputs: Annotated[
        list[str] | None, typer.Argument(help="article files (.txt, .html) or article URLs")
    ] = None,
    feed: Annotated[
        list[str] | None, typer.Option("--feed", help="an RSS/Atom feed URL or file (repeatable)")
    ] = None,
    published: DateOption = None,
    source: Annotated[str | None, typer.Option(help="the outlet's name, stored with each article")] = None,
    json_: Annotated[bool, typer.Option("--json", help="print the summary as one JSON object")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="print errors only, no summary")] = False,
    verbose: Annotated[
        bool, typer.Option("--verbose", "-v", help="show Prefect's own log lines (task runs, states)")
    ] = False,
) -> None:
    """Ingest articles and feeds once: extract events, store them, raise alerts.

    Exits 1 when any input failed; the others are still stored. Each failed input gets one
    `Error:` line as it happens; a run of many inputs shows a progress bar on a terminal.

    Example: newswatch ingest seeds/000_30228fdb78730024.txt --published 2021-12-17
    """
    if not inputs and not feed:
        raise typer.BadParameter("give at least one article path or URL, or --feed URL")
    day = _parse_date(published, publication=True)
    with _errors():
        from newswatch.db.session import check_reachable
        from newswatch.pipeline.preflight import check_data_files, check_inputs, check_models

        # Everything a run needs is checked now, before a Prefect server or a model starts:
        # settings, database, models, data files, and each input (the bad ones are reported and
        # the others still run).
        settings = get_settings()
        check_models(settings)
        check_data_files(settings)
        check_reachable(settings.database_url)
        checked = check_inputs(inputs or [], settings.fetch_max_bytes)
        for failure in checked.failures:
            typer.echo(f"Error: {failure}", err=True)
        if not checked.inputs and not feed:
            if json_:
                _print_json([_ingest_json(None, checked.failures)])
            else:
                typer.echo(f"articles: 0 new, 0 duplicate, 0 already stored, {len(checked.failures)} failed")
            raise typer.Exit(1)
        _exit_on_sigterm()
        # On a busy machine the temporary Prefect server can take longer than Prefect's 20 s.
        os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120")
        # No network beyond the feeds: don't let the local server try to phone home.
        os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
        with _prefect_api(settings), report_ingest(verbose=verbose, quiet=quiet,
                                                   inputs=len(checked.inputs)):
            from newswatch.flows.ingest import ingest_all

            # each failure is logged by the flow as it happens, and shown then (report_ingest)
            summary = ingest_all(list(checked.inputs), feed or [], published=day, source=source)
    if json_:
        _print_json([_ingest_json(summary, checked.failures)])
        if summary.failures or checked.failures:
            raise typer.Exit(1)
        return
    if quiet:
        if summary.failures or checked.failures:
            raise typer.Exit(1)
        return
    typer.echo(
        f"articles: {summary.articles_new} new, {summary.articles_duplicate} duplicate, "
        f"{summary.articles_known} already stored, "
        f"{summary.articles_failed + len(checked.failures)} failed\n"
        f"events:   {summary.events_new} new, {summary.events_merged} merged\n"
        f"alerts:   {summary.alerts_raised} raised, {summary.alerts_sent} sent, "
        f"{summary.alerts_failed} not delivered"
    )
    if summary.failures or checked.failures:
        raise typer.Exit(1)


@contextmanager
def _prefect_api(settings: Any) -> Iterator[None]:
    """Point this command at PREFECT_API_URL, or at the background local server (started on
    first use, then reused: a second ingest skips a 15-45 s server start).

    The command's flow run sends no heartbeats: it runs in this process, which reports its
    own end, and joining the heartbeat thread cost up to a second at the end of every ingest.
    """
    from prefect.settings import PREFECT_API_URL, PREFECT_FLOWS_HEARTBEAT_FREQUENCY, temporary_settings

    if os.environ.get("PREFECT_API_URL") or settings.prefect_server != "background":
        with temporary_settings(updates={PREFECT_FLOWS_HEARTBEAT_FREQUENCY: None}):
            yield
        return
    from newswatch.flows.server import ensure_server

    server, started = ensure_server()
    if started:
        _note(f"started a local Prefect server at {server.ui} (flow runs are in its UI); it stays up "
              "for the next commands: `newswatch server stop` ends it")
    os.environ["PREFECT_API_URL"] = server.api  # task and flow subprocesses read the environment
    with temporary_settings(updates={PREFECT_API_URL: server.api, PREFECT_FLOWS_HEARTBEAT_FREQUENCY: None}):
        yield


def _ingest_json(summary: Any, refused: Sequence[str]) -> dict[str, Any]:
    """The ingest summary as `--json` prints it: counts, then every failure line."""
    failures = [*refused, *(summary.failures if summary else [])]
    get = (lambda name: getattr(summary, name)) if summary else (lambda name: 0)
    return {
        "articles": {"new": get("articles_new"), "duplicate": get("articles_duplicate"),
                     "already_stored": get("articles_known"),
                     "failed": get("articles_failed") + len(refused)},
        "events": {"new": get("events_new"), "merged": get("events_merged")},
        "alerts": {"raised": get("alerts_raised"), "sent": get("alerts_sent"),
                   "not_delivered": get("alerts_failed")},
        "failures": failures,
    }


# ---------------------------------------------------------------------------------------------
# events, articles, alerts


def _note(message: str) -> None:
    """A remark beside the output (stderr), so `--json` output stays pure JSON lines."""
    typer.echo(message, err=True)


def _explain_no_events(filters: Any, codes: set[str]) -> None:
    """Say why a filtered listing is empty when a filter value is unknown."""
    hints = []
    if filters.actor and filters.actor not in codes:
        shown = ", ".join(sorted(codes)[:20]) or "none yet"
        hints.append(f"no stored event has actor {filters.actor!r} (stored codes: {shown})")
    if filters.topic:
        from newswatch.pipeline.topics import load_topics

        try:
            slugs = [t.slug for t in load_topics(get_settings().topics)]
        except NewswatchError:
            slugs = []
        if slugs and filters.topic not in slugs:
            hints.append(f"no topic {filters.topic!r} in the topics file (topics: {', '.join(slugs)})")
    _note("no events match" + (": " + "; ".join(hints) if hints else ""))


@app.command()
def events(
    json_: JsonOption = False,
    type_: Annotated[str | None, typer.Option("--type", help="DEMAND, REJECT, THREATEN, ...")] = None,
    actor: Annotated[str | None, typer.Option(help="an actor code, as source or target (RUS)")] = None,
    topic: Annotated[str | None, typer.Option(help="a topic slug (nato-enlargement)")] = None,
    since: DateOption = None,
    until: DateOption = None,
    search: Annotated[str | None, typer.Option(help="words in the event's content")] = None,
    limit: LimitOption = 50,
) -> None:
    """List stored events, newest first.

    Example: newswatch events --actor RUS --topic nato-enlargement --json
    """
    from newswatch.db.queries import EventFilters, list_events, stored_codes

    if type_ is not None:
        type_ = type_.strip().upper()
        if type_ not in EventType.__members__:
            raise typer.BadParameter(
                f"unknown event type {type_!r}; one of {', '.join(EventType.__members__)}",
                param_hint="--type",
            )
    filters = EventFilters(
        type=type_, actor=actor.strip().upper() if actor else None,
        topic=topic.strip().lower() if topic else None,
        since=_parse_date(since), until=_parse_date(until), search=search, limit=limit + 1,
    )
    with _errors(), _session() as session:
        rows = list_events(session, filters)
        codes = stored_codes(session) if not rows and filters.actor else set()
    more = len(rows) > limit
    rows = rows[:limit]
    if more:
        _note(f"showing the newest {limit} events; more match (--limit N to see more)")
    elif not rows:
        _explain_no_events(filters, codes)
    if json_:
        _print_json([event_json(e) for e in rows])
        return
    _table(
        "events",
        ["id", "date", "type", "source", "target", "content", "topics", "mentions"],
        [
            [e.id, e.event_date, e.type, e.source.code or e.source.name if e.source else "-",
             e.target.code or e.target.name if e.target else "-", e.content,
             ", ".join(e.topics), len(e.mentions)]
            for e in rows
        ],
    )


@app.command()
def articles(
    json_: JsonOption = False,
    duplicates: Annotated[
        bool, typer.Option("--duplicates", help="duplicate groups: each original followed by its copies")
    ] = False,
    since: DateOption = None,
    limit: LimitOption = 50,
) -> None:
    """List stored articles with their actors and duplicate status.

    Example: newswatch articles --duplicates
    """
    from newswatch.db.queries import list_articles, list_duplicate_groups

    with _errors(), _session() as session:
        if duplicates:
            groups = list_duplicate_groups(session, since=_parse_date(since), limit=limit)
            rows = [a for original, copies in groups for a in (original, *copies)]
        else:
            rows = list_articles(session, since=_parse_date(since), limit=limit + 1)
            if len(rows) > limit:
                rows = rows[:limit]
                _note(f"showing the newest {limit} articles; more match (--limit N to see more)")
    if json_:
        _print_json([article_json(a) for a in rows])
        return
    _table(
        "articles",
        ["id", "published", "title", "url", "duplicate of", "actors"],
        [
            [a.id, a.published, a.title, a.url, a.duplicate_of or "",
             ", ".join(sorted({x.code for x in a.actors if x.code}))]
            for a in rows
        ],
    )


class AlertStatus(str, Enum):
    stored = "stored"
    pending = "pending"
    retrying = "retrying"
    sent = "sent"
    failed = "failed"


alerts_app = typer.Typer(
    help="Alerts raised: list them (no subcommand), retry or drop undelivered ones.",
)
app.add_typer(alerts_app, name="alerts")


@alerts_app.callback(invoke_without_command=True)
def alerts(
    ctx: typer.Context,
    json_: JsonOption = False,
    status: Annotated[
        AlertStatus | None, typer.Option(help="only alerts with this delivery status")
    ] = None,
    topic: Annotated[str | None, typer.Option(help="only alerts of this topic slug")] = None,
    since: DateOption = None,
    limit: LimitOption = 1000,
) -> None:
    """List alerts raised, oldest first, with their delivery status.

    Status: stored (no channel was configured: kept, not sent), pending (not tried yet),
    retrying (tried, a later run tries again), sent, failed (given up after
    NEWSWATCH_ALERT_MAX_ATTEMPTS; `alerts retry` sends it again). Channels are shown with
    passwords and tokens hidden.

    Example: newswatch alerts --status retrying
    """
    if ctx.invoked_subcommand is not None:
        return
    from newswatch.db.queries import list_alerts
    from newswatch.pipeline.alerts import describe_channel, split_message

    with _errors(), _session() as session:
        rows = list(list_alerts(session, status=status.value if status else None,
                                topic=topic.strip() if topic else None, since=_parse_date(since),
                                limit=limit + 1))
        if len(rows) > limit:
            rows = rows[:limit]
            _note(f"showing the oldest {limit} alerts; more match (--limit N or --since DATE)")
        data = [alert_json(a) for a in rows]
    if json_:
        _print_json(data)
        return
    _table(
        "alerts",
        ["id", "event", "topic", "channel", "status", "attempts", "created", "alert", "last error"],
        [[a.id, a.event_id, a.topic, describe_channel(a.channel), a.status,
          a.attempts, iso_time(a.created_at), split_message(a.message)[0],
          a.last_error if a.status != "sent" else ""] for a in rows],
    )


AlertIds = Annotated[list[int] | None, typer.Argument(help="alert ids (see newswatch alerts)")]


@alerts_app.command("retry")
def alerts_retry(ids: AlertIds = None, json_: JsonOption = False) -> None:
    """Send undelivered alerts again now, on the channels configured now.

    Without ids: every alert not delivered (stored, pending, retrying, failed). An alert whose
    channel is no longer configured moves to the current channels (NEWSWATCH_NOTIFY and the
    topics' channels), so correcting a channel URL and retrying delivers what was missed.

    Example: newswatch alerts retry 12 13
    """
    from newswatch.db import outbox
    from newswatch.db.session import connect
    from newswatch.flows._steps import configured_channels, deliver_ids

    settings = _settings()
    with _errors():
        channels = configured_channels(settings)
        if not channels:
            raise NewswatchError("no channel is configured: set NEWSWATCH_NOTIFY (or a topic's channels) first")
        with _session() as session, session.begin():
            found = outbox.find_alerts(session, ids or [])
            missing = sorted(set(ids or []) - {a.id for a in found})
            queued = [i for alert in found for i in outbox.reroute_alert(session, alert, channels)]
        for alert_id in missing:
            _note(f"alert {alert_id}: no such undelivered alert")
        with connect(settings.database_url) as engine:
            sent, failed = deliver_ids(settings, engine, queued)
    if json_:
        _print_json([{"queued": len(queued), "sent": sent, "failed": failed, "missing": missing}])
    else:
        typer.echo(f"alerts:   {len(queued)} queued, {sent} sent, {failed} not delivered")
    if failed or missing:
        raise typer.Exit(1)


@alerts_app.command("drop")
def alerts_drop(ids: Annotated[list[int], typer.Argument(help="alert ids (see newswatch alerts)")],
                json_: JsonOption = False) -> None:
    """Delete undelivered alerts, so no run sends them (a sent alert cannot be dropped).

    Example: newswatch alerts drop 12
    """
    from newswatch.db import outbox

    with _errors(), _session() as session, session.begin():
        dropped = outbox.drop_alerts(session, ids)
    if json_:
        _print_json([{"dropped": dropped}])
    else:
        typer.echo(f"alerts:   {dropped} dropped")
    if dropped < len(set(ids)):
        _note(f"{len(set(ids)) - dropped} of the ids are not undelivered alerts")
        raise typer.Exit(1)


# ---------------------------------------------------------------------------------------------
# topics, serve, db


topics_app = typer.Typer(
    help="The tracked topics: list them (no subcommand), check a topics file, test a text.",
)
app.add_typer(topics_app, name="topics")
TopicsFileOption = Annotated[
    Path | None,
    typer.Option("--file", help="a topics file (default: NEWSWATCH_TOPICS or the packaged one)"),
]


@topics_app.callback(invoke_without_command=True)
def topics(ctx: typer.Context, file: TopicsFileOption = None, json_: JsonOption = False) -> None:
    """List the tracked topics in force and the file they were loaded from.

    Example: newswatch topics
    """
    if ctx.invoked_subcommand is not None:
        return
    from newswatch.pipeline.topics import load_topics

    path = file or _settings().topics
    with _errors():
        loaded = load_topics(path)
    if json_:
        _print_json([topic_json(t, path) for t in loaded])
        return
    typer.echo(f"topics from {path}")
    _table(
        "topics",
        ["slug", "name", "actors", "event types", "patterns", "description"],
        [[t.slug, t.name, ", ".join(t.actors) or "any", ", ".join(t.event_types) or "any",
          len(t.patterns), t.description] for t in loaded],
    )


@topics_app.command("check")
def topics_check(file: Annotated[Path | None, typer.Argument(help="the topics file")] = None) -> None:
    """Check a topics file: print file:line: problem for every bad entry, exit 1 if any.

    Example: newswatch topics check my-topics.toml
    """
    from newswatch.pipeline.errors import TopicError
    from newswatch.pipeline.topics import load_topics

    path = file or _settings().topics
    try:
        loaded = load_topics(path)
    except TopicError as exc:
        lines = str(exc).splitlines()
        for line in lines[1:] or lines:
            typer.echo(line, err=True)
        raise typer.Exit(1) from None
    typer.echo(f"{path}: {len(loaded)} topics, no problems")


@topics_app.command("test")
def topics_test(
    text: Annotated[str, typer.Argument(help="a sentence or article text to match")],
    title: Annotated[
        str, typer.Option(help="the headline of the article the text is from, for context")
    ] = "",
    file: TopicsFileOption = None,
    json_: JsonOption = False,
) -> None:
    """Show whether a text matches each topic, and why: pattern words or nearest example.

    The text is its own article: "the alliance" or a bare "accession" resolve only to an
    organisation it (or --title) names. Topic filters on event types and actors do not apply.
    For topics with examples (and NEWSWATCH_EMBEDDING_MODEL not "none") each line also shows
    the nearest example, its cosine and its margin over the nearest counter-example.

    Example: newswatch topics test "Turkey is holding up Sweden's accession to NATO"
    """
    from newswatch.pipeline.embed import make_embedder
    from newswatch.pipeline.topics import load_topics, nearest_examples, preview_topics

    settings = _settings()
    with _errors():
        loaded = load_topics(file or settings.topics)
        from newswatch.pipeline.analysis import load_nlp  # the mentions come from the actor component

        nlp = load_nlp(settings.spacy_model, str(settings.actors), str(settings.triggers))
        embedder = make_embedder(settings.embedding_model)
        results = preview_topics(nlp, loaded, text, title=title, embedder=embedder)
        nearest = nearest_examples(embedder, loaded, text) if embedder is not None else {}
    if json_:
        _print_json([
            {"topic": t.slug, "match": m is not None, "words": list(m.words) if m else [],
             "by": None if m is None else ("pattern" if m.words else "meaning"),
             "example": nearest[t.slug][0] if t.slug in nearest else None,
             "score": nearest[t.slug][1] if t.slug in nearest else None,
             "margin": nearest[t.slug][2] if t.slug in nearest else None}
            for t, m in results
        ])
        return
    for topic, match in results:
        if match is None:
            verdict = "no match"
        elif match.words:
            verdict = f"match: {', '.join(match.words)}"
        else:
            verdict = "match by meaning"
        if topic.slug in nearest:
            example, score, margin = nearest[topic.slug]
            verdict += f" (nearest example {score:.2f}, margin {margin:+.2f}: {example!r})"
        typer.echo(f"{topic.slug:32} {verdict}")


@app.command()
def serve(
    cron: Annotated[str | None, typer.Option(help="a cron schedule, e.g. '*/15 * * * *'")] = None,
    interval: Annotated[
        float | None, typer.Option(min=1, help="poll every S seconds instead of a cron schedule")
    ] = None,
    feed: Annotated[
        list[str] | None, typer.Option("--feed", help="a feed URL or path (repeatable; default NEWSWATCH_FEEDS)")
    ] = None,
) -> None:
    """Serve the scheduled Prefect deployment that polls the feeds (every 15 minutes by default).

    Runs until interrupted; each poll asks only for what changed and ingests new entries.

    Example: newswatch serve --cron "*/15 * * * *" --feed https://example.org/rss.xml
    """
    if cron and interval:
        raise typer.BadParameter("give either --cron or --interval, not both")
    feeds = list(feed or []) or _settings().feed_urls
    if not feeds:
        raise typer.BadParameter("give --feed URL or set NEWSWATCH_FEEDS")
    from newswatch.flows.deployments import check_cron, serve_feeds

    if cron and not check_cron(cron):
        raise typer.BadParameter(f"not a cron expression: {cron!r} (e.g. '*/15 * * * *')")
    _exit_on_sigterm()
    with _errors():
        serve_feeds(feeds, cron=cron, interval=interval)


server_app = typer.Typer(help="The local Prefect server that manual ingests share.", no_args_is_help=True)
app.add_typer(server_app, name="server")


@server_app.command("status")
def server_status(json_: JsonOption = False) -> None:
    """Tell whether the background Prefect server is running, and where.

    Example: newswatch server status
    """
    from newswatch.flows.server import read_server

    server = read_server()
    if json_:
        _print_json([{"running": server is not None, "api": server.api if server else None,
                      "pid": server.pid if server else None}])
    elif server is None:
        typer.echo("no local Prefect server is running (the next ingest starts one)")
    else:
        typer.echo(f"local Prefect server at {server.ui} (API {server.api}, pid {server.pid})")


@server_app.command("start")
def server_start() -> None:
    """Start the background Prefect server now (ingest starts it by itself when needed).

    Example: newswatch server start
    """
    from newswatch.flows.server import ensure_server

    with _errors():
        server, started = ensure_server()
    typer.echo(f"local Prefect server {'started' if started else 'already running'} at {server.ui}")


@server_app.command("stop")
def server_stop() -> None:
    """Stop the background Prefect server that ingest started.

    Example: newswatch server stop
    """
    from newswatch.flows.server import stop_server

    server = stop_server()
    typer.echo(f"stopped the local Prefect server at {server.ui}" if server
               else "no local Prefect server was running")


@app.command()
def web(
    host: Annotated[str, typer.Option(
        help="the address to listen on; the default keeps the view on this machine")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="the TCP port")] = 8000,
    root_path: Annotated[str, typer.Option(
        help="the path prefix a reverse proxy serves the view under, e.g. /newswatch")] = "",
) -> None:
    """Serve the read-only web view, the JSON API under /api/ and Atom feeds of alerts under /feeds/.

    Pages: events (filters, facets), one event (every report, topics and why), actors, topics,
    alerts. The API is described at /openapi.json. Nothing is written to the database. There
    is no login: to open it to others, put it behind a reverse proxy with authentication
    (README: "The web view").

    Example: newswatch web --port 8000
    """
    settings = _settings()
    with _errors():
        from newswatch.db.migrate import schema_is_current
        from newswatch.db.session import connect, has_schema, redact_url

        _check_database(settings.database_url)
        with connect(settings.database_url, read_only=True) as engine:
            if not has_schema(engine):
                raise NewswatchError(f"no newswatch database at {redact_url(settings.database_url)}. "
                                     "Run 'newswatch db upgrade' (or ingest something) first.")
            if not schema_is_current(engine):
                raise NewswatchError(f"the database at {redact_url(settings.database_url)} is older than this "
                                     "newswatch. Run 'newswatch db upgrade' first.")
        from newswatch.web import create_app

        application = create_app(settings.database_url, topics=settings.topics, actors=settings.actors)
    import uvicorn

    if host not in ("127.0.0.1", "localhost", "::1"):
        _note(f"listening on {host}: anyone who can reach this machine can read the event database "
              "(no login); put it behind a reverse proxy with authentication")
    shown = f"[{host}]" if ":" in host else host
    _note(f"newswatch web: http://{shown}:{port}{root_path}/ (Ctrl-C stops it)")
    try:
        uvicorn.run(application, host=host, port=port, root_path=root_path, log_level="warning",
                    server_header=False, proxy_headers=True)
    except SystemExit as exc:  # uvicorn exits 1 when the port is taken (it logged why)
        if exc.code not in (0, None):
            typer.echo(f"Error: cannot listen on {host}:{port} (in use, or not an address of this "
                       "machine); choose another --port or --host", err=True)
            raise typer.Exit(1) from None
        raise


@db_app.command("upgrade")
def db_upgrade(json_: Annotated[bool, typer.Option("--json", help="print the result as JSON")] = False) -> None:
    """Apply the Alembic migrations to the configured database.

    Example: newswatch db upgrade
    """
    from newswatch.db.migrate import upgrade
    from newswatch.db.session import connect, redact_url

    url = _settings().database_url
    with _errors(), connect(url) as engine:
        upgrade(engine)
        from newswatch.db.migrate import current_revision

        revision = current_revision(engine)
    if json_:
        _print_json([{"database": redact_url(url), "revision": revision, "up_to_date": True}])
        return
    typer.echo(f"database {redact_url(url)} is up to date (revision {revision})")


if __name__ == "__main__":
    app()


def main() -> None:
    """The console entry point: `app`, ended quickly once it has loaded the language model.

    A process holding spaCy's pipeline and the sentence encoder spends about 0.8 s at exit
    freeing them object by object, where the operating system reclaims the memory at once.
    So after such a command the exit handlers run (Prefect's log and event workers flush,
    logging shuts down), the output is flushed, and the process ends with `os._exit`.
    """
    try:
        app(prog_name="newswatch")
        code: object = 0
    except SystemExit as exc:
        code = exc.code
    if "spacy" not in sys.modules:
        sys.exit(code)  # type: ignore[arg-type]
    import atexit

    if code is not None and not isinstance(code, int):  # sys.exit("message")
        print(code, file=sys.stderr)
        code = 1
    atexit._run_exitfuncs()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code or 0)
