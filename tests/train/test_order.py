"""The data order (seeded per epoch, the same on resume and on any number of processes) and the
checkpoint folder's bookkeeping."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from videokr.train.checkpoint import check_settings, checkpoints, latest_checkpoint, truncate_log, ResumeError
from videokr.train.order import DataOrder, accumulation_steps, total_steps


def test_every_epoch_is_a_seeded_shuffle_of_all_examples() -> None:
    order = DataOrder(size=10, global_batch=4, seed=7)
    assert order.steps_per_epoch == 3  # 4 + 4 + 2: nothing is dropped
    first = [i for s in range(3) for i in order.step_examples(s)]
    second = [i for s in range(3, 6) for i in order.step_examples(s)]
    assert sorted(first) == sorted(second) == list(range(10))
    assert first != second and first != list(range(10))  # each epoch its own shuffle
    again = DataOrder(size=10, global_batch=4, seed=7)
    assert [again.step_examples(s) for s in (4, 0, 5)] == [order.step_examples(s) for s in (4, 0, 5)]  # any order of asking
    assert DataOrder(size=10, global_batch=4, seed=8).step_examples(0) != order.step_examples(0)


def test_processes_split_each_step_between_them() -> None:
    single = DataOrder(size=13, global_batch=6, seed=0)
    shares = [DataOrder(size=13, global_batch=6, seed=0, process_index=r, num_processes=3) for r in range(3)]
    for step in range(5):
        parts = [s.process_examples(step) for s in shares]
        assert sorted(i for p in parts for i in p) == sorted(single.step_examples(step))


def test_accumulation_makes_up_the_global_batch() -> None:
    assert accumulation_steps(32, 1, 1) == 32
    assert accumulation_steps(32, 2, 8) == 2
    with pytest.raises(ValueError, match="not a multiple of micro_batch × processes"):
        accumulation_steps(32, 3, 2)
    assert total_steps(100, 32, 1, None) == 4 and total_steps(100, 32, 2, None) == 8
    assert total_steps(100, 32, 1, 3) == 3


def test_only_complete_checkpoints_count(tmp_path: Path) -> None:
    root = tmp_path / "checkpoints"
    for name in ("step-000002", "step-000010", "step-000012.tmp", "notes"):
        (root / name).mkdir(parents=True)
    assert [s for s, _ in checkpoints(tmp_path)] == [2, 10]
    assert latest_checkpoint(tmp_path) == root / "step-000010"  # a save cut short (.tmp) is not one
    assert latest_checkpoint(tmp_path / "elsewhere") is None


def test_a_resumed_log_drops_the_lines_after_the_checkpoint(tmp_path: Path) -> None:
    log = tmp_path / "metrics.jsonl"
    log.write_text("".join(json.dumps({"step": s, "loss": 1.0 / s}) + "\n" for s in range(1, 6)) + '{"step": 6, "lo')
    truncate_log(log, 3)
    assert [json.loads(line)["step"] for line in log.read_text().splitlines()] == [1, 2, 3]


def test_a_checkpoint_of_other_settings_is_refused(tmp_path: Path) -> None:
    check_settings({"seed": 1, "global_batch": 32}, {"seed": 1, "global_batch": 32}, tmp_path)
    with pytest.raises(ResumeError, match="global_batch: 32 then, 64 now.*--no-resume"):
        check_settings({"seed": 1, "global_batch": 32}, {"seed": 1, "global_batch": 64}, tmp_path)
