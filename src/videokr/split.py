"""The SFT/RL split of §3.5: random, grouped by video, stratified.

Every example of a video lands in the same set, so no video is seen in both SFT and RL.
Within each stratum (discipline, subject) videos are ordered by their main skill, randomly
within a skill (seeded), and placed by systematic sampling on their cumulative example
count: each subject's SFT share stays within one video of the target ratio, and so does
each skill's within it (implicit stratification). A subject with two or more videos
always contributes to both sets, so small subjects are not lost.

The SFT set trains on chains of thought, so a video with an example that has none can only
go to RL; such videos are placed first and the stratum's remaining videos make up the SFT
share of the whole stratum.

Pure: same examples, ratio and seed give the same split, whatever the input order.
"""

from __future__ import annotations

import random
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field

# 201K examples for SFT : 114K for RL (VideoKR-SFT-201K, VideoKR-RL-114K).
PAPER_SPLIT_RATIO: tuple[int, int] = (201, 114)
SETS = ("sft", "rl")


@dataclass(frozen=True)
class SplitItem:
    example_id: str
    video_id: str
    discipline: str | None = None
    subject: str | None = None
    skill: str | None = None
    has_cot: bool = True


@dataclass
class SplitResult:
    assignment: dict[str, str]  # example id -> "sft" | "rl"
    video_sets: dict[str, str]  # video id -> "sft" | "rl"
    rl_only_videos: int = 0  # videos sent to RL because an example has no chain of thought
    strata: dict[str, dict[str, int]] = field(default_factory=dict)  # stratum -> examples per set

    def counts(self) -> dict[str, int]:
        c = Counter(self.assignment.values())
        return {s: c.get(s, 0) for s in SETS}


def stratum_key(items: list[SplitItem], stratify: bool) -> str:
    if not stratify:
        return "all"
    first = min(items, key=lambda i: i.example_id)
    return f"{first.discipline or '-'} / {first.subject or '-'}"


def main_skill(items: list[SplitItem]) -> str:
    counts = Counter(i.skill or "-" for i in items)
    return min(counts, key=lambda s: (-counts[s], s))


def split_by_video(
    items: Iterable[SplitItem],
    *,
    ratio: tuple[int, int] = PAPER_SPLIT_RATIO,
    seed: int = 0,
    stratify: bool = True,
) -> SplitResult:
    sft_weight, rl_weight = ratio
    if sft_weight < 0 or rl_weight < 0 or sft_weight + rl_weight == 0:
        raise ValueError(f"split ratio must be two non-negative numbers, not both zero; got {ratio}")
    target = sft_weight / (sft_weight + rl_weight)

    by_video: dict[str, list[SplitItem]] = defaultdict(list)
    for item in items:
        by_video[item.video_id].append(item)

    strata: dict[str, list[str]] = defaultdict(list)
    for video_id in sorted(by_video):
        strata[stratum_key(by_video[video_id], stratify)].append(video_id)

    video_sets: dict[str, str] = {}
    report: dict[str, dict[str, int]] = {}
    rl_only = 0
    for key in sorted(strata):
        videos = strata[key]
        rng = random.Random(f"{seed}\x1f{key}")
        rng.shuffle(videos)
        if stratify:
            videos.sort(key=lambda v: main_skill(by_video[v]))  # stable: random within a skill
        offset = rng.random() - 0.5
        forced = [v for v in videos if not all(i.has_cot for i in by_video[v])]
        free = [v for v in videos if v not in set(forced)]
        placed = dict.fromkeys(forced, "rl")
        rl_only += len(forced)
        n_all = sum(len(by_video[v]) for v in videos)
        n_free = sum(len(by_video[v]) for v in free)
        free_target = min(1.0, target * n_all / n_free) if n_free else 0.0
        free_placed = _systematic(free, by_video, free_target, offset)
        _keep_both_sets(free_placed, by_video, free_target, rl_already=bool(forced))
        placed.update(free_placed)
        video_sets.update(placed)
        report[key] = {s: sum(len(by_video[v]) for v, s2 in placed.items() if s2 == s) for s in SETS}

    assignment = {item.example_id: video_sets[v] for v, group in by_video.items() for item in group}
    return SplitResult(assignment, video_sets, rl_only, report)


def _systematic(
    videos: list[str], by_video: dict[str, list[SplitItem]], target: float, offset: float
) -> dict[str, str]:
    placed: dict[str, str] = {}
    seen = sft = 0
    for video_id in videos:
        n = len(by_video[video_id])
        deficit = target * (seen + n) + offset * n - sft
        if deficit >= n / 2:
            placed[video_id] = "sft"
            sft += n
        else:
            placed[video_id] = "rl"
        seen += n
    return placed


def _keep_both_sets(
    placed: dict[str, str], by_video: dict[str, list[SplitItem]], target: float, *, rl_already: bool = False
) -> None:
    """A stratum of two or more videos gives at least one to each set (when the ratio allows)."""
    if target <= 0.0 or (target >= 1.0 and not rl_already) or len(placed) < (1 if rl_already else 2):
        return
    for empty in SETS:
        if empty == "rl" and rl_already:
            continue
        if empty not in placed.values():
            # move the smallest video of the full set; ties broken by id for determinism
            donor = min(placed, key=lambda v: (len(by_video[v]), v))
            placed[donor] = empty
