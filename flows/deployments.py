"""Schedules: the deployment that polls feeds and ingests new entries (`newswatch serve`).

`serve_feeds` runs it in this process with `flow.serve` (no work pool needed). For a Prefect
server with a process work pool and workers, `prefect.yaml` at the top of the repository
declares the same deployment (`prefect deploy --all`); see the README.
"""

from __future__ import annotations

import datetime as dt
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import httpx
from prefect.client.schemas.objects import ConcurrencyLimitConfig, ConcurrencyLimitStrategy
from prefect.settings import PREFECT_API_URL, temporary_settings

from newswatch.flows.poll import poll_all_feeds
from newswatch.pipeline.errors import NewswatchError

DEPLOYMENT_NAME = "poll-feeds"
DEFAULT_INTERVAL = dt.timedelta(minutes=15)
SERVER_STARTUP_SECONDS = 180


def _die_with_parent() -> None:
    """In the server's process (Linux): receive SIGTERM when `serve` dies, even by kill -9."""
    if sys.platform.startswith("linux"):
        import ctypes
        import signal

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def prefect_api() -> Iterator[str]:
    """Yield the Prefect API to serve on: PREFECT_API_URL, or a local server started for the purpose.

    Prefect's temporary (ephemeral) server has no scheduler, so a schedule needs a real one:
    without PREFECT_API_URL, `prefect server start` runs on a free port of 127.0.0.1 (using
    PREFECT_HOME's database) for as long as `serve` does.
    """
    configured = PREFECT_API_URL.value()
    if configured:
        yield str(configured)
        return
    from newswatch.flows.server import prefect_home

    port = _free_port()
    api = f"http://127.0.0.1:{port}/api"
    # the log lives beside the server's database (one file, reused), not as a new /tmp file per run
    home = prefect_home()
    home.mkdir(parents=True, exist_ok=True)
    log = open(home / "newswatch-serve.log", "w")
    server = subprocess.Popen(
        [sys.executable, "-m", "prefect", "server", "start", "--host", "127.0.0.1", "--port", str(port)],
        stdout=log, stderr=subprocess.STDOUT, start_new_session=True, preexec_fn=_die_with_parent,
        env={**os.environ, "PREFECT_SERVER_ANALYTICS_ENABLED": "false"},
    )
    try:
        deadline = time.monotonic() + SERVER_STARTUP_SECONDS
        while True:
            if server.poll() is not None:
                raise NewswatchError(
                    f"the local Prefect server exited with status {server.returncode}; see {log.name}, "
                    "or start one with `prefect server start` and set PREFECT_API_URL"
                )
            try:
                if httpx.get(f"{api}/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise NewswatchError(
                    f"the local Prefect server did not answer within {SERVER_STARTUP_SECONDS} s; "
                    f"see {log.name}, or start one with `prefect server start` and set PREFECT_API_URL"
                )
            time.sleep(0.5)
        print(f"Started a local Prefect server at {api} (UI: http://127.0.0.1:{port}); log: {log.name}")
        os.environ["PREFECT_API_URL"] = api  # flow runs are subprocesses: they read the environment
        with temporary_settings(updates={PREFECT_API_URL: api}):
            yield api
    finally:
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        log.close()


def _drop_stale_runs(feeds: list[str]) -> None:
    """Delete runs a previous `serve` scheduled with other feeds.

    A scheduled run keeps the parameters it was created with: without this, a `serve` restarted
    with a new feed list would first run the old list's leftover runs.
    """
    import asyncio

    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import (
        DeploymentFilter, DeploymentFilterName, FlowRunFilter, FlowRunFilterState,
        FlowRunFilterStateType,
    )
    from prefect.client.schemas.objects import StateType

    async def drop() -> None:
        async with get_client() as client:
            runs = await client.read_flow_runs(
                deployment_filter=DeploymentFilter(name=DeploymentFilterName(any_=[DEPLOYMENT_NAME])),
                flow_run_filter=FlowRunFilter(state=FlowRunFilterState(
                    type=FlowRunFilterStateType(any_=[StateType.SCHEDULED]))),
            )
            for run in runs:
                if run.parameters.get("feeds") != feeds:
                    await client.delete_flow_run(run.id)

    asyncio.run(drop())


def check_cron(expression: str) -> bool:
    """Tell whether `expression` is a cron schedule Prefect accepts."""
    from prefect.client.schemas.schedules import CronSchedule

    try:
        CronSchedule(cron=expression)
    except ValueError:
        return False
    return True


def serve_feeds(
    feeds: Sequence[str],
    *,
    cron: str | None = None,
    interval: float | None = None,
    limit: int | None = None,
) -> None:
    """Serve the feed-polling deployment until interrupted (Ctrl-C ends it cleanly).

    `cron` or `interval` (seconds) sets the schedule; every 15 minutes when neither is given.
    Runs never pause the deployment on shutdown, so a restarted `serve` resumes the schedule.
    At most one poll runs at a time: a scheduled run that comes due while the previous poll is
    still going is cancelled rather than queued, so a slow poll never builds a backlog (two
    overlapping polls would be safe, just wasted work).
    """
    if cron and interval:
        raise ValueError("give either a cron schedule or an interval, not both")
    schedule: dict[str, object] = (
        {"cron": cron} if cron else {"interval": dt.timedelta(seconds=interval) if interval else DEFAULT_INTERVAL}
    )
    with prefect_api():
        _drop_stale_runs(list(feeds))
        poll_all_feeds.serve(
            name=DEPLOYMENT_NAME,
            parameters={"feeds": list(feeds)},
            description="Poll the configured RSS/Atom feeds and ingest new entries.",
            tags=["newswatch", "feeds"],
            pause_on_shutdown=False,
            limit=limit,
            global_limit=ConcurrencyLimitConfig(
                limit=1, collision_strategy=ConcurrencyLimitStrategy.CANCEL_NEW
            ),
            **schedule,  # type: ignore[arg-type]
        )


#: The ingest flow's deployment on a process work pool (`deploy_ingest`): a backlog split into
#: flow runs is shared by however many workers poll the pool, over one PostgreSQL database.
INGEST_DEPLOYMENT_NAME = "ingest"


def deploy_ingest(work_pool: str, source: str) -> str:
    """Register the ingest flow, read from the checkout or install at `source`, as a deployment
    on the process work pool `work_pool`; return the `flow/deployment` name to run.

    A worker (`prefect worker start --pool WORK_POOL`) runs each flow run in a new process
    with the worker's environment, so the database and `NEWSWATCH_NLP_PROCESSES` are the
    worker's settings.
    """
    from newswatch.flows.ingest import ingest

    deployable: Any = ingest.from_source(source=source, entrypoint="newswatch/flows/ingest.py:ingest")
    deployable.deploy(name=INGEST_DEPLOYMENT_NAME, work_pool_name=work_pool, print_next_steps=False,
                      ignore_warnings=True)
    return f"{ingest.name}/{INGEST_DEPLOYMENT_NAME}"
