"""Where the what-if solves run: here, in local processes, or on a Dask cluster.

Every pool runs the same module-level functions on the same plain arguments, each solve with
one CP-SAT worker and the same seed, so where a solve ran does not change its answer (as long
as the search ends by proving optimality rather than by the clock; see README).

>>> with local_pool(2) as pool:                                              # doctest: +SKIP
...     future = pool.submit(len, "abc")
...     pool.wait_any([future]) == {future}
True
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Callable, Collection
from concurrent.futures import (
    FIRST_COMPLETED,
    Future,
    ProcessPoolExecutor,
    ThreadPoolExecutor,
    wait,
)
from types import TracebackType
from typing import Any, Protocol, TypeVar

__all__ = ["Pool", "cluster_pool", "local_pool", "thread_pool"]

T = TypeVar("T")


class Pool(Protocol):
    """Submit a function of one argument; wait until some of the submitted are done."""

    where: str
    """Where the solves run, for reports: ``2 local processes``, ``Dask tcp://...``."""

    def submit(self, fn: Callable[[Any], T], job: Any) -> Any: ...

    def wait_any(self, futures: Collection[Any]) -> set[Any]: ...

    def __enter__(self) -> Pool: ...

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None,
                 tb: TracebackType | None) -> None: ...


class _Inline:
    """One solve after the other, in this process, each run when it is waited for (so
    progress is reported as they finish)."""

    where = "1 process"

    def __init__(self) -> None:
        self.queue: dict[Future[Any], tuple[Callable[[Any], Any], Any]] = {}

    def submit(self, fn: Callable[[Any], T], job: Any) -> Future[T]:
        future: Future[T] = Future()
        self.queue[future] = (fn, job)
        return future

    def wait_any(self, futures: Collection[Any]) -> set[Any]:
        done = {f for f in futures if f.done()}
        if done:
            return done
        future = next(f for f in self.queue if f in futures)
        fn, job = self.queue.pop(future)
        try:
            future.set_result(fn(job))
        except Exception as exc:
            future.set_exception(exc)
        return {future}

    def __enter__(self) -> _Inline:
        return self

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.queue.clear()


class _Processes:
    """Local worker processes (started fresh, not forked from a threaded parent)."""

    def __init__(self, processes: int) -> None:
        self.where = f"{processes} local processes"
        self.executor = ProcessPoolExecutor(max_workers=processes,
                                            mp_context=multiprocessing.get_context("spawn"))

    def submit(self, fn: Callable[[Any], T], job: Any) -> Future[T]:
        return self.executor.submit(fn, job)

    def wait_any(self, futures: Collection[Any]) -> set[Any]:
        return set(wait(futures, return_when=FIRST_COMPLETED).done)

    def __enter__(self) -> _Processes:
        return self

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.executor.shutdown(wait=True, cancel_futures=True)


class _Threads:
    """Threads of this process: for a process that may not start processes of its own (the
    service's job workers are daemonic). CP-SAT and HiGHS release the interpreter while they
    search, so two threads use two cores for most of a what-if run (bench/README.md)."""

    def __init__(self, threads: int) -> None:
        self.where = f"{threads} threads"
        self.executor = ThreadPoolExecutor(max_workers=threads,
                                           thread_name_prefix="chairtime-whatif")

    def submit(self, fn: Callable[[Any], T], job: Any) -> Future[T]:
        return self.executor.submit(fn, job)

    def wait_any(self, futures: Collection[Any]) -> set[Any]:
        return set(wait(futures, return_when=FIRST_COMPLETED).done)

    def __enter__(self) -> _Threads:
        return self

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.executor.shutdown(wait=True, cancel_futures=True)


class _Dask:
    """The workers of a Dask distributed cluster (``tcp://host:8786``); each worker needs
    Chairtime installed, and one thread per worker process keeps one solve per core."""

    def __init__(self, address: str) -> None:
        from distributed import Client, as_completed

        self.client = Client(address, set_as_default=False)  # type: ignore[no-untyped-call]
        workers = len(self.client.scheduler_info(n_workers=-1).get("workers", {}))
        self.where = f"Dask cluster {address} ({workers} workers)"
        self.finished = as_completed(loop=self.client.loop)  # type: ignore[no-untyped-call]

    def submit(self, fn: Callable[[Any], T], job: Any) -> Any:
        future = self.client.submit(fn, job, pure=False)
        self.finished.add(future)  # type: ignore[no-untyped-call]
        return future

    def wait_any(self, futures: Collection[Any]) -> set[Any]:
        done = {next(self.finished)}
        done.update(self.finished.next_batch(block=False))  # type: ignore[no-untyped-call]
        return done

    def __enter__(self) -> _Dask:
        return self

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.client.close()  # type: ignore[no-untyped-call]


def local_pool(processes: int | None = None) -> Pool:
    """``processes`` local worker processes (default: every core); 1 runs here, in order."""
    n = processes if processes is not None else (os.cpu_count() or 1)
    return _Inline() if n <= 1 else _Processes(n)


def thread_pool(threads: int) -> Pool:
    """``threads`` threads of this process (1: here, in order)."""
    return _Inline() if threads <= 1 else _Threads(threads)


def cluster_pool(address: str) -> Pool:
    """The Dask cluster whose scheduler listens at ``address`` (``pip install
    'chairtime[cluster]'``)."""
    return _Dask(address)
