"""Regenerate the bundled sample (src/videokr/sample/): small real videos and official-format lines.

The videos are tiny H.264 clips made with PyAV (moving shapes, a few seconds each), so the
demo runs offline in seconds; the lines cover the four disciplines, the three skills, both
problem types, the field variants of the official files and a few deliberately bad lines.
Run: python scripts/make_sample.py
"""

from __future__ import annotations

import json
import random
from pathlib import Path

import av
import numpy as np

OUT = Path(__file__).resolve().parents[1] / "src" / "videokr" / "sample"

VIDEOS = [
    ("Videos/chem/titration.mp4", "Natural Sciences", "Chemistry", 12),
    ("Videos/phys/pendulum.mp4", "Natural Sciences", "Physics", 18),
    ("Videos/bio/mitosis.mp4", "Natural Sciences", "Biology", 9),
    ("Videos/ee/oscilloscope.mp4", "Engineering", "Electrical Engineering", 15),
    ("Videos/cs/heap_profiler.mp4", "Engineering", "Computer Science", 21),
    ("Videos/civil/truss.mp4", "Engineering", "Civil & Environmental Engineering", 8),
    ("Videos/med/auscultation.mp4", "Healthcare", "Medicine", 14),
    ("Videos/dent/scaling.mp4", "Healthcare", "Dentistry", 10),
    ("Videos/hist/suffrage.mp4", "Humanities & Social Sciences", "History", 16),
    ("Videos/econ/supply_demand.mp4", "Humanities & Social Sciences", "Economics", 11),
    ("Videos/geo/erosion.mp4", "Natural Sciences", "Earth Science", 13),
    ("Videos/pharm/dosage.mp4", "Healthcare", "Pharmacy", 7),
]


def make_video(path: Path, seconds: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    fps, width, height = 8, 96, 64
    path.parent.mkdir(parents=True, exist_ok=True)
    base = rng.integers(40, 200, size=3)
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.options = {"crf": "32", "preset": "veryslow", "g": str(fps * 4)}
        for i in range(seconds * fps):
            frame = np.empty((height, width, 3), np.uint8)
            frame[:] = (base + i) % 256
            x = int((i * 3) % (width - 16))
            y = int((height - 16) * (0.5 + 0.4 * np.sin(i / 7)))
            frame[y : y + 16, x : x + 16] = (255 - base) % 256
            frame[:, : (i // fps) % width + 1, 0] = 230  # a bar that grows once a second
            for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)


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


def main() -> None:
    rng = random.Random(7)
    for i, (path, *_rest, seconds) in enumerate(VIDEOS):
        make_video(OUT / path, seconds, seed=i)
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
    for i, (path, discipline, subject, _s) in enumerate(VIDEOS[::2]):
        eval_rows.append({"id": f"eval-{i}", "question": f"What happens to the bar in the {subject} video?",
                          "option": ["A. it shrinks", "B. it grows", "C. it disappears", "D. it splits"],
                          "problem_type": "multiple-choice", "answer": "B", "video_path": path,
                          "dataset": ["MMVU", "VideoMMMU", "SciVideoBench"][i % 3], "subject": subject})
        eval_rows.append({"id": f"eval-{i}-oe", "question": f"How many squares move in the {subject} video?",
                          "problem_type": "open-ended", "solution": "one", "video_path": path,
                          "dataset": "VideoKR-Eval", "subject": subject})
    (OUT / "videokr-eval-sample.jsonl").write_text(
        "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in eval_rows), encoding="utf-8")


if __name__ == "__main__":
    main()
