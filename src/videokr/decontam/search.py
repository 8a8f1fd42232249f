"""Near-duplicate search over 1 fps frame hashes: candidates by multi-index hashing, then the
paper's verification by aligned-frame Hamming distance.

Why not brute force: comparing each benchmark window with every training window (20 × 64
bits) costs O(windows) per query — minutes per thousand queries at tens of millions of
windows. Instead the index keys every training frame hash by each of its `index_blocks`
blocks of bits (16-bit blocks for the default 4). A benchmark frame probes each block's
value and its 1-bit neighbours: by pigeonhole, every training frame within
blocks·(radius+1) − 1 bits (7 bits for the defaults) is found exactly, and farther ones
often are. Each frame match votes for an alignment (training video, time offset); a copied
excerpt produces many votes on one alignment within one 20 s window, chance matches
scatter. The top-k alignments by windowed votes are the candidate windows, and each is
verified by the paper's rule on all aligned frames. The work per benchmark frame is
O(probes · bucket size), independent of how the training side is laid out, and the index
shards by training video with no change to the result (see docs/video.md).

Block values held by far more frames than chance predicts (flat, black or title frames)
are skipped as uninformative; verification still counts those frames.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from videokr.decontam.settings import PAPER, DecontamSettings
from videokr.video.phash import hamming

_T_BITS = 24  # bench-time bits in packed alignment keys (16.7 M seconds)
_D_OFFSET = 1 << 23


@dataclass
class FrameIndex:
    """Every training frame hash keyed by each block of its bits."""

    settings: DecontamSettings
    video_ids: list[str]
    hashes: list[np.ndarray]  # per training video, uint64 per second
    all_hashes: np.ndarray = field(repr=False)
    video_of: np.ndarray = field(repr=False)  # int32 per frame
    second_of: np.ndarray = field(repr=False)  # int32 per frame
    sorted_keys: list[np.ndarray] = field(repr=False)
    order: list[np.ndarray] = field(repr=False)
    stopped: list[np.ndarray] = field(repr=False)  # per block, the keys skipped as too common

    @classmethod
    def build(cls, videos: Sequence[tuple[str, np.ndarray]], settings: DecontamSettings = PAPER) -> "FrameIndex":
        ids = [v for v, _ in videos]
        hashes = [np.asarray(h, dtype=np.uint64) for _, h in videos]
        lengths = np.array([len(h) for h in hashes], dtype=np.int64)
        all_hashes = np.concatenate(hashes) if hashes else np.zeros(0, np.uint64)
        video_of = np.repeat(np.arange(len(hashes), dtype=np.int32), lengths)
        starts = np.concatenate([[0], np.cumsum(lengths)[:-1]]) if len(lengths) else np.zeros(0, np.int64)
        second_of = (np.arange(len(all_hashes)) - np.repeat(starts, lengths)).astype(np.int32)
        bits = settings.hash_bits // settings.index_blocks
        cap = max(settings.min_bucket_cap, int(settings.bucket_cap_factor * len(all_hashes) / (1 << bits)))
        sorted_keys, order, stopped = [], [], []
        for b in range(settings.index_blocks):
            keys = _block(all_hashes, b, bits, settings.hash_bits)
            o = np.argsort(keys, kind="stable")
            sk = keys[o]
            values, counts = np.unique(sk, return_counts=True)
            sorted_keys.append(sk)
            order.append(o.astype(np.int64))
            stopped.append(values[counts > cap])
        return cls(settings, ids, hashes, all_hashes, video_of, second_of, sorted_keys, order, stopped)

    def __len__(self) -> int:
        return len(self.all_hashes)

    # -- candidates --------------------------------------------------------------------

    def frame_pairs(self, query: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(query frame, training frame) pairs sharing a probed block value, deduplicated."""
        s = self.settings
        bits = s.hash_bits // s.index_blocks
        query = np.asarray(query, dtype=np.uint64)
        qi_parts, tj_parts = [], []
        flips = [np.uint64(0)] + ([np.uint64(1) << np.uint64(i) for i in range(bits)] if s.probe_radius >= 1 else [])
        if s.probe_radius >= 2:
            flips += [(np.uint64(1) << np.uint64(i)) | (np.uint64(1) << np.uint64(j)) for i in range(bits) for j in range(i)]
        for b in range(s.index_blocks):
            qkeys = _block(query, b, bits, s.hash_bits)
            sk, o, stop = self.sorted_keys[b], self.order[b], self.stopped[b]
            for flip in flips:
                probe = qkeys ^ flip
                lo = np.searchsorted(sk, probe, "left")
                hi = np.searchsorted(sk, probe, "right")
                if stop.size:
                    hi = np.where(np.isin(probe, stop), lo, hi)
                n = hi - lo
                if not n.any():
                    continue
                qi = np.repeat(np.arange(len(query)), n)
                offsets = np.arange(n.sum()) - np.repeat(np.cumsum(n) - n, n)
                qi_parts.append(qi)
                tj_parts.append(o[np.repeat(lo, n) + offsets])
        if not qi_parts:
            return np.zeros(0, np.int64), np.zeros(0, np.int64)
        packed = np.unique(np.concatenate(qi_parts).astype(np.int64) * len(self) + np.concatenate(tj_parts))
        return packed // len(self), packed % len(self)

    def candidates(self, query: np.ndarray) -> list["Candidate"]:
        """Top-k alignments (training video, offset) by frame matches inside one window.

        `query` is (N,) hashes, or (N, views) when each benchmark frame has several views
        (crops): every view probes, and a frame votes once whichever view matched."""
        s = self.settings
        query = np.asarray(query, dtype=np.uint64)
        views = 1 if query.ndim == 1 else query.shape[1]
        flat = query.reshape(-1)
        qf, tj = self.frame_pairs(flat)
        if qf.size == 0:
            return []
        keep = hamming(flat[qf], self.all_hashes[tj]) <= s.max_distance
        qi, tj = qf[keep] // views, tj[keep]
        if qi.size == 0:
            return []
        delta = self.second_of[tj].astype(np.int64) - qi
        align = self.video_of[tj].astype(np.int64) * (1 << 24) + (delta + _D_OFFSET)
        aligns, align_id = np.unique(align, return_inverse=True)
        key = np.unique(align_id.astype(np.int64) * (1 << _T_BITS) + qi)  # one vote per bench second
        w = s.frames_per_window
        in_window = np.searchsorted(key, key + w, "left") - np.arange(len(key))  # same alignment, t..t+w-1
        ids, first = np.unique(key >> _T_BITS, return_index=True)
        best = np.maximum.reduceat(in_window, first)  # the best window of each alignment
        ok = best >= s.min_votes
        ids, best = ids[ok], best[ok]
        # one candidate per training video (its best alignment): neighbouring offsets of one
        # copy must not crowd other videos out of the top k
        video = aligns[ids] >> 24
        ranked = np.lexsort((ids, -best))
        _, first_of_video = np.unique(video[ranked], return_index=True)
        chosen = ranked[np.sort(first_of_video)][: s.top_k]
        out = []
        for i, votes in zip(ids[chosen], best[chosen]):
            g = int(aligns[i])
            out.append(Candidate(g >> 24, (g & ((1 << 24) - 1)) - _D_OFFSET, int(votes)))
        return out

    # -- verification ------------------------------------------------------------------

    def verify(self, query: np.ndarray, cand: "Candidate") -> "Verified | None":
        """The paper's rule at the candidate's offset and its neighbours (excerpts rarely start
        on a whole second, so the copy may sample best one second either way). With several
        views per benchmark frame, each view is verified on its own (a copy keeps one geometry
        throughout) and the best counts."""
        train = self.hashes[cand.video]
        query = np.asarray(query, dtype=np.uint64)
        columns = [query] if query.ndim == 1 else [query[:, v] for v in range(query.shape[1])]
        tried = [
            verify_alignment(col, train, cand.delta + d, self.settings, cand.votes, view=v)
            for v, col in enumerate(columns)
            for d in (0, -1, 1)
        ]
        found = max((v for v in tried if v is not None), key=lambda v: v.matched_fraction, default=None)
        return None if found is None else _with_video(found, cand.video)

    def search(self, query: np.ndarray) -> list["Verified"]:
        """Verified candidates, best first; `flagged` says which meet the rule."""
        found = [v for c in self.candidates(query) if (v := self.verify(query, c)) is not None]
        return sorted(found, key=lambda v: (-v.matched_fraction, v.bench_offset_s))


@dataclass(frozen=True)
class Candidate:
    video: int
    delta: int  # training second − benchmark second
    votes: int


@dataclass(frozen=True)
class Verified:
    train_video: int
    bench_offset: int  # index of the window's first benchmark frame
    train_offset: int
    matched_fraction: float
    distances: tuple[int, ...]
    votes: int
    flagged: bool
    sample_fps: float
    view: int = 0  # which view of the benchmark frames matched (0: the whole picture)

    @property
    def bench_offset_s(self) -> float:
        return self.bench_offset / self.sample_fps

    @property
    def train_offset_s(self) -> float:
        return self.train_offset / self.sample_fps


def verify_alignment(
    bench: np.ndarray, train: np.ndarray, delta: int, settings: DecontamSettings = PAPER, votes: int = 0, view: int = 0
) -> Verified | None:
    """The paper's rule on one alignment: over every window of `frames_per_window` aligned
    frames (stride 1), the largest fraction within `max_distance`; windows shorter than the
    window length (or than the shorter video) do not count.

    With `min_pictures` > 1 (not in the paper) a window counts only when its matched frames
    show at least that many distinct benchmark pictures (see `matched_pictures`), and the
    best such window is reported."""
    lo = max(0, -delta)
    hi = min(len(bench), len(train) - delta)
    w = min(settings.frames_per_window, len(bench), len(train))
    if hi - lo < w or w <= 0:
        return None
    d = hamming(bench[lo:hi], train[lo + delta : hi + delta]).astype(np.int64)
    matched = d <= settings.max_distance
    close = np.concatenate([[0], np.cumsum(matched)])
    counts = close[w:] - close[:-w]
    stride = max(1, int(settings.stride_s * settings.sample_fps))
    starts = np.arange(0, len(counts), stride)
    pictures_ok = np.ones(len(counts), dtype=bool)
    if settings.min_pictures > 1:
        needed = np.full(len(counts), settings.min_pictures)
        if settings.pictures_shown_cap:
            needed = np.minimum(needed, matched_pictures(bench[lo:hi], np.ones_like(matched), w, settings.picture_change_bits))
        pictures_ok = matched_pictures(bench[lo:hi], matched, w, settings.picture_change_bits) >= needed
    i = int(starts[np.lexsort((-counts[starts], ~pictures_ok[starts]))[0]])
    fraction = float(counts[i]) / w
    return Verified(
        train_video=-1,
        bench_offset=lo + i,
        train_offset=lo + i + delta,
        matched_fraction=fraction,
        distances=tuple(int(x) for x in d[i : i + w]),
        votes=votes,
        flagged=bool(pictures_ok[i]) and fraction >= settings.min_matched_fraction - 1e-12,
        sample_fps=settings.sample_fps,
        view=view,
    )


def matched_pictures(bench: np.ndarray, matched: np.ndarray, w: int, change_bits: int) -> np.ndarray:
    """Per window of `w` frames, how many distinct benchmark pictures its matched frames show.

    A new picture starts where consecutive benchmark hashes differ by more than
    `change_bits` (a cut, a new slide). Fourteen seconds of one held slide are one piece
    of evidence, not fourteen: slides of one template lie within a few bits of each other
    far more often than unrelated footage does."""
    n = len(matched)
    picture = np.concatenate([[0], np.cumsum(hamming(bench[1:], bench[:-1]) > change_bits)])
    rows = np.arange(n - w + 1)[:, None] + np.arange(w)[None, :]
    m, p = matched[rows], picture[rows]
    seen = np.maximum.accumulate(np.where(m, p, -1), axis=1)
    before = np.concatenate([np.full((len(rows), 1), -1), seen[:, :-1]], axis=1)
    return (m & (p > before)).sum(axis=1)


def _block(hashes: np.ndarray, b: int, bits: int, total: int) -> np.ndarray:
    shift = np.uint64(total - (b + 1) * bits)
    mask = np.uint64((1 << bits) - 1)
    return (hashes >> shift) & mask


def brute_force_best(bench: np.ndarray, trains: Sequence[np.ndarray], settings: DecontamSettings = PAPER) -> list[Verified]:
    """Every alignment of every training video verified: the exhaustive reference the
    candidate search is measured against (tests, benchmarks)."""
    out = []
    for v, train in enumerate(trains):
        best: Verified | None = None
        for delta in range(-len(bench) + 1, len(train)):
            r = verify_alignment(bench, train, delta, settings)
            if r is not None and (best is None or r.matched_fraction > best.matched_fraction):
                best = r
        if best is not None:
            out.append(_with_video(best, v))
    return out


def _with_video(v: Verified, video: int) -> Verified:
    from dataclasses import replace

    return replace(v, train_video=video)
