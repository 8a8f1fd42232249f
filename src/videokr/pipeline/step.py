"""A step is a tiny interface; the runner owns skipping, transactions and the ledger.

A step says what an item is called (`item_id`), what makes two versions of an item
different (`item_fingerprint`) and what it does with one (`process`). The runner:

- skips items whose ledger entry carries the same fingerprint (of step name, step
  version and item), so a rerun redoes only new or changed items;
- retries quarantined items (a failure is not a verdict) unless told not to;
- writes each batch's records and ledger rows in one transaction, so a process killed at
  any instant loses at most the batch in flight and never half of one.

Executors can change underneath (a process pool for video-bound steps, asyncio for
model-bound steps) without a step knowing.
"""

from __future__ import annotations

import hashlib
import traceback
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, Generic, TypeVar

from videokr.records import Outcome, Record
from videokr.store import Store

Item = TypeVar("Item")


@dataclass
class Result:
    """What a step made of one item."""

    outcome: Outcome
    records: Sequence[Record] = ()
    reason: str | None = None
    detail: dict[str, Any] | None = None

    @classmethod
    def accept(cls, *records: Record, detail: dict[str, Any] | None = None) -> "Result":
        return cls(Outcome.ACCEPTED, records, None, detail)

    @classmethod
    def reject(cls, reason: str, *, detail: dict[str, Any] | None = None) -> "Result":
        return cls(Outcome.REJECTED, (), reason, detail)

    @classmethod
    def quarantine(cls, error: str, *, detail: dict[str, Any] | None = None) -> "Result":
        return cls(Outcome.QUARANTINED, (), error, detail)


class Step(ABC, Generic[Item]):
    """One paper step. Subclasses set `name` and `version`; bump `version` when logic changes."""

    name: ClassVar[str]
    version: ClassVar[str]

    @abstractmethod
    def item_id(self, item: Item) -> str: ...

    @abstractmethod
    def item_fingerprint(self, item: Item) -> str:
        """A string that changes whenever the item's inputs change."""

    @abstractmethod
    def process(self, item: Item) -> Result: ...

    def fingerprint(self, item: Item) -> str:
        text = "\x1f".join((self.name, self.version, self.item_fingerprint(item)))
        return hashlib.sha256(text.encode("utf-8")).hexdigest()[:32]


@dataclass
class StepReport:
    step: str
    seen: int = 0
    skipped: int = 0
    counts: dict[str, int] = field(default_factory=lambda: {o.value: 0 for o in Outcome})
    written: int = 0

    @property
    def processed(self) -> int:
        return sum(self.counts.values())


def already_done(
    done: dict[str, tuple[str, Outcome]], item_id: str, fingerprint: str, retry_quarantined: bool
) -> bool:
    """Whether the ledger already holds this item's outcome for the same inputs (quarantined: only if not retrying)."""
    previous = done.get(item_id)
    return (
        previous is not None
        and previous[0] == fingerprint
        and (previous[1] is not Outcome.QUARANTINED or not retry_quarantined)
    )


def run_step(
    store: Store,
    step: Step[Item],
    items: Iterable[Item],
    *,
    batch_size: int = 500,
    retry_quarantined: bool = True,
    on_progress: Callable[[int], None] | None = None,
) -> StepReport:
    """Run `step` over `items`, resumably. See the module docstring for the guarantees."""
    report = StepReport(step.name)
    done = store.ledger_index(step.name)
    for batch in _batches(items, batch_size):
        pending: list[tuple[str, str, Result]] = []
        for item in batch:
            report.seen += 1
            item_id = step.item_id(item)
            fingerprint = step.fingerprint(item)
            if already_done(done, item_id, fingerprint, retry_quarantined):
                report.skipped += 1
                continue
            try:
                result = step.process(item)
            except Exception as exc:  # a failure on one item must not stop the others
                result = Result.quarantine(
                    f"{type(exc).__name__}: {exc}", detail={"traceback": traceback.format_exc(limit=5)}
                )
            pending.append((item_id, fingerprint, result))
            done[item_id] = (fingerprint, result.outcome)
        _commit(store, step, pending, report)
        if on_progress is not None:
            on_progress(len(batch))
    return report


def _commit(store: Store, step: Step[Any], pending: list[tuple[str, str, Result]], report: StepReport) -> None:
    if not pending:
        return
    records = [record for _, _, result in pending for record in result.records]
    with store.transaction():
        put = store.put_many(records)
        store.record_outcomes(
            step.name,
            step.version,
            ((item_id, fp, result.outcome, result.reason, result.detail) for item_id, fp, result in pending),
        )
    report.written += put.inserted + put.updated
    for _, _, result in pending:
        report.counts[result.outcome.value] += 1


def _batches(items: Iterable[Item], size: int) -> Iterator[list[Item]]:
    batch: list[Item] = []
    for item in items:
        batch.append(item)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch
