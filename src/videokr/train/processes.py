"""Sums and gathers over a run's processes: what SFT and GRPO share to log one step's totals.

Both run one process on a single device and several under ``accelerate launch`` / torchrun; on one
process these return their input without touching a communication backend.
"""

from __future__ import annotations

from typing import Any


def sum_over_processes(acc: Any, values: list[float]) -> list[float]:
    """``values`` summed over all processes (float64: counts stay exact up to 2**53)."""
    if acc.num_processes == 1:
        return [float(v) for v in values]
    import torch

    total = acc.reduce(torch.tensor(values, dtype=torch.float64, device=acc.device), "sum")
    return total.tolist()


def gather_over_processes(acc: Any, rows: list[Any]) -> list[Any]:
    """Every process's ``rows``, in process order (``rows`` itself on one process)."""
    if acc.num_processes == 1:
        return list(rows)
    from accelerate.utils import gather_object

    return list(gather_object(rows))
