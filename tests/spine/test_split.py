import random
from collections import Counter, defaultdict

import pytest

from videokr.steps.split import SplitConfig
from videokr.records import Outcome
from videokr.sets import live_examples
from videokr.steps.split import apply_split
from videokr.store import ItemOutcome
from videokr.records import Example
from videokr.split import PAPER_SPLIT_RATIO, SplitItem, split_by_video

DISCIPLINES = ["Natural Sciences", "Engineering", "Healthcare", "Humanities & Social Sciences"]


def corpus(n_videos=600, seed=1):
    rng = random.Random(seed)
    items = []
    for v in range(n_videos):
        discipline = DISCIPLINES[v % 4]
        subject = f"{discipline}-subject-{rng.randrange(6) if v > 5 else 99}"
        for skill in ("VidR", "KnowVid", "KnowVidR"):
            for k in range(rng.randint(1, 2)):
                items.append(SplitItem(f"e{v}-{skill}-{k}", f"v{v}", discipline, subject, skill))
    return items


def test_paper_ratio_default():
    assert PAPER_SPLIT_RATIO == (201, 114)
    assert SplitConfig().ratio == (201, 114)


def test_no_video_in_both_sets_and_ratio_close():
    items = corpus()
    result = split_by_video(items, seed=3)
    sets_per_video = defaultdict(set)
    for item in items:
        sets_per_video[item.video_id].add(result.assignment[item.example_id])
    assert all(len(s) == 1 for s in sets_per_video.values())
    counts = result.counts()
    share = counts["sft"] / sum(counts.values())
    assert abs(share - 201 / 315) < 0.02


def test_deterministic_and_order_independent():
    items = corpus()
    a = split_by_video(items, seed=5).assignment
    shuffled = items[:]
    random.Random(0).shuffle(shuffled)
    assert split_by_video(shuffled, seed=5).assignment == a
    assert split_by_video(items, seed=6).assignment != a


def test_stratification_keeps_small_subjects_in_both_sets():
    items = corpus()
    result = split_by_video(items, seed=11)
    by_subject = defaultdict(Counter)
    videos = defaultdict(set)
    for item in items:
        by_subject[item.subject][result.assignment[item.example_id]] += 1
        videos[item.subject].add(item.video_id)
    small = {s: c for s, c in by_subject.items() if s.endswith("99") and len(videos[s]) >= 2}
    assert len(small) == 2, "the fixture has two subjects of two videos each"
    for counts in small.values():
        assert counts["sft"] > 0 and counts["rl"] > 0
    for subject, counts in by_subject.items():
        share = counts["sft"] / (counts["sft"] + counts["rl"])
        if sum(counts.values()) > 100:
            assert abs(share - 201 / 315) < 0.06, subject


def test_without_cot_goes_to_rl():
    items = [SplitItem(f"e{i}", f"v{i % 10}", has_cot=(i % 10) != 0) for i in range(100)]
    result = split_by_video(items, stratify=False)
    assert result.video_sets["v0"] == "rl"
    assert result.rl_only_videos == 1
    assert abs(result.counts()["sft"] / 100 - 201 / 315) <= 0.1


def test_bad_ratio():
    with pytest.raises(ValueError, match="split ratio"):
        split_by_video([], ratio=(0, 0))


def test_apply_split_writes_assignments_not_examples(store):
    examples = [Example(id=item.example_id, problem_type="open-ended", question="q", answer="a",
                        video_id=item.video_id, video_path=item.video_id + ".mp4", subject=item.subject,
                        discipline=item.discipline, skill=item.skill, cot="c", split="sft") for item in corpus(40)]
    store.commit_outcomes("import", "1", [ItemOutcome(e.id, "f", Outcome.ACCEPTED, (e,)) for e in examples])
    assignment = apply_split(store, seed=1)
    assert set(assignment) == {e.id for e in examples} and set(assignment.values()) == {"sft", "rl"}
    # the split's fact is its own record: the imported examples are untouched
    assert [e.split for e in store.iter_records("example")] == ["sft"] * len(examples)
    assert {e.id: e.split for e in live_examples(store)} == assignment
    assert store.ledger_summary()["split"]["accepted"] == len(examples)
    assert apply_split(store, seed=1) == assignment
