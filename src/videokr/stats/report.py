"""The statistics report: an HTML page with the Figure 2 plots, and the same numbers as JSON."""

from __future__ import annotations

import html
import io
import json
from pathlib import Path
from typing import Any

_STYLE = """
body { font-family: system-ui, sans-serif; margin: 2rem auto; max-width: 1100px; color: #222; }
h1 { font-size: 1.6rem; } h2 { font-size: 1.2rem; margin-top: 2rem; }
table { border-collapse: collapse; margin: .5rem 0; } td, th { padding: .2rem .6rem; border-bottom: 1px solid #ddd; }
th { text-align: left; } td.n { text-align: right; font-variant-numeric: tabular-nums; }
.plots { display: flex; flex-wrap: wrap; gap: 1rem; } .plots figure { margin: 0; }
"""


def _bar_svg(title: str, labels: list[str], values: list[float], *, horizontal: bool = False) -> str:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    height = max(2.6, 0.28 * len(labels) + 1.0) if horizontal else 3.0
    fig, ax = plt.subplots(figsize=(5.2, height))
    if horizontal:
        ax.barh(labels[::-1], values[::-1], color="#4a7ab5")
    else:
        ax.bar(labels, values, color="#4a7ab5")
        ax.tick_params(axis="x", labelrotation=45)
        plt.setp(ax.get_xticklabels(), ha="right")
    ax.set_title(title, fontsize=10)
    ax.tick_params(labelsize=8)
    fig.tight_layout()
    buffer = io.StringIO()
    fig.savefig(buffer, format="svg")
    plt.close(fig)
    svg = buffer.getvalue()
    return svg[svg.index("<svg"):]


def _table(header: tuple[str, ...], rows: list[tuple[Any, ...]]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join(
        "<tr>" + "".join(
            f'<td class="n">{v:,}</td>' if isinstance(v, int) else f"<td>{html.escape(str(v))}</td>" for v in row
        ) + "</tr>"
        for row in rows
    )
    return f"<table><tr>{head}</tr>{body}</table>"


def render_html(stats: dict[str, Any], title: str = "videokr corpus statistics") -> str:
    parts = [f"<!doctype html><meta charset='utf-8'><title>{html.escape(title)}</title><style>{_STYLE}</style>",
             f"<h1>{html.escape(title)}</h1>",
             _table(("", "count"), [("examples", stats["examples"]), ("videos", stats["videos"]),
                                    ("evaluation items", stats["eval_items"])]
                    + [(f"examples in {k}", v) for k, v in stats["examples_per_set"].items()])]

    disciplines = stats["per_discipline"]
    plots = [
        _bar_svg("examples per discipline", list(disciplines), [d["examples"] for d in disciplines.values()],
                 horizontal=True),
        _bar_svg("videos per discipline", list(disciplines), [d["videos"] for d in disciplines.values()],
                 horizontal=True),
        _bar_svg("examples per skill", list(stats["per_skill"]), list(stats["per_skill"].values())),
        _bar_svg("examples per problem type", list(stats["per_problem_type"]),
                 list(stats["per_problem_type"].values())),
    ]
    parts.append("<h2>Disciplines, skills and formats</h2><div class='plots'>"
                 + "".join(f"<figure>{p}</figure>" for p in plots) + "</div>")

    parts.append("<h2>Subjects</h2>")
    subject_rows = [(d, s, v["examples"], v["videos"])
                    for d, subjects in stats["per_subject"].items() for s, v in subjects.items()]
    subjects_flat = {subject: n for _, subject, n, _ in subject_rows}
    top = sorted(subjects_flat.items(), key=lambda kv: -kv[1])[:40]
    if top:
        parts.append("<div class='plots'><figure>"
                     + _bar_svg("examples per subject (top 40)", [k for k, _ in top], [v for _, v in top],
                                horizontal=True) + "</figure></div>")
    parts.append(_table(("discipline", "subject", "examples", "videos"), subject_rows))

    duration = stats["video_duration_s"]
    length_plots = [_bar_svg(f"video duration, s ({duration['videos_with_duration']} probed)",
                             list(duration["histogram"]), list(duration["histogram"].values()))]
    for name, block in stats["length_words"].items():
        length_plots.append(_bar_svg(f"{name} length, words", list(block["histogram"]),
                                     list(block["histogram"].values())))
    parts.append("<h2>Durations and lengths</h2><div class='plots'>"
                 + "".join(f"<figure>{p}</figure>" for p in length_plots) + "</div>")
    summary_rows = [("video duration (s)", *_summary_cells(duration["summary"]))] + [
        (f"{name} (words)", *_summary_cells(block["summary"])) for name, block in stats["length_words"].items()
    ]
    parts.append(_table(("", "n", "mean", "median", "min", "max"), summary_rows))
    return "\n".join(parts) + "\n"


def _summary_cells(summary: dict[str, float]) -> tuple[Any, ...]:
    if not summary.get("n"):
        return (0, "-", "-", "-", "-")
    return (int(summary["n"]), summary["mean"], summary["median"], summary["min"], summary["max"])


def write_report(stats: dict[str, Any], out: Path) -> tuple[Path, Path]:
    """Write OUT (HTML) and OUT with a .json suffix; returns both paths."""
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(render_html(stats), encoding="utf-8")
    numbers = out.with_suffix(".json")
    numbers.write_text(json.dumps(stats, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return out, numbers
