"""Running a model-bound step: the ledger semantics of `run_step`, on asyncio, through the gateway.

A model step subclasses `ModelStep` and writes `async def process(item, gateway) -> Result`
(usually one or more `ask_structured` calls). `run_model_step` keeps the guarantees of the
synchronous runner — skip items whose ledger fingerprint is unchanged, every item ends
accepted / rejected / quarantined, each batch of outcomes committed in one transaction —
while many items wait on the provider at once. The model calls themselves are exactly-once
through the gateway's cache, so an item interrupted half-way replays its finished calls free.

With a dry-run gateway the step renders and prices every request and nothing reaches the
ledger: the returned report and `gateway.meter` say what a real run would cost.
"""

from __future__ import annotations

import asyncio
import traceback
from abc import abstractmethod
from collections.abc import Callable, Iterable
from typing import Any, Generic

from videokr.models.gateway import Gateway
from videokr.pipeline.step import Item, Result, Step, StepReport, _commit, already_done
from videokr.store import Store


class ModelStep(Step[Item], Generic[Item]):
    """A step whose work is model calls. `process` is async and gets the gateway."""

    @abstractmethod
    async def aprocess(self, item: Item, gateway: Gateway) -> Result: ...

    def process(self, item: Item) -> Result:  # pragma: no cover - the async runner calls aprocess
        raise TypeError(f"{self.name} is a model step; run it with run_model_step")


async def run_model_step(
    store: Store,
    step: ModelStep[Any],
    items: Iterable[Any],
    gateway: Gateway,
    *,
    concurrency: int = 64,
    batch_size: int = 200,
    retry_quarantined: bool = True,
    on_progress: Callable[[int], None] | None = None,
) -> StepReport:
    report = StepReport(step.name)
    done = store.ledger_index(step.name)
    semaphore = asyncio.Semaphore(concurrency)

    async def one(item: Any) -> tuple[str, str, Result] | None:
        item_id = step.item_id(item)
        fingerprint = step.fingerprint(item)
        if already_done(done, item_id, fingerprint, retry_quarantined):
            report.skipped += 1
            return None
        async with semaphore:
            try:
                result = await step.aprocess(item, gateway)
            except Exception as exc:  # one item's failure must not stop the others
                result = Result.quarantine(f"{type(exc).__name__}: {exc}",
                                           detail={"traceback": traceback.format_exc(limit=5)})
        return item_id, fingerprint, result

    batch: list[Any] = []

    async def flush() -> None:
        results = await asyncio.gather(*(one(item) for item in batch))
        report.seen += len(batch)
        pending = [r for r in results if r is not None]
        if gateway.dry_run:
            report.counts["dry_run"] = report.counts.get("dry_run", 0) + len(pending)
        else:
            _commit(store, step, pending, report)
        if on_progress is not None:
            on_progress(len(batch))
        batch.clear()

    for item in items:
        batch.append(item)
        if len(batch) >= batch_size:
            await flush()
    if batch:
        await flush()
    return report
