"""`videokr demo`: the main job end to end on the bundled sample, offline.

It makes a workspace whose recipe is the main job on official files — import (SFT, RL,
evaluation) → videos → probe → decontam → split → export in every format — runs it with
`videokr run`'s runner, prints the funnel and writes the statistics. Then the corpus part (`videokr.demo_corpus`): the
§3.1–§3.3 chain on the bundled knowledge bank, seeds and videos, whose model steps are rendered
and priced (Batch API JSON Lines under `requests/`), or, given a model endpoint, run for real
through `export` with that one model. Either way it ends with the corpus funnel by discipline and
skill as one HTML page (`funnel.html`). Rerunning reuses both workspaces: every step skips what it
already did.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING

from videokr.config import Config
from videokr.pipeline.recipe import funnel, run_recipe
from videokr.progress import console
from videokr.workspace import CONFIG_NAME, Workspace

if TYPE_CHECKING:
    from videokr.demo_corpus import Endpoint

SAMPLE_FILES = (
    ("videokr-sft-sample.jsonl", "sft"),
    ("videokr-rl-sample.json", "rl"),
    ("videokr-eval-sample.jsonl", "eval"),
)
EXPORTS = {
    "sft": ["llamafactory", "hf", "jsonl"],
    "rl": ["verl", "hf", "jsonl"],
    "eval": ["verl", "hf", "jsonl"],
}
# The sample's RL set is a few dozen examples; the release's 500-example verl hold-out would leave none.
SAMPLE_VAL_SIZE = 4


def sample_dir() -> Path:
    return Path(str(resources.files("videokr") / "sample"))


def demo_config(sample: Path, out: Path) -> Config:
    return Config(
        video_root=str(sample.resolve()),
        steps={
            "import": {"sources": [{"path": str((sample / name).resolve()), "kind": kind} for name, kind in SAMPLE_FILES],
                       "require_video": True},
            "probe": {"executor": "process", "workers": 2},
            "export": {"out": str((out / "exports").resolve()), "targets": EXPORTS, "absolute_paths": True,
                       "val_size": SAMPLE_VAL_SIZE},
        },
    )


def run_demo(out: Path, *, endpoint: "Endpoint | None" = None) -> dict[str, Path]:
    """Both parts of the demo under `out`; the paths of what it wrote, by name (`funnel`: the HTML page).

    Raises `errors.Stop` when the endpoint stops the corpus chain (what finished is kept)."""
    from videokr.stats.corpus import corpus_stats
    from videokr.stats.report import write_report

    sample = sample_dir()
    root = out / "workspace"
    if (root / CONFIG_NAME).is_file():
        ws = Workspace.open(root)
        console.print(f"[bold]workspace[/] {ws.root} (reused: steps skip what is done)")
    else:
        ws = Workspace.init(root, demo_config(sample, out))
        console.print(f"[bold]workspace[/] {ws.root}")
    reports = run_recipe(ws.store, ws.recipe(), on_report=lambda r: console.print(f"[bold]{r.step}[/] {r.line().split(': ', 1)[1]}"))
    for row in funnel(ws.store, ws.recipe()):
        for reason, n in row["rejected_by_reason"].items():
            console.print(f"  {row['step']}: rejected {n} × {reason}")
    outputs: dict[str, Path] = {f"{s}/{f}": (out / "exports" / f"{s}-{f}") for s, fs in EXPORTS.items() for f in fs}
    html_path, json_path = write_report(corpus_stats(ws.store), out / "report.html")
    outputs["report"] = html_path
    console.print(f"[bold]stats[/] {html_path} (+ {json_path.name})")
    quarantined = sum(r.counts["quarantined"] for r in reports)
    if quarantined:
        console.print(f"[yellow]{quarantined} items quarantined; run `videokr -w {ws.root} status --funnel`[/]")
    from videokr.demo_corpus import REQUESTS_DIR, run_corpus_demo

    corpus = run_corpus_demo(out, sample, endpoint=endpoint)
    outputs["corpus"] = corpus["workspace"]
    outputs["funnel"] = corpus["funnel"]
    for path in corpus.get("files", []):
        outputs[f"requests/{path.stem}"] = path
    console.print(f"\n[green]demo done.[/] Outputs are under {out.resolve()}:", highlight=False)
    console.print(f"  {ws.root}: the official files' workspace; exports/ and report.html: its outputs\n"
                  f"  {corpus['workspace']}: the corpus chain's workspace (`videokr -w {corpus['workspace']} status --funnel`)",
                  highlight=False)
    if endpoint is None:
        console.print(f"  {(out / REQUESTS_DIR).resolve()}: the model requests, as Batch API JSON Lines (nothing was sent)",
                      highlight=False)
    else:
        console.print(f"  {corpus['workspace'] / 'exports'}: the corpus chain's SFT and RL exports", highlight=False)
    console.print(f"  {corpus['funnel'].resolve()}: the corpus funnel by discipline and skill, beside the paper's numbers",
                  highlight=False, soft_wrap=True)  # one line: a path to copy, never cut
    tiny = write_tiny_model(out)
    if tiny is not None:
        outputs["tiny_model"] = tiny
        small = "--max-frames 4 --max-video-tokens 64"
        console.print(f"  {tiny}: a tiny random Qwen2.5-VL to try training on this workspace (CPU, seconds):\n"
                      f"    videokr -w {ws.root} train sft --model {tiny} --out {out / 'sft'} --max-steps 2 {small}\n"
                      f"    videokr -w {ws.root} train grpo --model {out / 'sft'} --out {out / 'grpo'} --max-steps 1 {small}",
                      highlight=False, soft_wrap=True)
    return outputs


def write_tiny_model(out: Path) -> Path | None:
    """A tiny random checkpoint beside the demo's workspace (kept when there), so training can be tried
    with two commands; None when the training packages are not installed."""
    from videokr.train.sft import missing_modules

    path = out / "tiny-qwen2.5-vl"
    if (path / "config.json").is_file():
        return path
    if missing_modules():
        return None
    from videokr.testing.tiny_models import save_tiny_checkpoint

    return save_tiny_checkpoint("qwen2.5-vl", path)
