"""§4.2's retention rule, in one place: keep an example iff no probe model solves it from one frame.

"For each model, an example is considered single-frame-solvable if the model answers it
correctly in all three trials ... We retain only the intersection of examples judged as
requiring continuous video understanding by all three models." The others are *filtered*:
their QA pairs are discarded and their videos go to the experts (`benchmark.reannotation`).

The `benchmark` step, the re-annotation queue and Table 9 all decide through `decide`, over
the live `FrameProbe`s of `frame_probe` (one per configured probe model: reprobing with other
models supersedes them), so the three can never disagree.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from videokr.records import BenchmarkCandidate, FrameProbe
from videokr.store import Store

SOURCES_STEP = "benchmark_sources"
PROBE_STEP = "frame_probe"
SINGLE_FRAME_SOLVABLE_CODE = "single_frame_solvable"


@dataclass(frozen=True)
class Decision:
    """What the probing says of one candidate: retained iff no model solved it from one frame."""

    candidate: BenchmarkCandidate
    probes: tuple[FrameProbe, ...]

    @property
    def solvable_by(self) -> list[str]:
        return [p.model for p in self.probes if p.solvable]

    @property
    def retained(self) -> bool:
        return bool(self.probes) and not self.solvable_by


def decide(candidate: BenchmarkCandidate, probes: Sequence[FrameProbe]) -> Decision:
    return Decision(candidate, tuple(sorted(probes, key=lambda p: p.model)))


def live_probes(store: Store) -> dict[str, list[FrameProbe]]:
    """candidate id -> its live probes (one per probe model)."""
    found: dict[str, list[FrameProbe]] = defaultdict(list)
    for probe in store.live_outputs(PROBE_STEP, "frame_probe"):
        assert isinstance(probe, FrameProbe)
        found[probe.candidate_id].append(probe)
    return found


def live_candidates(store: Store) -> Iterator[BenchmarkCandidate]:
    for candidate in store.live_outputs(SOURCES_STEP, "benchmark_candidate"):
        assert isinstance(candidate, BenchmarkCandidate)
        yield candidate


def decisions(store: Store) -> Iterator[Decision]:
    """A decision for every live candidate that has been probed (those not probed yet have none)."""
    probes = live_probes(store)
    for candidate in live_candidates(store):
        if candidate.id in probes:
            yield decide(candidate, probes[candidate.id])


def filtered(store: Store) -> list[Decision]:
    """The probed candidates some probe model solved from one frame: the re-annotation queue's examples."""
    return [d for d in decisions(store) if not d.retained]
