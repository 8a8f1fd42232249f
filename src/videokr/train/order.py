"""Which examples each optimizer step trains on, on each process.

The order is a pure function of (seed, epoch, dataset size, global batch): every epoch is
its own seeded shuffle, and step ``s`` takes the next ``global_batch`` examples of it. So a
run resumed at step ``s`` sees exactly the batches the interrupted run would have seen, with
no sampler state to save, and a run on another number of devices trains on the same global
batches (each process takes every ``num_processes``-th example of a step).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np


@dataclass
class DataOrder:
    size: int
    global_batch: int
    seed: int
    process_index: int = 0
    num_processes: int = 1
    _epochs: dict[int, np.ndarray] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        if self.size <= 0:
            raise ValueError("no examples to order")
        if not 0 <= self.process_index < self.num_processes:
            raise ValueError(f"process {self.process_index} of {self.num_processes}")

    @property
    def steps_per_epoch(self) -> int:
        """Optimizer steps of one pass; the last one takes what is left (nothing is dropped)."""
        return math.ceil(self.size / self.global_batch)

    def epoch_of(self, step: int) -> int:
        return step // self.steps_per_epoch

    def permutation(self, epoch: int) -> np.ndarray:
        """The epoch's shuffle, seeded by (seed, epoch)."""
        if epoch not in self._epochs:
            self._epochs = {epoch: np.random.default_rng([self.seed, epoch]).permutation(self.size)}
        return self._epochs[epoch]

    def step_examples(self, step: int) -> list[int]:
        """The dataset indices optimizer step ``step`` (from 0) trains on, over all processes."""
        within = step % self.steps_per_epoch
        order = self.permutation(self.epoch_of(step))
        return [int(i) for i in order[within * self.global_batch : (within + 1) * self.global_batch]]

    def process_examples(self, step: int) -> list[int]:
        """This process's share of the step: every ``num_processes``-th example."""
        return self.step_examples(step)[self.process_index :: self.num_processes]


def accumulation_steps(global_batch: int, micro_batch: int, num_processes: int) -> int:
    """Forward passes per process per optimizer step, so that micro × processes × passes = global."""
    per_pass = micro_batch * num_processes
    if global_batch % per_pass:
        raise ValueError(
            f"global_batch {global_batch} is not a multiple of micro_batch × processes "
            f"({micro_batch} × {num_processes} = {per_pass}); choose a micro_batch and a number of "
            "processes whose product divides the global batch"
        )
    return global_batch // per_pass


def total_steps(size: int, global_batch: int, epochs: int, max_steps: int | None) -> int:
    """Optimizer steps of the run: ``max_steps`` when given (the schedule follows it), else epochs × steps."""
    if max_steps is not None:
        return max_steps
    return epochs * math.ceil(size / global_batch)
