"""A labelled near-duplicate set made on the spot, and precision/recall of a setting on it.

Positives: an excerpt of 20–60 s of a benchmark video, transformed as re-uploads are
(re-encoded harder, rescaled, cropped, brightness-shifted by 25–40 levels either way,
letterboxed), inserted at a fractional time into a training video made of other footage of
the same style. Hard negatives: training videos of the same style that share no footage
with any benchmark video. The styles (`videokr.video.synth.FOOTAGE_STYLES`) are those of
knowledge videos: fast procedural scenes, slowly drifting scenes with a cut every 5–11 s,
slow motion, screen recordings, static shots and slides; all but the first change little
from second to second, which is where a rule tuned on busy footage fails. Videos are small
(128×72, 10 fps) so that the whole set is made, encoded, decoded and hashed in a couple of
minutes on two cores.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from videokr.decontam.settings import DecontamSettings
from videokr.video.synth import FOOTAGE_STYLES, write_video

WIDTH, HEIGHT, FPS = 128, 72, 10
BENCH_SECONDS = 70
EXCERPT_SECONDS = (20, 60)
TRANSFORMS = ("reencode", "rescale", "crop", "brightness", "letterbox")
STYLES = tuple(FOOTAGE_STYLES)  # scene, drift, slow_motion, screen, static, slides


@dataclass(frozen=True)
class TrainVideo:
    id: str
    path: Path
    bench_id: str | None  # the benchmark video it contains, None for a negative
    transform: str | None
    bench_start_s: float | None = None
    train_start_s: float | None = None
    seconds: float | None = None
    amount: float | None = None  # crop per side, letterboxed picture height share, or brightness shift


@dataclass(frozen=True)
class CalibrationSet:
    bench: list[tuple[str, Path]]
    train: list[TrainVideo]


def _style(style: str) -> Callable[..., Iterable[np.ndarray]]:
    if style not in FOOTAGE_STYLES:
        raise ValueError(f"unknown footage style {style!r}; known: {', '.join(FOOTAGE_STYLES)}")
    return FOOTAGE_STYLES[style]


def _frames(style: str, seed: int, seconds: float) -> list[np.ndarray]:
    return list(_style(style)(seed, seconds, fps=FPS, width=WIDTH, height=HEIGHT))


def _resize(image: np.ndarray, width: int, height: int) -> np.ndarray:
    from PIL import Image

    return np.asarray(Image.fromarray(image).resize((width, height), Image.Resampling.BILINEAR))


CROP_PER_SIDE = (0.06, 0.12)  # share of each side cut off a cropped copy (drawn per copy)
LETTERBOX_HEIGHT = (0.70, 0.80)  # share of the height the picture keeps between the bars
BRIGHTNESS_SHIFT = (25, 40)  # grey levels added or taken away (sign drawn per copy)


def transform_frames(frames: Sequence[np.ndarray], transform: str, amount: float | None = None) -> list[np.ndarray]:
    """One re-upload edit applied to an excerpt; the output keeps the training video's size.
    `amount` is the crop per side, the letterboxed picture's height share or the signed
    brightness shift (defaults: the top of the crop range, the bottom of the letterbox
    range, +BRIGHTNESS_SHIFT[1])."""
    if transform == "reencode":  # the training video itself is encoded far harder (see build)
        return list(frames)
    if transform == "rescale":  # down to 40% and back up: detail lost as on a low-res upload
        return [_resize(_resize(f, WIDTH * 2 // 5, HEIGHT * 2 // 5), WIDTH, HEIGHT) for f in frames]
    if transform == "crop":  # a share of every side cut off, scaled back up
        cut = CROP_PER_SIDE[1] if amount is None else amount
        dx, dy = round(WIDTH * cut), round(HEIGHT * cut)
        return [_resize(f[dy : HEIGHT - dy, dx : WIDTH - dx], WIDTH, HEIGHT) for f in frames]
    if transform == "brightness":
        shift = BRIGHTNESS_SHIFT[1] if amount is None else round(amount)
        return [np.clip(f.astype(np.int16) + shift, 0, 255).astype(np.uint8) for f in frames]
    if transform == "letterbox":  # 4:3-style bars: picture shrunk in height, black above/below
        h = round(HEIGHT * (LETTERBOX_HEIGHT[0] if amount is None else amount))
        top = (HEIGHT - h) // 2
        out = []
        for f in frames:
            page = np.zeros_like(f)
            page[top : top + h] = _resize(f, WIDTH, h)
            out.append(page)
        return out
    raise ValueError(f"unknown transform {transform!r}; known: {', '.join(TRANSFORMS)}")


def _amount(transform: str, rng: np.random.Generator) -> float | None:
    if transform == "crop":
        return float(rng.uniform(*CROP_PER_SIDE))
    if transform == "letterbox":
        return float(rng.uniform(*LETTERBOX_HEIGHT))
    if transform == "brightness":
        return float(round(rng.uniform(*BRIGHTNESS_SHIFT)) * rng.choice((-1, 1)))
    return None


def build_calibration_set(
    root: str | Path,
    *,
    bench_per_style: int = 6,
    transforms: Sequence[str] = TRANSFORMS,
    negatives_per_style: int = 10,
    seed: int = 0,
    styles: Sequence[str] = STYLES,
) -> CalibrationSet:
    """`bench_per_style` benchmark videos of each style, one planted copy of each per
    transform, and `negatives_per_style` unrelated videos of each style (defaults: 36
    benchmark videos, 180 copies, 60 hard negatives)."""
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    bench: list[tuple[str, Path]] = []
    train: list[TrainVideo] = []
    next_seed = 1000 * (seed + 1)
    for style in styles:
        _style(style)
        for b in range(bench_per_style):
            next_seed += 1
            bench_id = f"bench-{style}-{b}"
            frames = _frames(style, next_seed, BENCH_SECONDS)
            bench.append((bench_id, write_video(root / f"{bench_id}.mp4", frames, fps=FPS, gop=100)))
            for transform in transforms:
                seconds = float(rng.uniform(*EXCERPT_SECONDS))
                start = float(rng.uniform(0, BENCH_SECONDS - seconds))
                excerpt = frames[int(start * FPS) : int((start + seconds) * FPS)]
                before = float(rng.uniform(5, 40))
                after = float(rng.uniform(5, 40))
                next_seed += 2
                filler_a = _frames(style, next_seed, before)
                filler_b = _frames(style, next_seed + 1, after)
                amount = _amount(transform, rng)
                video = filler_a + transform_frames(excerpt, transform, amount) + filler_b
                tid = f"pos-{style}-{b}-{transform}"
                options = {"crf": "40"} if transform == "reencode" else None
                path = write_video(root / f"{tid}.mp4", video, fps=FPS, gop=120, options=options)
                train.append(
                    TrainVideo(tid, path, bench_id, transform, start, len(filler_a) / FPS, len(excerpt) / FPS, amount)
                )
        for n in range(negatives_per_style):
            next_seed += 1
            tid = f"neg-{style}-{n}"
            seconds = float(rng.uniform(40, 120))
            path = write_video(root / f"{tid}.mp4", _frames(style, next_seed, seconds), fps=FPS, gop=120)
            train.append(TrainVideo(tid, path, None, None))
    return CalibrationSet(bench, train)


@dataclass(frozen=True)
class Scores:
    """Two views of the same flags. Per training video (what decontamination acts on: a
    video is removed or kept): precision is the share of flagged videos that do hold a
    planted copy. Per (training, benchmark) pair (attribution): a flag naming a benchmark
    video the training video does not copy is wrong even when the video holds another copy.
    Recall is per planted copy: found when its own benchmark video is among the matches."""

    settings: str
    max_distance: int
    min_matched_fraction: float
    true_positives: int  # planted copies found with their own benchmark video
    false_positives: int  # (training, benchmark) flags that name the wrong benchmark video
    false_negatives: int
    videos_flagged: int
    negatives_flagged: int
    negatives: int

    @property
    def precision(self) -> float:
        """Per flagged training video."""
        return (self.videos_flagged - self.negatives_flagged) / self.videos_flagged if self.videos_flagged else 1.0

    @property
    def pair_precision(self) -> float:
        flagged = self.true_positives + self.false_positives
        return self.true_positives / flagged if flagged else 1.0

    @property
    def recall(self) -> float:
        positives = self.true_positives + self.false_negatives
        return self.true_positives / positives if positives else 1.0


def score(
    cset: CalibrationSet, flags: Iterable[tuple[str, str]], settings: DecontamSettings
) -> Scores:
    """Precision and recall of (training id, benchmark id) flags against the labels."""
    truth = {(t.id, t.bench_id) for t in cset.train if t.bench_id is not None}
    negatives = {t.id for t in cset.train if t.bench_id is None}
    flagged = set(flags)
    tp = len(flagged & truth)
    fp = len(flagged - truth)
    fn = len(truth - flagged)
    videos = {t for t, _ in flagged}
    return Scores(
        settings.name, settings.max_distance, settings.min_matched_fraction, tp, fp, fn,
        len(videos), len(videos & negatives), len(negatives),
    )


def recall_by_transform(cset: CalibrationSet, flags: Iterable[tuple[str, str]]) -> dict[str, tuple[int, int]]:
    """transform → (copies found with their own benchmark video, copies planted)."""
    found = set(flags)
    out: dict[str, tuple[int, int]] = {}
    for t in cset.train:
        if t.transform is None:
            continue
        hit, total = out.get(t.transform, (0, 0))
        out[t.transform] = (hit + ((t.id, t.bench_id) in found), total + 1)
    return out
