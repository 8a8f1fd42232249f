"""The step contract: what every paper step declares, so one runner can drive them all.

A step is a small class. It says

- its `name` (the ledger and lineage key), its code `version` (bump when its logic changes),
- its typed `Config` (a pydantic model: its section of `videokr.yaml`; every field that can
  change outputs is hashed into each item's fingerprint, so a changed prompt, model list or
  threshold redoes exactly the affected items — no hand-bumped versions),
- which steps feed it (`after`) and which record kind it reads from them (`reads`), and
  which kinds it writes (`writes`),
- its `resources` (what kind of work it is: cpu, video or model; how many CPUs an item
  needs), from which the runner picks an executor unless the config names one,
- its `scope`: `item` (each item on its own: import, probe, a model call) or `global` (the
  result of one item depends on all of them: decontamination, the split, an export),
- and what it does: `process(item) -> Result` (sync), `aprocess(item) -> Result` (async,
  for model-bound steps), `process_batch(items)` (items that run better together, as a GPU
  model's batch; `batch_size` in its config), or `process_all(items)` for a global step.

The step never writes the store. It returns `Result`s; the runner commits each item's
outcome and records together, links the records to the item (lineage) and supersedes what
the item produced before. Raise `videokr.errors.Verdict` to reject an item, anything else
to quarantine it (retried by the next run).
"""

from __future__ import annotations

from abc import ABC
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Generic, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field

from videokr.hashing import digest_json, digest_parts
from videokr.records import Outcome, Record
from videokr.store import ItemOutcome, Store

Item = TypeVar("Item")
ExecutorName = Literal["local", "process", "async", "ray"]


@dataclass
class Result:
    """What a step made of one item."""

    outcome: Outcome
    records: Sequence[Record] = ()
    reason: str | None = None
    detail: dict[str, Any] | None = None
    code: str | None = None

    @classmethod
    def accept(cls, *records: Record, detail: dict[str, Any] | None = None) -> "Result":
        return cls(Outcome.ACCEPTED, records, None, detail)

    @classmethod
    def reject(cls, reason: str, *, code: str | None = None, detail: dict[str, Any] | None = None) -> "Result":
        """A verdict: the item is bad or fails the step's test. `code` groups reasons in the funnel."""
        return cls(Outcome.REJECTED, (), reason, detail, code)

    @classmethod
    def quarantine(cls, error: str, *, code: str | None = None, detail: dict[str, Any] | None = None) -> "Result":
        """A failure that says nothing about the item; the next run retries it."""
        return cls(Outcome.QUARANTINED, (), error, detail, code)


class StepConfig(BaseModel):
    """A step's section of `videokr.yaml`. Subclass it; unknown keys are errors that name the key.

    `executor`, `workers` and `concurrency` say how to run, not what to compute, so they are
    not part of the fingerprint; a subclass adds names to `RUN_ONLY` for more such fields.
    """

    model_config = ConfigDict(extra="forbid")
    RUN_ONLY: ClassVar[frozenset[str]] = frozenset({"executor", "workers", "concurrency"})

    executor: ExecutorName | None = Field(default=None, description="local | process | async | ray (default: by resources)")
    workers: int | None = Field(default=None, ge=1, description="processes or Ray tasks in flight (default: CPU count)")
    concurrency: int = Field(default=64, ge=1, description="model requests in flight (async executor)")

    def fingerprint(self) -> str:
        """The digest of every setting that can change outputs."""
        data = self.model_dump(mode="json", exclude=set(self.RUN_ONLY))
        return digest_json(data)


@dataclass(frozen=True)
class Resources:
    """What an item of a step needs. `kind` picks the default executor: cpu → local, video → process, model → async."""

    kind: Literal["cpu", "video", "model"] = "cpu"
    cpus: float = 1.0


@dataclass
class StepContext:
    """What a step may know about its workspace. Only plain values cross to worker processes.

    `store` is there for reading in the driver (inputs, a global step's lookups, caches of
    its own); it is dropped when a step is sent to a worker, and the outcome tables are
    written by the runner alone."""

    root: Path = field(default_factory=Path.cwd)
    video_root: Path | None = None
    recipe: tuple[str, ...] = ()
    settings: dict[str, Any] = field(default_factory=dict)  # other sections a step may read (e.g. models)
    store: Store | None = None

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["store"] = None
        return state


class Step(ABC, Generic[Item]):
    """One paper step. See the module docstring for the contract."""

    name: ClassVar[str]
    version: ClassVar[str] = "1"
    Config: ClassVar[type[StepConfig]] = StepConfig
    after: ClassVar[tuple[str, ...]] = ()
    reads: ClassVar[str | None] = None
    writes: ClassVar[tuple[str, ...]] = ()
    resources: ClassVar[Resources] = Resources()
    scope: ClassVar[Literal["item", "global"]] = "item"
    # A source step takes items from outside the store (files); items it once took in are never retired.
    source: ClassVar[bool] = False

    def __init__(self, config: StepConfig | None = None, context: StepContext | None = None) -> None:
        self.config = config if config is not None else self.Config()
        if not isinstance(self.config, self.Config):
            raise TypeError(f"step {self.name} needs a {self.Config.__name__}, got {type(self.config).__name__}")
        self.context = context or StepContext()
        self._config_digest = digest_parts(self.name, self.version, self.config.fingerprint())

    # -- what the step takes in ------------------------------------------------------

    def inputs(self, store: Store) -> Iterable[Item]:
        """The items of a run: by default the live `reads` records produced by the `after` steps."""
        if self.reads is None or not self.after:
            raise NotImplementedError(f"step {self.name} must define inputs() or declare `reads` and `after`")
        return store.live_outputs(self.after, self.reads)  # type: ignore[return-value]

    def item_id(self, item: Item) -> str:
        return str(getattr(item, "id"))

    def item_fingerprint(self, item: Item) -> str:
        """A string that changes whenever what the step sees of the item changes."""
        if isinstance(item, Record):
            return digest_parts(item.to_json())
        raise NotImplementedError(f"step {self.name} must define item_fingerprint for {type(item).__name__}")

    def fingerprint(self, item: Item) -> str:
        """Item × step code version × configuration: equal iff a rerun would compute the same."""
        return digest_parts(self._config_digest, self.item_fingerprint(item))

    # -- what it does (one of the three) ----------------------------------------------

    def process(self, item: Item) -> Result:
        raise NotImplementedError(f"step {self.name} defines neither process, aprocess nor process_all")

    async def aprocess(self, item: Item) -> Result:
        return self.process(item)

    def process_batch(self, items: Sequence[Item]) -> Sequence[Result]:
        """Several items at once, one result each in order (a GPU model batches them); see `batch_size`."""
        return [self.process(item) for item in items]

    @property
    def batch_size(self) -> int:
        """Items handed to `process_batch` at once (1 unless the step defines `process_batch`)."""
        return int(getattr(self.config, "batch_size", 1) or 1) if self.is_batched else 1

    @property
    def is_batched(self) -> bool:
        return type(self).process_batch is not Step.process_batch

    def process_all(self, items: Sequence[Item]) -> Iterable[tuple[Item, Result]]:
        """A global step's work: every item's result, computed together."""
        return ((item, self.process(item)) for item in items)

    @property
    def is_async(self) -> bool:
        return type(self).aprocess is not Step.aprocess

    # -- lifecycle in the process that runs items -------------------------------------

    def setup(self) -> None:
        """Once per worker process before its first item (open models, load indexes)."""

    async def asetup(self) -> None:
        """Once per event loop before the first `aprocess` (open the model gateway)."""

    async def ateardown(self) -> None:
        """After the last `aprocess`."""

    def default_executor(self) -> ExecutorName:
        if self.config.executor is not None:
            return self.config.executor
        if self.is_async:
            return "async"
        return "process" if self.resources.kind == "video" and self.scope == "item" else "local"

    def dry_run_cost(self, items: Sequence[Item]) -> dict[str, Any] | None:
        """What a real run over `items` would spend beyond model calls (e.g. API quota units), for
        `--dry-run`; nothing may be sent. Model steps are priced by the runner itself."""
        return None

    def describe(self) -> str:
        """One line for `videokr run --dry-run`: what the step reads and writes."""
        reads = f"{self.reads} from {', '.join(self.after)}" if self.after else "its sources"
        return f"{self.name}: reads {reads}; writes {', '.join(self.writes) or 'files'}"


def to_item_outcome(item_id: str, fingerprint: str, result: Result) -> ItemOutcome:
    return ItemOutcome(item_id, fingerprint, result.outcome, tuple(result.records), result.reason, result.code,
                       result.detail)
