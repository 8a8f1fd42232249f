"""§5.2 evaluation as a step: one item per (label, settings, benchmark, item, frame budget, run).

The item's id carries the label and the fingerprint of every setting that can change an output
(backend, model, endpoint, decoding, prompt family, sampling, seed, frame sampling — never an
API key), and its fingerprint the benchmark item and the prompt: a rerun with the same settings
skips what is stored, a changed setting generates anew under new ids (outputs of different
settings are never mixed), a changed prompt regenerates and supersedes the old output.

Items run in batches (`process_batch`): the runs of one item share their decoded frames, and a
backend batches the requests of a batch (one prefill shared by the runs in videokr's engine).
A sample whose video cannot be read is quarantined with the error — retried by the next run,
never counted as wrong.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from pydantic import Field

from videokr.errors import Stop
from videokr.hashing import digest, digest_parts
from videokr.pipeline.step import Resources, Result, Step, StepConfig, StepContext
from videokr.records import EvalItem, EvalSample, utcnow

STEP = "eval"


@dataclass(frozen=True)
class EvalWork:
    benchmark: str
    item: EvalItem
    frames: int
    run: int
    prompt: str


class EvalConfig(StepConfig):
    RUN_ONLY: ClassVar[frozenset[str]] = StepConfig.RUN_ONLY | {"batch_size"}

    label: str
    settings: dict[str, Any] = Field(description="every setting that can change an output (output_settings)")
    settings_fp: str
    batch_size: int = Field(default=8, ge=1, description="samples handed to the backend at once")


def sample_id(label: str, settings_fp: str, benchmark: str, item_id: str, frames: int, run: int) -> str:
    return f"{label}@{settings_fp}/{benchmark}/{item_id}@{frames}#{run}"


def prompt_sha(prompt: str) -> str:
    return digest(prompt, 16)


class EvalStep(Step[EvalWork]):
    name = STEP
    version = "1"
    Config = EvalConfig
    resources = Resources(kind="model")

    def __init__(self, config: EvalConfig, backend: Any, *, temperature: float, max_new_tokens: int,
                 top_p: float | None, seed: int, max_side: int | None, judge: Any = None,
                 context: StepContext | None = None) -> None:
        super().__init__(config, context)
        self.backend = backend
        self.judge = judge
        self.sampling = {"temperature": temperature, "max_new_tokens": max_new_tokens, "top_p": top_p}
        self.seed = seed
        self.max_side = max_side

    def item_id(self, item: EvalWork) -> str:
        config = self.config
        assert isinstance(config, EvalConfig)
        return sample_id(config.label, config.settings_fp, item.benchmark, item.item.id, item.frames, item.run)

    def item_fingerprint(self, item: EvalWork) -> str:
        from videokr.evaluate.runner import item_fields

        return digest_parts(sorted(item_fields(item.item, item.benchmark).items()), prompt_sha(item.prompt))

    def default_executor(self) -> str:  # type: ignore[override]
        return "local"  # the backend (a loaded model, a client) lives in this process

    def process_batch(self, items: Sequence[EvalWork]) -> list[Result]:
        from videokr.evaluate.backends import GenerationRequest
        from videokr.evaluate.frames import VideoError, load_frames
        from videokr.evaluate.runner import item_fields, sample_seed, score_output

        config = self.config
        assert isinstance(config, EvalConfig)
        results: dict[int, Result] = {}
        frames_of: dict[tuple[str, str, int], Any] = {}
        requests, positions = [], []
        for index, work in enumerate(items):
            key = (work.benchmark, work.item.id, work.frames)
            if key not in frames_of:  # the runs of an item share one decode
                try:
                    frames_of[key] = load_frames(work.item.video_path, work.frames, max_side=self.max_side)
                except (VideoError, OSError, ValueError) as exc:
                    frames_of[key] = exc
            frames = frames_of[key]
            if isinstance(frames, Exception):
                results[index] = Result.quarantine(
                    f"{type(frames).__name__}: {frames}", code="video_unreadable",
                    detail={"label": config.label, "settings_fp": config.settings_fp, "settings": config.settings,
                            "benchmark": work.benchmark, "item_id": work.item.id, "frames": work.frames,
                            "run": work.run, "item": item_fields(work.item, work.benchmark)},
                )
                continue
            requests.append(GenerationRequest(
                key=work.item.id, prompt=work.prompt, frames=frames,
                seed=sample_seed(config.label, work.benchmark, work.item.id, work.frames, work.run, self.seed),
                **self.sampling,
            ))
            positions.append(index)
        try:
            outputs = self.backend.generate(requests) if requests else []
        except RuntimeError as exc:  # the backend cannot generate now (endpoint down, model unloaded): stop
            raise Stop(str(exc)) from exc
        if len(outputs) != len(requests):
            raise RuntimeError(f"backend {self.backend.name} returned {len(outputs)} outputs for {len(requests)} requests")
        now = utcnow()
        for index, output in zip(positions, outputs):
            work = items[index]
            pred, correct, scored_by = score_output(work.item, output, self.judge)
            results[index] = Result.accept(EvalSample(
                id=self.item_id(work), label=config.label, settings_fp=config.settings_fp, settings=config.settings,
                benchmark=work.benchmark, item_id=work.item.id, frames=work.frames, run=work.run,
                prompt_sha=prompt_sha(work.prompt), output=output, pred=pred, correct=correct, scored_by=scored_by,
                item=item_fields(work.item, work.benchmark), created=now,
            ))
        return [results[i] for i in range(len(items))]
