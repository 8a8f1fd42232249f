"""The evaluation runner: model × benchmark × frame budget × run, every output kept in the store.

Evaluation is the `eval` step (videokr.steps.evaluate) on the one pipeline runner: each
(label, settings, benchmark, item, frames, run) sample is an item whose output is an
`EvalSample` record, committed as soon as its batch is generated, so an interrupted
evaluation resumes where it stopped and never generates the same sample twice. *Settings* is the fingerprint of every setting that can
change an output (:func:`output_settings`: backend, model, endpoint, decoding, prompt family,
sampling parameters, seed, frame sampling and sizes; never an API key): a rerun with the same
settings skips what is stored, a rerun with any of them changed generates anew under the same
label, and the outputs of different settings are never mixed. A stored output also counts as
done only for the prompt it was generated from, so a changed prompt generates anew.

Scores are kept next to the outputs and can be recomputed from them at no generation cost
(:func:`rescore`). A sample whose video cannot be read is recorded with its error and retried
by the next run; it is never counted as wrong.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

from videokr.evaluate.backends import (
    EVAL_MAX_NEW_TOKENS,
    EVAL_TEMPERATURE,
    EVAL_TOP_P,
    Backend,
)
from videokr.evaluate.benchmarks import category
from videokr.evaluate.prompts import VIDEOKR_EVAL, PromptItem, build_prompt
from videokr.errors import Stop
from videokr.evaluate.report import CORPUS_PREFIX, LEGACY_PREFIX, short_fingerprint
from videokr.hashing import digest, digest_json, digest_parts
from videokr.records import EvalItem, EvalSample, Outcome
from videokr.steps.evaluate import STEP, EvalConfig, EvalStep, EvalWork, sample_id
from videokr.scoring.judge import Judge
from videokr.scoring.rules import score_item
from videokr.store import Store

EVAL_MAX_SIDE = 448  # videokr's choice: frames are downscaled to this longer side before any backend

FRAME_SAMPLING = "uniform"  # the only mode: n frames uniformly over the whole video (videokr.evaluate.frames)
SETTINGS_DIGITS = 16  # hex digits of a settings fingerprint (reports show the first few)

# Tables of earlier versions: their rows become EvalSample records the first time a store is opened here.
_OLD_TABLE = "eval_outputs"


def ensure_schema(store: Store) -> None:
    """Bring outputs stored by earlier versions (a table of their own) into the records, once."""
    if not store.execute("SELECT 1 FROM sqlite_master WHERE type='table' AND name=?", (_OLD_TABLE,)).fetchone():
        return
    from videokr.store import ItemOutcome

    with store.transaction() as conn:
        columns = {row[1] for row in conn.execute(f"PRAGMA table_info({_OLD_TABLE})")}
        if not columns:
            return
        fp_column = "settings_fp" if "settings_fp" in columns else "NULL"
        rows = conn.execute(
            f"SELECT model, {fp_column}, benchmark, item_id, frames, run, prompt_sha, output, pred, correct, scored_by, "
            f"item, settings, created FROM {_OLD_TABLE} WHERE output IS NOT NULL"
        ).fetchall()
        migrated = []
        for model, fp, benchmark, item_id, frames, run, sha, output, pred, correct, scored_by, item, settings, created \
                in rows:
            # Settings of earlier versions lack what was not recorded then: such outputs stay readable and
            # reportable (as settings `v1-…`) but never count as done for a new run (their fingerprint is unique).
            fp = fp or legacy_fingerprint(settings)
            sample = EvalSample(
                id=sample_id(model, fp, benchmark, item_id, frames, run), label=model, settings_fp=fp,
                settings=json.loads(settings), benchmark=benchmark, item_id=item_id, frames=frames, run=run,
                prompt_sha=sha, output=output, pred=pred, correct=None if correct is None else bool(correct),
                scored_by=scored_by, item=json.loads(item), created=created,
            )
            migrated.append(ItemOutcome(sample.id, f"migrated:{sha}", Outcome.ACCEPTED, (sample,)))
        store.commit_outcomes(STEP, "1", migrated)
        conn.execute(f"DROP TABLE {_OLD_TABLE}")


def legacy_fingerprint(settings_json: str) -> str:
    return LEGACY_PREFIX + digest(settings_json, SETTINGS_DIGITS - len(LEGACY_PREFIX))


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
    seed: int = 0  # base of the per-sample seeds (0: the seeds of earlier versions)


def output_settings(settings: EvalSettings, backend: Backend) -> dict[str, Any]:
    """Every setting that can change an output, as one JSON-able object (never an API key).

    The backend adds its own (`output_settings()`: the model it loads or calls, the endpoint,
    the decoding engine, dtype, pixel budgets …). The label, the frame budget and the run are
    keys of their own; batch size and progress display are not settings of an output unless
    the backend says so.
    """
    own = getattr(backend, "output_settings", None)
    return {
        "backend": backend.name,
        "backend_settings": own() if callable(own) else {},
        "family": settings.family,
        "temperature": settings.temperature,
        "top_p": settings.top_p,
        "max_new_tokens": settings.max_new_tokens,
        "seed": settings.seed,
        "frames": {"sampling": FRAME_SAMPLING, "max_side": settings.max_side},
    }


def settings_fingerprint(settings: dict[str, Any]) -> str:
    return digest_json(settings, SETTINGS_DIGITS)


@dataclass
class RunReport:
    generated: int = 0
    reused: int = 0
    failed: list[str] = field(default_factory=list)
    settings_fp: str = ""
    settings: dict[str, Any] = field(default_factory=dict)

    @property
    def short_fp(self) -> str:
        return short_fingerprint(self.settings_fp)

    @property
    def all_failed(self) -> bool:
        """Every sample this run tried failed (and it tried some)."""
        return self.generated == 0 and bool(self.failed)


def sample_seed(model: str, benchmark: str, item_id: str, frames: int, run: int, base: int = 0) -> int:
    parts: tuple[object, ...] = (model, benchmark, item_id, frames, run) + ((base,) if base else ())
    return int(digest_parts(*parts, length=8), 16) & 0x7FFFFFFF


def prompt_item(item: EvalItem) -> PromptItem:
    return PromptItem(item.question, tuple(item.options), str(item.problem_type), item.question_type)


def prompt_benchmark(benchmark: str) -> str:
    """Training-corpus samples are VideoKR-style items: they take the VideoKR-Eval prompts."""
    return VIDEOKR_EVAL if benchmark.startswith(CORPUS_PREFIX) else benchmark


def score_output(item: EvalItem, output: str, judge: Judge | None) -> tuple[str | None, bool | None, str]:
    score = score_item(output, item.answer, str(item.problem_type), item.options or None)
    if score.correct is None and judge is not None:
        verdict = judge.judge(item.question, item.options or None, item.answer, output, str(item.problem_type))
        if verdict.correct is not None:
            return score.pred, verdict.correct, "judge"
    return score.pred, score.correct, score.method


def item_fields(item: EvalItem, benchmark: str) -> dict[str, Any]:
    """The benchmark item's fields a sample keeps: what reports group by and rescoring needs."""
    data = item.model_dump(mode="json", include={
        "id", "question", "options", "answer", "problem_type", "subject", "dataset", "question_type", "video_path"
    })
    data["category"] = category(benchmark)
    return data


def run_eval(
    store: Store,
    settings: EvalSettings,
    benchmarks: dict[str, list[EvalItem]],
    backend: Backend,
    *,
    judge: Judge | None = None,
    on_progress: Callable[[int], None] | None = None,
) -> RunReport:
    """Generate every missing sample (the `eval` step on the one runner), scoring each as it lands."""
    from videokr.pipeline.executors import LocalExecutor
    from videokr.pipeline.runner import run_step

    ensure_schema(store)
    chosen = output_settings(settings, backend)
    fingerprint = settings_fingerprint(chosen)
    report = RunReport(settings_fp=fingerprint, settings=chosen)
    step = EvalStep(
        EvalConfig(label=settings.model, settings=chosen, settings_fp=fingerprint,
                   batch_size=settings.batch_size * settings.runs),  # --batch-size counts items: their runs go together
        backend, temperature=settings.temperature, max_new_tokens=settings.max_new_tokens, top_p=settings.top_p,
        seed=settings.seed, max_side=settings.max_side, judge=judge,
    )
    # frame budget-major, then item-major: the runs of an item travel together in a batch
    works = [
        EvalWork(benchmark, item, n_frames, run,
                 build_prompt(settings.family, prompt_benchmark(benchmark), prompt_item(item)))
        for n_frames in settings.frames for benchmark, items in benchmarks.items() for item in items
        for run in range(settings.runs)
    ]
    try:
        done = run_step(store, step, items=works, executor=LocalExecutor(), retire=False, on_progress=on_progress,
                        commit_seconds=0.0)
    except Stop as exc:  # what finished is stored; the CLI says how to resume
        raise RuntimeError(str(exc)) from exc
    if on_progress is not None and done.skipped:
        on_progress(done.skipped)
    report.generated, report.reused = done.counts["accepted"], done.skipped
    ids = {step.item_id(work): work for work in works}
    for entry in store.ledger_entries(STEP, Outcome.QUARANTINED):
        work = ids.get(entry.item_id)
        if work is not None:
            report.failed.append(f"{work.benchmark}/{work.item.id} ({work.frames} frames, run {work.run}): {entry.reason}")
    return report


def _samples(store: Store, models: Sequence[str] | None = None) -> list[EvalSample]:
    return [r for r in store.live_outputs(STEP, "eval_sample")  # type: ignore[misc]
            if not models or r.label in models]  # type: ignore[attr-defined]


def rescore(store: Store, model: str | None = None, *, judge: Judge | None = None) -> int:
    """Recompute every stored score from its stored output (no generation); returns the count."""
    from videokr.store import ItemOutcome

    ensure_schema(store)
    ledger = store.ledger_index(STEP)
    updated = []
    for sample in _samples(store, [model] if model else None):
        fields = {k: v for k, v in sample.item.items() if k != "category"}
        item = EvalItem(video_id=fields.get("id"), video_path=fields.pop("video_path", None) or "", **fields)
        pred, correct, scored_by = score_output(item, sample.output, judge)
        new = sample.model_copy(update={"pred": pred, "correct": correct, "scored_by": scored_by})
        updated.append(ItemOutcome(sample.id, ledger[sample.id][0], Outcome.ACCEPTED, (new,)))
    store.commit_outcomes(STEP, "1", updated)
    return len(updated)


def results(store: Store, models: Sequence[str] | None = None) -> list[dict[str, Any]]:
    """Every stored sample as a dict (model, settings_fp, benchmark, item_id, frames, run, correct, item fields …),
    and every sample that failed (its error, no output), in a stable order.

    `model` is the label; `settings_fp` the fingerprint of the settings that produced the
    output and `settings` those settings — one label may hold outputs of several settings.
    """
    ensure_schema(store)
    out = []
    for s in _samples(store, models):
        item = s.item
        out.append({
            "model": s.label, "settings_fp": s.settings_fp, "settings": s.settings,
            "benchmark": s.benchmark, "item_id": s.item_id, "frames": s.frames, "run": s.run, "output": s.output,
            "error": None, "pred": s.pred, "correct": s.correct, "scored_by": s.scored_by,
            "problem_type": item.get("problem_type"), "question_type": item.get("question_type"),
            "subject": item.get("subject"), "dataset": item.get("dataset"), "category": item.get("category"),
        })
    for entry in store.ledger_entries(STEP, Outcome.QUARANTINED):
        d = entry.detail or {}
        if not d.get("label") or (models and d["label"] not in models):
            continue
        item = d.get("item", {})
        out.append({
            "model": d["label"], "settings_fp": d["settings_fp"], "settings": d.get("settings", {}),
            "benchmark": d["benchmark"], "item_id": d["item_id"], "frames": d["frames"], "run": d["run"],
            "output": None, "error": entry.reason, "pred": None, "correct": None, "scored_by": "failed",
            "problem_type": item.get("problem_type"), "question_type": item.get("question_type"),
            "subject": item.get("subject"), "dataset": item.get("dataset"), "category": item.get("category"),
        })
    out.sort(key=lambda r: (r["model"], r["settings_fp"], r["benchmark"], r["item_id"], r["frames"], r["run"]))
    return out
