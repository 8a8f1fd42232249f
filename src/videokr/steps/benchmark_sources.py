"""§4's entry point: the source benchmarks' examples (VideoMMMU, MMVU, SciVideoBench) as candidates.

    steps:
      benchmark_sources:
        sources:
          - {name: VideoMMMU, path: bench/videommmu, video_root: bench/videommmu/videos}
          - {name: MMVU, path: bench/mmvu/validation.json, video_root: bench/mmvu/videos}

Each source is read by its published layout (`videokr.evaluate.benchmarks.read_benchmark`); each
example is one item, accepted as a `BenchmarkCandidate` (id '{benchmark}/{its id}'). A record the
reader cannot use is rejected as `FILE:LINE: reason` (code `bad_line`), an example whose video
file is not there as `video_missing` (the path named); the other examples go on.

The configured sources are the whole truth: an example no longer in them (a source removed, a
file replaced by a smaller one) is retired with what the steps after it made of it, which is why
this step is not a `source` step in the runner's sense. Paths are relative to the workspace.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from pydantic import BaseModel, ConfigDict, Field, field_validator

from videokr.hashing import digest_parts
from videokr.pipeline.recipe import register
from videokr.pipeline.step import Result, Step, StepConfig
from videokr.records import BenchmarkCandidate, EvalItem
from videokr.store import Store
from videokr.video.probe import file_state

STEP = "benchmark_sources"
BAD_LINE_CODE = "bad_line"
VIDEO_MISSING_CODE = "video_missing"


def display_name(name: str) -> str:
    """A benchmark's name as §4 writes it (VideoMMMU, MMVU, SciVideoBench), from any spelling the readers know."""
    from videokr.evaluate.benchmarks import DISPLAY_NAMES, canonical_name

    return DISPLAY_NAMES[canonical_name(name)]


class BenchmarkSource(BaseModel):
    """One source benchmark: its published file (or folder) and where its videos are."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(description="VideoMMMU, MMVU or SciVideoBench (or another benchmark videokr reads)")
    path: str = Field(description="the benchmark's file or folder, relative to the workspace")
    video_root: str | None = Field(default=None, description="its videos' folder (default: the file's folder)")

    @field_validator("name")
    @classmethod
    def _known(cls, value: str) -> str:
        try:
            return display_name(value)
        except ValueError as exc:
            raise ValueError(str(exc)) from None


class BenchmarkSourcesConfig(StepConfig):
    # Each example's fingerprint is what was read of it, so adding a source redoes nothing else.
    RUN_ONLY: ClassVar[frozenset[str]] = StepConfig.RUN_ONLY | {"sources"}

    sources: list[BenchmarkSource] = Field(default_factory=list, description="the benchmarks §4 starts from")

    @field_validator("sources")
    @classmethod
    def _once_each(cls, value: list[BenchmarkSource]) -> list[BenchmarkSource]:
        names = [s.name for s in value]
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:
            raise ValueError(f"benchmark {', '.join(twice)} is given twice; give each source once")
        return value


@dataclass(frozen=True)
class SourceExample:
    """One example of a source, or a record of it that could not be read (`problem`: 'FILE:LINE: reason')."""

    item_id: str
    candidate: BenchmarkCandidate | None = None
    problem: str | None = None


def candidate_of(item: EvalItem, dataset: str, source_file: str) -> BenchmarkCandidate:
    """A reader's item as a §4 candidate: ids prefixed with the benchmark, everything else as read."""
    return BenchmarkCandidate(
        id=f"{dataset}/{item.id}", source_id=item.id, dataset=dataset, problem_type=item.problem_type,
        question=item.question, options=list(item.options), answer=item.answer,
        video_id=f"{dataset}/{item.video_id}", video_path=item.video_path, subject=item.subject,
        question_type=item.question_type, discipline=item.discipline, youtube_id=item.youtube_id,
        source_file=source_file, extra=dict(item.extra))


def source_examples(source: BenchmarkSource, root: Path) -> Iterator[SourceExample]:
    """Every example of one source (read records and unreadable ones), in file order per kind."""
    from videokr.evaluate.benchmarks import read_benchmark

    path = _absolute(source.path, root)
    video_root = None if source.video_root is None else _absolute(source.video_root, root)
    read = read_benchmark(source.name, path, video_root)  # video paths come back absolute: later steps read them
    for item in read.items:
        yield SourceExample(f"{source.name}/{item.id}", candidate_of(item, source.name, path.name))
    for problem in read.rejected:
        where = problem.split(": ", 1)[0]
        yield SourceExample(f"{source.name}:{where}", problem=problem)


def _absolute(path: str, root: Path) -> Path:
    given = Path(path).expanduser()
    return (given if given.is_absolute() else root / given).resolve()


@register
class BenchmarkSourcesStep(Step[SourceExample]):
    name = STEP
    version = "1"
    Config = BenchmarkSourcesConfig
    writes = ("benchmark_candidate",)

    def inputs(self, store: Store) -> Iterator[SourceExample]:
        config = self.config
        assert isinstance(config, BenchmarkSourcesConfig)
        for source in config.sources:
            yield from source_examples(source, self.context.root)

    def item_id(self, item: SourceExample) -> str:
        return item.item_id

    def item_fingerprint(self, item: SourceExample) -> str:
        if item.candidate is None:
            return digest_parts("problem", item.problem)
        return digest_parts(item.candidate.to_json(), file_state(Path(item.candidate.video_path)))

    def process(self, item: SourceExample) -> Result:
        if item.candidate is None:
            return Result.reject(item.problem or "unreadable", code=BAD_LINE_CODE)
        candidate = item.candidate
        if not Path(candidate.video_path).is_file():
            return Result.reject(f"{candidate.id}: video file not found: {candidate.video_path}",
                                 code=VIDEO_MISSING_CODE, detail={"video": candidate.video_path})
        return Result.accept(candidate, detail={"dataset": candidate.dataset})
