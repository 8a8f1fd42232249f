"""Apply the §3.5 split to the store: every example gets its set, in one transaction.

The split is a function of all examples together (a video-grouped random partition), so
it is recomputed whole and written atomically; examples whose set did not change are not
rewritten, and each example's ledger row records its set and the split's settings.
"""

from __future__ import annotations

import hashlib
import json

from videokr.records import Example, Outcome
from videokr.split import PAPER_SPLIT_RATIO, SplitItem, SplitResult, split_by_video
from videokr.store import Store

STEP = "split"
VERSION = "1"


def apply_split(
    store: Store,
    *,
    ratio: tuple[int, int] = PAPER_SPLIT_RATIO,
    seed: int = 0,
    stratify: bool = True,
) -> SplitResult:
    examples: list[Example] = list(store.iter_records("example"))  # type: ignore[arg-type]
    result = split_by_video(
        (
            SplitItem(e.id, e.video_id, e.discipline.value if e.discipline else None, e.subject,
                      e.skill.value if e.skill else None, has_cot=bool(e.cot))
            for e in examples
        ),
        ratio=ratio,
        seed=seed,
        stratify=stratify,
    )
    settings = json.dumps({"ratio": list(ratio), "seed": seed, "stratify": stratify}, sort_keys=True)
    with store.transaction():
        changed = [
            e.model_copy(update={"split": result.assignment[e.id]})
            for e in examples
            if e.split != result.assignment[e.id]
        ]
        store.put_many(changed)
        for e in examples:
            chosen = result.assignment[e.id]
            fingerprint = hashlib.sha256(f"{settings}\x1f{e.video_id}\x1f{chosen}".encode()).hexdigest()[:32]
            store.record_outcome(
                STEP, e.id, version=VERSION, fingerprint=fingerprint, outcome=Outcome.ACCEPTED,
                detail={"set": chosen, "video": e.video_id},
            )
    return result
