"""The read-only web view: pages, the JSON API under /api/ and Atom feeds of alerts under /feeds/.

`create_app` wires the routes to `db.queries` functions over one read-only engine (the
database itself refuses writes on its connections); `cli.py`'s `web` command serves it with
uvicorn. Every page is a Jinja template with autoescaping, scripts come only from /static/
(the Content-Security-Policy forbids inline scripts), and only GET and HEAD are answered.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlencode

import jinja2
from fastapi import Depends, FastAPI, Query, Request
from fastapi import Path as PathParam
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from fastapi.responses import HTMLResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from sqlalchemy import Engine
from sqlalchemy.orm import Session
from starlette.exceptions import HTTPException

from newswatch import __version__
from newswatch._json import alert_json, article_json, event_json, iso_time, topic_json
from newswatch.db import queries
from newswatch.db.session import make_engine, open_session
from newswatch.pipeline.alerts import describe_channel, split_message
from newswatch.pipeline.errors import NewswatchError
from newswatch.pipeline.jsonl import read_jsonl
from newswatch.pipeline.topics import Topic, load_topics
from newswatch.web import _filters
from newswatch.web._feeds import build_feed, is_web_url
from newswatch.web._filters import MAX_LIMIT, MAX_OFFSET, BadFilter

HERE = Path(__file__).resolve().parent
LOG = logging.getLogger("newswatch.web")
#: How many of the newest matching events the facets and the events chart count.
FACET_CAP = 1000
FEED_ENTRIES = 50
CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
       "connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'")
SECURITY_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=()",
}


@dataclass(frozen=True)
class WebConfig:
    """What the app reads once at start: the topics in force and the actors' display names."""

    database_url: str
    topics: tuple[Topic, ...]
    topics_file: str
    actor_names: dict[str, str] = field(default_factory=dict)

    @property
    def slugs(self) -> list[str]:
        return [t.slug for t in self.topics]

    def topic(self, slug: str) -> Topic | None:
        return next((t for t in self.topics if t.slug == slug), None)


def load_actor_names(path: Path) -> dict[str, str]:
    """Return each actor code's display name from the actor dictionary (its canonical entry)."""
    names: dict[str, str] = {}
    for _, entry in read_jsonl(path, what="actor dictionary", setting="NEWSWATCH_ACTORS"):
        code, name = entry.get("code"), entry.get("name")
        if isinstance(code, str) and isinstance(name, str) and (entry.get("id") == code or code not in names):
            if entry.get("type") in ("state", "organisation") or code not in names:
                names[code] = name
    return names


# ---------------------------------------------------------------------------------------------
# Helpers for templates


def highlight(sentence: str, content: str) -> tuple[str, str, str]:
    """Split a sentence around the reported content (first occurrence, case-insensitive).

    The template escapes each part and marks the middle one; a content that is not in the
    sentence (rewritten by extraction) leaves the sentence unmarked.
    """
    if content:
        at = sentence.find(content)
        if at < 0:
            at = sentence.lower().find(content.lower())
        if at >= 0:
            return sentence[:at], sentence[at:at + len(content)], sentence[at + len(content):]
    return sentence, "", ""


def _query(params: dict[str, Any], **changes: Any) -> str:
    """The query string of `params` with `changes` (None drops a key); `offset` resets."""
    merged = {**params, "offset": None, **changes}
    kept = {k: v for k, v in merged.items() if v is not None and v != "" and not (k == "offset" and v == 0)}
    return "?" + urlencode(kept)


def _templates() -> Jinja2Templates:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(HERE / "templates")),
        autoescape=True,  # every stored string is shown as text, whatever markup it holds
        undefined=jinja2.StrictUndefined,
        trim_blocks=True, lstrip_blocks=True,
    )
    env.globals.update(highlight=highlight, is_web_url=is_web_url, iso_time=iso_time,
                       describe_channel=describe_channel, split_message=split_message,
                       version=__version__)
    return Jinja2Templates(env=env)


# ---------------------------------------------------------------------------------------------
# Request parameters (module level: FastAPI resolves the annotations in this module's globals)


def _session(request: Request) -> Iterator[Session]:
    """One session per request on the app's read-only engine."""
    with open_session(request.app.state.engine) as opened:
        yield opened


SessionDep = Annotated[Session, Depends(_session)]
Limit = Annotated[int, Query(ge=1, le=MAX_LIMIT, description="rows per page")]
Offset = Annotated[int, Query(ge=0, le=MAX_OFFSET, description="rows to skip")]
Day = Annotated[str | None, Query(description="a date, YYYY-MM-DD", json_schema_extra={"format": "date"})]
TypeQ = Annotated[str | None, Query(description="an event type: " + ", ".join(_filters.EVENT_TYPES),
                                    json_schema_extra={"enum": list(_filters.EVENT_TYPES)})]
ActorQ = Annotated[str | None, Query(description="an actor code, as source or target (RUS)", max_length=16)]
TopicQ = Annotated[str | None, Query(description="a topic slug (nato-enlargement)", max_length=128)]
SearchQ = Annotated[str | None, Query(description="words in the event's content",
                                      max_length=_filters.MAX_SEARCH)]
StatusQ = Annotated[str | None, Query(description="a delivery status: " + ", ".join(_filters.ALERT_STATUSES),
                                      json_schema_extra={"enum": list(_filters.ALERT_STATUSES)})]
EventId = Annotated[int, PathParam(ge=1, le=2**31 - 1, description="an event id")]
Code = Annotated[str, PathParam(max_length=16, description="an actor code (RUS)")]


# ---------------------------------------------------------------------------------------------
# The app


def create_app(database_url: str, *, topics: Path, actors: Path, engine: Engine | None = None) -> FastAPI:
    """Build the web app over `database_url`; the topics file and actor dictionary are read now.

    Raises `NewswatchError` (TopicError, PatternError) when a data file cannot be read. The
    engine (read-only) is made here and disposed when the app shuts down; a caller may pass
    its own, which it then disposes itself.
    """
    config = WebConfig(database_url=database_url, topics=tuple(load_topics(topics)),
                       topics_file=Path(topics).name, actor_names=load_actor_names(actors))
    own_engine = engine is None
    db = engine if engine is not None else make_engine(database_url, read_only=True)
    templates = _templates()

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        yield
        if own_engine:
            db.dispose()

    app = FastAPI(
        title="newswatch", version=__version__, lifespan=lifespan,
        description=("Read-only API over the newswatch event database: the same fields as the "
                     "CLI's `--json`. Lists are paged with `limit` and `offset`; a bad filter "
                     "value is a 400 whose `detail` says what is wrong."),
        docs_url=None, redoc_url=None,  # their pages load scripts from a CDN
        openapi_url="/openapi.json",
    )
    app.state.config = config
    app.state.engine = db
    app.mount("/static", StaticFiles(directory=str(HERE / "static")), name="static")

    def is_known_topic(s: Session) -> Callable[[str], bool]:
        return lambda slug: config.topic(slug) is not None or queries.topic_is_stored(s, slug)

    def name_of(code: str | None, fallback: str | None = None) -> str:
        if code is None:
            return fallback or "(none)"
        return config.actor_names.get(code) or fallback or code

    # ---- errors and headers -----------------------------------------------------------------

    def _wants_json(request: Request) -> bool:
        return request.url.path.startswith(("/api/", "/feeds/", "/openapi"))

    def _context(request: Request, nav: str) -> dict[str, Any]:
        """What every template reads: the path prefix behind a proxy, helpers, the topics."""
        return {"root": request.scope.get("root_path", "").rstrip("/"), "nav": nav, "name_of": name_of,
                "config": config}

    def _error(request: Request, status: int, message: str) -> Response:
        if _wants_json(request):
            return JSONResponse({"detail": message}, status_code=status)
        return templates.TemplateResponse(
            request, "error.html", {**_context(request, ""), "status": status, "message": message},
            status_code=status)

    @app.exception_handler(BadFilter)
    async def _bad_filter(request: Request, exc: BadFilter) -> Response:
        return _error(request, 400, str(exc))

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> Response:
        parts = []
        for error in exc.errors():
            where = ".".join(str(x) for x in error.get("loc", ())[1:]) or "request"
            parts.append(f"{where}: {error.get('msg', 'invalid')}")
        return _error(request, 400, "; ".join(parts))

    @app.exception_handler(HTTPException)
    async def _http(request: Request, exc: HTTPException) -> Response:
        response = _error(request, exc.status_code, str(exc.detail))
        for key, value in (exc.headers or {}).items():
            response.headers[key] = value
        return response

    @app.exception_handler(NewswatchError)
    async def _store(request: Request, exc: NewswatchError) -> Response:
        # the message names the database (host, user): it goes to the server's log, not the client
        LOG.error("%s %s: %s", request.method, request.url.path, exc)
        return _error(request, 503, "the database cannot be read now; the server's log says why")

    @app.middleware("http")
    async def _headers(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        if request.method not in ("GET", "HEAD"):
            response: Response = JSONResponse({"detail": "read-only: only GET and HEAD are answered"},
                                              status_code=405, headers={"Allow": "GET, HEAD"})
        else:
            response = await call_next(request)
        for key, value in SECURITY_HEADERS.items():
            response.headers.setdefault(key, value)
        return response

    # ---- query parameters shared by pages and API -------------------------------------------

    BAD: dict[int | str, dict[str, Any]] = {
        400: {"description": "a filter value that cannot be used; `detail` says why"}}
    MISSING: dict[int | str, dict[str, Any]] = {404: {"description": "no such record"}}

    def _filters_for(s: Session, *, type: str | None, actor: str | None, topic: str | None,
                     since: str | None, until: str | None, search: str | None, limit: int,
                     offset: int) -> queries.EventFilters:
        return _filters.event_filters(type=type, actor=actor, topic=topic, since=since, until=until,
                                      search=search, limit=limit, offset=offset,
                                      is_known_topic=is_known_topic(s), topics=config.slugs)

    def _page(request: Request, items: list[Any], limit: int, offset: int) -> dict[str, Any]:
        """The paged envelope: `next` is the URL of the following page, or null."""
        more = len(items) > limit
        following = None
        if more:
            params = dict(request.query_params)
            params["offset"] = str(offset + limit)
            following = f"{request.url.path}?{urlencode(params)}"
        return {"items": items[:limit], "limit": limit, "offset": offset, "next": following}

    # ---- JSON API ---------------------------------------------------------------------------

    @app.get("/api/events", tags=["api"], responses=BAD, summary="Stored events, newest first")
    def api_events(request: Request, s: SessionDep, type: TypeQ = None, actor: ActorQ = None,
                   topic: TopicQ = None, since: Day = None, until: Day = None, search: SearchQ = None,
                   limit: Limit = 50, offset: Offset = 0) -> dict[str, Any]:
        filters = _filters_for(s, type=type, actor=actor, topic=topic, since=since, until=until,
                               search=search, limit=limit, offset=offset)
        return _page(request, [event_json(e) for e in queries.list_events(s, filters)], limit, offset)

    @app.get("/api/events/{event_id}", tags=["api"], responses=MISSING, summary="One event")
    def api_event(s: SessionDep, event_id: EventId) -> dict[str, Any]:
        found = queries.get_events(s, [event_id]).get(event_id)
        if found is None:
            raise HTTPException(404, f"no event {event_id}")
        return event_json(found)

    @app.get("/api/articles", tags=["api"], responses=BAD, summary="Stored articles, newest first")
    def api_articles(request: Request, s: SessionDep, since: Day = None,
                     duplicates: Annotated[bool, Query(description="only copies of earlier articles")] = False,
                     limit: Limit = 50, offset: Offset = 0) -> dict[str, Any]:
        rows = queries.list_articles(s, duplicates=duplicates, since=_filters.parse_date("since", since),
                                     limit=limit + 1, offset=offset)
        return _page(request, [article_json(a) for a in rows], limit, offset)

    def _actor_item(a: queries.ActorSummary) -> dict[str, Any]:
        return {"code": a.code, "name": name_of(a.code), "made": a.made, "received": a.received}

    @app.get("/api/actors", tags=["api"], responses=BAD, summary="Actor codes of stored events, busiest first")
    def api_actors(request: Request, s: SessionDep, limit: Limit = 100, offset: Offset = 0) -> dict[str, Any]:
        rows = queries.list_actors(s, limit=limit + 1, offset=offset)
        return _page(request, [_actor_item(a) for a in rows], limit, offset)

    def _actor_detail(s: Session, code: str, type: str | None) -> tuple[str, queries.ActorDetail]:
        checked = _filters.parse_code("code", code)
        found = queries.get_actor(s, checked, type=_filters.parse_type(type)) if checked else None
        if checked is None or found is None:
            raise HTTPException(404, f"no stored event has actor {code!r}")
        return checked, found

    def _actor_json(detail: queries.ActorDetail) -> dict[str, Any]:
        return {
            "code": detail.code, "name": name_of(detail.code, detail.names[0] if detail.names else None),
            "names": detail.names, "made": detail.made, "received": detail.received,
            "made_by_type": detail.made_by_type, "received_by_type": detail.received_by_type,
            "months": [{"month": m, "made": a, "received": b} for m, a, b in detail.months],
            "counterparts": [{"code": c.code, "name": name_of(c.code) if c.code else None,
                              "made_to": c.made_to, "received_from": c.received_from}
                             for c in detail.counterparts],
        }

    @app.get("/api/actors/{code}", tags=["api"], responses={**BAD, **MISSING},
             summary="One actor: events made and received by type and month, counterparts")
    def api_actor(s: SessionDep, code: Code, type: TypeQ = None) -> dict[str, Any]:
        return _actor_json(_actor_detail(s, code, type)[1])

    @app.get("/api/alerts", tags=["api"], responses=BAD, summary="Alerts raised, newest first")
    def api_alerts(request: Request, s: SessionDep, status: StatusQ = None, topic: TopicQ = None,
                   since: Day = None, limit: Limit = 50, offset: Offset = 0) -> dict[str, Any]:
        rows = queries.list_alerts(
            s, status=_filters.parse_status(status), topic=_filters.parse_topic(topic, is_known_topic(s), config.slugs),
            since=_filters.parse_date("since", since), limit=limit + 1, offset=offset, newest_first=True)
        return _page(request, [alert_json(a) for a in rows], limit, offset)

    @app.get("/api/topics", tags=["api"], summary="The tracked topics in force")
    def api_topics() -> dict[str, Any]:
        return {"items": [topic_json(t, config.topics_file) for t in config.topics]}

    # ---- Atom feeds -------------------------------------------------------------------------

    def _feed(request: Request, s: Session, topic: Topic | None) -> Response:
        base = str(request.base_url)
        slug = topic.slug if topic else None
        entries = queries.list_alert_entries(s, topic=slug, limit=FEED_ENTRIES)
        body = build_feed(
            title=f"newswatch alerts: {topic.name}" if topic else "newswatch alerts",
            feed_url=str(request.url.replace(query="")),
            page_url=f"{base}alerts" + (f"?topic={slug}" if slug else ""),
            base_url=base, entries=entries,
        )
        return Response(body, media_type="application/atom+xml; charset=utf-8")

    @app.get("/feeds/alerts.atom", tags=["feeds"], response_class=Response, summary="Atom feed of all alerts")
    def feed_alerts(request: Request, s: SessionDep) -> Response:
        return _feed(request, s, None)

    @app.get("/feeds/topics/{slug}.atom", tags=["feeds"], response_class=Response, responses=MISSING,
             summary="Atom feed of one topic's alerts")
    def feed_topic(request: Request, s: SessionDep,
                   slug: Annotated[str, PathParam(max_length=128, description="a topic slug")]) -> Response:
        topic = config.topic(slug.lower())
        if topic is None:
            raise HTTPException(404, f"no topic {slug!r}; topics: {', '.join(config.slugs)}")
        return _feed(request, s, topic)

    # ---- pages ------------------------------------------------------------------------------

    def render(request: Request, name: str, **context: Any) -> Response:
        nav = context.pop("nav", name.removesuffix(".html"))
        return templates.TemplateResponse(request, name, {**_context(request, nav), **context})

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    @app.get("/events", response_class=HTMLResponse, include_in_schema=False)
    def page_events(request: Request, s: SessionDep, type: str | None = None, actor: str | None = None,
                    topic: str | None = None, since: str | None = None, until: str | None = None,
                    search: str | None = None, limit: int = 50, offset: int = 0) -> Response:
        filters = _filters_for(s, type=type, actor=actor, topic=topic, since=since, until=until,
                               search=search, limit=limit, offset=offset)
        rows = queries.list_events(s, filters)
        facets = queries.count_facets(s, filters, cap=FACET_CAP)
        params = {"type": filters.type, "actor": filters.actor, "topic": filters.topic,
                  "since": filters.since.isoformat() if filters.since else None,
                  "until": filters.until.isoformat() if filters.until else None,
                  "search": filters.search, "limit": limit if limit != 50 else None}
        chart = {"labels": [d for d, _ in facets.days], "datasets": [
            {"label": "events", "data": [n for _, n in facets.days]}]}
        return render(request, "events.html", events=rows[:limit], more=len(rows) > limit, facets=facets,
                      params=params, query=lambda **c: _query(params, **c), offset=offset, limit=limit,
                      chart=chart, types=_filters.EVENT_TYPES, nav="events")

    @app.get("/events/{event_id}", response_class=HTMLResponse, include_in_schema=False)
    def page_event(request: Request, s: SessionDep, event_id: EventId) -> Response:
        detail = queries.get_event_detail(s, event_id)
        if detail is None:
            raise HTTPException(404, f"no event {event_id}")
        return render(request, "event.html", detail=detail, e=detail.event, nav="events")

    @app.get("/actors", response_class=HTMLResponse, include_in_schema=False)
    def page_actors(request: Request, s: SessionDep, limit: int = 100, offset: int = 0) -> Response:
        _filters.check_page(limit, offset)
        rows = queries.list_actors(s, limit=limit + 1, offset=offset)
        return render(request, "actors.html", actors=rows[:limit], more=len(rows) > limit, limit=limit,
                      offset=offset)

    @app.get("/actors/{code}", response_class=HTMLResponse, include_in_schema=False)
    def page_actor(request: Request, s: SessionDep, code: str, type: str | None = None) -> Response:
        checked, detail = _actor_detail(s, code, type)
        made = queries.list_events(s, queries.EventFilters(actor=checked, type=_filters.parse_type(type), limit=20))
        chart = {"labels": [m for m, _, _ in detail.months], "datasets": [
            {"label": f"made by {checked}", "data": [a for _, a, _ in detail.months]},
            {"label": f"received by {checked}", "data": [b for _, _, b in detail.months]}]}
        return render(request, "actor.html", detail=detail, data=_actor_json(detail), recent=made,
                      chart=chart, type=_filters.parse_type(type), types=_filters.EVENT_TYPES, nav="actors")

    @app.get("/topics", response_class=HTMLResponse, include_in_schema=False)
    def page_topics(request: Request, s: SessionDep) -> Response:
        return render(request, "topics.html", events=queries.count_topic_events(s),
                      alerts=queries.count_topic_alerts(s))

    @app.get("/alerts", response_class=HTMLResponse, include_in_schema=False)
    def page_alerts(request: Request, s: SessionDep, status: str | None = None, topic: str | None = None,
                    since: str | None = None, limit: int = 50, offset: int = 0) -> Response:
        _filters.check_page(limit, offset)
        params = {"status": _filters.parse_status(status),
                  "topic": _filters.parse_topic(topic, is_known_topic(s), config.slugs),
                  "since": since if _filters.parse_date("since", since) else None}
        rows = queries.list_alerts(s, status=params["status"], topic=params["topic"],
                                   since=_filters.parse_date("since", since), limit=limit + 1, offset=offset,
                                   newest_first=True)
        return render(request, "alerts.html", alerts=rows[:limit], more=len(rows) > limit, params=params,
                      query=lambda **c: _query(params, **c), offset=offset, limit=limit,
                      statuses=_filters.ALERT_STATUSES)

    def openapi() -> dict[str, Any]:
        """FastAPI's document, saying 400 where FastAPI would say 422 (bad values are a 400 here)."""
        if app.openapi_schema is None:
            document = get_openapi(title=app.title, version=app.version, description=app.description,
                                   routes=app.routes)
            for operations in document.get("paths", {}).values():
                for operation in operations.values():
                    responses = operation.get("responses", {})
                    if responses.pop("422", None) is not None:
                        responses["400"] = {**BAD[400], "content": {"application/json": {"schema": {
                            "type": "object", "properties": {"detail": {"type": "string"}},
                            "required": ["detail"]}}}}
            schemas = document.get("components", {}).get("schemas", {})
            for unused in ("HTTPValidationError", "ValidationError"):
                schemas.pop(unused, None)
            if not schemas:
                document.pop("components", None)
            app.openapi_schema = document
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
    return app
