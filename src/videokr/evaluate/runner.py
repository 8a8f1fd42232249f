"""The evaluation runner: model × benchmark × frame budget × run, every output kept in the store.

Each (model, benchmark, item, frames, run) output is written to the store as soon as its batch
is generated, so an interrupted evaluation resumes where it stopped and never generates the
same sample twice. Scores are kept next to the outputs and can be recomputed from them at no
generation cost (:func:`rescore`). A sample whose video cannot be read is recorded with its
error and retried by the next run; it is never counted as wrong.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

from videokr.evaluate.backends import (
    EVAL_MAX_NEW_TOKENS,
    EVAL_TEMPERATURE,
    EVAL_TOP_P,
    Backend,
    GenerationRequest,
)
from videokr.evaluate.benchmarks import category
from videokr.evaluate.frames import VideoError, load_frames
from videokr.evaluate.prompts import VIDEOKR_EVAL, PromptItem, build_prompt
from videokr.evaluate.report import CORPUS_PREFIX
from videokr.records import EvalItem, utcnow
from videokr.scoring.judge import Judge
from videokr.scoring.rules import score_item
from videokr.store import Store

EVAL_MAX_SIDE = 448  # videokr's choice: frames are downscaled to this longer side before any backend

SCHEMA = """
CREATE TABLE IF NOT EXISTS eval_outputs (
    model TEXT NOT NULL,
    benchmark TEXT NOT NULL,
    item_id TEXT NOT NULL,
    frames INTEGER NOT NULL,
    run INTEGER NOT NULL,
    prompt_sha TEXT NOT NULL,
    output TEXT,
    error TEXT,
    pred TEXT,
    correct INTEGER,
    scored_by TEXT,
    item TEXT NOT NULL,
    settings TEXT NOT NULL,
    created TEXT NOT NULL,
    PRIMARY KEY (model, benchmark, item_id, frames, run)
);
CREATE INDEX IF NOT EXISTS eval_outputs_by_model ON eval_outputs (model, benchmark, frames)
"""


def ensure_schema(store: Store) -> None:
    store.ensure_schema("evaluate", SCHEMA)


@dataclass
class EvalSettings:
    model: str  # the label results are stored and reported under
    family: str
    frames: Sequence[int]
    runs: int
    temperature: float = EVAL_TEMPERATURE
    max_new_tokens: int = EVAL_MAX_NEW_TOKENS
    top_p: float | None = EVAL_TOP_P
    batch_size: int = 8
    max_side: int | None = EVAL_MAX_SIDE


@dataclass
class RunReport:
    generated: int = 0
    reused: int = 0
    failed: list[str] = field(default_factory=list)


def sample_seed(model: str, benchmark: str, item_id: str, frames: int, run: int) -> int:
    digest = hashlib.sha256(f"{model}\x1f{benchmark}\x1f{item_id}\x1f{frames}\x1f{run}".encode()).digest()
    return int.from_bytes(digest[:4], "big") & 0x7FFFFFFF


def prompt_item(item: EvalItem) -> PromptItem:
    return PromptItem(item.question, tuple(item.options), str(item.problem_type), item.question_type)


def prompt_benchmark(benchmark: str) -> str:
    """Training-corpus samples are VideoKR-style items: they take the VideoKR-Eval prompts."""
    return VIDEOKR_EVAL if benchmark.startswith(CORPUS_PREFIX) else benchmark


def _done(store: Store, model: str, benchmark: str, frames: int, run: int) -> set[str]:
    rows = store.execute(
        "SELECT item_id FROM eval_outputs WHERE model=? AND benchmark=? AND frames=? AND run=? AND output IS NOT NULL",
        (model, benchmark, frames, run),
    )
    return {r[0] for r in rows}


def _score(item: EvalItem, output: str, judge: Judge | None) -> tuple[str | None, bool | None, str]:
    score = score_item(output, item.answer, str(item.problem_type), item.options or None)
    if score.correct is None and judge is not None:
        verdict = judge.judge(item.question, item.options or None, item.answer, output, str(item.problem_type))
        if verdict.correct is not None:
            return score.pred, verdict.correct, "judge"
    return score.pred, score.correct, score.method


def _item_json(item: EvalItem, benchmark: str) -> str:
    data = item.model_dump(mode="json", include={
        "id", "question", "options", "answer", "problem_type", "subject", "dataset", "question_type", "video_path"
    })
    data["category"] = category(benchmark)
    return json.dumps(data, ensure_ascii=False)


def run_eval(
    store: Store,
    settings: EvalSettings,
    benchmarks: dict[str, list[EvalItem]],
    backend: Backend,
    *,
    judge: Judge | None = None,
    on_progress: Callable[[int], None] | None = None,
) -> RunReport:
    """Generate every missing sample, scoring each as it lands; returns what was done."""
    ensure_schema(store)
    report = RunReport()
    settings_json = json.dumps(
        {"family": settings.family, "temperature": settings.temperature, "max_new_tokens": settings.max_new_tokens,
         "top_p": settings.top_p, "backend": backend.name}, sort_keys=True,
    )
    for n_frames in settings.frames:
        for benchmark, items in benchmarks.items():
            done = [_done(store, settings.model, benchmark, n_frames, run) for run in range(settings.runs)]
            # item-major: the runs of an item travel together, so its frames are decoded once and a
            # backend can share one prefill among them
            pending = [(item, [run for run in range(settings.runs) if item.id not in done[run]]) for item in items]
            pending = [(item, runs) for item, runs in pending if runs]
            reused = len(items) * settings.runs - sum(len(runs) for _, runs in pending)
            report.reused += reused
            if on_progress and reused:
                on_progress(reused)
            for start in range(0, len(pending), settings.batch_size):
                batch = pending[start : start + settings.batch_size]
                _run_batch(store, settings, benchmark, n_frames, batch, backend, judge, settings_json, report)
                if on_progress:
                    on_progress(sum(len(runs) for _, runs in batch))
    return report


def _run_batch(
    store: Store, settings: EvalSettings, benchmark: str, n_frames: int, batch: list[tuple[EvalItem, list[int]]],
    backend: Backend, judge: Judge | None, settings_json: str, report: RunReport,
) -> None:
    requests, ready, failures = [], [], []
    for item, runs in batch:
        prompt = build_prompt(settings.family, prompt_benchmark(benchmark), prompt_item(item))
        try:
            frames = load_frames(item.video_path, n_frames, max_side=settings.max_side)
        except (VideoError, OSError, ValueError) as exc:
            failures.extend((item, run, prompt, f"{type(exc).__name__}: {exc}") for run in runs)
            continue
        for run in runs:  # one frames list shared by the runs: backends may key on it
            requests.append(GenerationRequest(
                key=item.id, prompt=prompt, frames=frames, temperature=settings.temperature,
                max_new_tokens=settings.max_new_tokens, top_p=settings.top_p,
                seed=sample_seed(settings.model, benchmark, item.id, n_frames, run),
            ))
            ready.append((item, run, prompt))
    outputs = backend.generate(requests) if requests else []
    if len(outputs) != len(requests):
        raise RuntimeError(f"backend {backend.name} returned {len(outputs)} outputs for {len(requests)} requests")
    now = utcnow()
    rows = []
    for (item, run, prompt), output in zip(ready, outputs):
        pred, correct, scored_by = _score(item, output, judge)
        rows.append((settings.model, benchmark, item.id, n_frames, run, _sha(prompt), output, None, pred,
                     None if correct is None else int(correct), scored_by, _item_json(item, benchmark), settings_json, now))
        report.generated += 1
    for item, run, prompt, error in failures:
        rows.append((settings.model, benchmark, item.id, n_frames, run, _sha(prompt), None, error, None, None,
                     "failed", _item_json(item, benchmark), settings_json, now))
        report.failed.append(f"{benchmark}/{item.id} ({n_frames} frames, run {run}): {error}")
    with store.transaction() as conn:
        conn.executemany("INSERT OR REPLACE INTO eval_outputs VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)", rows)


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def rescore(store: Store, model: str | None = None, *, judge: Judge | None = None) -> int:
    """Recompute every stored score from its stored output (no generation); returns the count."""
    ensure_schema(store)
    where, params = ("WHERE output IS NOT NULL AND model=?", (model,)) if model else ("WHERE output IS NOT NULL", ())
    rows = list(store.execute(f"SELECT model, benchmark, item_id, frames, run, output, item FROM eval_outputs {where}", params))
    updates = []
    for m, b, i, f, r, output, item_json in rows:
        data = json.loads(item_json)
        data.pop("category", None)
        item = EvalItem(video_id=data.get("id"), **data)
        pred, correct, scored_by = _score(item, output, judge)
        updates.append((pred, None if correct is None else int(correct), scored_by, m, b, i, f, r))
    with store.transaction() as conn:
        conn.executemany(
            "UPDATE eval_outputs SET pred=?, correct=?, scored_by=? WHERE model=? AND benchmark=? AND item_id=? "
            "AND frames=? AND run=?", updates,
        )
    return len(updates)


def results(store: Store, models: Sequence[str] | None = None) -> list[dict[str, Any]]:
    """Every stored sample as a dict (model, benchmark, item_id, frames, run, correct, item fields …)."""
    ensure_schema(store)
    rows = store.execute(
        "SELECT model, benchmark, item_id, frames, run, output, error, pred, correct, scored_by, item FROM eval_outputs"
    )
    out = []
    for m, b, i, f, r, output, error, pred, correct, scored_by, item_json in rows:
        if models and m not in models:
            continue
        item = json.loads(item_json)
        out.append({
            "model": m, "benchmark": b, "item_id": i, "frames": f, "run": r, "output": output, "error": error,
            "pred": pred, "correct": None if correct is None else bool(correct), "scored_by": scored_by,
            "problem_type": item.get("problem_type"), "question_type": item.get("question_type"),
            "subject": item.get("subject"), "dataset": item.get("dataset"), "category": item.get("category"),
        })
    return out
