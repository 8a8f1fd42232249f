"""The corpus funnel by discipline and by skill: what §3 kept at each stage, read from the store.

Why: `videokr status --funnel` counts each step's items, but §3's question is how the funnel
narrows *per discipline* (do Healthcare's knowledge points yield as many videos as Physics'?)
and *per skill* (does the video dependency filter drop VidR more than KnowVidR?). Both follow
from lineage, so nothing here is stored twice: every count is recomputed from the live records
and the ledger.

Two views, both pure functions of the store:

- **stages** (`stages`): knowledge points → scenarios → search keywords → candidate videos →
  videos (relevant and safe) → generated examples → after self-consistency → after video
  dependency → after CoT validation → after decontamination → SFT / RL, each with the paper's
  count beside it where §3 gives one;
- **steps** (`step_breakdown`): every step of the recipe, its items in / accepted / rejected
  (by reason code) / quarantined, split by discipline and, for steps whose items are examples,
  by skill.

How an item finds its discipline (lineage: example → video → scenario → knowledge point →
subject → discipline):

- a lecture, knowledge point, scenario, search keyword, (video, scenario) link or judgement has
  exactly one knowledge point, hence one discipline;
- an example (candidate, validated, split) has the discipline and skill it was generated for;
  a round that produced no candidate has its round's skill and its video's disciplines;
- a **video counts once per discipline it serves**: the disciplines of the knowledge points it
  was linked to at that point of the chain — every search hit or manifest entry naming it before
  the metadata judge (`youtube_videos`, candidate videos), the links that judge kept at
  `download`, the links the visual judge kept at `safety`, and its examples' disciplines after
  generation (`videos`, `probe`, `decontam`); where a video has none at that point (a judge
  rejected every link), the stage before it decides. A video found by a Physics and a Medicine
  knowledge point counts once under Natural Sciences and once under Healthcare, so the
  per-discipline columns of a video-level row may add up to more than its total;
- what cannot be traced (a bank entry outside Table 6, a malformed seed line, an official line
  without a discipline) is counted under `UNATTRIBUTED`, so every column still adds up.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from videokr.corpus.plan import PAPER_DECONTAM_REMOVED_VIDEOS, PAPER_EXAMPLES, PAPER_KNOWLEDGE_POINTS, PAPER_VIDEOS
from videokr.records import Discipline, Outcome, Skill
from videokr.sets import EXAMPLE_STEPS, live_examples
from videokr.split import PAPER_SPLIT_RATIO
from videokr.steps.example_generation import ROUNDS, skill_of_round
from videokr.steps.seeds import PAPER_SEEDS_PER_SKILL_PER_DISCIPLINE
from videokr.store import Store

UNATTRIBUTED = "unattributed"
DISCIPLINES: tuple[str, ...] = tuple(d.value for d in Discipline)  # Table 6's four, in its order
SKILLS: tuple[str, ...] = tuple(s.value for s in Skill)

# The paper's counts shown beside ours (§3; the first three are `videokr corpus plan`'s too).
PAPER_SEEDS = PAPER_SEEDS_PER_SKILL_PER_DISCIPLINE * len(SKILLS) * len(DISCIPLINES)  # §3.3: "1,800 ... seed examples"
# §3.5 names the sets by thousands of examples: VideoKR-SFT-201K and VideoKR-RL-114K.
PAPER_SET_THOUSANDS = {"sft": PAPER_SPLIT_RATIO[0], "rl": PAPER_SPLIT_RATIO[1]}
PAPER_STAGES: dict[str, tuple[int, str]] = {
    "knowledge_points": (PAPER_KNOWLEDGE_POINTS, "§3.1: 63,745 knowledge points"),
    "videos": (PAPER_VIDEOS, "§3.2: 146,567 CC-licensed videos, after the safety filter"),
    "decontaminated": (PAPER_EXAMPLES, "§3.5: 315,537 examples after every filter, split into SFT and RL"),
    "sft": (PAPER_SET_THOUSANDS["sft"] * 1000, "§3.5: VideoKR-SFT-201K (about 201 thousand)"),
    "rl": (PAPER_SET_THOUSANDS["rl"] * 1000, "§3.5: VideoKR-RL-114K (about 114 thousand)"),
}
PAPER_APPROXIMATE = frozenset({"sft", "rl"})  # known to the thousand only: shown as ≈201K
PAPER_STEPS: dict[str, tuple[int, str]] = {
    "seeds": (PAPER_SEEDS, "§3.3: 150 per skill per discipline = 1,800 seed examples (accepted)"),
    "decontam": (PAPER_DECONTAM_REMOVED_VIDEOS, "§3.4: 131 videos by YouTube id + 877 near-duplicates removed "
                 "(rejected)"),
}

# What a step's item is, for attribution (see the module docstring); a step not named here is
# attributed by the records its accepted items produced, and `export` (one item per set × format) not at all.
VideoStage = Literal["found", "metadata", "visual", "examples"]
VIDEO_STAGES: tuple[VideoStage, ...] = ("found", "metadata", "visual", "examples")
ITEM_KINDS: dict[str, str] = {
    "kb": "outputs", "knowledge_points": "lecture", "scenarios": "knowledge_point", "search_keywords": "scenario",
    "youtube_search": "search_keyword", "youtube_videos": "video:found", "local_sources": "outputs",
    "metadata_relevance": "link", "download": "video:metadata", "visual_relevance": "link",
    "safety": "video:visual", "seeds": "outputs", "example_generation": "round", "self_consistency": "example",
    "video_dependency": "example", "cot_validation": "example", "import": "outputs", "videos": "video:examples",
    "probe": "video:examples", "decontam": "video:examples", "split": "example",
}
ITEM_LABELS = {
    "outputs": "by the records it made", "lecture": "lecture", "knowledge_point": "knowledge point",
    "scenario": "scenario", "search_keyword": "search keyword", "video:found": "video, as found",
    "video:metadata": "video, links the metadata judge kept", "video:visual": "video, links the visual judge kept",
    "video:examples": "video, by its examples", "link": "(video, scenario) link", "round": "generation round",
    "example": "example",
}
NOT_BROKEN_DOWN = frozenset({"export", "eval", "quality_review"})
SKILL_KINDS = frozenset({"round", "example"})  # item kinds whose items have a skill


Attribution = tuple[frozenset[str], str | None]  # (disciplines, skill)
NOWHERE: Attribution = (frozenset(), None)


class Lineage:
    """The store's lineage, loaded once: which knowledge points (hence disciplines) each record serves."""

    def __init__(self, store: Store) -> None:
        self.store = store
        videos = list(store.iter_records("video"))
        self.youtube_to_video = {v.youtube_id: v.id for v in videos if getattr(v, "youtube_id", None)}
        self.lecture = {r.id: _value(r.discipline) for r in store.iter_records("lecture")}  # type: ignore[attr-defined]
        self.point = {r.id: _value(r.discipline) for r in store.iter_records("knowledge_point")}  # type: ignore[attr-defined]
        self.scenario = {r.id: r.knowledge_point_id for r in store.iter_records("scenario")}  # type: ignore[attr-defined]
        self.keyword = {r.id: r.knowledge_point_id for r in store.iter_records("search_keyword")}  # type: ignore[attr-defined]
        self.video_points: dict[str, dict[str, set[str]]] = {s: defaultdict(set) for s in VIDEO_STAGES}
        for hit in store.iter_records("search_hit"):
            self.video_points["found"][self.video_id(hit.youtube_id)].add(hit.knowledge_point_id)  # type: ignore[attr-defined]
        for link in store.iter_records("video_link"):
            self.video_points["found"][self.video_id(link.video_id)].add(link.knowledge_point_id)  # type: ignore[attr-defined]
        for judgement in store.iter_records("relevance"):
            if judgement.relevant:  # type: ignore[attr-defined]
                video = self.video_id(judgement.video_id)  # type: ignore[attr-defined]
                self.video_points[judgement.judge][video].add(judgement.knowledge_point_id)  # type: ignore[attr-defined]
                if judgement.judge == "metadata":  # type: ignore[attr-defined]  # a declared link was found too
                    self.video_points["found"][video].add(judgement.knowledge_point_id)  # type: ignore[attr-defined]
        self.candidate: dict[str, Attribution] = {}
        for c in store.iter_records("candidate_example"):
            self.candidate[c.id] = (self._one(_value(c.discipline) or self.point.get(c.knowledge_point_id or "")),  # type: ignore[attr-defined]
                                    _value(c.skill))  # type: ignore[attr-defined]
        self.example: dict[str, Attribution] = {}
        self.video_disciplines: dict[str, set[str]] = defaultdict(set)  # from the video's examples
        for e in store.iter_records("example"):
            discipline = _value(e.discipline) or self.point.get(e.knowledge_point_id or "")  # type: ignore[attr-defined]
            attribution = (self._one(discipline), _value(e.skill))  # type: ignore[attr-defined]
            if not attribution[0] and e.id in self.candidate:
                attribution = (self.candidate[e.id][0], attribution[1] or self.candidate[e.id][1])
            self.example[e.id] = attribution
            self.video_disciplines[self.video_id(e.video_id)].update(attribution[0])  # type: ignore[attr-defined]
        for c in store.iter_records("candidate_example"):  # a video whose examples all failed: its rounds'
            self.video_disciplines[self.video_id(c.video_id)].update(self.candidate[c.id][0])  # type: ignore[attr-defined]
        self.seed = {s.id: (self._one(_value(s.discipline)), _value(s.skill)) for s in store.iter_records("seed")}  # type: ignore[attr-defined]

    @staticmethod
    def _one(discipline: str | None) -> frozenset[str]:
        return frozenset({discipline}) if discipline else frozenset()

    def video_id(self, any_id: str) -> str:
        """A video's id in the store (`yt-…`) whether it is named by it or by its YouTube id."""
        return self.youtube_to_video.get(any_id, any_id)

    def points(self, point_ids: Iterable[str]) -> frozenset[str]:
        return frozenset(d for p in point_ids if (d := self.point.get(p)))

    def video(self, video_id: str, stage: VideoStage) -> frozenset[str]:
        """The disciplines a video serves at `stage`; the stage before decides where it has none."""
        video = self.video_id(video_id)
        for earlier in reversed(VIDEO_STAGES[: VIDEO_STAGES.index(stage) + 1]):
            if earlier == "examples":
                found = frozenset(self.video_disciplines.get(video, ()))
            else:
                found = self.points(self.video_points[earlier].get(video, ()))
            if found:
                return found
        return frozenset()

    def record(self, kind: str, record_id: str) -> Attribution:
        """The attribution of one record, by its kind (a record this module does not know: none)."""
        if kind == "lecture":
            return self._one(self.lecture.get(record_id)), None
        if kind == "knowledge_point":
            return self._one(self.point.get(record_id)), None
        if kind == "scenario":
            return self._one(self.point.get(self.scenario.get(record_id, ""))), None
        if kind == "search_keyword":
            return self._one(self.point.get(self.keyword.get(record_id, ""))), None
        if kind in ("search_hit", "video_link", "relevance"):
            record = self.store.get(kind, record_id)
            point = getattr(record, "knowledge_point_id", None) or ""
            return self._one(self.point.get(point)), None
        if kind in ("video", "youtube_video"):
            return self.video(record_id, "found"), None
        if kind == "safety_check":
            return self.video(record_id, "visual"), None
        if kind in ("video_probe", "decontam_check"):
            return self.video(record_id, "examples"), None
        if kind == "candidate_example":
            return self.candidate.get(record_id, NOWHERE)
        if kind == "example_check":
            record = self.store.get(kind, record_id)
            return self.example_item(getattr(record, "candidate_id", "") or "")
        if kind in ("example", "split_assignment"):
            return self.example_item(record_id)
        if kind == "seed":
            return self.seed.get(record_id, NOWHERE)
        if kind == "eval_item":  # an imported benchmark item: its own discipline, no skill
            return self._one(_value(getattr(self.store.get(kind, record_id), "discipline", None))), None
        return NOWHERE

    def example_item(self, item_id: str) -> Attribution:
        """An example-level item (candidate, validated example, split assignment), by its id."""
        found = self.example.get(item_id) or self.candidate.get(item_id)
        if found is not None and found[0]:
            return found
        return self.round(item_id)

    def round(self, item_id: str) -> Attribution:
        """A generation round `<video id>:r<round>`: its candidate's, else its skill and its video's disciplines."""
        if item_id in self.candidate:
            return self.candidate[item_id]
        video, _, number = item_id.rpartition(":r")
        skill = skill_of_round(int(number)).value if number.isdigit() and int(number) < ROUNDS else None
        return self.video(video, "visual") if video else frozenset(), skill

    def item(self, step: str, item_id: str, outputs: Sequence[tuple[str, str]]) -> Attribution:
        """The attribution of one ledger item of `step` (see `ITEM_KINDS`)."""
        kind = ITEM_KINDS.get(step, "outputs")
        if kind == "outputs":
            disciplines: set[str] = set()
            skills = set()
            for record_kind, record_id in outputs:
                found, skill = self.record(record_kind, record_id)
                disciplines |= found
                skills.add(skill)
            skills.discard(None)
            return frozenset(disciplines), (skills.pop() if len(skills) == 1 else None)
        if kind.startswith("video:"):
            return self.video(item_id, kind.removeprefix("video:")), None  # type: ignore[arg-type]
        if kind == "link":  # `<video id>:<scenario id>`, `visual:` in front for the visual judge
            scenario = item_id.removeprefix("visual:").partition(":")[2]
            return self.record("scenario", scenario)
        if kind == "round":
            return self.round(item_id)
        if kind == "example":
            return self.example_item(item_id)
        return self.record(kind, item_id)


def _value(value: Any) -> str | None:
    return None if value is None else str(getattr(value, "value", value))


# -- the per-step breakdown ------------------------------------------------------------------


@dataclass
class Counts:
    """One group's items of one step: in = accepted + rejected + quarantined."""

    accepted: int = 0
    rejected: int = 0
    quarantined: int = 0
    by_reason: Counter[str] = field(default_factory=Counter)

    @property
    def in_(self) -> int:
        return self.accepted + self.rejected + self.quarantined

    def add(self, outcome: Outcome, code: str | None) -> None:
        if outcome is Outcome.ACCEPTED:
            self.accepted += 1
        elif outcome is Outcome.REJECTED:
            self.rejected += 1
            self.by_reason[code or "-"] += 1
        else:
            self.quarantined += 1

    def as_dict(self) -> dict[str, Any]:
        return {"in": self.in_, "accepted": self.accepted, "rejected": self.rejected,
                "quarantined": self.quarantined,
                "rejected_by_reason": dict(sorted(self.by_reason.items(), key=lambda kv: (-kv[1], kv[0])))}


@dataclass
class StepBreakdown:
    """A step of the recipe: its totals, and the same counts per discipline and (example steps) per skill."""

    step: str
    total: Counts
    pending: int | None = None
    item_kind: str = ""  # what an item is for attribution ('' = not broken down)
    by_discipline: dict[str, Counts] = field(default_factory=dict)
    by_skill: dict[str, Counts] = field(default_factory=dict)
    paper: int | None = None
    paper_note: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {"step": self.step, **self.total.as_dict(), "pending": self.pending, "item_kind": self.item_kind,
                "by_discipline": {k: v.as_dict() for k, v in self.by_discipline.items()},
                "by_skill": {k: v.as_dict() for k, v in self.by_skill.items()},
                "paper": self.paper, "paper_note": self.paper_note}


def _ordered(groups: dict[str, Counts], order: Sequence[str]) -> dict[str, Counts]:
    """Every group of `order` (zeros included, so tables line up), then any other (unattributed last)."""
    rest = sorted(k for k in groups if k not in order and k != UNATTRIBUTED)
    keys = [*order, *rest] + ([UNATTRIBUTED] if UNATTRIBUTED in groups else [])
    return {k: groups.get(k, Counts()) for k in keys}


def step_breakdown(store: Store, step: str, lineage: Lineage, *, pending: int | None = None) -> StepBreakdown:
    """One step's ledger counted in total, per discipline and (for example-level steps) per skill."""
    outputs: dict[str, list[tuple[str, str]]] = defaultdict(list)
    if ITEM_KINDS.get(step, "outputs") == "outputs":
        for item_id, kind, record_id in store.execute(
                "SELECT item_id, kind, record_id FROM outputs WHERE step=? ORDER BY item_id, kind, record_id", (step,)):
            outputs[item_id].append((kind, record_id))
    total = Counts()
    disciplines: dict[str, Counts] = defaultdict(Counts)
    skills: dict[str, Counts] = defaultdict(Counts)
    broken_down = step not in NOT_BROKEN_DOWN
    kind = ITEM_KINDS.get(step, "outputs")
    attributed: list[tuple[Outcome, str | None, Attribution]] = []
    for item_id, outcome, code in store.execute(
            "SELECT item_id, outcome, code FROM ledger WHERE step=? ORDER BY item_id", (step,)):
        total.add(Outcome(outcome), code)
        if broken_down:
            attributed.append((Outcome(outcome), code, lineage.item(step, item_id, outputs.get(item_id, ()))))
    # per skill when the items are examples (or, for a step attributed by its outputs, when any is)
    with_skill = kind in SKILL_KINDS or any(skill is not None for _, _, (_, skill) in attributed)
    for outcome, code, (found, skill) in attributed:
        for discipline in found or (UNATTRIBUTED,):
            disciplines[discipline].add(outcome, code)
        if with_skill:
            skills[skill or UNATTRIBUTED].add(outcome, code)
    paper, note = PAPER_STEPS.get(step, (None, ""))
    return StepBreakdown(
        step=step, total=total, pending=pending, item_kind=kind if broken_down else "",
        by_discipline=_ordered(disciplines, DISCIPLINES) if broken_down else {},
        by_skill=_ordered(skills, SKILLS) if with_skill else {}, paper=paper, paper_note=note)


# -- the stages --------------------------------------------------------------------------------


@dataclass
class Stage:
    """What is alive at one point of §3's funnel: a count in total, per discipline and (examples) per skill."""

    key: str
    label: str
    step: str  # the step whose live outputs these are
    total: int = 0
    by_discipline: dict[str, int] = field(default_factory=dict)
    by_skill: dict[str, int] | None = None
    paper: int | None = None
    paper_note: str = ""

    def add(self, attribution: Attribution) -> None:
        disciplines, skill = attribution
        self.total += 1
        for discipline in disciplines or (UNATTRIBUTED,):
            self.by_discipline[discipline] = self.by_discipline.get(discipline, 0) + 1
        if self.by_skill is not None:
            key = skill or UNATTRIBUTED
            self.by_skill[key] = self.by_skill.get(key, 0) + 1

    @property
    def paper_text(self) -> str:
        """The paper's count as the paper states it (`≈201K` for a set it names by thousands)."""
        if self.paper is None:
            return ""
        return f"≈{self.paper // 1000}K" if self.key in PAPER_APPROXIMATE else f"{self.paper:,}"

    def as_dict(self) -> dict[str, Any]:
        return {"stage": self.key, "label": self.label, "step": self.step, "total": self.total,
                "by_discipline": self.by_discipline, "by_skill": self.by_skill,
                "paper": self.paper, "paper_note": self.paper_note}


STAGES: tuple[tuple[str, str, str, bool], ...] = (  # key, label, step, per skill
    ("knowledge_points", "knowledge points", "knowledge_points", False),
    ("scenarios", "scenarios", "scenarios", False),
    ("keywords", "search keywords", "search_keywords", False),
    ("candidates", "candidate videos (searched or listed)", "metadata_relevance", False),
    ("videos", "videos (relevant by metadata and frames, safe)", "safety", False),
    ("generated", "examples generated", "example_generation", True),
    ("self_consistency", "after self-consistency", "self_consistency", True),
    ("video_dependency", "after video dependency", "video_dependency", True),
    ("cot_validation", "after CoT validation", "cot_validation", True),
    ("decontaminated", "after decontamination", "decontam", True),
    ("sft", "SFT set", "split", True),
    ("rl", "RL set", "split", True),
)


def _passed_checks(store: Store, step: str) -> Iterable[str]:
    """Candidate ids a validator passed (its live checks)."""
    for check in store.live_outputs(step, "example_check"):
        if check.passed:  # type: ignore[attr-defined]
            yield check.candidate_id  # type: ignore[attr-defined]


def stages(store: Store, lineage: Lineage, recipe: Sequence[str]) -> list[Stage]:
    """The funnel's stages whose step is in `recipe`, counted from the live records."""
    made: list[Stage] = []
    for key, label, step, per_skill in STAGES:
        if step not in recipe:
            continue
        paper, note = PAPER_STAGES.get(key, (None, ""))
        stage = Stage(key, label, step, by_discipline={d: 0 for d in DISCIPLINES},
                      by_skill={s: 0 for s in SKILLS} if per_skill else None, paper=paper, paper_note=note)
        for attribution in _stage_members(store, lineage, key, recipe):
            stage.add(attribution)
        made.append(stage)
    return made


def _stage_members(store: Store, lineage: Lineage, key: str, recipe: Sequence[str]) -> Iterable[Attribution]:
    if key in ("knowledge_points", "scenarios", "keywords"):
        step, kind = {"knowledge_points": ("knowledge_points", "knowledge_point"),
                      "scenarios": ("scenarios", "scenario"), "keywords": ("search_keywords", "search_keyword")}[key]
        for record in store.live_outputs(step, kind):
            yield lineage.record(kind, record.id)
    elif key == "candidates":  # every video a live hit names, and every video a manifest brought
        videos = {lineage.video_id(h.youtube_id) for h in store.live_outputs("youtube_search", "search_hit")}  # type: ignore[attr-defined]
        videos |= {v.id for v in store.live_outputs("local_sources", "video")}
        for video in sorted(videos):
            yield lineage.video(video, "found"), None
    elif key == "videos":
        for check in store.live_outputs("safety", "safety_check"):
            if check.safe:  # type: ignore[attr-defined]
                yield lineage.video(check.id, "visual"), None
    elif key == "generated":
        for candidate in store.live_outputs("example_generation", "candidate_example"):
            yield lineage.example_item(candidate.id)
    elif key in ("self_consistency", "video_dependency"):
        for candidate_id in _passed_checks(store, key):
            yield lineage.example_item(candidate_id)
    elif key == "cot_validation":
        for example in store.live_outputs("cot_validation", "example"):
            yield lineage.example_item(example.id)
    elif key == "decontaminated":
        cleared = {r.id for r in store.live_outputs("decontam", "decontam_check")}
        for example in store.live_outputs(EXAMPLE_STEPS, "example"):
            if example.video_id in cleared:  # type: ignore[attr-defined]
                yield lineage.example_item(example.id)
    elif key in ("sft", "rl"):
        for example in live_examples(store):
            if example.split == key:
                yield lineage.example_item(example.id)


# -- the whole report ----------------------------------------------------------------------------


@dataclass
class Funnel:
    """Everything `videokr status --funnel --html` shows."""

    workspace: str
    recipe: list[str]
    stages: list[Stage]
    steps: list[StepBreakdown]
    disciplines: list[str]  # the columns: Table 6's four, then `UNATTRIBUTED` when anything is

    def as_dict(self) -> dict[str, Any]:
        return {"workspace": self.workspace, "recipe": self.recipe, "disciplines": self.disciplines,
                "stages": [s.as_dict() for s in self.stages], "steps": [s.as_dict() for s in self.steps]}


def corpus_funnel(store: Store, recipe: Sequence[str], *, workspace: str = "",
                  pending: dict[str, int | None] | None = None) -> Funnel:
    """The stages and every step's breakdown for a recipe (`pending`: the runner's pending counts, by step)."""
    lineage = Lineage(store)
    steps = [step_breakdown(store, name, lineage, pending=(pending or {}).get(name)) for name in recipe]
    made = stages(store, lineage, recipe)
    columns = list(DISCIPLINES)
    if any(UNATTRIBUTED in s.by_discipline for s in steps) or any(UNATTRIBUTED in s.by_discipline for s in made):
        columns.append(UNATTRIBUTED)
    return Funnel(workspace=workspace, recipe=list(recipe), stages=made, steps=steps, disciplines=columns)


# -- the HTML page ---------------------------------------------------------------------------------

TEMPLATE = "funnel.html.j2"


def _codes(counts: Counts) -> str:
    parts = [f"{code} {n:,}" for code, n in sorted(counts.by_reason.items(), key=lambda kv: (-kv[1], kv[0]))]
    if counts.quarantined:
        parts.append(f"quarantined {counts.quarantined:,}")
    return ", ".join(parts)


def _kept(made: Sequence[Stage]) -> list[str]:
    """Each stage's count over the stage before's: a pass rate below 1, a fan-out above (scenarios per point)."""
    shares = [""]
    for before, now in zip(made, made[1:]):
        shares.append(f"{now.total / before.total:.2f}×" if before.total else "—")
    return shares


def render_html(funnel: Funnel) -> str:
    """The funnel as one self-contained HTML page: inline CSS, no script, no file beside it."""
    from jinja2 import Environment, PackageLoader, select_autoescape

    env = Environment(loader=PackageLoader("videokr.corpus", "templates"), autoescape=select_autoescape(["j2"]),
                      trim_blocks=True, lstrip_blocks=True)
    skill_steps = [s for s in funnel.steps if s.by_skill]
    skill_columns = list(SKILLS) + ([UNATTRIBUTED] if any(UNATTRIBUTED in s.by_skill for s in skill_steps) else [])
    return env.get_template(TEMPLATE).render(
        f=funnel, kept=_kept(funnel.stages), codes=_codes, skills=SKILLS, unattributed=UNATTRIBUTED, items=ITEM_LABELS,
        skill_stages=[s for s in funnel.stages if s.by_skill is not None], skill_steps=skill_steps,
        skill_columns=skill_columns, paper_notes=[s for s in funnel.stages if s.paper is not None],
        step_notes=[s for s in funnel.steps if s.paper is not None])


def write_html(funnel: Funnel, path: Path) -> Path:
    """Write the page atomically (a reader never sees half of it); returns the path."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(render_html(funnel), encoding="utf-8")
    tmp.replace(path)
    return path
