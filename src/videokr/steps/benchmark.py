"""§4.2's assembly: VideoKR-Eval = the retained original examples + the experts' re-annotated ones.

An item is a probed source candidate (with its live `FrameProbe`s) or a re-annotated candidate
of the `reannotation` step. A source candidate is kept iff no probe model solved it from one
frame (`videokr.benchmark.retention.decide`): accepted as a VideoKR-Eval `EvalItem` (same id,
`extra.origin` "source"); otherwise rejected with code `single_frame_solvable`, naming the
models — its video is in the re-annotation queue. A re-annotated candidate is accepted as an
`EvalItem` (`extra.origin` "reannotated").

The `EvalItem`s of this step are live benchmark items (`videokr.sets.BENCHMARK_STEPS`): the
`videos` step registers their videos and decontamination holds the training corpus against them.
`benchmark_export` writes them in the official evaluation layout and as an lmms-eval task.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from videokr.benchmark.paper import VIDEOKR_EVAL_NAME
from videokr.benchmark.reannotation import benchmark_item
from videokr.benchmark.retention import PROBE_STEP, SINGLE_FRAME_SOLVABLE_CODE, decide, decisions
from videokr.hashing import digest_json, digest_parts
from videokr.pipeline.recipe import register
from videokr.pipeline.step import Result, Step, StepConfig
from videokr.records import BenchmarkCandidate, EvalItem, FrameProbe
from videokr.store import Store

STEP = "benchmark"
EXPORT_STEP = "benchmark_export"
REANNOTATION_STEP = "reannotation"
OFFICIAL_FILE = "VideoKR_eval.jsonl"  # the official release's evaluation file name


class Offered(BaseModel):
    """A candidate for VideoKR-Eval and, for a source example, its live probes."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    candidate: BenchmarkCandidate
    probes: tuple[FrameProbe, ...] = ()

    @property
    def id(self) -> str:
        return self.candidate.id


@register
class BenchmarkStep(Step[Offered]):
    name = STEP
    version = "1"
    after = (PROBE_STEP, REANNOTATION_STEP)
    reads = "benchmark_candidate"
    writes = ("eval_item",)

    def inputs(self, store: Store) -> Iterator[Offered]:
        for decision in decisions(store):
            yield Offered(candidate=decision.candidate, probes=decision.probes)
        for candidate in store.live_outputs(REANNOTATION_STEP, "benchmark_candidate"):
            assert isinstance(candidate, BenchmarkCandidate)
            yield Offered(candidate=candidate)

    def item_fingerprint(self, item: Offered) -> str:
        return digest_json(item.model_dump(mode="json"))

    def process(self, item: Offered) -> Result:
        candidate = item.candidate
        if candidate.origin == "reannotated":
            return Result.accept(benchmark_item(candidate), detail={"origin": candidate.origin})
        decision = decide(candidate, item.probes)
        if not decision.retained:
            solvers = decision.solvable_by
            return Result.reject(f"{item.id}: answered right from one frame in every trial by {', '.join(solvers)}",
                                 code=SINGLE_FRAME_SOLVABLE_CODE,
                                 detail={"solvable_by": solvers, "dataset": candidate.dataset,
                                         "video_id": candidate.video_id})
        return Result.accept(benchmark_item(candidate), detail={"origin": candidate.origin})


def live_benchmark(store: Store) -> list[EvalItem]:
    """VideoKR-Eval as the store holds it now: the live items of the `benchmark` step, by id."""
    return [i for i in store.live_outputs(STEP, "eval_item") if isinstance(i, EvalItem)]


# -- the export ---------------------------------------------------------------------------------


class BenchmarkExportConfig(StepConfig):
    out: str = Field(default="exports/videokr-eval", description="output folder, relative to the workspace")
    family: str = Field(default="videokr", description="the lmms-eval task's prompt family (Appendix C.2)")
    video_root: str | None = Field(default=None, description="write video paths relative to this folder "
                                   "(set VIDEOKR_EVAL_ROOT to it when evaluating); default: absolute paths")


class Target(BaseModel):
    """The one thing the export writes: the live benchmark, by content."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    items: tuple[EvalItem, ...]

    @property
    def id(self) -> str:
        return VIDEOKR_EVAL_NAME


@register
class BenchmarkExportStep(Step[Target]):
    """`OUT/VideoKR_eval.jsonl` (the official evaluation layout, read back by `read_benchmark("VideoKR-Eval")`)
    and `OUT/videokr_eval/` (the lmms-eval task reading that file); rewritten only when the benchmark changed."""

    name = EXPORT_STEP
    version = "1"
    Config = BenchmarkExportConfig
    after = (STEP,)
    reads = "eval_item"

    def out_dir(self) -> Path:
        assert isinstance(self.config, BenchmarkExportConfig)
        out = Path(self.config.out)
        return out if out.is_absolute() else self.context.root / out

    def inputs(self, store: Store) -> list[Target]:
        items = tuple(live_benchmark(store))
        return [Target(items=items)] if items else []  # no benchmark yet: nothing to write

    def item_fingerprint(self, item: Target) -> str:
        return digest_parts(str(self.out_dir()), digest_json([i.model_dump(mode="json") for i in item.items]))

    def process(self, item: Target) -> Result:
        from videokr.evaluate.lmms_eval_export import TASK, export_task
        from videokr.formats.exporters import jsonl_row

        config = self.config
        assert isinstance(config, BenchmarkExportConfig)
        out = self.out_dir()
        out.mkdir(parents=True, exist_ok=True)
        data = out / OFFICIAL_FILE
        tmp = data.with_name(data.name + ".tmp")
        with tmp.open("w", encoding="utf-8") as handle:
            for record in item.items:
                handle.write(json.dumps(jsonl_row(self._relative(record)), ensure_ascii=False) + "\n")
        tmp.replace(data)
        staging = out / f".{TASK}.tmp"
        shutil.rmtree(staging, ignore_errors=True)
        try:
            made = export_task(staging, config.family, data_files=str(data.resolve()), dataset_path="json")
        except ValueError as exc:
            shutil.rmtree(staging, ignore_errors=True)
            return Result.reject(f"{EXPORT_STEP}: {exc}", code="cannot_export")
        final = out / TASK
        shutil.rmtree(final, ignore_errors=True)
        made.rename(final)
        shutil.rmtree(staging, ignore_errors=True)
        return Result.accept(detail={"files": [str(data), str(final)], "written": len(item.items)})

    def _relative(self, item: EvalItem) -> EvalItem:
        config = self.config
        assert isinstance(config, BenchmarkExportConfig)
        if config.video_root is None:
            return item
        root = Path(config.video_root)
        root = (root if root.is_absolute() else self.context.root / root).resolve()
        try:
            relative = Path(item.video_path).resolve().relative_to(root).as_posix()
        except ValueError:
            return item
        return item.model_copy(update={"video_path": relative})
