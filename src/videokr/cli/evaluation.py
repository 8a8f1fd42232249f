"""Scoring and evaluation verbs: score, eval run, eval results, eval report."""

from __future__ import annotations

import os
from pathlib import Path

import typer
from rich.table import Table

from videokr.cli.common import fail
from videokr.progress import console


eval_app = typer.Typer(help="Evaluate models on the benchmarks of the paper and report.", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    app.command("score")(score)
    eval_app.command("run")(eval_run)
    eval_app.command("results")(eval_results)
    eval_app.command("report")(eval_report)
    eval_app.command("rescore")(eval_rescore)
    eval_app.command("export-lmms-eval")(eval_export_lmms_eval)
    app.add_typer(eval_app, name="eval")


def _judge(judge_url: str | None, judge_model: str | None, ws=None):  # type: ignore[no-untyped-def]
    """A judge through the model client: a model configured in videokr.yaml, or any endpoint URL."""
    from videokr.scoring.judge import JUDGE_DEFAULT_MODEL, Judge, gateway_complete

    name = judge_model or JUDGE_DEFAULT_MODEL
    configured = dict(ws.config.models) if ws is not None else {}
    if judge_url:
        from videokr.models.config import ModelConfig

        key_env = "VIDEOKR_JUDGE_API_KEY" if os.environ.get("VIDEOKR_JUDGE_API_KEY") else (
            "OPENAI_API_KEY" if os.environ.get("OPENAI_API_KEY") else None)
        configured[name] = ModelConfig(base_url=judge_url, model=name, api_key_env=key_env)
    elif judge_model is None or name not in configured:
        return None
    store = ws.store if ws is not None else None
    return Judge(gateway_complete(configured, store, name), name)


def score(
    predictions: Path = typer.Argument(..., help="JSONL: id, question, options, answer, problem_type, output"),
    out: Path = typer.Option(None, "--out", help="write the scored lines here (JSONL)"),
    mode: str = typer.Option("official", help="reward mode: official (verl parity) or strict"),
    judge_url: str = typer.Option(None, help="OpenAI-compatible base URL of a judge for open-ended answers"),
    judge_model: str = typer.Option(None, help="judge model name (default gpt-4o, as the official task)"),
    show: int = typer.Option(20, help="how many bad lines to print"),
) -> None:
    """Score model outputs: answer, correctness, and the GRPO reward of each line."""
    from videokr.scoring.predictions import score_file
    from videokr.scoring.reward import MODES

    if mode not in MODES:
        fail(f"--mode must be one of {', '.join(MODES)}, not {mode!r}")
    if not predictions.is_file():
        fail(f"{predictions}: no such file")
    report = score_file(predictions, out, mode=mode, judge=_judge(judge_url, judge_model))  # type: ignore[arg-type]
    table = Table(title=f"{predictions.name}: {report.lines} lines")
    for column in ("problem type", "scored", "correct", "accuracy", "unscored"):
        table.add_column(column, justify="left" if column == "problem type" else "right")
    rows = [(k, t) for k, t in sorted(report.by_type.items())] + [("overall", report.overall)]
    for name, tally in rows:
        acc = f"{100 * tally.accuracy:.2f}%" if tally.accuracy is not None else "—"
        table.add_row(name, str(tally.scored), str(tally.correct), acc, str(tally.unscored))
    console.print(table)
    good = report.lines - len(report.bad)
    if good:
        console.print(f"mean reward ({mode}): {report.reward_sum / good:.4f}")
    if report.overall.unscored:
        console.print(
            f"{report.overall.unscored} open-ended item(s) unscored: no rule could settle them; "
            "pass --judge-url to judge them"
        )
    for reason in report.bad[:show]:
        console.print(f"[yellow]bad line[/] {reason}")
    if len(report.bad) > show:
        console.print(f"… and {len(report.bad) - show} more bad lines")
    if out:
        console.print(f"scored lines written to {out}")
    if report.bad and not good:
        raise typer.Exit(1)


def _pairs(values: list[str], what: str) -> dict[str, Path]:
    out = {}
    for value in values:
        name, sep, path = value.partition("=")
        if not sep or not name or not path:
            fail(f"{what} takes NAME=PATH, got {value!r}")
        out[name.strip()] = Path(path)
    return out


def _backend(backend: str, model: str, base_url: str | None, batch_size: int, ws,  # type: ignore[no-untyped-def]
             decoding: str = "engine", compile_prefill: bool = False):
    from videokr.evaluate import backends

    if backend == "openai":
        if base_url:
            key_env = "OPENAI_API_KEY" if os.environ.get("OPENAI_API_KEY") else None
            return backends.OpenAIBackend.for_endpoint(model, base_url, key_env, ws.store)
        if model in ws.config.models:
            return backends.OpenAIBackend(model, dict(ws.config.models), ws.store)
        fail(f"--backend openai needs --base-url, or --model naming a model of videokr.yaml "
             f"(configured: {', '.join(sorted(ws.config.models)) or 'none'})")
    if backend == "vllm":
        if not backends.vllm_available():
            fail("--backend vllm needs vLLM installed (pip install vllm); or use --backend transformers")
        return backends.VLLMBackend(model)
    if backend == "transformers":
        if decoding not in backends.DECODINGS:
            fail(f"--decoding must be one of {', '.join(backends.DECODINGS)}, not {decoding!r}")
        return backends.TransformersBackend.from_pretrained(model, batch_size=batch_size, decoding=decoding,
                                                            compile_prefill=compile_prefill)
    fail(f"--backend must be transformers, vllm or openai, not {backend!r}")


def eval_run(
    ctx: typer.Context,
    model: str = typer.Option(..., "--model", help="checkpoint path (transformers, vllm) or served model name (openai)"),
    benchmarks: list[str] = typer.Option([], "--benchmark", "-b", help="NAME=PATH of a benchmark file or folder; repeat"),
    video_roots: list[str] = typer.Option([], "--video-root", help="NAME=DIR where that benchmark's videos are"),
    frames: str = typer.Option("16,32,64,128", help="frame budgets, comma-separated"),
    runs: int = typer.Option(3, help="independent runs (samples) per item"),
    backend: str = typer.Option(None, help="transformers | vllm | openai (default: vllm when installed, else transformers)"),
    base_url: str = typer.Option(None, help="OpenAI-compatible base URL for --backend openai"),
    family: str = typer.Option(None, help="prompt family (Appendix C.2); default guessed from the model name"),
    label: str = typer.Option(None, help="name results are stored and reported under (default: the model)"),
    limit: int = typer.Option(None, help="at most this many items per benchmark"),
    on: Path = typer.Option(None, "--on", help="a training-set file: evaluate a random sample of it (Table 5)"),
    sample: int = typer.Option(3000, help="items sampled from --on"),
    seed: int = typer.Option(0, help="seed of the --on sample"),
    temperature: float = typer.Option(0.1),
    top_p: float = typer.Option(0.001, "--top-p", help="nucleus sampling; 1 keeps every token"),
    max_new_tokens: int = typer.Option(8192),
    batch_size: int = typer.Option(8, help="items per call; rows decoded together (transformers: 32-64 on one 80 GB GPU)"),
    decoding: str = typer.Option("engine", help="transformers backend: engine (videokr's) | generate (model.generate)"),
    compile_prefill: bool = typer.Option(False, "--compile", help="transformers backend: torch.compile the layers "
                                         "for prefill (about a minute once; 1.2x faster prefill on an H100)"),
    judge_url: str = typer.Option(None, help="OpenAI-compatible base URL of a judge for open-ended answers"),
    judge_model: str = typer.Option(None),
) -> None:
    """Evaluate a model; every sample is stored as it lands, so a rerun resumes.

    Stored samples are keyed on the label and on a fingerprint of every setting that can change
    an output (backend, model, endpoint, decoding, prompt family, temperature, top-p, max new
    tokens, frame sampling): a rerun with the same settings skips them, a changed setting
    generates anew under the same label.
    """
    from videokr.cli.common import workspace
    from videokr.evaluate import backends as B
    from videokr.evaluate.benchmarks import canonical_name, read_benchmark
    from videokr.evaluate.corpus import read_corpus_sample
    from videokr.evaluate.prompts import FAMILIES, family_of
    from videokr.evaluate.runner import EvalSettings, run_eval
    from videokr.progress import progress_bar

    ws = workspace(ctx)
    try:
        budgets = [int(x) for x in frames.split(",") if x.strip()]
    except ValueError:
        fail(f"--frames takes comma-separated integers, got {frames!r}")
    if any(b <= 0 for b in budgets) or runs <= 0:
        fail("frame budgets and --runs must be positive")
    family = family or family_of(model)
    if family not in FAMILIES:
        fail(f"--family must be one of {', '.join(FAMILIES)}, not {family!r}")
    try:
        roots = {canonical_name(k): v for k, v in _pairs(video_roots, "--video-root").items()}
        chosen_benchmarks = {canonical_name(k): v for k, v in _pairs(benchmarks, "--benchmark").items()}
    except ValueError as exc:
        fail(str(exc))
    items = {}
    for name, path in chosen_benchmarks.items():
        try:
            read = read_benchmark(name, path, roots.get(name), limit)
        except (ValueError, FileNotFoundError) as exc:
            fail(str(exc))
        for reason in read.rejected[:20]:
            console.print(f"[yellow]skipped[/] {name}: {reason}")
        console.print(f"{name}: {len(read.items)} items ({len(read.rejected)} skipped)")
        items[name] = read.items
    if on is not None:
        name, corpus_items, rejected = read_corpus_sample(on, sample, seed, ws.video_root())
        for reason in rejected[:20]:
            console.print(f"[yellow]skipped[/] {on}: {reason}")
        items[name] = corpus_items
    if not items:
        fail("nothing to evaluate: pass --benchmark NAME=PATH (repeatable) or --on FILE")
    chosen = backend or ("vllm" if B.vllm_available() else "transformers")
    engine = _backend(chosen, model, base_url, batch_size, ws, decoding, compile_prefill)
    settings = EvalSettings(label or model, family, budgets, runs, temperature, max_new_tokens, top_p=top_p,
                            batch_size=batch_size)
    total = sum(len(v) for v in items.values()) * len(budgets) * runs
    try:
        with progress_bar(f"eval {settings.model}", total) as advance:
            report = run_eval(ws.store, settings, items, engine, judge=_judge(judge_url, judge_model, ws),
                              on_progress=advance)
    except RuntimeError as exc:
        fail(f"stopped: {exc}; every sample generated so far is stored — rerun the same command to resume")
    console.print(f"{settings.model} (settings {report.short_fp}): {report.generated} samples generated, "
                  f"{report.reused} already stored, {len(report.failed)} failed")
    for reason in report.failed[:20]:
        console.print(f"[yellow]failed[/] {reason}")
    if report.all_failed:
        fail(f"every sample failed ({len(report.failed)}); nothing was generated")


def eval_results(
    ctx: typer.Context,
    models: list[str] = typer.Option([], "--model", help="only these labels (repeat)"),
) -> None:
    """What is stored: per label and settings, the samples of each benchmark and frame budget."""
    from videokr.cli.common import workspace
    from videokr.evaluate.report import describe_settings, short_fingerprint
    from videokr.evaluate.runner import results

    ws = workspace(ctx)
    samples = results(ws.store, models or None)
    if not samples:
        fail("no stored evaluation samples; run `videokr eval run` first")
    groups: dict[tuple[str, str, str, int], list[dict]] = {}
    settings: dict[tuple[str, str], dict] = {}
    for s in samples:
        groups.setdefault((s["model"], s["settings_fp"], s["benchmark"], s["frames"]), []).append(s)
        settings.setdefault((s["model"], s["settings_fp"]), s["settings"])
    table = Table(title="stored evaluation samples")
    for column in ("label", "settings", "benchmark", "frames", "runs", "samples", "failed", "accuracy"):
        table.add_column(column, justify="left" if column in ("label", "settings", "benchmark") else "right")
    for (label, fp, benchmark, frames), rows in sorted(groups.items()):
        scored = [r for r in rows if r["correct"] is not None]
        accuracy = f"{100 * sum(r['correct'] for r in scored) / len(scored):.1f}%" if scored else "—"
        table.add_row(label, short_fingerprint(fp), benchmark, str(frames), str(len({r["run"] for r in rows})),
                      str(len(rows)), str(sum(r["output"] is None for r in rows)), accuracy)
    console.print(table)
    labels: dict[str, int] = {}
    for label, _ in settings:
        labels[label] = labels.get(label, 0) + 1
    for (label, fp), chosen in sorted(settings.items()):
        console.print(f"{label} @{short_fingerprint(fp)}: {describe_settings(chosen)}")
    for label, count in sorted(labels.items()):
        if count > 1:
            console.print(f"[yellow]{label}[/] holds outputs of {count} settings; `eval report` shows each as its "
                          f"own row ({label} @settings), never pooled")


def eval_report(
    ctx: typer.Context,
    out: Path = typer.Option(Path("eval-report"), "--out", help="folder for report.md, report.html, frame_scaling.png"),
    base: str = typer.Option(None, help="model the deltas are taken against"),
    models: list[str] = typer.Option([], "--model", help="only these models (repeat)"),
    on: Path = typer.Option(None, "--on", help="report only the Table 5 difficulty analysis of this training file"),
) -> None:
    """Write the Table 3 layout, breakdowns, Figure 3 and Table 5 as Markdown and HTML."""
    from videokr.cli.common import workspace
    from videokr.evaluate.report import CORPUS_PREFIX, render, table5_markdown
    from videokr.evaluate.runner import results

    ws = workspace(ctx)
    samples = results(ws.store, models or None)
    if on is not None:
        samples = [s for s in samples if s["benchmark"] == CORPUS_PREFIX + on.name]
        if not samples:
            fail(f"no stored samples for {on.name}; run `videokr eval run --on {on}` first")
        console.print(table5_markdown(samples))
    if not samples:
        fail("no stored evaluation samples; run `videokr eval run` first")
    markdown, page, png = render(samples, base=base)
    out.mkdir(parents=True, exist_ok=True)
    (out / "report.md").write_text(markdown, encoding="utf-8")
    (out / "report.html").write_text(page, encoding="utf-8")
    if png:
        (out / "frame_scaling.png").write_bytes(png)
    console.print(f"report written to {out}/report.md and {out}/report.html")


def eval_rescore(
    ctx: typer.Context,
    model: str = typer.Option(None, "--model"),
    judge_url: str = typer.Option(None),
    judge_model: str = typer.Option(None),
) -> None:
    """Recompute every stored score from the stored outputs (no generation)."""
    from videokr.cli.common import workspace
    from videokr.evaluate.runner import rescore

    ws = workspace(ctx)
    n = rescore(ws.store, model, judge=_judge(judge_url, judge_model, ws))
    console.print(f"{n} samples rescored")


def eval_export_lmms_eval(
    directory: Path = typer.Argument(..., help="folder to write videokr_eval/{videokr_eval.yaml,utils.py} into"),
    family: str = typer.Option("videokr", help="prompt family the task uses (Appendix C.2)"),
    data_files: str = typer.Option("VideoKR_eval.jsonl", help="the evaluation file of the dataset"),
) -> None:
    """Write the VideoKR-Eval task for lmms-eval, scored with videokr's extraction."""
    from videokr.evaluate.lmms_eval_export import export_task

    try:
        folder = export_task(directory, family, data_files)
    except ValueError as exc:
        fail(str(exc))
    console.print(f"lmms-eval task written to {folder}; run lmms-eval with --include_path {directory} "
                  "--tasks videokr_eval")
