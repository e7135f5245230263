"""What an ingest shows on the terminal while it runs: one line per problem and a progress bar.

Prefect's console lines (a dozen "Task run ... Finished in state Completed()" per batch) bury
the few lines a user needs, so the CLI raises Prefect's console handlers to CRITICAL unless
`--verbose`
and prints, from the log records of newswatch's own code only, each warning and error as one
line, and the flow's progress records as a Rich progress bar. The Prefect API still gets
every record: flow runs keep their full logs in the UI.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.text import Text

#: loggers the flow code writes through: its run logger, and the plain one outside a run
_LOGGERS = ("prefect.flow_runs", "prefect.task_runs", "newswatch")


def _quiet_prefect_console() -> None:
    """Raise Prefect's console handlers to CRITICAL for the rest of this process.

    On the handlers themselves, not through PREFECT_LOGGING_HANDLERS_CONSOLE_LEVEL: a variable
    set here would reach every process this one starts, and every later command of a process
    that runs several (tests). Not restored after the run: Prefect's exit handlers log to the
    console as well ("EventsWorker - Still processing items")."""
    from prefect.logging.handlers import PrefectConsoleHandler

    for name in ("", "prefect"):
        for handler in logging.getLogger(name).handlers:
            if isinstance(handler, PrefectConsoleHandler):
                handler.setLevel(logging.CRITICAL)


def _code_dirs() -> set[Path]:
    """The folders of newswatch's own code, whose log records are shown."""
    import newswatch.db
    import newswatch.flows
    import newswatch.pipeline

    return {Path(m.__file__ or "").resolve().parent for m in (newswatch.db, newswatch.flows, newswatch.pipeline)}


class _Reporter(logging.Handler):
    """Prints the flow's warnings and errors; moves the progress bar on its progress records."""

    def __init__(self, console: Console, quiet: bool, progress: Progress | None) -> None:
        super().__init__(level=logging.INFO)
        self.console = console
        self.quiet = quiet
        self.progress = progress
        self.task = progress.add_task("ingest", total=None) if progress else None
        self.code_dirs = _code_dirs()
        from newswatch.flows.ingest import PROGRESS_FIELD  # imported with Prefect, when needed

        self.progress_field = PROGRESS_FIELD
        self._own: dict[str, bool] = {}

    def _from_own_code(self, record: logging.LogRecord) -> bool:
        # Prefect's engine logs through the same loggers ("Crash detected!", a retried task's
        # exception); only records written by newswatch's own modules are shown
        own = self._own.get(record.pathname)
        if own is None:
            own = self._own[record.pathname] = Path(record.pathname).resolve().parent in self.code_dirs
        return own

    def emit(self, record: logging.LogRecord) -> None:
        if not self._from_own_code(record):
            return
        step = getattr(record, self.progress_field, None)
        if step is not None:
            if self.progress is not None and self.task is not None:
                done, total = step
                self.progress.update(self.task, completed=done, total=total)
            return
        if record.levelno >= logging.ERROR:
            self.console.print(Text(f"Error: {record.getMessage()}"), soft_wrap=True)
        elif record.levelno >= logging.WARNING and not self.quiet:
            self.console.print(Text(f"Warning: {record.getMessage()}"), soft_wrap=True)


@contextmanager
def report_ingest(*, verbose: bool, quiet: bool, inputs: int) -> Iterator[None]:
    """Show the running ingest: Prefect's own lines with `verbose`, else newswatch's one-liners.

    A progress bar is drawn on a terminal for runs of more than one input, unless `quiet`.
    """
    if verbose:  # Prefect's console handler prints everything, as Prefect does by default
        yield
        return
    console = Console(stderr=True)
    progress = None
    if inputs > 1 and not quiet and console.is_terminal:
        progress = Progress(TextColumn("ingest"), BarColumn(), MofNCompleteColumn(),
                            TimeRemainingColumn(), console=console, transient=True)
    reporter = _Reporter(progress.console if progress else console, quiet, progress)
    loggers = [logging.getLogger(name) for name in _LOGGERS]
    for logger in loggers:
        logger.addHandler(reporter)
    _quiet_prefect_console()
    try:
        if progress is not None:
            with progress:
                yield
        else:
            yield
    finally:
        for logger in loggers:
            logger.removeHandler(reporter)


__all__ = ["report_ingest"]
