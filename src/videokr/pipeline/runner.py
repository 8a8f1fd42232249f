"""The one runner: every step of every recipe goes through `run_step`.

What it guarantees, whatever the executor:

- an item whose ledger entry carries the same fingerprint (item × step version × step
  configuration) is skipped; a quarantined item is retried;
- every item taken in ends accepted, rejected (with a reason) or quarantined (with the error);
- each commit writes the outcomes, the records and their lineage of a group of finished
  items in one transaction, so a process killed at any instant loses at most the items
  in flight and never half of one;
- reprocessing an item supersedes what it produced before; an item whose input went away
  (rejected upstream, removed from a file) is retired with its outputs, so the live outputs
  of a step are always those of its live inputs;
- only this process writes the store; executors return results.

A global step (`scope = "global"`) sees all its items at once, and each item's
fingerprint also covers every other item's, so any change to the input set recomputes it.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from videokr.hashing import digest_parts
from videokr.pipeline.executors import Executor, failure_result, make_executor
from videokr.pipeline.step import Result, Step, to_item_outcome
from videokr.records import Outcome
from videokr.store import Store

DEFAULT_COMMIT_EVERY = 500
DEFAULT_COMMIT_SECONDS = 1.0


@dataclass
class StepReport:
    step: str
    seen: int = 0  # items taken in this run
    skipped: int = 0  # done before, same fingerprint
    counts: dict[str, int] = field(default_factory=lambda: {o.value: 0 for o in Outcome})
    written: int = 0  # records produced by this run's accepted items
    retired: int = 0  # items dropped because their input is gone
    left: int = 0  # pending items not started because of --limit
    dry_run: bool = False
    executor: str = "local"
    cost: dict[str, Any] | None = None  # a model step's dry run: requests, tokens and USD it would spend

    @property
    def processed(self) -> int:
        return sum(self.counts.values())

    def line(self) -> str:
        c = self.counts
        text = (f"{self.step}: {self.seen} in — {c['accepted']} accepted, {c['rejected']} rejected, "
                f"{c['quarantined']} quarantined, {self.skipped} already done")
        if self.retired:
            text += f", {self.retired} retired"
        if self.left:
            text += f", {self.left} left for later (--limit)"
        return text


def already_done(
    done: dict[str, tuple[str, Outcome]], item_id: str, fingerprint: str, retry_quarantined: bool = True
) -> bool:
    """Whether the ledger holds this item's outcome for the same inputs (quarantined: only if not retrying)."""
    previous = done.get(item_id)
    return (
        previous is not None
        and previous[0] == fingerprint
        and (previous[1] is not Outcome.QUARANTINED or not retry_quarantined)
    )


def retires_by_default(step: Step[Any], *, explicit: bool, limit: int | None) -> bool:
    """A full run of a derived step forgets items whose input went away; a source step, a given item
    list or a `--limit` run never does (they see only part of the inputs)."""
    return not explicit and limit is None and not step.source


@dataclass
class _Plan:
    report: StepReport
    triples: list[tuple[str, str, Any]]
    pending: list[tuple[str, str, Any]]
    gone: list[str]


def _plan(store: Store, step: Step[Any], items: Iterable[Any] | None, limit: int | None, dry_run: bool,
          retry_quarantined: bool, retire: bool | None) -> _Plan:
    report = StepReport(step.name, dry_run=dry_run)
    explicit = items is not None
    inputs = list(step.inputs(store) if items is None else items)  # materialised: the store changes under us
    triples = _identify(step, inputs)
    if step.scope == "global":
        triples = _globalise(step, triples)
    report.seen = len(triples)
    done = store.ledger_index(step.name)
    pending = [t for t in triples if not already_done(done, t[0], t[1], retry_quarantined)]
    report.skipped = len(triples) - len(pending)
    if retire is None:
        retire = retires_by_default(step, explicit=explicit, limit=limit)
    gone = sorted(set(done) - {t[0] for t in triples}) if retire else []
    if step.scope == "item" and limit is not None:
        report.left = max(0, len(pending) - limit)
        pending = pending[:limit]
    return _Plan(report, triples, pending, gone)


class _Committer:
    """Buffers finished items and commits them every `every` items or `seconds`, whichever comes first."""

    def __init__(self, store: Store, step: Step[Any], report: StepReport, every: int, seconds: float,
                 on_progress: Callable[[int], None] | None) -> None:
        self.store, self.step, self.report = store, step, report
        self.every, self.seconds, self.on_progress = every, seconds, on_progress
        self.buffer: list[tuple[str, str, Result]] = []
        self.last = time.monotonic()

    def add(self, finished: tuple[str, str, Result]) -> None:
        self.buffer.append(finished)
        if len(self.buffer) >= self.every or time.monotonic() - self.last >= self.seconds:
            self.flush()

    def flush(self) -> None:
        if self.buffer:
            _commit(self.store, self.step, self.buffer, self.report)
            if self.on_progress is not None:
                self.on_progress(len(self.buffer))
        self.buffer = []
        self.last = time.monotonic()


def run_step(
    store: Store,
    step: Step[Any],
    *,
    items: Iterable[Any] | None = None,
    executor: Executor | None = None,
    limit: int | None = None,
    dry_run: bool = False,
    retry_quarantined: bool = True,
    retire: bool | None = None,
    on_progress: Callable[[int], None] | None = None,
    commit_every: int = DEFAULT_COMMIT_EVERY,
    commit_seconds: float = DEFAULT_COMMIT_SECONDS,
) -> StepReport:
    """Run `step` over `items` (default: `step.inputs(store)`), resumably. See the module docstring.

    `retire` (default: a full run of a derived step) forgets ledger items absent from the inputs.
    `dry_run` counts what would be processed and writes nothing."""
    plan = _plan(store, step, items, limit, dry_run, retry_quarantined, retire)
    report = plan.report
    if dry_run:
        report.left, report.retired = len(plan.pending), len(plan.gone)
        if step.resources.kind == "model" and step.scope == "item" and plan.pending:
            _price(step, plan.pending, report)
        if plan.pending and (spend := step.dry_run_cost([item for _, _, item in plan.pending])):
            report.cost = {**(report.cost or {}), **spend}
        return report
    if plan.gone:
        report.retired = store.retire(step.name, plan.gone)
    if not plan.pending:
        return report
    if step.scope == "global":
        if limit is not None and limit < len(plan.pending):
            report.left = len(plan.pending)
            return report  # a global step cannot run on part of its input
        results = _run_global(step, plan.triples)
        _commit(store, step, results, report)
        if on_progress is not None:
            on_progress(len(results))
        return report
    chosen = executor or make_executor(step.default_executor(), workers=step.config.workers,
                                       concurrency=step.config.concurrency)
    report.executor = chosen.name
    committer = _Committer(store, step, report, commit_every, commit_seconds, on_progress)
    try:
        for finished in chosen.map(step, plan.pending):
            committer.add(finished)
    finally:
        committer.flush()  # what finished before an interruption is kept
    return report


async def arun_step(
    store: Store,
    step: Step[Any],
    *,
    items: Iterable[Any] | None = None,
    concurrency: int | None = None,
    limit: int | None = None,
    retry_quarantined: bool = True,
    retire: bool | None = None,
    on_progress: Callable[[int], None] | None = None,
    commit_every: int = DEFAULT_COMMIT_EVERY,
    commit_seconds: float = DEFAULT_COMMIT_SECONDS,
    commit: bool = True,
) -> StepReport:
    """`run_step` from inside a running event loop (a model step whose gateway the caller opened).

    With `commit=False` (a dry run that renders and prices requests) items are processed and
    counted under `dry_run`, and nothing reaches the ledger."""
    from videokr.pipeline.executors import AsyncExecutor

    if step.scope != "item":
        raise ValueError(f"step {step.name} is global; run it with run_step")
    plan = _plan(store, step, items, limit, not commit, retry_quarantined, retire)
    report = plan.report
    report.executor = "async"
    if not commit:
        async for _ in AsyncExecutor(concurrency or step.config.concurrency).amap(step, plan.pending):
            report.counts["dry_run"] = report.counts.get("dry_run", 0) + 1
            if on_progress is not None:
                on_progress(1)
        return report
    if plan.gone:
        report.retired = store.retire(step.name, plan.gone)
    committer = _Committer(store, step, report, commit_every, commit_seconds, on_progress)
    try:
        async for finished in AsyncExecutor(concurrency or step.config.concurrency).amap(step, plan.pending):
            committer.add(finished)
    finally:
        committer.flush()
    return report


def _price(step: Step[Any], pending: list[tuple[str, str, Any]], report: StepReport) -> None:
    """Render and price a model step's pending requests with a dry-run gateway; nothing is sent or stored."""
    from videokr.pipeline.executors import AsyncExecutor

    step.context.settings = {**step.context.settings, "dry_run": True}
    try:
        for _ in AsyncExecutor(step.config.concurrency).map(step, pending):
            pass
    finally:
        step.context.settings = {k: v for k, v in step.context.settings.items() if k != "dry_run"}
    meter = getattr(step, "meter", None)
    if meter is not None:
        report.cost = {"requests": meter.dry_run, "tokens_in": meter.tokens_in, "tokens_out": meter.tokens_out,
                       "usd": round(meter.cost_usd, 4)}


def pending_items(store: Store, step: Step[Any]) -> list[Any]:
    """The items `run_step` would process now (not done with the same fingerprint, quarantined ones
    included), in input order; what a caller that drives a step itself (the demo's renderer) takes."""
    return [item for _, _, item in _plan(store, step, None, None, True, True, False).pending]


def pending_count(store: Store, step: Step[Any]) -> tuple[int, int]:
    """(items the step would take in now, of which not done): the funnel's `pending`."""
    plan = _plan(store, step, None, None, True, True, False)
    return plan.report.seen, len(plan.pending)


def _identify(step: Step[Any], inputs: list[Any]) -> list[tuple[str, str, Any]]:
    triples = []
    seen: set[str] = set()
    for item in inputs:
        item_id = step.item_id(item)
        if item_id in seen:
            raise ValueError(f"step {step.name} was given item {item_id!r} twice; item ids must be unique")
        seen.add(item_id)
        triples.append((item_id, step.fingerprint(item), item))
    return triples


def _globalise(step: Step[Any], triples: list[tuple[str, str, Any]]) -> list[tuple[str, str, Any]]:
    """Each item's fingerprint also covers the whole input set: a global result depends on all items."""
    whole = digest_parts(*sorted(f"{i}={f}" for i, f, _ in triples))
    return [(i, digest_parts(f, whole), item) for i, f, item in triples]


def _run_global(step: Step[Any], triples: list[tuple[str, str, Any]]) -> list[tuple[str, str, Result]]:
    by_id = {t[0]: t for t in triples}
    try:
        step.setup()
        produced = list(step.process_all([t[2] for t in triples]))
    except Exception as exc:  # the whole step failed: every item carries the error, none is lost
        failed = failure_result(exc)
        return [(i, f, failed) for i, f, _ in triples]
    results: dict[str, Result] = {}
    for item, result in produced:
        results[step.item_id(item)] = result
    missing = Result.quarantine(f"step {step.name} returned no result for this item", code="no_result")
    return [(i, by_id[i][1], results.get(i, missing)) for i in by_id]


def _commit(store: Store, step: Step[Any], finished: list[tuple[str, str, Result]], report: StepReport) -> None:
    committed = store.commit_outcomes(
        step.name, step.version, [to_item_outcome(i, f, r) for i, f, r in finished]
    )
    for outcome in committed:
        report.counts[outcome.outcome.value] += 1
        report.written += len(outcome.records) if outcome.outcome is Outcome.ACCEPTED else 0


