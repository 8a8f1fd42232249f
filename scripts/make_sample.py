"""Regenerate the bundled sample (src/videokr/sample/): small real videos and official-format lines.

Videos. Twelve training videos (Videos/<subject>/) and six benchmark-only videos
(Videos/bench/), tiny H.264 clips (128×96, 4 fps, 12–36 s) made with PyAV so the demo
runs offline in seconds. Every second shows a new smooth colour field over a per-video
fine texture (stripes, checks, grain, dots, waves), with a small bright square moving
and a thin bar growing once a second.

They are built so that decontamination (Appendix A.5: 1 fps 64-bit pHash, flagged when
≥ 70% of aligned frames are within 30 bits) tells a true story on them. A pHash keeps the
signs of an image's 8×8 lowest DCT coefficients against their median; each second's
field is drawn from those coefficients with a sign pattern taken from one row of a 64×64
Walsh–Hadamard matrix (the DC coefficient, always the largest, falls on the matrix's
all-plus first column, and each row but the all-plus first holds 32 plus and 32 minus
signs, as a median split does). Any two rows differ in exactly 32 bits, so when each
video draws its pictures from its own rows, every frame of one video is 32 bits from
every frame of any other: past the 30-bit threshold however the videos are aligned and
however short the window. The textures lie above the frequencies the hash keeps, the
square is small and the bar shifts colour, not luma, so each sampled frame hashes to its
row exactly (`--check` prints the closest distances).

Exactly one training video, Videos/geo/erosion.mp4, is a re-upload of a benchmark video:
an excerpt of Videos/bench/geo_river_delta.mp4, brightened, cropped a little and
re-encoded harder. Decontamination should flag it, and only it, as a near duplicate;
`--check` runs the paper setting on the written videos and says so (exit 1 otherwise).

Lines. The SFT and RL files cover the four disciplines, the three skills, both problem
types, the field variants of the official files and a few deliberately bad lines; the
evaluation file asks about the benchmark videos only.

Run: python scripts/make_sample.py [--check]
"""

from __future__ import annotations

import argparse
import colorsys
import json
import random
import sys
from pathlib import Path

import numpy as np

OUT = Path(__file__).resolve().parents[1] / "src" / "videokr" / "sample"
FPS, WIDTH, HEIGHT = 4, 128, 96

# (path, discipline, subject, seconds); one video holds the benchmark copy (COPY below)
VIDEOS = [
    ("Videos/chem/titration.mp4", "Natural Sciences", "Chemistry", 26),
    ("Videos/phys/pendulum.mp4", "Natural Sciences", "Physics", 30),
    ("Videos/bio/mitosis.mp4", "Natural Sciences", "Biology", 14),
    ("Videos/ee/oscilloscope.mp4", "Engineering", "Electrical Engineering", 28),
    ("Videos/cs/heap_profiler.mp4", "Engineering", "Computer Science", 32),
    ("Videos/civil/truss.mp4", "Engineering", "Civil & Environmental Engineering", 12),
    ("Videos/med/auscultation.mp4", "Healthcare", "Medicine", 27),
    ("Videos/dent/scaling.mp4", "Healthcare", "Dentistry", 18),
    ("Videos/hist/suffrage.mp4", "Humanities & Social Sciences", "History", 34),
    ("Videos/econ/supply_demand.mp4", "Humanities & Social Sciences", "Economics", 25),
    ("Videos/geo/erosion.mp4", "Natural Sciences", "Earth Science", 26),
    ("Videos/pharm/dosage.mp4", "Healthcare", "Pharmacy", 16),
]
# benchmark-only videos, each asked about by two evaluation lines: (path, subject, seconds)
BENCH = [
    ("Videos/bench/chem_indicator.mp4", "Chemistry", 30),
    ("Videos/bench/bio_cell_division.mp4", "Biology", 32),
    ("Videos/bench/cs_sorting.mp4", "Computer Science", 30),
    ("Videos/bench/med_ecg.mp4", "Medicine", 34),
    ("Videos/bench/hist_parliament.mp4", "History", 30),
    ("Videos/bench/geo_river_delta.mp4", "Earth Science", 36),
]
# the one training video that re-uploads a benchmark video: (training, benchmark, start second)
COPY = ("Videos/geo/erosion.mp4", "Videos/bench/geo_river_delta.mp4", 6)
# a colour shift that leaves luma (ITU-R 601, what a pHash sees) unchanged: reddish
TINT = np.array([60.0, -20.0, -54.6])
TEXTURES = ("stripes", "checks", "grain", "dots", "waves")
ROWS_PER_TRAIN, ROWS_PER_BENCH = 3, 4

# -- pictures whose pHash is chosen ------------------------------------------------------------

HASH_SIDE, DCT_SIDE = 8, 32
_H8 = np.array([[(-1) ** bin(a & u).count("1") for u in range(HASH_SIDE)] for a in range(HASH_SIDE)])


def row_signs(row: int) -> np.ndarray:
    """Row `row` (1–63) of the Sylvester Hadamard matrix H8⊗H8 as 8×8 signs over the DCT block."""
    a, b = divmod(row, HASH_SIDE)
    return np.outer(_H8[a], _H8[b])


def row_hash(row: int) -> int:
    """The pHash a picture drawn with `row`'s signs has (bit order as imagehash: row-major, MSB first)."""
    value = 0
    for bit in row_signs(row).reshape(-1) > 0:
        value = (value << 1) | int(bit)
    return value


def field(row: int, rng: np.random.Generator) -> np.ndarray:
    """A smooth grey picture (HEIGHT×WIDTH floats around 128, std 50) whose low DCT signs are `row`'s."""
    import scipy.fft
    from PIL import Image

    u, v = np.mgrid[0:HASH_SIDE, 0:HASH_SIDE]
    coef = np.zeros((DCT_SIDE, DCT_SIDE))
    magnitude = rng.uniform(0.85, 1.0, (HASH_SIDE, HASH_SIDE)) / (1 + 0.05 * (u + v))
    coef[:HASH_SIDE, :HASH_SIDE] = row_signs(row) * magnitude
    coef[0, 0] = 0.0
    grey = scipy.fft.idctn(coef, norm="ortho")
    grey = 128 + grey * (50 / grey.std())  # scaling the AC part keeps every sign
    image = Image.fromarray(grey.astype(np.float32), mode="F")
    return np.asarray(image.resize((WIDTH, HEIGHT), Image.Resampling.BICUBIC), dtype=np.float32)


def texture(kind: str, frame: int, noise: np.ndarray) -> np.ndarray:
    """A fine moving pattern in −1…1, far above the frequencies a pHash keeps."""
    y, x = np.mgrid[0:HEIGHT, 0:WIDTH].astype(np.float32)
    if kind == "stripes":
        return np.sin(2 * np.pi * (x * 0.8 + y * 0.6) / 4 + frame * 0.9)
    if kind == "checks":
        return (((x.astype(int) + frame) // 2 + y.astype(int) // 2) % 2) * 2.0 - 1
    if kind == "grain":
        return np.roll(noise, frame, axis=1)
    if kind == "dots":
        return (((x.astype(int) + frame) % 5 < 2) & ((y.astype(int) + frame) % 5 < 2)) * 2.0 - 1
    return np.sin(2 * np.pi * x / 5 + 2 * np.sin(2 * np.pi * y / 24) + frame * 0.7)  # waves


def frames(rows: list[int], seconds: int, seed: int):
    """RGB frames: second s shows a field drawn with one of `rows` from s−½ to s+½ (so 1 fps
    sampling lands mid-picture), the video's texture, a square moving and a bar growing."""
    rng = np.random.default_rng(seed)
    kind = TEXTURES[seed % len(TEXTURES)]
    hue = (seed * 0.618) % 1  # a palette of its own: dark and light shades around one hue
    dark = 255 * np.array(colorsys.hsv_to_rgb(hue, 0.8, 0.3))
    light = 255 * np.array(colorsys.hsv_to_rgb((hue + 0.08) % 1, 0.3, 1.0))
    noise = np.clip(rng.standard_normal((HEIGHT, WIDTH)) / 2, -1, 1).astype(np.float32)
    pictures = [field(int(rng.choice(rows)), rng) for _ in range(seconds + 1)]
    for i in range(seconds * FPS):
        grey = pictures[int(i / FPS + 0.5)] + 14 * texture(kind, i, noise)
        x = int(4 + (i * 2) % (WIDTH - 14))
        y = int(HEIGHT / 2 - 5 + 24 * np.sin(i / 9))
        grey[y : y + 6, x : x + 6] += 60  # the square: lighter than what it covers, and tinted
        rgb = dark + (np.clip(grey, 0, 255)[..., None] / 255) * (light - dark)  # luma stays affine in grey
        rgb[y : y + 6, x : x + 6] += TINT
        rgb[HEIGHT - 3 :, : 1 + i // FPS] += 1.4 * TINT  # a bar that grows once a second
        yield np.clip(rgb, 0, 255).astype(np.uint8)


def encode(path: Path, images, crf: int) -> None:
    from videokr.video.synth import write_video

    path.parent.mkdir(parents=True, exist_ok=True)
    write_video(path, images, fps=FPS, gop=FPS * 8, options={"crf": str(crf), "preset": "veryslow"})


def reupload(bench: Path, start_s: int, seconds: int):
    """The benchmark video as a re-upload: `seconds` from `start_s`, brightened and a little
    cropped (scaled back to size); the caller re-encodes it harder."""
    import av
    from PIL import Image

    cut_x, cut_y = 3, 2
    with av.open(str(bench)) as container:
        for i, frame in enumerate(container.decode(video=0)):
            if i < start_s * FPS:
                continue
            if i >= (start_s + seconds) * FPS:
                break
            image = frame.to_ndarray(format="rgb24")[cut_y : HEIGHT - cut_y, cut_x : WIDTH - cut_x]
            image = np.asarray(Image.fromarray(image).resize((WIDTH, HEIGHT), Image.Resampling.BILINEAR))
            yield np.clip(image.astype(np.int16) + 22, 0, 255).astype(np.uint8)


def make_videos() -> None:
    for old in sorted((OUT / "Videos").rglob("*.mp4")) if (OUT / "Videos").is_dir() else []:
        old.unlink()  # names may have changed since the last run
        if not any(old.parent.iterdir()):
            old.parent.rmdir()
    rows = list(range(1, 64))
    random.Random(11).shuffle(rows)
    owners = [path for path, *_ in BENCH] + [path for path, *_ in VIDEOS if path != COPY[0]]
    per = {o: ROWS_PER_BENCH if o.startswith("Videos/bench/") else ROWS_PER_TRAIN for o in owners}
    assert sum(per.values()) <= len(rows)
    seed = 0
    for path, *_, seconds in BENCH + [(p, s) for p, *_, s in VIDEOS]:
        seed += 1
        if path == COPY[0]:
            continue
        mine, rows = rows[: per[path]], rows[per[path] :]
        encode(OUT / path, frames(mine, seconds, seed), crf=28)
    train, bench, start = COPY
    seconds = next(s for p, *_, s in VIDEOS if p == train)
    encode(OUT / train, reupload(OUT / bench, start, seconds), crf=38)


SKILLS = ["VidR", "KnowVid", "KnowVidR"]


def lines_for(index: int, video: tuple[str, str, str, int], rng: random.Random, kind: str) -> list[dict]:
    path, discipline, subject, seconds = video
    out = []
    for s, skill in enumerate(SKILLS):
        for variant in range(2):
            n = len(out)
            pid = f"{kind}-{index:02d}-{n}"
            mc = variant == 0
            q = {
                "VidR": f"In the {subject.lower()} clip, in which direction does the bright square move first?",
                "KnowVid": f"Which {subject.lower()} concept does the apparatus shown around 00:0{s + 2} illustrate?",
                "KnowVidR": f"Using the quantities shown in the {subject.lower()} video, what is the ratio of the "
                            f"final to the initial reading after {seconds} seconds?",
            }[skill]
            row: dict = {"problem_id": pid, "question": q, "subject": subject, "discipline": discipline,
                         "skill": skill, "knowledge_point": f"{subject} core concept {s + 1}"}
            if mc:
                k = rng.randint(4, 6)
                options = [f"option {chr(65 + j)} for {subject.lower()}" for j in range(k)]
                answer = chr(65 + rng.randrange(k))
                row["problem_type"] = rng.choice(["multiple choice", "multiple-choice", "MCQ"])
                row["options"] = ([f"{chr(65 + j)}. {o}" for j, o in enumerate(options)] if n % 3
                                  else {chr(65 + j): o for j, o in enumerate(options)})
                row["solution"] = f"<answer>{answer}</answer>" if n % 2 == 0 else answer
            else:
                row["problem_type"] = rng.choice(["open-ended", "open_ended", "free-form"])
                row["solution"] = f"<answer>{rng.randint(2, 9)}:1</answer>"
            if kind == "sft":
                row["think"] = (f"<think>I watch the video from 00:00 to 00:{seconds:02d}. The square starts on "
                                f"the left and the bar grows once a second, so the reading at the end is "
                                f"{seconds} units. Combining this with the {subject.lower()} principle gives the "
                                f"answer.</think>")
            key = ["video_path", "path", "file_name", "videos"][(index + n) % 4]
            row[key] = [path] if key == "videos" else ("./" + path if n % 5 == 0 else path)
            out.append(row)
    return out


def write_lines() -> None:
    rng = random.Random(7)
    sft, rl = [], []
    for i, video in enumerate(VIDEOS):
        (sft if i % 3 else rl).extend(lines_for(i, video, rng, "sft" if i % 3 else "rl"))
    bad = [
        '{"problem_id": "bad-json", "question": "unterminated',
        json.dumps({"problem_id": "bad-answer", "problem_type": "multiple choice", "question": "Which?",
                    "options": ["A. one", "B. two"], "solution": "<answer>E</answer>", "think": "t",
                    "video_path": VIDEOS[0][0]}),
        json.dumps({"problem_id": "no-video", "problem_type": "open-ended", "question": "What?",
                    "solution": "x", "think": "t"}),
    ]
    (OUT / "videokr-sft-sample.jsonl").write_text(
        "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in sft[:20]) + "\n".join(bad) + "\n"
        + "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in sft[20:]), encoding="utf-8")
    (OUT / "videokr-rl-sample.json").write_text(json.dumps(rl, ensure_ascii=False, indent=1) + "\n", "utf-8")
    eval_rows = []
    for i, (path, subject, _s) in enumerate(BENCH):
        eval_rows.append({"id": f"eval-{i}", "question": f"What happens to the bar in the {subject} video?",
                          "option": ["A. it shrinks", "B. it grows", "C. it disappears", "D. it splits"],
                          "problem_type": "multiple-choice", "answer": "B", "video_path": path,
                          "dataset": ["MMVU", "VideoMMMU", "SciVideoBench"][i % 3], "subject": subject})
        eval_rows.append({"id": f"eval-{i}-oe", "question": f"How many squares move in the {subject} video?",
                          "problem_type": "open-ended", "solution": "one", "video_path": path,
                          "dataset": "VideoKR-Eval", "subject": subject})
    (OUT / "videokr-eval-sample.jsonl").write_text(
        "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in eval_rows), encoding="utf-8")


# -- the check ----------------------------------------------------------------------------------


def check() -> bool:
    """Decontamination (paper setting) of the training videos against the benchmark videos
    must flag exactly the copy; also prints each training video's closest approach."""
    from videokr.decontam.run import VideoRef, decontaminate
    from videokr.decontam.search import brute_force_best
    from videokr.decontam.settings import PAPER
    from videokr.video.phash import hamming, hash_video

    train = [VideoRef(p, str(OUT / p)) for p, *_ in VIDEOS]
    bench = [VideoRef(p, str(OUT / p)) for p, *_ in BENCH]
    result = decontaminate(train, bench, settings=PAPER)
    hashes = {r.id: hash_video(r.path)[1] for r in train + bench}
    print(f"paper setting: pHash at {PAPER.sample_fps:g} fps, {PAPER.window_s} s windows, flagged when "
          f"≥ {PAPER.min_matched_fraction:.0%} of aligned frames are within {PAPER.max_distance} bits "
          f"(a video shorter than a window is compared over its own length)")
    print(f"{'training video':32} {'s':>3} {'best window':>11} {'min bits':>8}  of benchmark video")
    for t in train:
        fraction, nearest = max(
            (v.matched_fraction, b.id)
            for b in bench
            for v in brute_force_best(hashes[b.id], [hashes[t.id]], PAPER)
        )
        closest = min(int(hamming(hashes[t.id][:, None], hashes[b.id][None, :]).min()) for b in bench)
        named = nearest if fraction else "-"
        print(f"{t.id:32} {len(hashes[t.id]):>3} {fraction:>11.0%} {closest:>8}  {named}")
    others = [
        int(hamming(hashes[a.id][:, None], hashes[b.id][None, :]).min())
        for i, a in enumerate(train) for b in train[i + 1 :]
    ]
    print(f"closest frames of two different training videos: {min(others)} bits apart")
    for line in result.flagged:
        print(f"FLAGGED {line['train_video']}: {line['reason']} of {line['bench_video']} "
              f"({line['matched_fraction']:.0%} of aligned frames, training {line['train_offset_s']:g} s "
              f"= benchmark {line['bench_offset_s']:g} s)")
    for side, key, error in result.errors:
        print(f"ERROR {side} {key}: {error}")
    ok = result.flagged_ids() == {COPY[0]} and not result.errors
    print("ok: exactly the re-upload is flagged" if ok else f"NOT OK: only {COPY[0]} should be flagged")
    return ok


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only check the sample as written")
    args = parser.parse_args()
    if not args.check:
        make_videos()
        write_lines()
    sys.exit(0 if check() else 1)


if __name__ == "__main__":
    main()
