"""§4: VideoKR-Eval, built from existing benchmarks by single-frame probing and expert re-annotation.

The steps live in `videokr.steps` like every other paper step (`benchmark_sources` →
`frame_probe` → `reannotation` → `benchmark` → `benchmark_export`); this
package holds what they and the `videokr benchmark` verbs share: the paper's numbers
(`paper`), the retention rule (`retention`), the re-annotation queue and its files
(`reannotation`) and Tables 2 and 9 read from the store (`report`). See docs/benchmark.md.
"""

from videokr.config import BENCHMARK_CONSTRUCTION

# The §4 steps in the order they run (`videokr benchmark build`); the paper recipe has them ahead of
# `videos`, so that VideoKR-Eval's videos are registered, probed and held against the training corpus.
BUILD_STEPS = tuple(BENCHMARK_CONSTRUCTION)
