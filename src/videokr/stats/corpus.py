"""The corpus statistics of the paper's Figure 2, as plain numbers.

Computed from the store's raw JSON (no validation on the way out: it was validated on the
way in), so a 315K-example corpus is summarised in seconds.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from typing import Any

from videokr.sets import live_examples
from videokr.store import Store

DURATION_BINS_S = (0, 30, 60, 120, 180, 300, 600, 900, 1200, 1800)  # §3.2 drops videos over 30 min
LENGTH_BINS_WORDS = (0, 10, 20, 30, 50, 75, 100, 150, 200, 300, 500, 1000)


def histogram(values: list[float], edges: tuple[float, ...]) -> dict[str, int]:
    """Counts per [edge_i, edge_i+1) bin, plus an open last bin `>= edge_n`."""
    labels = [f"{edges[i]:g}-{edges[i + 1]:g}" for i in range(len(edges) - 1)] + [f">={edges[-1]:g}"]
    counts = dict.fromkeys(labels, 0)
    for value in values:
        for i in range(len(edges) - 1, -1, -1):
            if value >= edges[i]:
                counts[labels[i]] += 1
                break
    return counts


def _summary(values: list[float]) -> dict[str, float]:
    if not values:
        return {"n": 0}
    ordered = sorted(values)
    n = len(ordered)
    return {
        "n": n,
        "mean": round(sum(ordered) / n, 2),
        "median": ordered[n // 2] if n % 2 else (ordered[n // 2 - 1] + ordered[n // 2]) / 2,
        "min": ordered[0],
        "max": ordered[-1],
    }


def _words(text: str | None) -> int:
    return len(text.split()) if text else 0


def corpus_stats(store: Store) -> dict[str, Any]:
    examples_per_set: Counter[str] = Counter()
    per_discipline: Counter[str] = Counter()
    per_subject: dict[str, Counter[str]] = defaultdict(Counter)
    videos_per_discipline: dict[str, set[str]] = defaultdict(set)
    videos_per_subject: dict[str, set[str]] = defaultdict(set)
    per_skill: Counter[str] = Counter()
    per_type: Counter[str] = Counter()
    per_set_type: dict[str, Counter[str]] = defaultdict(Counter)
    q_len: list[float] = []
    a_len: list[float] = []
    cot_len: list[float] = []
    video_ids: set[str] = set()
    for e in (x.model_dump(mode="json") for x in live_examples(store)):
        discipline = e.get("discipline") or "unknown"
        subject = e.get("subject") or "unknown"
        examples_per_set[e.get("split") or "unassigned"] += 1
        per_discipline[discipline] += 1
        per_subject[discipline][subject] += 1
        videos_per_discipline[discipline].add(e["video_id"])
        videos_per_subject[subject].add(e["video_id"])
        per_skill[e.get("skill") or "unknown"] += 1
        per_type[e["problem_type"]] += 1
        per_set_type[e.get("split") or "unassigned"][e["problem_type"]] += 1
        video_ids.add(e["video_id"])
        q_len.append(_words(e["question"]))
        answer = e["answer"]
        if e["problem_type"] == "multiple choice":
            answer = e["options"][ord(answer) - ord("A")]
        a_len.append(_words(answer))
        if e.get("cot"):
            cot_len.append(_words(e["cot"]))

    durations = [
        v["duration_s"] for v in store.iter_json("video_probe") if v["id"] in video_ids
    ]
    return {
        "examples": sum(per_type.values()),
        "videos": len(video_ids),
        "examples_per_set": dict(examples_per_set),
        "per_discipline": {d: {"examples": n, "videos": len(videos_per_discipline[d])}
                           for d, n in per_discipline.most_common()},
        "per_subject": {
            d: {s: {"examples": n, "videos": len(videos_per_subject[s])} for s, n in c.most_common()}
            for d, c in sorted(per_subject.items())
        },
        "per_skill": dict(per_skill.most_common()),
        "per_problem_type": dict(per_type.most_common()),
        "per_set_problem_type": {s: dict(c) for s, c in per_set_type.items()},
        "video_duration_s": {
            "videos_with_duration": len(durations),
            "summary": _summary(durations),
            "histogram": histogram(durations, DURATION_BINS_S),
        },
        "length_words": {
            name: {"summary": _summary(values), "histogram": histogram(values, LENGTH_BINS_WORDS)}
            for name, values in (("question", q_len), ("answer", a_len), ("cot", cot_len))
        },
        "eval_items": sum(1 for _ in store.live_outputs("import", "eval_item")),
    }
