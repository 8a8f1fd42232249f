"""The paper's steps, one module each; importing this package registers them with the recipe.

import → videos → probe → decontam → split → export is the main job on official files; the
corpus steps of §3.1–§3.3 and the benchmark steps of §4 join the same registry.
"""

from videokr.steps import decontam, export, importing, probe, split, videos  # noqa: F401
from videokr.steps import download, local_sources  # noqa: F401
from videokr.steps import kb  # noqa: F401
from videokr.steps import knowledge_points, metadata_relevance, scenarios, search_keywords  # noqa: F401
from videokr.steps import safety, visual_relevance  # noqa: F401
from videokr.steps import seeds  # noqa: F401
from videokr.steps import youtube_search  # noqa: F401
from videokr.steps import example_generation  # noqa: F401
from videokr.steps import cot_validation, self_consistency, video_dependency  # noqa: F401
from videokr.steps import quality_review  # noqa: F401
from videokr.steps import benchmark, benchmark_sources, frame_probe, reannotation  # noqa: F401  (§4)
