"""Expert audits of a model on a step (§3.4, A.4): sample real inputs, record outputs, read labels.

`sample_audit` draws N real inputs of a step — lines of a Batch-format requests file, or the
text requests that step already sent (from the call cache) — runs them through the model
under audit (cached, limited, retried like any call) and writes a CSV sheet that experts
fill in: one row per input, with the model's output and an empty `label` column taking
`fine`, `soft` (content error: hallucination, weak reasoning) or `hard` (compliance error:
broken format). `import_audit` reads the sheet back; every label lands in the store, and the
pool's eligibility follows from the error rate.
"""

from __future__ import annotations

import csv
import json
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from videokr.models.gateway import Gateway
from videokr.models.config import ModelConfig, PoolConfig
from videokr.models.pool import AuditSummary, ModelPool
from videokr.models.runner import BatchLine, line_problem
from videokr.records import utcnow
from videokr.store import Store

AUDIT_SCHEMA = """
CREATE TABLE IF NOT EXISTS model_audits (
    step TEXT NOT NULL,
    model TEXT NOT NULL,
    audit_id TEXT NOT NULL,
    fingerprint TEXT,
    input TEXT NOT NULL,
    output TEXT,
    label TEXT CHECK (label IS NULL OR label IN ('fine', 'soft', 'hard')),
    note TEXT,
    updated_at TEXT NOT NULL,
    PRIMARY KEY (step, model, audit_id)
) WITHOUT ROWID;
"""
SHEET_COLUMNS = ("audit_id", "step", "model", "input", "output", "label", "note")
LABEL_ALIASES = {
    "fine": "fine", "ok": "fine", "correct": "fine", "✓": "fine",
    "soft": "soft", "content": "soft", "soft content error": "soft",
    "hard": "hard", "compliance": "hard", "hard compliance error": "hard",
}


class AuditError(ValueError):
    pass


def ensure_audit_schema(store: Store) -> None:
    store.ensure_schema("model_audits", AUDIT_SCHEMA)


def inputs_from_cache(store: Store, step: str) -> list[dict[str, Any]]:
    """Request bodies the step has sent, text-only (image data is not kept in the cache)."""
    from videokr.models.cache import SCHEMA_DDL, SCHEMA_NAME

    store.ensure_schema(SCHEMA_NAME, SCHEMA_DDL)
    bodies = []
    for (request,) in store.execute(
        "SELECT request FROM model_calls WHERE step=? AND state='done' ORDER BY fingerprint", (step,)
    ):
        if "<image sha256:" in request:
            continue
        bodies.append(json.loads(request))
    return bodies


def render_input(body: dict[str, Any]) -> str:
    """The messages as an expert reads them: role, then text; images as their timestamps."""
    out = []
    for message in body.get("messages") or []:
        content = message.get("content")
        if isinstance(content, list):
            text = " ".join(p.get("text", "[image]") if p.get("type") == "text" else "[image]" for p in content)
        else:
            text = str(content)
        out.append(f"{message.get('role', '?')}: {text}")
    return "\n".join(out)


@dataclass
class SampleResult:
    sheet: Path
    sampled: int
    answered: int


async def sample_audit(
    gateway: Gateway,
    store: Store,
    *,
    step: str,
    model: str,
    n: int,
    sheet: Path,
    lines: list[BatchLine] | None = None,
    seed: int = 0,
    step_version: str = "1",
) -> SampleResult:
    ensure_audit_schema(store)
    if lines is not None:
        candidates = [(line.custom_id, line.body) for line in lines if line_problem(line) is None]
    else:
        candidates = [(f"cached-{i}", body) for i, body in enumerate(inputs_from_cache(store, step))]
    if not candidates:
        raise AuditError(
            f"no inputs for step {step!r}: give --inputs REQUESTS.jsonl, or run the step first so that its "
            "requests are in the cache (requests with images must come from a file)"
        )
    chosen = random.Random(f"{seed}:{step}:{model}").sample(candidates, min(n, len(candidates)))
    replies = await _gather(gateway, model, chosen, step, step_version)
    answered = 0
    stamp = utcnow()
    sheet.parent.mkdir(parents=True, exist_ok=True)
    with store.transaction() as conn, sheet.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(SHEET_COLUMNS)
        for (audit_id, body), reply in zip(chosen, replies):
            output = reply.content if reply.ok else f"[request failed: {reply.error}]"
            answered += reply.ok
            text = render_input(body)
            conn.execute(
                "INSERT INTO model_audits (step, model, audit_id, fingerprint, input, output, label, note, "
                "updated_at) VALUES (?,?,?,?,?,?,NULL,NULL,?) ON CONFLICT (step, model, audit_id) DO UPDATE SET "
                "fingerprint=excluded.fingerprint, input=excluded.input, output=excluded.output, "
                "updated_at=excluded.updated_at",
                (step, model, audit_id, reply.fingerprint, text, output, stamp),
            )
            writer.writerow((audit_id, step, model, text, output, "", ""))
    return SampleResult(sheet, len(chosen), answered)


async def _gather(gateway: Gateway, model: str, chosen: list[tuple[str, dict[str, Any]]], step: str,
                  version: str) -> list[Any]:
    import asyncio

    return await asyncio.gather(*(gateway.call(model, body, step=step, step_version=version) for _, body in chosen))


def import_audit(store: Store, sheet: Path) -> dict[tuple[str, str], AuditSummary]:
    """Read experts' labels from a sheet; errors name the file and line."""
    ensure_audit_schema(store)
    updates = []
    with sheet.open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        missing = {"audit_id", "step", "model", "label"} - set(reader.fieldnames or [])
        if missing:
            raise AuditError(f"{sheet}: missing column(s) {', '.join(sorted(missing))}")
        for row in reader:
            line = reader.line_num
            raw = (row.get("label") or "").strip().lower()
            if not raw:
                continue
            label = LABEL_ALIASES.get(raw)
            if label is None:
                raise AuditError(f"{sheet}:{line}: label {row['label']!r} is not one of fine, soft, hard")
            updates.append((row["step"], row["model"], row["audit_id"], label, row.get("note") or None,
                            row.get("input") or "", row.get("output"), line))
    stamp = utcnow()
    with store.transaction() as conn:
        for step, model, audit_id, label, note, text, output, line in updates:
            conn.execute(
                "INSERT INTO model_audits (step, model, audit_id, input, output, label, note, updated_at) "
                "VALUES (?,?,?,?,?,?,?,?) ON CONFLICT (step, model, audit_id) DO UPDATE SET label=excluded.label, "
                "note=excluded.note, updated_at=excluded.updated_at",
                (step, model, audit_id, text, output, label, note, stamp),
            )
    return audit_summaries(store)


def set_audit_label(store: Store, step: str, model: str, audit_id: str, label: str | None,
                    note: str | None = None) -> None:
    """Set (or with None clear) the label of one sampled audit row, as the review app's `audit` queue does.

    Runs inside the caller's transaction when there is one, so a reviewer's verdict and the label
    the pool's eligibility reads land together. Unknown rows and labels are errors."""
    ensure_audit_schema(store)
    if label is not None and label not in ("fine", "soft", "hard"):
        raise AuditError(f"label {label!r} is not one of fine, soft, hard")
    with store.transaction() as conn:
        changed = conn.execute(
            "UPDATE model_audits SET label=?, note=?, updated_at=? WHERE step=? AND model=? AND audit_id=?",
            (label, note, utcnow(), step, model, audit_id),
        ).rowcount
        if not changed:
            raise AuditError(f"no sampled audit {audit_id!r} of {model} on step {step!r}")


def audit_summaries(store: Store) -> dict[tuple[str, str], AuditSummary]:
    ensure_audit_schema(store)
    rows = store.execute(
        "SELECT step, model, count(label), sum(label='hard'), sum(label='soft') FROM model_audits "
        "GROUP BY step, model"
    ).fetchall()
    return {(step, model): AuditSummary(labelled, hard or 0, soft or 0) for step, model, labelled, hard, soft in rows}


def pool_with_audits(models: dict[str, ModelConfig], config: PoolConfig, store: Store) -> ModelPool:
    """The pool as this workspace sees it: its models, its settings, its audits."""
    return ModelPool(models, config, audit_summaries(store))
