"""The one runner: lineage, fingerprints from configuration, retirement, global steps and every executor."""

from __future__ import annotations

import pytest

from tests.pipeline.steps_for_tests import AsyncWords, Count, Words, WordsConfig, seed_scenarios
from videokr.pipeline.executors import AsyncExecutor, LocalExecutor, ProcessExecutor
from videokr.pipeline.runner import run_step
from videokr.records import Outcome
from videokr.store import Store

TEXTS = {f"s{i:03d}": f"alpha beta {i}" for i in range(40)}


def live_texts(store: Store, step: str = "words") -> dict[str, str]:
    return {r.id: r.text for r in store.live_outputs(step, "search_keyword")}


def test_live_outputs_follow_reprocessing_and_rejection(store: Store) -> None:
    seed_scenarios(store, {"a": "red fox", "b": "blue owl"})
    report = run_step(store, Words())
    assert report.counts == {"accepted": 2, "rejected": 0, "quarantined": 0}
    assert live_texts(store) == {"a-0": "red!", "a-1": "fox!", "b-0": "blue!", "b-1": "owl!"}
    assert store.producers("search_keyword", "a-1") == [("words", "a")]
    # the input changes: the item is redone and its old outputs are superseded in the same commit
    seed_scenarios(store, {"a": "red", "b": "blue owl"})
    report = run_step(store, Words())
    assert (report.counts["accepted"], report.skipped) == (1, 1)
    assert live_texts(store) == {"a-0": "red!", "b-0": "blue!", "b-1": "owl!"}
    assert store.get("search_keyword", "a-1") is None
    # a rejected item leaves no live outputs
    run_step(store, Words(WordsConfig(reject=["red"])))
    assert store.ledger_get("words", "a").outcome is Outcome.REJECTED
    assert store.ledger_get("words", "a").code == "not_allowed"
    assert set(live_texts(store)) == {"b-0", "b-1"}
    # an input that went away upstream retires the item and its outputs
    seed_scenarios(store, {"a": "red"})
    report = run_step(store, Words(WordsConfig(reject=["red"])))
    assert report.retired == 1 and live_texts(store) == {} and store.ledger_get("words", "b") is None


def test_configuration_is_the_fingerprint(store: Store) -> None:
    seed_scenarios(store, TEXTS)
    assert run_step(store, Words()).counts["accepted"] == 40
    # how to run is not what to compute: nothing is redone
    again = run_step(store, Words(WordsConfig(workers=1, concurrency=3, executor="local")))
    assert again.skipped == 40 and again.processed == 0
    # a changed setting redoes exactly the items it affects: all of them here
    changed = run_step(store, Words(WordsConfig(suffix="?")))
    assert changed.counts["accepted"] == 40
    assert set(live_texts(store).values()) >= {"alpha?", "beta?"}


def test_transient_failures_are_retried_and_verdicts_are_not(store: Store, tmp_path) -> None:
    seed_scenarios(store, {"a": "red", "b": "blue"})
    marker = tmp_path / "down"
    marker.write_text("x")
    config = WordsConfig(fail_once_marker=str(marker), reject=["blue"])
    first = run_step(store, Words(config), executor=LocalExecutor())
    assert first.counts == {"accepted": 0, "rejected": 0, "quarantined": 2}
    entry = store.ledger_get("words", "a")
    assert entry.outcome is Outcome.QUARANTINED and entry.reason == "the service is down" and entry.code == "transient"
    marker.unlink()
    second = run_step(store, Words(config), executor=LocalExecutor())
    assert second.counts == {"accepted": 1, "rejected": 1, "quarantined": 0}
    third = run_step(store, Words(config))
    assert third.skipped == 2 and third.processed == 0


@pytest.mark.parametrize("executor", [LocalExecutor(), AsyncExecutor(7), ProcessExecutor(2)], ids=lambda e: e.name)
def test_every_executor_writes_the_same_store(tmp_path, executor) -> None:
    reference = Store(tmp_path / "ref.sqlite")
    seed_scenarios(reference, TEXTS)
    run_step(reference, Words(), executor=LocalExecutor())
    store = Store(tmp_path / f"{executor.name}.sqlite")
    seed_scenarios(store, TEXTS)
    report = run_step(store, Words(), executor=executor, commit_every=7)
    assert report.counts["accepted"] == 40 and report.executor == executor.name
    assert live_texts(store) == live_texts(reference)
    assert store.outputs_of("words", "s007") == reference.outputs_of("words", "s007")


def test_async_steps_run_on_the_sliding_window(store: Store) -> None:
    seed_scenarios(store, TEXTS)
    step = AsyncWords()
    assert step.default_executor() == "async"
    report = run_step(store, step)
    assert report.executor == "async" and report.counts["accepted"] == 40


def test_a_dead_worker_quarantines_its_items_and_the_rest_go_on(store: Store) -> None:
    seed_scenarios(store, TEXTS)
    report = run_step(store, Words(WordsConfig(crash_on="alpha beta 13")), executor=ProcessExecutor(2))
    assert report.counts["quarantined"] >= 1 and report.counts["accepted"] >= 30
    assert sum(report.counts.values()) == 40
    assert store.ledger_get("words", "s013").code == "worker_died"
    retry = run_step(store, Words(), executor=ProcessExecutor(2))  # the crash is gone: everything ends accepted
    assert store.ledger_summary()["words"]["accepted"] == 40 and retry.counts["accepted"] == report.counts["quarantined"]


def test_global_step_recomputes_when_any_input_changes(store: Store) -> None:
    seed_scenarios(store, {"a": "red fox", "b": "blue"})
    run_step(store, Words())
    run_step(store, Count())
    assert live_texts(store, "count") == {"n-a-0": "red! of 3", "n-a-1": "fox! of 3", "n-b-0": "blue! of 3"}
    assert run_step(store, Count()).skipped == 3
    seed_scenarios(store, {"a": "red fox", "b": "blue", "c": "green"})
    run_step(store, Words())
    report = run_step(store, Count())
    assert report.counts["accepted"] == 4 and set(live_texts(store, "count").values()) == {
        "red! of 4", "fox! of 4", "blue! of 4", "green! of 4"}


def test_limit_and_dry_run(store: Store) -> None:
    seed_scenarios(store, TEXTS)
    dry = run_step(store, Words(), dry_run=True)
    assert dry.left == 40 and store.ledger_summary() == {"seed": store.ledger_summary()["seed"]}
    part = run_step(store, Words(), limit=15)
    assert part.counts["accepted"] == 15 and part.left == 25 and part.retired == 0
    rest = run_step(store, Words())
    assert rest.skipped == 15 and rest.counts["accepted"] == 25


def test_records_of_another_item_are_never_overwritten(store: Store) -> None:
    from videokr.records import Scenario
    from videokr.store import ItemOutcome

    one = Scenario(id="x", knowledge_point_id="kp", text="first")
    other = Scenario(id="x", knowledge_point_id="kp", text="second")
    store.commit_outcomes("a", "1", [ItemOutcome("i1", "f", Outcome.ACCEPTED, (one,))])
    committed = store.commit_outcomes("b", "1", [ItemOutcome("i2", "f", Outcome.ACCEPTED, (other,))])
    assert committed[0].outcome is Outcome.REJECTED and committed[0].code == "conflict"
    assert "made by step a from item 'i1'" in committed[0].reason
    assert store.get("scenario", "x") == one and store.outputs_of("b", "i2") == []
    same = store.commit_outcomes("b", "1", [ItemOutcome("i3", "f", Outcome.ACCEPTED, (one,))])
    assert same[0].outcome is Outcome.ACCEPTED  # the same content is shared by both producers
    store.retire("a", ["i1"])
    assert store.get("scenario", "x") == one  # still held by b/i3
    store.retire("b", ["i3"])
    assert store.get("scenario", "x") is None


def test_conflicts_inside_one_commit_are_caught_too(store: Store) -> None:
    from videokr.records import Scenario
    from videokr.store import ItemOutcome

    one = Scenario(id="x", knowledge_point_id="kp", text="first")
    other = Scenario(id="x", knowledge_point_id="kp", text="second")
    committed = store.commit_outcomes("a", "1", [ItemOutcome("i1", "f", Outcome.ACCEPTED, (one,)),
                                                 ItemOutcome("i2", "f", Outcome.ACCEPTED, (other,)),
                                                 ItemOutcome("i3", "f", Outcome.ACCEPTED, (one,))])
    assert [c.outcome for c in committed] == [Outcome.ACCEPTED, Outcome.REJECTED, Outcome.ACCEPTED]
    assert "from item 'i1'" in committed[1].reason
    assert store.get("scenario", "x") == one and store.producers("scenario", "x") == [("a", "i1"), ("a", "i3")]


def test_the_async_window_has_no_batch_barrier(store: Store) -> None:
    """One slow item must not hold back the items after it: they finish and are committed around it."""
    import asyncio

    from tests.pipeline.steps_for_tests import AsyncWords

    class OneSlow(AsyncWords):
        async def aprocess(self, item):  # noqa: ANN001, ANN201
            await asyncio.sleep(0.5 if item.id == "s000" else 0.005)
            return self.process(item)

    seed_scenarios(store, TEXTS)
    order = [item_id for item_id, _, _ in AsyncExecutor(4).map(OneSlow(), [
        (sid, "f", s) for sid, s in ((s.id, s) for s in store.live_outputs("seed", "scenario"))])]
    assert len(order) == 40 and order.index("s000") >= 30  # 3 free slots served the other 39 meanwhile
