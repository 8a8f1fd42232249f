"""Reports from stored evaluation samples: Table 3, breakdowns, Figure 3, Table 5.

Accuracy of one run = correct / scored samples of that run (unscored open-ended answers and
samples whose video failed are left out, and counted separately). A benchmark's figure is
the mean over runs, with the standard deviation over runs beside it. Category averages are
the mean of the benchmark means (general: Video-MME, MVBench, LongVideoBench; knowledge-
intensive: VideoMMMU, MMVU, SciVideoBench, VideoKR-Eval), as in Table 3.

Outputs are stored per label *and* settings fingerprint (see :mod:`videokr.evaluate.runner`).
A report never pools outputs of different settings: where one label holds several, each
gets its own rows, named ``label @fingerprint``, and the settings section says what each
fingerprint stands for.
"""

from __future__ import annotations

import base64
import html
import io
import statistics
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any, Iterable, Sequence

from videokr.evaluate.benchmarks import DISPLAY_NAMES
from videokr.evaluate.prompts import GENERAL_BENCHMARKS, KNOWLEDGE_BENCHMARKS

CORPUS_PREFIX = "corpus:"  # benchmark name of a training-set sample (Table 5)
SHORT_DIGITS = 8  # digits of a settings fingerprint shown in reports
LEGACY_PREFIX = "v1-"  # settings fingerprints of outputs stored before settings were part of their key


def short_fingerprint(fingerprint: str | None) -> str:
    return (fingerprint or "?")[:SHORT_DIGITS]


def separate_settings(samples: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The samples with ``model`` naming the settings as well wherever one label holds several settings.

    The label itself stays in ``label``; nothing is dropped or pooled.
    """
    fingerprints: dict[str, set[str | None]] = defaultdict(set)
    for s in samples:
        fingerprints[s["model"]].add(s.get("settings_fp"))
    out = []
    for s in samples:
        label = s.get("label", s["model"])
        if len(fingerprints[s["model"]]) > 1:
            s = {**s, "label": label, "model": f"{s['model']} @{short_fingerprint(s.get('settings_fp'))}"}
        else:
            s = {**s, "label": label}
        out.append(s)
    return out


def describe_settings(settings: dict[str, Any] | None) -> str:
    """One line of ``key=value`` for a settings object, nested keys joined with dots."""
    if not settings:
        return "(not recorded)"
    parts: list[str] = []

    def walk(prefix: str, value: Any) -> None:
        if isinstance(value, dict) and value:
            for key in sorted(value):
                walk(f"{prefix}.{key}" if prefix else str(key), value[key])
        elif not isinstance(value, dict):
            parts.append(f"{prefix}={value}")

    walk("", settings)
    return ", ".join(parts)


def settings_markdown(samples: list[dict[str, Any]]) -> str:
    """Which settings produced the outputs of each reported row."""
    seen: dict[tuple[str, str | None], dict[str, Any] | None] = {}
    for s in samples:
        seen.setdefault((s["model"], s.get("settings_fp")), s.get("settings"))
    if not seen:
        return ""
    lines = ["| Model | Settings | What they are |", "|---|---|---|"]
    for (model, fp), settings in sorted(seen.items(), key=lambda kv: (kv[0][0], kv[0][1] or "")):
        legacy = " (stored before settings were recorded in full)" if (fp or "").startswith(LEGACY_PREFIX) else ""
        what = describe_settings(settings).replace("|", "/")
        lines.append(f"| {model} | {short_fingerprint(fp)} | {what}{legacy} |")
    return "\n".join(lines)


@dataclass
class Cell:
    mean: float | None  # percent
    std: float | None
    runs: int
    scored: int
    unscored: int = 0
    failed: int = 0
    partial: bool = False  # an average over only some of its benchmarks

    def text(self, with_std: bool = True) -> str:
        if self.mean is None:
            return "—"
        mark = "*" if self.partial else ""
        if with_std and self.std is not None and self.runs > 1:
            return f"{self.mean:.1f} ± {self.std:.1f}{mark}"
        return f"{self.mean:.1f}{mark}"


def _cell(rows: Iterable[dict[str, Any]]) -> Cell:
    per_run: dict[int, list[bool]] = defaultdict(list)
    unscored = failed = 0
    for r in rows:
        if r["error"] is not None or r["output"] is None:
            failed += 1
        elif r["correct"] is None:
            unscored += 1
        else:
            per_run[r["run"]].append(r["correct"])
    accs = [100.0 * sum(v) / len(v) for v in per_run.values() if v]
    if not accs:
        return Cell(None, None, 0, 0, unscored, failed)
    std = statistics.stdev(accs) if len(accs) > 1 else 0.0
    return Cell(statistics.fmean(accs), std, len(accs), sum(len(v) for v in per_run.values()), unscored, failed)


def _average(cells: Sequence[Cell]) -> Cell:
    """Mean of the benchmark means present; marked partial when some are missing."""
    present = [c for c in cells if c.mean is not None]
    if not present:
        return Cell(None, None, 0, 0)
    mean = statistics.fmean(c.mean for c in present)  # type: ignore[misc]
    return Cell(mean, None, min(c.runs for c in present), sum(c.scored for c in present), partial=len(present) < len(cells))


@dataclass
class Table3:
    rows: list[tuple[str, int]] = field(default_factory=list)  # (model, frames)
    cells: dict[tuple[str, int], dict[str, Cell]] = field(default_factory=dict)
    base: str | None = None

    def general(self, key: tuple[str, int]) -> Cell:
        return _average([self.cells[key].get(b, Cell(None, None, 0, 0)) for b in GENERAL_BENCHMARKS])

    def knowledge(self, key: tuple[str, int]) -> Cell:
        return _average([self.cells[key].get(b, Cell(None, None, 0, 0)) for b in KNOWLEDGE_BENCHMARKS])


def table3(samples: list[dict[str, Any]], base: str | None = None) -> Table3:
    grouped: dict[tuple[str, int], dict[str, list[dict[str, Any]]]] = defaultdict(lambda: defaultdict(list))
    for s in samples:
        if s["benchmark"].startswith(CORPUS_PREFIX):
            continue
        grouped[(s["model"], s["frames"])][s["benchmark"]].append(s)
    t = Table3(base=base)
    for key in sorted(grouped, key=lambda k: (k[0] != base, k[0], k[1])):
        t.rows.append(key)
        t.cells[key] = {b: _cell(rows) for b, rows in grouped[key].items()}
    return t


def _delta(value: Cell, base: Cell | None) -> str:
    if base is None or value.mean is None or base.mean is None:
        return ""
    return f" ({value.mean - base.mean:+.1f})"


def table3_markdown(t: Table3) -> str:
    heads = ["Model", "Frames"] + [DISPLAY_NAMES[b] for b in GENERAL_BENCHMARKS] + ["General avg"] + [
        DISPLAY_NAMES[b] for b in KNOWLEDGE_BENCHMARKS] + ["Knowledge avg"]
    lines = ["| " + " | ".join(heads) + " |", "|" + "---|" * len(heads)]
    for key in t.rows:
        model, frames = key
        base_key = (t.base, frames) if t.base and (t.base, frames) in t.cells and model != t.base else None
        cells = t.cells[key]
        row = [model, str(frames)]
        row += [cells.get(b, Cell(None, None, 0, 0)).text() for b in GENERAL_BENCHMARKS]
        row.append(t.general(key).text(False) + _delta(t.general(key), t.general(base_key) if base_key else None))
        row += [cells.get(b, Cell(None, None, 0, 0)).text() for b in KNOWLEDGE_BENCHMARKS]
        row.append(t.knowledge(key).text(False) + _delta(t.knowledge(key), t.knowledge(base_key) if base_key else None))
        lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines)


def breakdown(samples: list[dict[str, Any]], by: str) -> dict[tuple[str, int], dict[str, Cell]]:
    """Accuracy per value of ``by`` (question_type, subject, dataset) per (model, frames)."""
    grouped: dict[tuple[str, int], dict[str, list[dict[str, Any]]]] = defaultdict(lambda: defaultdict(list))
    for s in samples:
        value = s.get(by) or "unknown"
        grouped[(s["model"], s["frames"])][f"{DISPLAY_NAMES.get(s['benchmark'], s['benchmark'])} / {value}"].append(s)
    return {k: {v: _cell(rows) for v, rows in sorted(d.items())} for k, d in grouped.items()}


def breakdown_markdown(table: dict[tuple[str, int], dict[str, Cell]], title: str) -> str:
    parts = [f"### Accuracy by {title}"]
    for (model, frames), cells in sorted(table.items()):
        parts.append(f"\n**{model}, {frames} frames**\n\n| {title} | accuracy | scored | unscored |\n|---|---|---|---|")
        parts += [f"| {name} | {c.text()} | {c.scored} | {c.unscored} |" for name, c in cells.items()]
    return "\n".join(parts)


def frame_scaling(t: Table3) -> dict[str, dict[str, list[tuple[int, float]]]]:
    """Figure 3's data: model → category → [(frames, average accuracy)]."""
    out: dict[str, dict[str, list[tuple[int, float]]]] = defaultdict(lambda: defaultdict(list))
    for key in sorted(t.rows, key=lambda k: k[1]):
        for name, cell in (("General", t.general(key)), ("Knowledge-intensive", t.knowledge(key))):
            if cell.mean is not None:
                out[key[0]][name].append((key[1], cell.mean))
    return out


def frame_scaling_png(t: Table3) -> bytes | None:
    data = frame_scaling(t)
    if not any(len(points) for m in data.values() for points in m.values()):
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(9, 3.6), sharex=True)
    for ax, cat in zip(axes, ("General", "Knowledge-intensive")):
        for model, cats in sorted(data.items()):
            points = cats.get(cat, [])
            if points:
                xs, ys = zip(*points)
                ax.plot(xs, ys, marker="o", label=model)
        ax.set_title(f"{cat} video reasoning")
        ax.set_xlabel("input frames")
        ax.set_xscale("log", base=2)
        ax.set_xticks([16, 32, 64, 128], labels=["16", "32", "64", "128"])
        ax.set_ylabel("average accuracy (%)")
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=8)
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110)
    plt.close(fig)
    return buffer.getvalue()


def table5_markdown(samples: list[dict[str, Any]]) -> str:
    """Table 5: accuracy of each model on each sampled training corpus."""
    samples = separate_settings(samples)
    grouped: dict[str, dict[str, list[dict[str, Any]]]] = defaultdict(lambda: defaultdict(list))
    for s in samples:
        if s["benchmark"].startswith(CORPUS_PREFIX):
            grouped[s["model"]][s["benchmark"][len(CORPUS_PREFIX):]].append(s)
    corpora = sorted({c for d in grouped.values() for c in d})
    if not corpora:
        return ""
    lines = ["| Model | " + " | ".join(corpora) + " |", "|" + "---|" * (len(corpora) + 1)]
    for model in sorted(grouped):
        lines.append(f"| {model} | " + " | ".join(_cell(grouped[model].get(c, [])).text() for c in corpora) + " |")
    return "\n".join(lines)


def render(samples: list[dict[str, Any]], *, base: str | None = None, title: str = "videokr evaluation") -> tuple[str, str, bytes | None]:
    """(Markdown, HTML with the plot embedded, PNG) for the stored samples."""
    samples = separate_settings(samples)
    t = table3(samples, base)
    png = frame_scaling_png(t)
    unscored = sum(1 for s in samples if s["output"] is not None and s["correct"] is None)
    failed = sum(1 for s in samples if s["output"] is None)
    md = [f"# {title}", "", "Accuracy (%) as mean ± standard deviation over independent runs; averages are means of "
          "the benchmark means (* = over the benchmarks evaluated only)" + (f"; deltas against {base} at the same frame budget." if base else "."), "",
          "## Main results (Table 3 layout)", "", table3_markdown(t), ""]
    if unscored or failed:
        md += [f"{unscored} open-ended samples unscored (no judge), {failed} samples failed (unreadable video); "
               "neither counts as wrong.", ""]
    if png:
        md += ["## Frame scaling (Figure 3)", "", "![frame scaling](frame_scaling.png)", ""]
    t5 = table5_markdown(samples)
    if t5:
        md += ["## Training-data difficulty (Table 5)", "", t5, ""]
    kept = [s for s in samples if not s["benchmark"].startswith(CORPUS_PREFIX)]
    for by, name in (("question_type", "question type"), ("subject", "subject"), ("dataset", "source dataset")):
        md += [breakdown_markdown(breakdown(kept, by), name), ""]
    if any("settings_fp" in s for s in samples):
        split = sorted({s["label"] for s in samples if s["label"] != s["model"]})
        md += ["## Settings", ""]
        if split:
            md += [f"Outputs of different settings are stored under the same label ({', '.join(split)}); "
                   "each settings fingerprint is reported as its own row (`label @fingerprint`), never pooled.", ""]
        md += [settings_markdown(samples), ""]
    markdown = "\n".join(md)
    return markdown, _html(markdown, png, title), png


def _html(markdown: str, png: bytes | None, title: str) -> str:
    """A self-contained page: Markdown tables turned into HTML tables, the plot inlined."""
    body: list[str] = []
    table: list[list[str]] = []

    def flush() -> None:
        if table:
            head, *rest = table
            body.append("<table><thead><tr>" + "".join(f"<th>{html.escape(c)}</th>" for c in head) + "</tr></thead><tbody>"
                        + "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in r) + "</tr>" for r in rest)
                        + "</tbody></table>")
            table.clear()

    for line in markdown.splitlines():
        if line.startswith("|"):
            cells = [c.strip() for c in line.strip("|").split("|")]
            if not all(set(c) <= {"-"} for c in cells):
                table.append(cells)
            continue
        flush()
        if line.startswith("!["):
            if png:
                body.append(f'<img alt="frame scaling" src="data:image/png;base64,{base64.b64encode(png).decode()}">')
        elif line.startswith("#"):
            level = len(line) - len(line.lstrip("#"))
            body.append(f"<h{level}>{html.escape(line.lstrip('#').strip())}</h{level}>")
        elif line.startswith("**") and line.endswith("**"):
            body.append(f"<h4>{html.escape(line.strip('*'))}</h4>")
        elif line.strip():
            body.append(f"<p>{html.escape(line)}</p>")
    flush()
    style = ("body{font-family:sans-serif;max-width:1200px;margin:2em auto}table{border-collapse:collapse;margin:1em 0}"
             "td,th{border:1px solid #ccc;padding:4px 8px;text-align:right}td:first-child,th:first-child{text-align:left}")
    return f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title><style>{style}</style></head><body>{''.join(body)}</body></html>"
