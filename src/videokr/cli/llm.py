"""Model verbs: `videokr models run|batch|list|status|audit` and `videokr cost` (`llm run|batch`: old spelling)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import typer
from rich.table import Table

from videokr.cli.common import fail
from videokr.progress import console, progress_bar
from videokr.workspace import Workspace, WorkspaceError

llm_app = typer.Typer(help="Run model requests through the cache, limits and retries.", no_args_is_help=True)
models_app = typer.Typer(help="The model pool: endpoints, eligibility per step, expert audits.",
                         no_args_is_help=True)
audit_app = typer.Typer(help="Expert audits that decide which model may serve which step (§3.4).",
                        no_args_is_help=True)


def register(app: typer.Typer) -> None:
    # `videokr models run|batch|list|status|audit`: one group for the model door; `llm` stays as a hidden alias
    for command in llm_app.registered_commands:
        models_app.registered_commands.append(command)
    app.add_typer(llm_app, name="llm", hidden=True)
    app.add_typer(models_app, name="models")
    models_app.add_typer(audit_app, name="audit")
    app.command("cost")(cost)


def _find_workspace(ctx: typer.Context) -> Workspace | None:
    chosen = (ctx.find_root().obj or {}).get("workspace")
    try:
        return Workspace.open(chosen) if chosen else Workspace.find()
    except WorkspaceError:
        if chosen:
            raise
        return None


# Exit status of `llm run` and `llm batch` (documented in their help).
EXIT_FAILED = 1  # a request failed (its output line carries the error), or the command could not run
EXIT_PENDING = 75  # EX_TEMPFAIL: the batch is still running after --max-wait; rerun to resume


@contextmanager
def _one_line_errors(what: str) -> Iterator[None]:
    """Turn any error into one redacted line and exit 1: a traceback can carry an API key that
    a provider echoed back, and says nothing more useful to someone running a command."""
    from videokr.models.secrets import one_line

    try:
        yield
    except (typer.Exit, typer.Abort, typer.TyperException):
        raise
    except Exception as exc:  # noqa: BLE001 - shown as a message, never a traceback with secrets
        from videokr.models.batch import BatchError
        from videokr.models.config import MissingKeyError
        from videokr.models.runner import RequestFileError

        plain = isinstance(exc, (BatchError, MissingKeyError, RequestFileError))
        fail(one_line(str(exc) if plain else f"{what} failed: {type(exc).__name__}: {exc}"), EXIT_FAILED)


def _failed_summary(failed: int, total: int) -> str:
    which = "every request" if failed == total else f"{failed} of {total} requests"
    return f"{which} failed; rerun the same command to ask them again (answered ones come from the cache)"


def _need_workspace(ctx: typer.Context) -> Workspace:
    try:
        ws = _find_workspace(ctx)
    except WorkspaceError as exc:
        fail(str(exc))
    if ws is None:
        fail("no videokr workspace here or above; run `videokr init DIR` or pass --workspace DIR")
    return ws


def _model_setup(ctx: typer.Context, model: str, base_url: str | None, api_key_env: str | None,
                 store: Path | None, out: Path | None):  # noqa: ANN202 - internal
    from videokr.models.config import ModelConfig
    from videokr.store import Store

    try:
        ws = _find_workspace(ctx)
    except WorkspaceError as exc:
        fail(str(exc))
    if base_url is not None:
        config = ModelConfig(base_url=base_url, model=model, api_key_env=api_key_env)
    else:
        if ws is None:
            fail(f"model {model!r}: no workspace to read it from; run inside a workspace or give --base-url URL "
                 "(and --api-key-env VAR)")
        if model not in ws.config.models:
            fail(f"unknown model {model!r}; configured in {ws.root / 'videokr.yaml'}: "
                 f"{', '.join(sorted(ws.config.models)) or '(none)'}")
        config = ws.config.models[model].model_copy(deep=True)
        if api_key_env is not None:
            config.api_key_env = api_key_env
    if store is not None:
        db = Store(store)
    elif ws is not None:
        db = ws.store
    elif out is not None:
        db = Store(out.with_name(out.name + ".cache.sqlite"))
    else:
        fail("give --store PATH (no workspace here)")
    return config, db


@llm_app.command("run")
def llm_run(
    ctx: typer.Context,
    requests: Path = typer.Argument(..., exists=True, dir_okay=False, help="OpenAI Batch input JSONL"),
    model: str = typer.Option(..., "--model", help="a model named in videokr.yaml, or the endpoint's name with --base-url"),
    out: Path = typer.Option(..., "--out", help="where the Batch-format output JSONL goes"),
    base_url: str = typer.Option(None, "--base-url", help="an ad-hoc OpenAI-compatible endpoint"),
    api_key_env: str = typer.Option(None, "--api-key-env", help="environment variable holding the API key"),
    store: Path = typer.Option(None, "--store", help="cache file (default: the workspace's store, else OUT.cache.sqlite)"),
    concurrency: int = typer.Option(None, min=1, help="requests in flight"),
    rpm: float = typer.Option(None, help="requests per minute"),
    tpm: float = typer.Option(None, help="tokens per minute"),
    timeout: float = typer.Option(None, help="seconds per attempt"),
    max_attempts: int = typer.Option(None, min=1, help="sends per request, first included"),
    backoff_base: float = typer.Option(None, help="first backoff step in seconds"),
    step: str = typer.Option("llm-run", help="step name the calls are cached and costed under"),
    dry_run: bool = typer.Option(False, "--dry-run", help="render, count and price; send nothing"),
    retry_failed: bool = typer.Option(True, "--retry-failed/--no-retry-failed",
                                      help="ask again requests that failed in an earlier run"),
) -> None:
    """Run REQUESTS through MODEL; one output line per custom_id; resumes where it stopped.

    Exit status: 0 when every request was answered (or, with --dry-run, priced); 1 when any
    request failed after its retries (the output file is still written, each failed line
    carrying its error, and a summary says how many; rerun to ask them again) or when the
    command could not run at all (a one-line message, keys redacted)."""
    with _one_line_errors("llm run"):
        _llm_run(ctx, requests, model, out, base_url, api_key_env, store, concurrency, rpm, tpm, timeout,
                 max_attempts, backoff_base, step, dry_run, retry_failed)


def _llm_run(ctx: typer.Context, requests: Path, model: str, out: Path, base_url: str | None,
             api_key_env: str | None, store: Path | None, concurrency: int | None, rpm: float | None,
             tpm: float | None, timeout: float | None, max_attempts: int | None, backoff_base: float | None,
             step: str, dry_run: bool, retry_failed: bool) -> None:
    from videokr.models.gateway import Gateway
    from videokr.models.runner import read_requests, run_batch_lines
    from videokr.models.secrets import one_line

    config, db = _model_setup(ctx, model, base_url, api_key_env, store, out)
    overrides = {k: v for k, v in dict(concurrency=concurrency, rpm=rpm, tpm=tpm, timeout_s=timeout,
                                       max_attempts=max_attempts, backoff_base_s=backoff_base).items()
                 if v is not None}
    config.limits = config.limits.model_copy(update=overrides)
    lines = read_requests(requests)

    async def go() -> object:
        async with Gateway({model: config}, db, dry_run=dry_run, retry_failed=retry_failed) as gateway:
            meter = gateway.meter

            def status() -> str:
                return f"${meter.cost_usd:,.4f} · sent {meter.sent} · cached {meter.cached} · failed {meter.failed}"

            with progress_bar("dry run" if dry_run else "llm run", len(lines), status=status) as advance:
                summary = await run_batch_lines(lines, gateway, model, out, step=step, on_done=advance)
            return summary, meter

    summary, meter = asyncio.run(go())
    if dry_run:
        console.print(
            f"dry run: {summary.dry_run} requests would be sent ({summary.ok} already answered in the cache); "
            f"estimated {meter.tokens_in:,} tokens in, {meter.tokens_out:,} out, ${meter.cost_usd:,.4f} "
            "(estimate: chars/4 for text, a fixed count per image, max_tokens for the reply)"
        )
        return
    console.print(
        f"{summary.lines} lines: {summary.ok} answered ({summary.sent} sent now, {summary.cached} from the cache), "
        f"{summary.errors} errors; this run cost ${meter.cost_usd:,.4f}; wrote {out}"
    )
    for example in summary.error_examples:
        console.print(f"  error: {one_line(example)}")
    if summary.errors:
        fail(_failed_summary(summary.errors, summary.lines), EXIT_FAILED)


@llm_app.command("batch")
def llm_batch(
    ctx: typer.Context,
    requests: Path = typer.Argument(..., exists=True, dir_okay=False, help="OpenAI Batch input JSONL"),
    model: str = typer.Option(..., "--model"),
    out: Path = typer.Option(..., "--out"),
    base_url: str = typer.Option(None, "--base-url"),
    api_key_env: str = typer.Option(None, "--api-key-env"),
    store: Path = typer.Option(None, "--store"),
    step: str = typer.Option("llm-run", help="step name the calls are cached and costed under"),
    poll: float = typer.Option(30.0, help="seconds between status polls"),
    max_wait: float = typer.Option(None, help="stop waiting after this many seconds (rerun to resume)"),
) -> None:
    """Run REQUESTS through the provider's Batch API (half price); resumes a submitted batch.

    Exit status: 0 when every request was answered; 1 when any request failed (the output file
    is still written, each failed line carrying its error, and a summary says how many; rerun to
    send them in a new batch) or when the command could not run at all (a one-line message, keys
    redacted); 75 when the batch is still running after --max-wait (rerun to resume it)."""
    with _one_line_errors("llm batch"):
        _llm_batch(ctx, requests, model, out, base_url, api_key_env, store, step, poll, max_wait)


def _llm_batch(ctx: typer.Context, requests: Path, model: str, out: Path, base_url: str | None,
               api_key_env: str | None, store: Path | None, step: str, poll: float, max_wait: float | None) -> None:
    from videokr.models.batch import BatchRunner
    from videokr.models.runner import read_requests
    from videokr.models.secrets import one_line

    config, db = _model_setup(ctx, model, base_url, api_key_env, store, out)
    lines = read_requests(requests)
    runner = BatchRunner(model, config, db, step=step)
    result = asyncio.run(runner.run(lines, out, poll_s=poll, max_wait_s=max_wait,
                                    on_status=lambda s: console.print(f"batch {one_line(s)}")))
    console.print(one_line(result.describe()))
    for example in result.error_examples:
        console.print(f"  error: {one_line(example)}")
    if result.out is None:
        raise typer.Exit(EXIT_PENDING)
    if result.errors:
        fail(_failed_summary(result.errors, result.lines), EXIT_FAILED)


def cost(
    ctx: typer.Context,
    by: str = typer.Option("step,model", help="group by any of: step, model, via"),
    store: Path = typer.Option(None, "--store", help="a cache file outside a workspace"),
) -> None:
    """Totals of model calls: requests, tokens in/out and USD, per step and model."""
    from videokr.models.cache import CallCache
    from videokr.store import Store

    db = Store(store) if store is not None else _need_workspace(ctx).store
    keys = tuple(k.strip() for k in by.split(",") if k.strip())
    try:
        rows = CallCache(db).totals(by=keys)
    except ValueError as exc:
        fail(str(exc))
    table = Table(title="model calls")
    for key in keys:
        table.add_column(key)
    for column in ("answered", "failed", "sends", "tokens in", "tokens out", "USD"):
        table.add_column(column, justify="right")
    total = [0, 0, 0, 0, 0, 0.0]
    for row in rows:
        values = [row["done"], row["failed"], row["sends"], row["tokens_in"], row["tokens_out"], row["cost_usd"]]
        total = [a + b for a, b in zip(total, values)]
        table.add_row(*(str(row[k]) for k in keys), *(f"{v:,}" for v in values[:5]), f"{values[5]:,.4f}")
    table.add_row(*(["total"] + [""] * (len(keys) - 1)), *(f"{v:,}" for v in total[:5]), f"{total[5]:,.4f}")
    console.print(table)


@models_app.command("list")
def models_list(ctx: typer.Context) -> None:
    """The configured endpoints, their limits and prices (never keys)."""
    ws = _need_workspace(ctx)
    table = Table(title="models")
    for column in ("name", "paper name", "model", "base url", "key from", "modalities", "USD/Mtok in/out",
                   "concurrency"):
        table.add_column(column)
    for name, config in ws.config.models.items():
        table.add_row(name, config.display_name or "", config.model, config.base_url, config.api_key_env or "-",
                      ",".join(config.modalities),
                      f"{config.price.input_per_mtok:g}/{config.price.output_per_mtok:g}",
                      str(config.limits.concurrency))
    console.print(table)


@models_app.command("status")
def models_status(
    ctx: typer.Context,
    preset: str = typer.Option(None, help="'paper' shows Table 8 as published; default: this workspace's view"),
) -> None:
    """The eligibility matrix, step by model, like the paper's Table 8."""
    from videokr.models.audit import pool_with_audits
    from videokr.models.config import PoolConfig, paper_models
    from videokr.models.pool import POOL_STEPS, ModelPool

    if preset == "paper":
        pool = ModelPool(paper_models(), PoolConfig())
        title = "Table 8 (as published)"
    elif preset is None:
        ws = _need_workspace(ctx)
        pool = pool_with_audits(ws.config.models, ws.config.pool, ws.store)
        title = (f"eligible models (error rate ≤ {ws.config.pool.max_error_rate:.0%}; "
                 f"verdicts: {ws.config.pool.verdicts})")
    else:
        fail(f"unknown preset {preset!r}; known: paper")
    table = Table(title=title)
    table.add_column("step")
    table.add_column("modality")
    for name, config in pool.models.items():
        table.add_column(config.display_name or name, justify="center")
    section = None
    for step in POOL_STEPS:
        if step.section != section:
            section = step.section
            table.add_row(f"[bold]{section}[/]", *[""] * (len(pool.models) + 1))
        cells = []
        for model in pool.models:
            verdict = pool.verdict(step.name, model)
            cell = verdict.mark
            if verdict.error_rate is not None:
                cell += f" {verdict.error_rate:.0%}"
            if verdict.source in ("audit", "override", "not audited"):
                cell += f" ({verdict.source})"
            cells.append(cell)
        table.add_row(f"{step.label} [{step.name}]", step.modality.capitalize(), *cells)
    console.print(table)
    console.print("✓ eligible · ✗ failed validation or not audited · - not suited to the step's modality")


@audit_app.command("sample")
def audit_sample(
    ctx: typer.Context,
    step: str = typer.Option(..., "--step", help="a pool step, e.g. scenarios (see `videokr models status`)"),
    model: str = typer.Option(..., "--model", help="a model named in videokr.yaml"),
    n: int = typer.Option(None, "--n", min=1, help="inputs to sample (default: pool.audit_size, 100)"),
    inputs: Path = typer.Option(None, "--inputs", exists=True, dir_okay=False,
                                help="Batch-format requests of the step (default: its requests in the cache)"),
    sheet: Path = typer.Option(None, "--sheet", help="CSV for the experts (default: audit-STEP-MODEL.csv)"),
    seed: int = typer.Option(0, help="seed of the sample"),
) -> None:
    """Draw N real inputs of STEP, record MODEL's outputs, write a sheet for expert labels."""
    from videokr.models.audit import AuditError, sample_audit
    from videokr.models.gateway import Gateway
    from videokr.models.pool import STEPS_BY_NAME
    from videokr.models.runner import RequestFileError, read_requests

    ws = _need_workspace(ctx)
    if step not in STEPS_BY_NAME:
        fail(f"unknown step {step!r}; steps: {', '.join(STEPS_BY_NAME)}")
    if model not in ws.config.models:
        fail(f"unknown model {model!r}; configured: {', '.join(sorted(ws.config.models))}")
    try:
        lines = read_requests(inputs) if inputs else None
    except RequestFileError as exc:
        fail(str(exc))
    sheet = sheet or Path(f"audit-{step}-{model}.csv")

    async def go() -> object:
        async with Gateway(ws.config.models, ws.store) as gateway:
            return await sample_audit(gateway, ws.store, step=step, model=model,
                                      n=n or ws.config.pool.audit_size, sheet=sheet, lines=lines, seed=seed)

    try:
        result = asyncio.run(go())
    except AuditError as exc:
        fail(str(exc))
    console.print(f"sampled {result.sampled} inputs of {step}; {result.answered} answered by {model}; "
                  f"experts label each row of {result.sheet} as fine, soft or hard, then run "
                  "`videokr models audit import`")


@audit_app.command("import")
def audit_import(
    ctx: typer.Context,
    sheets: list[Path] = typer.Argument(..., exists=True, dir_okay=False, help="labelled audit sheets (CSV)"),
) -> None:
    """Read experts' labels (fine / soft / hard) and show the resulting error rates."""
    from videokr.models.audit import AuditError, import_audit

    ws = _need_workspace(ctx)
    summaries = {}
    for sheet in sheets:
        try:
            summaries = import_audit(ws.store, sheet)
        except AuditError as exc:
            fail(str(exc))
    threshold = ws.config.pool.max_error_rate
    table = Table(title="audits")
    for column in ("step", "model", "labelled", "hard", "soft", "error rate", "eligible"):
        table.add_column(column)
    for (step, model), summary in sorted(summaries.items()):
        complete = summary.labelled >= ws.config.pool.audit_size
        verdict = ("✓" if summary.error_rate <= threshold else "✗") if complete else \
            f"incomplete ({summary.labelled}/{ws.config.pool.audit_size})"
        table.add_row(step, model, str(summary.labelled), str(summary.hard), str(summary.soft),
                      f"{summary.error_rate:.1%}", verdict)
    console.print(table)
