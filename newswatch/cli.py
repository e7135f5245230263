"""The `newswatch` command line: parses options, calls one flow or query, prints the result."""

from __future__ import annotations

import datetime as dt
import json
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from enum import Enum
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer

from newswatch.pipeline.errors import NewswatchError
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


def _parse_date(value: str | None) -> dt.date | None:
    if value is None:
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise typer.BadParameter(f"{value!r} is not a date like 2021-12-17") from None


DateOption = Annotated[
    str | None, typer.Option(help="a date, YYYY-MM-DD", metavar="YYYY-MM-DD")
]
JsonOption = Annotated[bool, typer.Option("--json", help="print JSON lines instead of a table")]
LimitOption = Annotated[int, typer.Option(min=1, help="show at most this many rows")]


@contextmanager
def _errors() -> Iterator[None]:
    """Turn a NewswatchError into `Error: <message>` on stderr and exit status 1."""
    try:
        yield
    except NewswatchError as exc:
        typer.echo(f"Error: {exc}", err=True)
        raise typer.Exit(1) from None


@contextmanager
def _session() -> Iterator[Any]:
    """Open the configured database for one command; its engine is disposed when it ends."""
    from newswatch.db.session import connect, has_schema, open_session, redact_url

    url = get_settings().database_url
    with connect(url) as engine:
        if not has_schema(engine):
            raise NewswatchError(
                f"no newswatch database at {redact_url(url)}. "
                "Run 'newswatch db upgrade' (or ingest something) first."
            )
        with open_session(engine) as session:
            yield session


def _iso(value: dt.datetime | None) -> str | None:
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.timezone.utc)
    return value.astimezone(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _actor_json(actor: Any) -> dict[str, Any] | None:
    return None if actor is None else {"code": actor.code, "name": actor.name}


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
) -> None:
    """Ingest articles and feeds once: extract events, store them, raise alerts.

    Exits 1 when any input failed; the others are still stored.

    Example: newswatch ingest seeds/000_30228fdb78730024.txt --published 2021-12-17
    """
    if not inputs and not feed:
        raise typer.BadParameter("give at least one article path or URL, or --feed URL")
    day = _parse_date(published)
    with _errors():
        from newswatch.pipeline.topics import load_topics

        # a broken topics file is reported now, before a Prefect server or the model starts
        load_topics(get_settings().topics)
        # On a busy machine the temporary Prefect server can take longer than Prefect's 20 s.
        os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120")
        # No network beyond the feeds: don't let the local server try to phone home.
        os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
        from newswatch.flows.ingest import ingest_all

        summary = ingest_all(inputs or [], feed or [], published=day, source=source)
    for failure in summary.failures:
        typer.echo(f"Error: {failure}", err=True)
    typer.echo(
        f"articles: {summary.articles_new} new, {summary.articles_duplicate} duplicate, "
        f"{summary.articles_known} already stored, {summary.articles_failed} failed\n"
        f"events:   {summary.events_new} new, {summary.events_merged} merged\n"
        f"alerts:   {summary.alerts_raised} raised, {summary.alerts_sent} sent, "
        f"{summary.alerts_failed} failed"
    )
    if summary.failures:
        raise typer.Exit(1)


# ---------------------------------------------------------------------------------------------
# events, articles, alerts


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
    from newswatch.db.queries import EventFilters, list_events

    filters = EventFilters(
        type=type_, actor=actor, topic=topic, since=_parse_date(since), until=_parse_date(until),
        search=search, limit=limit,
    )
    with _errors(), _session() as session:
        rows = list_events(session, filters)
    if json_:
        _print_json([
            {
                "id": e.id, "type": e.type, "cameo": e.cameo,
                "source": _actor_json(e.source), "target": _actor_json(e.target),
                "content": e.content,
                "event_date": e.event_date.isoformat() if e.event_date else None,
                "first_seen": _iso(e.first_seen), "topics": e.topics,
                "mentions": [
                    {"article": m.article, "sentence": m.sentence, "content": m.content}
                    for m in e.mentions
                ],
            }
            for e in rows
        ])
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
            rows = list_articles(session, since=_parse_date(since), limit=limit)
    if json_:
        _print_json([
            {
                "id": a.id, "url": a.url, "title": a.title,
                "published": a.published.isoformat() if a.published else None,
                "source": a.source, "duplicate_of": a.duplicate_of,
                "actors": [{"code": x.code, "name": x.name, "type": x.type} for x in a.actors],
            }
            for a in rows
        ])
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
    pending = "pending"
    sent = "sent"
    failed = "failed"


@app.command()
def alerts(
    json_: JsonOption = False,
    status: Annotated[
        AlertStatus | None, typer.Option(help="only alerts with this delivery status")
    ] = None,
) -> None:
    """List alerts raised, oldest first, with their delivery status.

    Channels are shown with passwords and tokens hidden. A channel "(none)" means no channel
    was configured (NEWSWATCH_NOTIFY empty): the alert was stored and printed only.

    Example: newswatch alerts --status pending
    """
    from newswatch.db.queries import list_alerts
    from newswatch.pipeline.alerts import describe_channel, redact_url, split_message

    with _errors(), _session() as session:
        rows = list_alerts(session, status=status.value if status else None)
        data = [
            {
                "id": a.id, "event_id": a.event_id, "topic": a.topic,
                "channel": redact_url(a.channel), "status": a.status, "attempts": a.attempts,
                "created_at": _iso(a.created_at), "sent_at": _iso(a.sent_at),
                "message": a.message,
            }
            for a in rows
        ]
    if json_:
        _print_json(data)
        return
    _table(
        "alerts",
        ["id", "event", "topic", "channel", "status", "attempts", "created", "alert", "last error"],
        [[a.id, a.event_id, a.topic, describe_channel(a.channel), a.status,
          a.attempts, _iso(a.created_at), split_message(a.message)[0],
          a.last_error if a.status != "sent" else ""] for a in rows],
    )


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
def topics(ctx: typer.Context, file: TopicsFileOption = None) -> None:
    """List the tracked topics in force and the file they were loaded from.

    Example: newswatch topics
    """
    if ctx.invoked_subcommand is not None:
        return
    from newswatch.pipeline.topics import load_topics

    path = file or get_settings().topics
    with _errors():
        loaded = load_topics(path)
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

    path = file or get_settings().topics
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

    settings = get_settings()
    with _errors():
        loaded = load_topics(file or settings.topics)
        from newswatch.flows._steps import load_nlp  # the mentions come from the actor component

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
    feeds = list(feed or []) or get_settings().feed_urls
    if not feeds:
        raise typer.BadParameter("give --feed URL or set NEWSWATCH_FEEDS")
    from newswatch.flows.deployments import check_cron, serve_feeds

    if cron and not check_cron(cron):
        raise typer.BadParameter(f"not a cron expression: {cron!r} (e.g. '*/15 * * * *')")
    with _errors():
        serve_feeds(feeds, cron=cron, interval=interval)


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Apply the Alembic migrations to the configured database.

    Example: newswatch db upgrade
    """
    from newswatch.db.migrate import upgrade
    from newswatch.db.session import connect, redact_url

    url = get_settings().database_url
    with _errors(), connect(url) as engine:
        upgrade(engine)
    typer.echo(f"database {redact_url(url)} is up to date")


if __name__ == "__main__":
    app()
