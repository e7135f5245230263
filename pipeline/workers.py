"""Model worker processes: the language model on every core, with the run's one writer elsewhere.

An ingest run hands batches of articles to `ModelPool`; each of its processes builds the run's
models once (`load`, a picklable recipe: the spaCy pipeline, the topics, the meaning model) and
turns chunks of articles into finished extractions (`work`), which come back as plain values.
Storing stays in the run's own process, one batch at a time.

Failure is bounded: an exception inside `work` is the work function's to report (it returns
its failures as lines); a process that dies (a crash, the kernel's OOM killer) breaks the pool,
and its chunk's articles are then run again one at a time in a fresh pool, so only the article
that kills a process again is reported, and none is lost. No call here waits on a process that
can no longer answer: `concurrent.futures` notices a dead worker, and `close` terminates the
processes instead of joining them when the run is failing.
"""

from __future__ import annotations

import contextlib
import gc
import multiprocessing
import os
import signal
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

__all__ = ["ChunkResult", "ModelPool", "PoolJob", "chunk_sizes", "use_pool"]

A = TypeVar("A")  # an input (an article)
R = TypeVar("R")  # a result (an extraction)

#: `work`'s answer for a chunk: the results of the inputs that worked, one line per input that failed
ChunkResult = tuple[list[R], list[str]]

#: A batch of fewer inputs than this per process runs in the caller's own process: handing a
#: chunk to a process and its results back costs a few milliseconds, and starting the pool
#: (about 2 s, the processes in parallel) is paid once a run, but a feed poll's few entries
#: never need it.
MIN_PER_PROCESS = 8

#: The most inputs in one chunk: a process holds a whole chunk's parsed articles at once until
#: its topics are tagged, so a huge batch still goes out in pieces of bounded memory.
MAX_PER_CHUNK = 64

# The worker side: each process's models, built by `_start` from the pool's `load` recipe.
# A process-wide value because it is the process's whole job; it never exists in the parent.
_models: Any = None


def use_pool(n_inputs: int, processes: int) -> bool:
    """Whether a batch of `n_inputs` goes to worker processes (see MIN_PER_PROCESS)."""
    return processes > 1 and n_inputs >= 2 * MIN_PER_PROCESS


def chunk_sizes(n_inputs: int, processes: int) -> list[int]:
    """Split a batch into a chunk per process, each of at most MAX_PER_CHUNK inputs.

    Fewer, larger chunks run faster: the model parses a chunk in batches of its own, and a
    chunk's fixed costs (its topic patterns, its trip between processes) are paid per chunk.
    The processes stay busy meanwhile because the caller keeps the next batch's chunks
    queued (`flows.ingest.IN_FLIGHT`).
    """
    if n_inputs <= 0:
        return []
    wanted = max(processes, -(-n_inputs // MAX_PER_CHUNK))
    chunks = max(1, min(n_inputs // MIN_PER_PROCESS, wanted))
    base, extra = divmod(n_inputs, chunks)
    return [base + (1 if i < extra else 0) for i in range(chunks)]


def _start(load: Callable[[], Any]) -> None:
    """Initializer of each worker: one BLAS thread (the cores are the processes'), Ctrl-C left
    to the parent, then the models.

    The models live as long as the process, so they are frozen out of the garbage collector's
    scans: its full collections walked their 160,000 objects again and again, about 3% of a
    process's time.
    """
    global _models
    from threadpoolctl import threadpool_limits

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    threadpool_limits(1)
    _models = load()
    gc.freeze()


def _ready() -> None:
    """A no-op: submitted once per process, it makes the executor start them all."""


def _run(work: Callable[[Any, Sequence[A]], ChunkResult[R]], chunk: Sequence[A]) -> ChunkResult[R]:
    return work(_models, chunk)


@dataclass
class PoolJob(Generic[A, R]):
    """One batch handed to the pool: its chunks in order, each with its future."""

    pool: ModelPool[A, R]
    chunks: list[Sequence[A]]
    futures: list[Future[ChunkResult[R]]]

    def result(self) -> ChunkResult[R]:
        """Wait for the batch: results in input order and one line per input that failed.

        A chunk whose process died is run again, an input at a time, in a fresh pool.
        """
        results: list[R] = []
        failures: list[str] = []
        for chunk, future in zip(self.chunks, self.futures):
            try:
                done, failed = future.result()
            except BrokenProcessPool:
                done, failed = self.pool.run_alone(chunk)
            results.extend(done)
            failures.extend(failed)
        return results, failures


class ModelPool(Generic[A, R]):
    """Worker processes that each hold the run's models; started at the first `submit`.

    `load` builds a process's models and `work(models, chunk)` does a chunk's work; both must
    be picklable (module-level functions, `functools.partial` of them). `describe(input)`
    names an input in a failure line. Processes are spawned, not forked: the parent is a
    threaded Prefect run, which a fork would copy with other threads' locks held.
    """

    def __init__(
        self, processes: int, load: Callable[[], Any], work: Callable[[Any, Sequence[A]], ChunkResult[R]],
        describe: Callable[[A], str] = str,
    ) -> None:
        self.processes = processes
        self._load = load
        self._work = work
        self._describe = describe
        self._executor: ProcessPoolExecutor | None = None
        self._closed = False

    def _pool(self) -> ProcessPoolExecutor:
        if self._closed:  # a job still waiting when its run failed must not start processes again
            raise RuntimeError("the model processes of this run were stopped")
        if self._executor is None:
            self._executor = ProcessPoolExecutor(
                max_workers=self.processes, mp_context=multiprocessing.get_context("spawn"),
                initializer=_start, initargs=(self._load,),
            )
        return self._executor

    def start(self) -> None:
        """Start the processes now, so their models load while the caller reads its first
        inputs (`submit` starts them otherwise); returns at once."""
        for _ in range(self.processes):
            self._pool().submit(_ready)

    def submit(self, inputs: Sequence[A]) -> PoolJob[A, R]:
        """Hand a batch to the processes, in chunks (`chunk_sizes`); returns at once."""
        chunks: list[Sequence[A]] = []
        start = 0
        for size in chunk_sizes(len(inputs), self.processes):
            chunks.append(list(inputs[start:start + size]))
            start += size
        futures = [self._submit(chunk) for chunk in chunks]
        return PoolJob(self, chunks, futures)

    def _submit(self, chunk: Sequence[A]) -> Future[ChunkResult[R]]:
        try:
            return self._pool().submit(_run, self._work, chunk)
        except BrokenProcessPool:  # broken by an earlier chunk: start afresh
            self._discard()
            return self._pool().submit(_run, self._work, chunk)

    def run_alone(self, chunk: Sequence[A]) -> ChunkResult[R]:
        """Run a chunk whose process died, an input at a time, each in a sound pool."""
        results: list[R] = []
        failures: list[str] = []
        for item in chunk:
            self._discard_if_broken()
            try:
                done, failed = self._pool().submit(_run, self._work, [item]).result()
            except BrokenProcessPool:
                self._discard()
                failures.append(f"{self._describe(item)}: could not be analysed "
                                "(its language-model process died)")
                continue
            results.extend(done)
            failures.extend(failed)
        return results, failures

    def worker_pids(self) -> list[int]:
        """The process ids of the pool's processes now (none before the first `submit`)."""
        if self._executor is None:
            return []
        return sorted(getattr(self._executor, "_processes", None) or {})

    def _discard_if_broken(self) -> None:
        if self._executor is not None and getattr(self._executor, "_broken", False):
            self._discard()

    def _discard(self) -> None:
        if self._executor is not None:
            _terminate(self._executor)
            self._executor = None

    def close(self, failing: bool = False) -> None:
        """Stop the processes: when the run ends well they have finished their work and exit
        on their own, without the caller waiting for them (about half a second); when not,
        they are terminated. The pool cannot be used again."""
        self._closed = True
        if self._executor is None:
            return
        if failing:
            _terminate(self._executor)
        else:
            self._executor.shutdown(wait=False)
        self._executor = None

    def __enter__(self) -> ModelPool[A, R]:
        return self

    def __exit__(self, kind: type[BaseException] | None, *_: object) -> None:
        self.close(failing=kind is not None)


def _terminate(executor: ProcessPoolExecutor) -> None:
    """Stop an executor's processes without waiting for their work (3.14 has `terminate_workers`)."""
    stop = getattr(executor, "terminate_workers", None)
    if stop is not None:  # pragma: no cover - Python 3.14+
        stop()
        return
    processes = list((getattr(executor, "_processes", None) or {}).values())
    executor.shutdown(wait=False, cancel_futures=True)
    for process in processes:
        if process.is_alive():
            process.terminate()
    for process in processes:
        process.join(timeout=5)
        # the executor's own thread may have reaped it first, which leaves is_alive() unsure
        if process.is_alive() and process.pid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(process.pid, signal.SIGKILL)
