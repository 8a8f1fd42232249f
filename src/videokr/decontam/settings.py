"""Every setting of Appendix A.5 by name, and the candidate search's own knobs.

The paper fixes what a near-duplicate is (1 fps, 64-bit pHash, 20 s windows at a 1 s
stride, top-10 candidate windows per benchmark video, flagged when ≥ 70% of the aligned
frames of the best window are within Hamming distance 30). How candidates are found is
left open ("an index over window-level hash sequences"); the knobs below say how ours is
built. `PAPER` stays available by name; `CALIBRATED` (bars stripped, centre-crop views, a
tighter distance and a distinct-pictures rule, measured on the generated calibration set of
six footage styles: see docs/video.md) is the default (`DEFAULT_SETTINGS`), because on that
set the paper's 30 bits flag about half of the same-style unrelated videos and miss most
cropped copies, while `calibrated` finds every copy and flags none of them.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

PAPER_SAMPLE_FPS = 1.0
PAPER_HASH_BITS = 64
PAPER_WINDOW_S = 20
PAPER_STRIDE_S = 1
PAPER_TOP_K = 10
PAPER_MAX_DISTANCE = 30
PAPER_MIN_MATCHED_FRACTION = 0.7


class DecontamSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = "paper"
    sample_fps: float = Field(PAPER_SAMPLE_FPS, gt=0)
    hash_bits: int = PAPER_HASH_BITS
    window_s: int = Field(PAPER_WINDOW_S, ge=1, description="window length in seconds (= frames at 1 fps)")
    stride_s: int = Field(PAPER_STRIDE_S, ge=1)
    top_k: int = Field(PAPER_TOP_K, ge=1, description="candidate training windows verified per benchmark video")
    max_distance: int = Field(PAPER_MAX_DISTANCE, ge=0, le=64, description="aligned frames this close match")
    min_matched_fraction: float = Field(PAPER_MIN_MATCHED_FRACTION, gt=0, le=1)
    hash_method: str = Field("exact", description="'exact' (imagehash-equal) or 'fast' (decoder-side grey)")
    # -- geometry (not in the paper; see videokr.decontam.views) --
    strip_bars: bool = Field(False, description="hash the picture inside black bars found per video")
    bench_crops: tuple[float, ...] = Field(
        (), description="benchmark frames also hashed at these centre crops (fraction of each side)"
    )
    min_pictures: int = Field(
        1, ge=1, description="distinct benchmark pictures a flagged window's matches must show (1: the paper's rule)"
    )
    pictures_shown_cap: bool = Field(
        False, description="a window whose benchmark frames show fewer than min_pictures pictures needs all of them"
    )
    picture_change_bits: int = Field(10, ge=0, le=64, description="consecutive benchmark hashes farther apart start a new picture")
    # -- candidate search (multi-index hashing over frame hashes, then alignment voting) --
    index_blocks: int = Field(4, ge=1, le=16, description="64-bit hashes split into this many keyed blocks")
    probe_radius: int = Field(1, ge=0, le=2, description="bits flipped per block key when probing")
    bucket_cap_factor: float = Field(
        64.0, gt=0, description="skip block values held by more than this many times their chance share"
    )
    min_bucket_cap: int = Field(256, ge=1)
    min_votes: int = Field(2, ge=1, description="frame matches an alignment needs to be a candidate")

    @property
    def frames_per_window(self) -> int:
        return max(1, int(round(self.window_s * self.sample_fps)))

    @property
    def views(self) -> bool:
        """Whether hashing goes beyond the paper's one imagehash per frame."""
        return self.strip_bars or bool(self.bench_crops)

    def search_fingerprint(self) -> str:
        return self.model_dump_json()


PAPER = DecontamSettings()
# Calibrated on the generated set (benchmarks/calibrate_decontam.py, docs/video.md): black
# bars stripped, benchmark frames also hashed at eight centre crops, aligned frames within 8
# bits, and a window's matches showing at least 3 distinct benchmark pictures, or every
# picture the benchmark window shows when it shows fewer (a static shot, slow motion).
CALIBRATED_MAX_DISTANCE = 8
CALIBRATED_BENCH_CROPS = (0.97, 0.94, 0.91, 0.88, 0.85, 0.82, 0.79, 0.76)
CALIBRATED_MIN_PICTURES = 3
CALIBRATED_PICTURES_SHOWN_CAP = True
CALIBRATED = DecontamSettings(
    name="calibrated",
    max_distance=CALIBRATED_MAX_DISTANCE,
    min_matched_fraction=PAPER_MIN_MATCHED_FRACTION,
    strip_bars=True,
    bench_crops=CALIBRATED_BENCH_CROPS,
    min_pictures=CALIBRATED_MIN_PICTURES,
    pictures_shown_cap=CALIBRATED_PICTURES_SHOWN_CAP,
    picture_change_bits=10,
)
SETTINGS: dict[str, DecontamSettings] = {s.name: s for s in (PAPER, CALIBRATED)}
DEFAULT_SETTINGS = CALIBRATED.name
"""What the `decontam` step and verb use unless told otherwise."""
