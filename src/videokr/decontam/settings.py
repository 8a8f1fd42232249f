"""Every setting of Appendix A.5 by name, and the candidate search's own knobs.

The paper fixes what a near-duplicate is (1 fps, 64-bit pHash, 20 s windows at a 1 s
stride, top-10 candidate windows per benchmark video, flagged when ≥ 70% of the aligned
frames of the best window are within Hamming distance 30). How candidates are found is
left open ("an index over window-level hash sequences"); the knobs below say how ours is
built. `PAPER` is the default; `CALIBRATED` is the tighter verification rule measured on
the generated calibration set (see docs/video.md) and is opt-in.
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

    def search_fingerprint(self) -> str:
        return self.model_dump_json()


PAPER = DecontamSettings()
# Calibrated on the generated set: see `tests/decontam/test_calibration.py` and docs/video.md.
CALIBRATED = DecontamSettings(name="calibrated", max_distance=8, min_matched_fraction=0.7)
SETTINGS: dict[str, DecontamSettings] = {s.name: s for s in (PAPER, CALIBRATED)}
