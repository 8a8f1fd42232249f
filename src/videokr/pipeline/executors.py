"""Where items of a step are processed: in-process, a process pool, an asyncio window, or Ray.

Every executor has one job: take (item id, fingerprint, item) triples and yield
(item id, fingerprint, Result) as each item finishes, in completion order. None of them
touches the store — only the runner (the driver) writes it — so a step runs unchanged on
any of them, and a worker killed mid-item costs that item a quarantine, never a corrupt store.

A step that raises `errors.Stop` ends the run: the executor lets it through, the runner commits
what finished and re-raises it.

- `local`: one item after another in this process (global steps, cheap steps, debugging).
- `process`: a pool of worker processes with a sliding window (video decoding, hashing).
  A worker that dies quarantines the items it held and the pool is replaced.
- `async`: one event loop with a sliding window of `concurrency` items in flight
  (model-bound steps). There is no batch barrier: as soon as one item finishes the next
  starts, so one slow request never idles the other slots.
- `ray`: Ray tasks with the same sliding window, for users who outgrow one machine
  (`pip install 'videokr[ray]'`; `RAY_ADDRESS` picks a cluster, else a local instance starts).
"""

from __future__ import annotations

import asyncio
import concurrent.futures as cf
import multiprocessing
import os
import traceback
import uuid
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Iterable, Iterator
from typing import Any

from videokr.errors import Stop, Transient, Verdict
from videokr.pipeline.step import ExecutorName, Result, Step

Triple = tuple[str, str, Any]
Done = tuple[str, str, Result]


def run_one(step: Step[Any], item: Any) -> Result:
    """`step.process(item)` with failures turned into outcomes: Verdict → rejected, the rest → quarantined."""
    try:
        return step.process(item)
    except Stop:
        raise
    except Exception as exc:  # one item's failure must not stop the others
        return failure_result(exc)


async def arun_one(step: Step[Any], item: Any) -> Result:
    try:
        return await step.aprocess(item)
    except Stop:
        raise
    except Exception as exc:  # one item's failure must not stop the others
        return failure_result(exc)


def failure_result(exc: BaseException) -> Result:
    """Verdict → rejected, anything else → quarantined; an exception's `detail` dict is kept in the ledger."""
    detail = getattr(exc, "detail", None)
    detail = dict(detail) if isinstance(detail, dict) else None
    if isinstance(exc, Verdict):
        return Result.reject(str(exc), code=getattr(exc, "code", None) or "verdict", detail=detail)
    if isinstance(exc, Transient):
        return Result.quarantine(str(exc), code="transient", detail=detail)
    return Result.quarantine(
        f"{type(exc).__name__}: {exc}", code="error",
        detail={**(detail or {}), "traceback": traceback.format_exc(limit=6)},
    )


class Executor(ABC):
    name: ExecutorName

    @abstractmethod
    def map(self, step: Step[Any], items: Iterable[Triple]) -> Iterator[Done]:
        """Process every item; yield each result as it is ready."""


def run_batch(step: Step[Any], batch: list[Triple]) -> list[Done]:
    """`step.process_batch` over a batch; a failure of the whole batch is every item's outcome."""
    try:
        results = list(step.process_batch([item for _, _, item in batch]))
        if len(results) != len(batch):
            raise RuntimeError(f"step {step.name} returned {len(results)} results for {len(batch)} items")
    except Stop:
        raise
    except Exception as exc:  # the batch failed together; its items are retried by the next run
        failed = failure_result(exc)
        results = [failed] * len(batch)
    return [(item_id, fingerprint, result) for (item_id, fingerprint, _), result in zip(batch, results)]


class LocalExecutor(Executor):
    name = "local"

    def map(self, step: Step[Any], items: Iterable[Triple]) -> Iterator[Done]:
        step.setup()
        if step.is_batched:
            batch: list[Triple] = []
            for triple in items:
                batch.append(triple)
                if len(batch) >= step.batch_size:
                    yield from run_batch(step, batch)
                    batch = []
            if batch:
                yield from run_batch(step, batch)
            return
        for item_id, fingerprint, item in items:
            yield item_id, fingerprint, run_one(step, item)


class AsyncExecutor(Executor):
    """A sliding window of `concurrency` coroutines on one event loop, driven from a plain iterator.

    The loop runs while the executor waits for the next result and pauses while the runner
    commits (a few milliseconds), so requests in flight keep their connections and slots."""

    name = "async"

    def __init__(self, concurrency: int = 64) -> None:
        self.concurrency = max(1, concurrency)

    def map(self, step: Step[Any], items: Iterable[Triple]) -> Iterator[Done]:
        loop = asyncio.new_event_loop()
        agen = self.amap(step, items)
        try:
            while True:
                try:
                    yield loop.run_until_complete(agen.__anext__())
                except StopAsyncIteration:
                    break
        finally:
            loop.run_until_complete(agen.aclose())
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()

    async def amap(self, step: Step[Any], items: Iterable[Triple]) -> AsyncIterator[Done]:
        """The window itself, for callers already inside an event loop."""
        items = iter(items)
        await step.asetup()
        running: dict[asyncio.Task[Result], tuple[str, str]] = {}
        try:
            exhausted = False
            while True:
                while not exhausted and len(running) < self.concurrency:
                    nxt = next(items, None)
                    if nxt is None:
                        exhausted = True
                        break
                    item_id, fingerprint, item = nxt
                    running[asyncio.ensure_future(arun_one(step, item))] = (item_id, fingerprint)
                if not running:
                    break
                done, _ = await asyncio.wait(running, return_when=asyncio.FIRST_COMPLETED)
                for task in done:
                    item_id, fingerprint = running.pop(task)
                    yield item_id, fingerprint, task.result()
        finally:
            for task in running:
                task.cancel()
            if running:
                await asyncio.gather(*running, return_exceptions=True)
            await step.ateardown()


# -- process pool ---------------------------------------------------------------------------

_WORKER_STEP: Step[Any] | None = None


def _init_worker(step: Step[Any]) -> None:
    global _WORKER_STEP
    _WORKER_STEP = step
    step.setup()


def _worker_run(item: Any) -> Result:
    assert _WORKER_STEP is not None
    return run_one(_WORKER_STEP, item)


class ProcessExecutor(Executor):
    """Worker processes (forkserver: children start clean, not as copies of a driver with open files)."""

    name = "process"

    def __init__(self, workers: int | None = None, window: int | None = None) -> None:
        self.workers = workers or os.cpu_count() or 1
        self.window = window or self.workers * 4

    def map(self, step: Step[Any], items: Iterable[Triple]) -> Iterator[Done]:
        source = iter(items)
        context = multiprocessing.get_context("forkserver")
        pool = cf.ProcessPoolExecutor(self.workers, mp_context=context, initializer=_init_worker, initargs=(step,))
        running: dict[cf.Future[Result], tuple[str, str]] = {}
        try:
            exhausted = False
            while True:
                while not exhausted and len(running) < self.window:
                    nxt = next(source, None)
                    if nxt is None:
                        exhausted = True
                        break
                    item_id, fingerprint, item = nxt
                    try:
                        running[pool.submit(_worker_run, item)] = (item_id, fingerprint)
                    except cf.process.BrokenProcessPool:
                        yield item_id, fingerprint, Result.quarantine("worker process died", code="worker_died")
                if not running:
                    break
                done, _ = cf.wait(running, return_when=cf.FIRST_COMPLETED)
                broken = False
                for future in done:
                    item_id, fingerprint = running.pop(future)
                    try:
                        yield item_id, fingerprint, future.result()
                    except cf.process.BrokenProcessPool:
                        broken = True
                        yield item_id, fingerprint, Result.quarantine("worker process died", code="worker_died")
                if broken:  # every other item of the pool is lost too: quarantine them, start a new pool
                    for future, (item_id, fingerprint) in running.items():
                        future.cancel()
                        yield item_id, fingerprint, Result.quarantine("worker process died", code="worker_died")
                    running.clear()
                    pool.shutdown(wait=False, cancel_futures=True)
                    pool = cf.ProcessPoolExecutor(self.workers, mp_context=context, initializer=_init_worker,
                                                  initargs=(step,))
        finally:
            pool.shutdown(wait=True, cancel_futures=True)


# -- Ray --------------------------------------------------------------------------------------

_RAY_STEPS: dict[str, tuple[str, Step[Any]]] = {}  # step name -> (run key, the set-up step)


def _ray_run(step_key: str, step: Step[Any], item: Any) -> Result:
    """In a Ray worker: set the step up once per worker process and run, then process the item."""
    held = _RAY_STEPS.get(step.name)
    if held is None or held[0] != step_key:
        step.setup()
        held = _RAY_STEPS[step.name] = (step_key, step)
    return run_one(held[1], item)


class RayExecutor(Executor):
    """Ray tasks, `window` in flight. The step is shipped once (ray.put); only results come back."""

    name = "ray"

    def __init__(self, workers: int | None = None, window: int | None = None, address: str | None = None) -> None:
        self.workers = workers
        self.window = window
        self.address = address

    def map(self, step: Step[Any], items: Iterable[Triple]) -> Iterator[Done]:
        try:
            import ray
        except ImportError:
            raise RuntimeError("the ray executor needs Ray: pip install 'videokr[ray]'") from None
        if not ray.is_initialized():
            ray.init(address=self.address or os.environ.get("RAY_ADDRESS"), include_dashboard=False,
                     log_to_driver=False, configure_logging=False)
        cpus = max(1, int(ray.cluster_resources().get("CPU", 1)))
        window = self.window or (self.workers or cpus) * 4
        remote = ray.remote(num_cpus=step.resources.cpus, max_retries=0)(_ray_run)
        step_ref = ray.put(step)
        key = f"{step.name}:{uuid.uuid4().hex}"  # one set-up per worker process and run of the step
        source = iter(items)
        running: dict[Any, tuple[str, str]] = {}
        exhausted = False
        while True:
            while not exhausted and len(running) < window:
                nxt = next(source, None)
                if nxt is None:
                    exhausted = True
                    break
                item_id, fingerprint, item = nxt
                running[remote.remote(key, step_ref, item)] = (item_id, fingerprint)
            if not running:
                break
            done, _ = ray.wait(list(running), num_returns=1)
            for ref in done:
                item_id, fingerprint = running.pop(ref)
                try:
                    result = ray.get(ref)
                except Exception as exc:  # a worker that died or a task Ray could not run: retry next time
                    result = Result.quarantine(f"Ray task failed: {type(exc).__name__}: {exc}", code="worker_died")
                yield item_id, fingerprint, result


def make_executor(name: ExecutorName, *, workers: int | None = None, concurrency: int = 64) -> Executor:
    if name == "local":
        return LocalExecutor()
    if name == "async":
        return AsyncExecutor(concurrency)
    if name == "process":
        return ProcessExecutor(workers)
    if name == "ray":
        return RayExecutor(workers)
    raise ValueError(f"unknown executor {name!r}; expected local, process, async or ray")
