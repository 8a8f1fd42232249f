"""The evaluation runner: model × benchmark × frame budget × run, every output kept in the store.

Each (label, settings, benchmark, item, frames, run) output is written to the store as soon as
its batch is generated, so an interrupted evaluation resumes where it stopped and never
generates the same sample twice. *Settings* is the fingerprint of every setting that can
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
    GenerationRequest,
)
from videokr.evaluate.benchmarks import category
from videokr.evaluate.frames import VideoError, load_frames
from videokr.evaluate.prompts import VIDEOKR_EVAL, PromptItem, build_prompt
from videokr.evaluate.report import CORPUS_PREFIX, LEGACY_PREFIX, short_fingerprint
from videokr.hashing import canonical_json, digest, digest_json, digest_parts
from videokr.records import EvalItem, utcnow
from videokr.scoring.judge import Judge
from videokr.scoring.rules import score_item
from videokr.store import Store

EVAL_MAX_SIDE = 448  # videokr's choice: frames are downscaled to this longer side before any backend

FRAME_SAMPLING = "uniform"  # the only mode: n frames uniformly over the whole video (videokr.evaluate.frames)
SETTINGS_DIGITS = 16  # hex digits of a settings fingerprint (reports show the first few)

SCHEMA_NAME = "evaluate.v2"
SCHEMA = """
CREATE TABLE IF NOT EXISTS eval_outputs (
    model TEXT NOT NULL,
    settings_fp TEXT NOT NULL,
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
    PRIMARY KEY (model, settings_fp, benchmark, item_id, frames, run)
);
CREATE INDEX IF NOT EXISTS eval_outputs_by_settings ON eval_outputs (model, settings_fp, benchmark, frames)
"""
_COLUMNS = ("model", "settings_fp", "benchmark", "item_id", "frames", "run", "prompt_sha", "output", "error", "pred",
            "correct", "scored_by", "item", "settings", "created")
_V1_COLUMNS = ("model", "benchmark", "item_id", "frames", "run", "prompt_sha", "output", "error", "pred", "correct",
               "scored_by", "item", "settings", "created")


def ensure_schema(store: Store) -> None:
    _migrate_v1(store)
    store.ensure_schema(SCHEMA_NAME, SCHEMA)


def _migrate_v1(store: Store) -> None:
    """Outputs stored before settings were part of the key: kept, under a fingerprint of their own.

    Their settings record lacks what was not recorded then (the model, the endpoint, the
    decoding), so no new run can prove it used the same settings: the rows stay readable and
    reportable (as settings `v1-…`) but never count as done for a new run.
    """
    columns = {row[1] for row in store.execute("PRAGMA table_info(eval_outputs)")}
    if not columns or "settings_fp" in columns:
        return
    with store.transaction() as conn:
        columns = {row[1] for row in conn.execute("PRAGMA table_info(eval_outputs)")}
        if "settings_fp" in columns:  # another process migrated it first
            return
        conn.execute("DROP INDEX IF EXISTS eval_outputs_by_model")
        conn.execute("ALTER TABLE eval_outputs RENAME TO eval_outputs_v1")
        for statement in SCHEMA.split(";"):
            if statement.strip():
                conn.execute(statement)
        rows = conn.execute(f"SELECT {', '.join(_V1_COLUMNS)} FROM eval_outputs_v1").fetchall()
        migrated = []
        for row in rows:
            record = dict(zip(_V1_COLUMNS, row))
            record["settings_fp"] = legacy_fingerprint(record["settings"])
            migrated.append(tuple(record[c] for c in _COLUMNS))
        conn.executemany(_INSERT, migrated)
        conn.execute("DROP TABLE eval_outputs_v1")


def legacy_fingerprint(settings_json: str) -> str:
    return LEGACY_PREFIX + digest(settings_json, SETTINGS_DIGITS - len(LEGACY_PREFIX))


_INSERT = f"INSERT OR REPLACE INTO eval_outputs ({', '.join(_COLUMNS)}) VALUES ({', '.join('?' * len(_COLUMNS))})"


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


def _done(store: Store, model: str, settings_fp: str, benchmark: str, frames: int, run: int) -> dict[str, str]:
    """item_id -> the prompt digest of each stored output of these settings."""
    rows = store.execute(
        "SELECT item_id, prompt_sha FROM eval_outputs WHERE model=? AND settings_fp=? AND benchmark=? AND frames=? "
        "AND run=? AND output IS NOT NULL",
        (model, settings_fp, benchmark, frames, run),
    )
    return {item_id: sha for item_id, sha in rows}


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
    chosen = output_settings(settings, backend)
    fingerprint = settings_fingerprint(chosen)
    report = RunReport(settings_fp=fingerprint, settings=chosen)
    settings_json = canonical_json(chosen)
    for n_frames in settings.frames:
        for benchmark, items in benchmarks.items():
            done = [_done(store, settings.model, fingerprint, benchmark, n_frames, run) for run in range(settings.runs)]
            prompts = {item.id: _sha(build_prompt(settings.family, prompt_benchmark(benchmark), prompt_item(item)))
                       for item in items}
            # item-major: the runs of an item travel together, so its frames are decoded once and a
            # backend can share one prefill among them
            pending = [(item, [run for run in range(settings.runs) if done[run].get(item.id) != prompts[item.id]])
                       for item in items]
            pending = [(item, runs) for item, runs in pending if runs]
            reused = len(items) * settings.runs - sum(len(runs) for _, runs in pending)
            report.reused += reused
            if on_progress and reused:
                on_progress(reused)
            for start in range(0, len(pending), settings.batch_size):
                batch = pending[start : start + settings.batch_size]
                _run_batch(store, settings, benchmark, n_frames, batch, backend, judge, settings_json, fingerprint,
                           report)
                if on_progress:
                    on_progress(sum(len(runs) for _, runs in batch))
    return report


def _run_batch(
    store: Store, settings: EvalSettings, benchmark: str, n_frames: int, batch: list[tuple[EvalItem, list[int]]],
    backend: Backend, judge: Judge | None, settings_json: str, fingerprint: str, report: RunReport,
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
                seed=sample_seed(settings.model, benchmark, item.id, n_frames, run, settings.seed),
            ))
            ready.append((item, run, prompt))
    outputs = backend.generate(requests) if requests else []
    if len(outputs) != len(requests):
        raise RuntimeError(f"backend {backend.name} returned {len(outputs)} outputs for {len(requests)} requests")
    now = utcnow()
    rows = []
    for (item, run, prompt), output in zip(ready, outputs):
        pred, correct, scored_by = _score(item, output, judge)
        rows.append((settings.model, fingerprint, benchmark, item.id, n_frames, run, _sha(prompt), output, None, pred,
                     None if correct is None else int(correct), scored_by, _item_json(item, benchmark), settings_json, now))
        report.generated += 1
    for item, run, prompt, error in failures:
        rows.append((settings.model, fingerprint, benchmark, item.id, n_frames, run, _sha(prompt), None, error, None,
                     None, "failed", _item_json(item, benchmark), settings_json, now))
        report.failed.append(f"{benchmark}/{item.id} ({n_frames} frames, run {run}): {error}")
    with store.transaction() as conn:
        conn.executemany(_INSERT, rows)


def _sha(text: str) -> str:
    return digest(text, 16)


def rescore(store: Store, model: str | None = None, *, judge: Judge | None = None) -> int:
    """Recompute every stored score from its stored output (no generation); returns the count."""
    ensure_schema(store)
    where, params = ("WHERE output IS NOT NULL AND model=?", (model,)) if model else ("WHERE output IS NOT NULL", ())
    rows = list(store.execute(
        f"SELECT model, settings_fp, benchmark, item_id, frames, run, output, item FROM eval_outputs {where}", params))
    updates = []
    for m, fp, b, i, f, r, output, item_json in rows:
        data = json.loads(item_json)
        data.pop("category", None)
        item = EvalItem(video_id=data.get("id"), **data)
        pred, correct, scored_by = _score(item, output, judge)
        updates.append((pred, None if correct is None else int(correct), scored_by, m, fp, b, i, f, r))
    with store.transaction() as conn:
        conn.executemany(
            "UPDATE eval_outputs SET pred=?, correct=?, scored_by=? WHERE model=? AND settings_fp=? AND benchmark=? "
            "AND item_id=? AND frames=? AND run=?", updates,
        )
    return len(updates)


def results(store: Store, models: Sequence[str] | None = None) -> list[dict[str, Any]]:
    """Every stored sample as a dict (model, settings_fp, benchmark, item_id, frames, run, correct, item fields …).

    `model` is the label; `settings_fp` the fingerprint of the settings that produced the
    output and `settings` those settings — one label may hold outputs of several settings.
    """
    ensure_schema(store)
    rows = store.execute(
        "SELECT model, settings_fp, settings, benchmark, item_id, frames, run, output, error, pred, correct, "
        "scored_by, item FROM eval_outputs ORDER BY model, settings_fp, benchmark, item_id, frames, run"
    )
    out = []
    parsed: dict[str, Any] = {}
    for m, fp, settings_json, b, i, f, r, output, error, pred, correct, scored_by, item_json in rows:
        if models and m not in models:
            continue
        item = json.loads(item_json)
        if settings_json not in parsed:
            parsed[settings_json] = json.loads(settings_json)
        out.append({
            "model": m, "settings_fp": fp, "settings": parsed[settings_json],
            "benchmark": b, "item_id": i, "frames": f, "run": r, "output": output, "error": error,
            "pred": pred, "correct": None if correct is None else bool(correct), "scored_by": scored_by,
            "problem_type": item.get("problem_type"), "question_type": item.get("question_type"),
            "subject": item.get("subject"), "dataset": item.get("dataset"), "category": item.get("category"),
        })
    return out
