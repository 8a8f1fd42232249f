"""Model-bound steps on the one runner: a `ModelStep` asks models through the gateway.

A model step subclasses `ModelStep` and writes `async def ask(item, gateway) -> Result`
(usually one or more `ask_structured` calls). What it raises decides the outcome: a
`videokr.errors.Verdict` rejects the item (the message is the reason; a rerun does not ask
again unless the item or the step's configuration changes), a `videokr.errors.Transient` —
and any other exception, so that a bug never becomes a verdict — quarantines it for the next
run. An exception's `detail` (a dict) and a verdict's `code` are kept in the ledger.

The runner drives it like any step, on the asyncio executor's sliding window (no batch
barrier: the slowest request never idles the other slots). The gateway is opened once per
run in `asetup` from the workspace's `models:` section (or handed in by the caller), and the
model calls are exactly-once through its cache, so an item interrupted half-way replays its
finished calls free.

With a dry-run gateway the step renders and prices every request and nothing reaches the
ledger: the returned report and `gateway.meter` say what a real run would cost.
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Callable, Iterable
from typing import Any, Generic

from videokr.models.gateway import Gateway
from videokr.pipeline.runner import StepReport, arun_step
from videokr.pipeline.step import Item, Resources, Result, Step


class ModelStep(Step[Item], Generic[Item]):
    """A step whose work is model calls through the gateway."""

    resources = Resources(kind="model")
    gateway: Gateway | None = None

    @abstractmethod
    async def ask(self, item: Item, gateway: Gateway) -> Result: ...

    async def aprocess(self, item: Item) -> Result:
        assert self.gateway is not None, "asetup opens the gateway"
        return await self.ask(item, self.gateway)

    async def asetup(self) -> None:
        if self.gateway is not None:  # handed in by the caller, who closes it
            self._owned = None
            return
        models = self.context.settings.get("models")
        if models is None:
            raise RuntimeError(f"step {self.name} needs the workspace's `models:` section")
        self._owned = Gateway(models, self.context.store, dry_run=bool(self.context.settings.get("dry_run")))
        self.gateway = await self._owned.__aenter__()

    async def ateardown(self) -> None:
        owned = getattr(self, "_owned", None)
        if owned is not None:
            self.meter = owned.meter
            await owned.aclose()
            self.gateway = None
            self._owned = None

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state.pop("gateway", None)
        state.pop("_owned", None)
        return state


async def run_model_step(
    store: Any,
    step: ModelStep[Any],
    items: Iterable[Any],
    gateway: Gateway,
    *,
    concurrency: int = 64,
    retry_quarantined: bool = True,
    on_progress: Callable[[int], None] | None = None,
    **_ignored: Any,
) -> StepReport:
    """Run a model step over `items` with a gateway the caller opened (inside its event loop)."""
    step.gateway = gateway
    try:
        return await arun_step(store, step, items=items, concurrency=concurrency, retire=False,
                               retry_quarantined=retry_quarantined, on_progress=on_progress,
                               commit=not gateway.dry_run)
    finally:
        step.gateway = None
