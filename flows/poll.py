"""The flow `newswatch serve` schedules: poll the feeds and ingest their new entries."""

from __future__ import annotations

from typing import Any

from prefect import flow, get_run_logger

from newswatch.pipeline.settings import get_settings


@flow(name="newswatch-poll-feeds", log_prints=True)
def poll_all_feeds(feeds: list[str] | None = None) -> Any:
    """Poll feeds and ingest their new entries.

    `feeds` defaults to NEWSWATCH_FEEDS as read by the process running the flow (a worker's
    environment, under a work pool). Returns the ingest summary.
    """
    # Imported when the run starts, not with the module: `flow.serve` sends this flow to its
    # run process pickled by value, with the globals it uses; the ingest flow must be imported
    # there from its module (its annotations are names of that module), not pickled along.
    from newswatch.flows.ingest import ingest

    urls = list(feeds or get_settings().feed_urls)
    if not urls:
        get_run_logger().warning("no feeds to poll: give --feed URL to serve or set NEWSWATCH_FEEDS")
        return None
    return ingest(inputs=[], feeds=urls)
