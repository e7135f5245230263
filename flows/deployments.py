"""Schedules: the deployment that polls feeds with the ingest flow (`newswatch serve`).

`serve_feeds` runs it in this process with `flow.serve` (no work pool needed). For a Prefect
server with a process work pool and workers, `prefect.yaml` at the top of the repository
declares the same deployment (`prefect deploy --all`); see the README.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from flows.ingest import ingest

DEPLOYMENT_NAME = "poll-feeds"
DEFAULT_INTERVAL = dt.timedelta(minutes=15)


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
    """
    if cron and interval:
        raise ValueError("give either a cron schedule or an interval, not both")
    schedule: dict[str, object] = (
        {"cron": cron} if cron else {"interval": dt.timedelta(seconds=interval) if interval else DEFAULT_INTERVAL}
    )
    ingest.serve(
        name=DEPLOYMENT_NAME,
        parameters={"inputs": [], "feeds": list(feeds)},
        description="Poll the configured RSS/Atom feeds and ingest new entries.",
        tags=["newswatch", "feeds"],
        pause_on_shutdown=False,
        limit=limit,
        **schedule,  # type: ignore[arg-type]
    )
