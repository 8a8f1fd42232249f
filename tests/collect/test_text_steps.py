"""The text-model steps of §3.1–§3.2 on the real runner, against the loopback OpenAI-compatible server:
knowledge_points → scenarios → search_keywords → (search, metadata) → metadata_relevance.

Inputs come from stand-in source steps (`text_sources`) that write the records `kb`,
`youtube_search` and `youtube_videos` write; every model call is real HTTP to the loopback server.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from tests.collect.text_sources import (BROKEN, Hits, Lectures, Responder, SeedConfig, Videos, hit, lecture,
                                        models_on, video)
from videokr.cli.main import app
from videokr.models.config import PoolConfig
from videokr.models.pool import PAPER_TABLE8
from videokr.models.structured import DEFAULT_MAX_INVALID, DEFAULT_MAX_REPAIRS, INVALID_OUTPUT_CODE
from videokr.pipeline.recipe import RecipeError, build_step
from videokr.pipeline.runner import StepReport, run_step
from videokr.pipeline.step import StepContext
from videokr.prompts import PLACEHOLDER as PLACEHOLDER_RE
from videokr.prompts import PromptError, load_prompt, placeholders, prompt_names, render_prompt
from videokr.prompts.step import NoModelForStep
from videokr.records import KnowledgePoint, Lecture, Outcome, Scenario
from videokr.steps import knowledge_points as kp_module
from videokr.steps import metadata_relevance as meta_module
from videokr.steps import scenarios as scenarios_module
from videokr.steps import search_keywords as keywords_module
from videokr.steps.knowledge_points import live_knowledge_points, merge_knowledge_points, normalise_term, point_id
from videokr.store import Store
from videokr.testing import TestServer

TEXT_STEPS = ("knowledge_points", "scenarios", "search_keywords", "metadata_relevance")


@pytest.fixture
def responder() -> Responder:
    return Responder()


@pytest.fixture
def server(responder: Responder) -> Iterator[TestServer]:
    with TestServer(responder=responder) as running:
        yield running


class Chain:
    """The text steps of one workspace, run one at a time through `run_step`."""

    def __init__(self, store: Store, server: TestServer, *, pool: PoolConfig | None = None,
                 models: tuple[str, ...] | None = None) -> None:
        self.store = store
        self.models = models_on(server, models) if models else models_on(server)
        self.settings: dict[str, Any] = {"models": self.models}
        if pool is not None:
            self.settings["pool"] = pool

    def step(self, name: str, **section: Any) -> Any:
        return build_step(name, section, StepContext(settings=dict(self.settings), store=self.store))

    def run(self, name: str, **section: Any) -> StepReport:
        return run_step(self.store, self.step(name, **section))

    def seed(self, source: type, records: list[dict[str, Any]], reject: tuple[str, ...] = ()) -> None:
        report = run_step(self.store, source(SeedConfig(records=records, reject=list(reject))))
        assert report.counts["quarantined"] == 0

    def live(self, step: str, kind: str) -> list[Any]:
        return list(self.store.live_outputs(step, kind))


def physics_lectures() -> list[dict[str, Any]]:
    return [
        lecture("Mechanics", "Forces", number=1),
        lecture("Mechanics", "Motion on slopes", number=2),
        lecture("Acoustics", "Waves", number=1),
        lecture("Optics", "Lenses", number=1, expert=[("Focal length", "The distance from a lens to its focus."),
                                                     ("Refraction", "The bending of light between media.")]),
        lecture("Optics", "Unreviewed", number=2, draft=True),
    ]


def test_paper_parameters_are_named_constants() -> None:
    assert (scenarios_module.MIN_SCENARIOS, scenarios_module.MAX_SCENARIOS) == (1, 3)  # §3.2: "1–3 short scenarios"
    assert (kp_module.DEFAULT_MIN_POINTS, kp_module.DEFAULT_MAX_POINTS) == (3, 8)  # "several" knowledge points
    assert kp_module.MIN_DEFINITION_WORDS == 30 and kp_module.MAX_TERM_WORDS == 12  # a paragraph; a short term
    assert (keywords_module.DEFAULT_MIN_KEYWORDS, keywords_module.DEFAULT_MAX_KEYWORDS) == (1, 3)
    assert keywords_module.MAX_KEYWORD_WORDS == 8
    assert meta_module.DEFAULT_DESCRIPTION_CHARS == 1000 and meta_module.IRRELEVANT_CODE == "irrelevant"
    assert scenarios_module.MAX_SCENARIO_WORDS == 40
    defaults = scenarios_module.ScenariosConfig()
    assert (defaults.min_scenarios, defaults.max_scenarios) == (1, 3)


def test_the_chain_from_lectures_to_metadata_judgements(store: Store, server: TestServer,
                                                        responder: Responder) -> None:
    chain = Chain(store, server)
    chain.seed(Lectures, physics_lectures())

    points = chain.run("knowledge_points")
    assert points.seen == 4 and points.counts["accepted"] == 4  # the draft lecture is not taken in
    assert len(responder.of("KnowledgePoints")) == 3  # the expert lecture asked no model
    assert not any("Lenses" in prompt for _, _, prompt in responder.seen)
    by_term = {p.term: p for p in chain.live("knowledge_points", "knowledge_point")}
    assert by_term["Focal length"].origin == "expert" and by_term["Focal length"].model is None
    assert by_term["Inertia"].origin == "model" and by_term["Inertia"].model in PAPER_TABLE8["knowledge_points"]
    waves = [p for p in by_term.values() if p.course == "Acoustics"]
    assert sorted(p.term for p in waves) == ["Doppler effect", "Resonance", "Standing wave"]  # repeat kept once
    # Both Mechanics lectures propose friction: each keeps its own record, and no lecture is rejected
    friction = sorted((p for p in chain.live("knowledge_points", "knowledge_point")
                       if normalise_term(p.term) == "friction"), key=lambda p: p.lecture_id)
    assert [p.lecture for p in friction] == ["Forces", "Motion on slopes"]
    assert store.rejection_reasons("knowledge_points") == {}
    assert all(len(p.definition.split()) >= kp_module.MIN_DEFINITION_WORDS for p in by_term.values()
               if p.origin == "model")

    scenarios = chain.run("scenarios")
    kept = friction[0]  # the first lecture in id order
    assert scenarios.counts == {"accepted": 10, "rejected": 1, "quarantined": 0}
    duplicate = store.ledger_get("scenarios", friction[1].id)
    assert duplicate.code == "duplicate" and kept.id in duplicate.reason and duplicate.detail == {"kept": kept.id}
    assert len(responder.of("Scenarios")) == 10  # the duplicate cost no call
    bank = live_knowledge_points(store)
    assert len(bank) == 10 and {m.point.id: m.merged for m in bank}[kept.id] == (friction[1].id,)
    made = chain.live("scenarios", "scenario")
    per_point = Counter(s.knowledge_point_id for s in made)
    assert set(per_point) == {m.point.id for m in bank}
    assert all(scenarios_module.MIN_SCENARIOS <= n <= scenarios_module.MAX_SCENARIOS for n in per_point.values())
    assert {s.id for s in made if s.knowledge_point_id == kept.id} == {f"{kept.id}:s1", f"{kept.id}:s2"}

    keywords = chain.run("search_keywords")
    assert keywords.counts["accepted"] == 20
    words = chain.live("search_keywords", "search_keyword")
    first = [k for k in words if k.scenario_id == f"{kept.id}:s1"]
    assert [k.id for k in first] == [f"{kept.id}:s1:k1", f"{kept.id}:s1:k2"]  # the upper-case repeat is dropped
    assert [k.text for k in first] == ["at work", "at work video"]

    s1, s2 = f"{kept.id}:s1", f"{kept.id}:s2"
    chain.seed(Hits, [hit(f"{s1}:k1", "rocketAAAAA"), hit(f"{s1}:k2", "rocketAAAAA", 2), hit(f"{s2}:k1", "rocketAAAAA"),
                      hit(f"{s1}:k1", "cookingBBBB", 2), hit(f"{s1}:k1", "longCCCCCCC", 3),
                      hit(f"{s2}:k1", "garbledDDDD", 2), hit(f"{s2}:k2", "descEEEEEEE")])
    long_description = "Sliding blocks on a ramp show {term} in action. " + "More words here. " * 300
    chain.seed(Videos, [video("rocketAAAAA", "Rocket launch footage"), video("cookingBBBB", "Quick cooking pasta"),
                        video("longCCCCCCC", "Two hour stream", minutes=120), video("garbledDDDD", "garbled title"),
                        video("descEEEEEEE", "Ramp experiment", description=long_description)],
               reject=("longCCCCCCC",))
    judged = chain.run("metadata_relevance")
    # rocket for s1 (found by two keywords) is one item, rocket for s2 another; the long video is not a candidate
    assert judged.seen == 5
    assert judged.counts == {"accepted": 3, "rejected": 1, "quarantined": 1}
    cooking = store.ledger_get("metadata_relevance", f"cookingBBBB:{s1}")
    assert cooking.outcome is Outcome.REJECTED and cooking.code == "irrelevant"
    assert cooking.reason == "the title is not about it"
    garbled = store.ledger_get("metadata_relevance", f"garbledDDDD:{s2}")
    assert garbled.outcome is Outcome.QUARANTINED and garbled.detail["raw_reply"] == "{not json"
    judgements = {j.id: j for j in chain.live("metadata_relevance", "relevance")}
    assert set(judgements) == {f"metadata:rocketAAAAA:{s1}", f"metadata:rocketAAAAA:{s2}",
                               f"metadata:descEEEEEEE:{s2}"}
    rocket = judgements[f"metadata:rocketAAAAA:{s1}"]
    assert rocket.judge == "metadata" and rocket.relevant and rocket.video_id == "rocketAAAAA"
    assert rocket.knowledge_point_id == kept.id and rocket.model in ("gpt-5.2", "claude-4.5-sonnet")
    prompt = next(p for _, schema, p in responder.seen if schema == "MetadataVerdict" and "Ramp experiment" in p)
    assert "show {term} in action" in prompt  # a value is never expanded again
    assert "Duration: 03:00" in prompt and "Channel: Channel des" in prompt and kept.definition in prompt
    description = prompt.split("Description:\n", 1)[1].split("\n\nAnswer", 1)[0]
    assert description.endswith(meta_module.CUT_MARK) and len(description) <= meta_module.DEFAULT_DESCRIPTION_CHARS + 5


def test_every_link_is_accounted_for_and_a_rerun_sends_nothing(store: Store, server: TestServer) -> None:
    chain = Chain(store, server)
    chain.seed(Lectures, physics_lectures())
    for name in TEXT_STEPS[:3]:
        chain.run(name)
    scenario = chain.live("scenarios", "scenario")[0].id
    chain.seed(Hits, [hit(f"{scenario}:k1", f"vid{i:08d}") for i in range(6)])
    chain.seed(Videos, [video(f"vid{i:08d}", "cooking show" if i % 3 == 0 else f"demo {i}") for i in range(6)])
    report = chain.run("metadata_relevance")
    assert report.counts == {"accepted": 4, "rejected": 2, "quarantined": 0}
    assert store.rejection_reasons("metadata_relevance") == {"irrelevant": 2}
    sent = server.stats.total_received
    for name in TEXT_STEPS:
        again = chain.run(name)
        assert again.processed == 0 and again.skipped == again.seen > 0, name
    assert server.stats.total_received == sent
    assert server.stats.repeats_after_answer == []


def test_a_prompt_edit_redoes_exactly_that_steps_items(store: Store, server: TestServer, responder: Responder) -> None:
    chain = Chain(store, server)
    chain.seed(Lectures, physics_lectures())
    for name in TEXT_STEPS[:3]:
        chain.run(name)
    packaged = load_prompt("scenarios")
    same = chain.run("scenarios", prompt=packaged)  # the text in use counts, not where it came from
    assert same.processed == 0 and same.skipped == 11
    asked = len(responder.of("Scenarios"))
    edited = chain.run("scenarios", prompt=packaged + "\nPrefer outdoor scenes.")
    assert edited.counts == {"accepted": 10, "rejected": 1, "quarantined": 0}  # the duplicate is re-decided, free
    assert len(responder.of("Scenarios")) == asked + 10
    assert all(p.endswith("Prefer outdoor scenes.") for _, s, p in responder.of("Scenarios")[asked:])
    # the scenarios came out the same, so nothing after them is redone; nothing before them either
    assert chain.run("search_keywords").processed == 0
    assert chain.run("knowledge_points").processed == 0


def test_invalid_replies_quarantine_then_reject_with_the_structured_code(store: Store, server: TestServer) -> None:
    chain = Chain(store, server)
    chain.seed(Lectures, [lecture("Mechanics", BROKEN), lecture("Mechanics", "Forces", number=2)])
    broken_id = lecture("Mechanics", BROKEN)["id"]
    for n in range(1, DEFAULT_MAX_INVALID):
        report = chain.run("knowledge_points")
        assert report.counts["quarantined"] == 1 and report.counts["accepted"] == (1 if n == 1 else 0)
        entry = store.ledger_get("knowledge_points", broken_id)
        assert entry.outcome is Outcome.QUARANTINED and entry.code == "transient"
        assert "definition has 2 words" in entry.detail["validation_error"]
        assert f"({n} of {DEFAULT_MAX_INVALID} before the item is rejected)" in entry.reason
    last = chain.run("knowledge_points")
    assert last.counts["rejected"] == 1
    entry = store.ledger_get("knowledge_points", broken_id)
    assert entry.outcome is Outcome.REJECTED and entry.code == INVALID_OUTPUT_CODE
    broken_requests = DEFAULT_MAX_INVALID * (1 + DEFAULT_MAX_REPAIRS)
    assert server.stats.total_received == broken_requests + 1  # + the good lecture, once
    assert chain.run("knowledge_points").processed == 0  # a verdict is final
    assert store.outputs_of("knowledge_points", broken_id) == []


def test_the_draw_uses_only_table8_eligible_models(store: Store, server: TestServer, responder: Responder) -> None:
    everyone = ("gpt-5.2", "gpt-5-mini", "claude-4.5-sonnet", "gemini-3-flash", "deepseek-v3.2", "qwen3-vl-235b-a22b",
                "glm-4.6v")
    chain = Chain(store, server, models=everyone)
    chain.seed(Lectures, [lecture(f"Course {i}", f"Topic {i}") for i in range(12)])
    for name in TEXT_STEPS[:3]:
        assert chain.run(name).counts["quarantined"] == 0
    scenario_ids = [s.id for s in chain.live("scenarios", "scenario")]
    chain.seed(Hits, [hit(f"{sid}:k1", f"v{i:010d}") for i, sid in enumerate(scenario_ids[:40])])
    chain.seed(Videos, [video(f"v{i:010d}", f"demo {i}") for i in range(40)])
    assert chain.run("metadata_relevance").counts["accepted"] == 40
    used = {schema: Counter(model for model, s, _ in responder.seen if s == schema)
            for schema in ("KnowledgePoints", "Scenarios", "SearchKeywords", "MetadataVerdict")}
    for schema, step in (("KnowledgePoints", "knowledge_points"), ("Scenarios", "scenarios"),
                         ("SearchKeywords", "search_keywords"), ("MetadataVerdict", "metadata_relevance")):
        eligible = {m for m, mark in PAPER_TABLE8[step].items() if mark == "✓"}
        assert set(used[schema]) <= eligible, (step, used[schema])
        assert len(used[schema]) >= 2, (step, used[schema])  # a draw per instance, not one model per step
    assert set(used["MetadataVerdict"]) == {"gpt-5.2", "claude-4.5-sonnet"}
    assert "deepseek-v3.2" not in used["Scenarios"] and "deepseek-v3.2" in used["SearchKeywords"]
    # the record names the model its instance drew, which is the model that was asked
    step = chain.step("scenarios")
    assert all(s.model == step.draw_model(s.knowledge_point_id) for s in chain.live("scenarios", "scenario"))


def test_model_lists_and_pool_overrides_and_a_pool_with_no_eligible_model(store: Store, server: TestServer,
                                                                          responder: Responder) -> None:
    chain = Chain(store, server)
    chain.seed(Lectures, [lecture(f"Course {i}", f"Topic {i}") for i in range(4)])
    assert chain.run("knowledge_points", models=["gemini-3-flash"]).counts["accepted"] == 4
    assert {m for m, _, _ in responder.seen} == {"gemini-3-flash"}
    with pytest.raises(NoModelForStep, match=r"steps\.scenarios\.models: nope not configured"):
        chain.run("scenarios", models=["nope"])
    with pytest.raises(RecipeError, match=r"steps\.scenarios\.models: .*at least one model"):
        chain.step("scenarios", models=[])
    own = Chain(store, server, models=("loop",))
    with pytest.raises(NoModelForStep, match="no eligible model for step 'scenarios'.*loop: not audited"):
        own.run("scenarios")
    overridden = Chain(store, server, models=("loop",), pool=PoolConfig(overrides={"scenarios": ["loop"]}))
    assert overridden.run("scenarios").counts["accepted"] == 12
    assert {m for m, s, _ in responder.seen if s == "Scenarios"} == {"loop"}


def test_a_dry_run_prices_every_request_and_keeps_nothing(store: Store, server: TestServer) -> None:
    chain = Chain(store, server)
    chain.seed(Lectures, physics_lectures())
    dry = run_step(store, chain.step("knowledge_points"), dry_run=True)
    assert dry.left == 4 and dry.cost is not None and dry.cost["requests"] == 3  # the expert lecture needs none
    assert dry.cost["tokens_in"] > 0 and server.stats.total_received == 0
    assert "knowledge_points" not in store.ledger_summary()
    assert chain.run("knowledge_points").counts["accepted"] == 4


def test_the_merge_prefers_experts_then_the_first_lecture_and_normalises_terms() -> None:
    def point(lecture_id: str, term: str, origin: str = "model", course: str = "Mechanics") -> KnowledgePoint:
        return KnowledgePoint(id=point_id(lecture_id, "Physics", course, term), discipline="Natural Sciences",
                              subject="Physics", course=course, lecture=lecture_id, term=term, definition="d",
                              lecture_id=lecture_id, origin=origin)  # type: ignore[arg-type]

    a, b = point("kb:l1", "Newton's Second Law"), point("kb:l2", "newton’s second-law")
    c = point("kb:l3", "the Newton's second law", "expert")
    other_course = point("kb:l0", "Newton's second law", course="Dynamics")
    assert normalise_term("  The  Doppler–Effect. ") == normalise_term("doppler effect") == "doppler effect"
    assert a.id.split("-")[1] == b.id.split("-")[1] == c.id.split("-")[1] != other_course.id.split("-")[1]
    assert merge_knowledge_points([b, a, other_course]) == {a.id: a.id, b.id: a.id, other_course.id: other_course.id}
    assert merge_knowledge_points([a, b, c])[a.id] == c.id  # an expert's point is kept before any model's
    assert merge_knowledge_points([c, b, a]) == merge_knowledge_points([a, b, c])  # order of arrival is irrelevant


def test_a_new_earlier_lecture_takes_over_a_term_without_conflicts(store: Store, server: TestServer) -> None:
    chain = Chain(store, server)
    later = lecture("Mechanics", "Motion on slopes", number=2)
    chain.seed(Lectures, [later])
    for name in TEXT_STEPS[:2]:
        chain.run(name)
    friction_late = point_id(later["id"], "Physics", "Mechanics", "friction")
    assert store.ledger_get("scenarios", friction_late).outcome is Outcome.ACCEPTED
    chain.seed(Lectures, [later, lecture("Mechanics", "Forces", number=1)])
    assert chain.run("knowledge_points").counts == {"accepted": 1, "rejected": 0, "quarantined": 0}
    report = chain.run("scenarios")
    assert report.counts == {"accepted": 3, "rejected": 1, "quarantined": 0}
    assert store.ledger_get("scenarios", friction_late).code == "duplicate"
    assert not [s for s in chain.live("scenarios", "scenario") if s.knowledge_point_id == friction_late]
    assert "conflict" not in store.rejection_reasons("knowledge_points")


def test_prompt_files_and_the_loader() -> None:
    assert set(TEXT_STEPS) <= set(prompt_names())
    configs = {"knowledge_points": kp_module.KnowledgePointsConfig, "scenarios": scenarios_module.ScenariosConfig,
               "search_keywords": keywords_module.SearchKeywordsConfig,
               "metadata_relevance": meta_module.MetadataRelevanceConfig}
    for name, config in configs.items():
        assert placeholders(load_prompt(name)) <= config.PLACEHOLDERS, name  # each fills what its prompt names
    assert render_prompt("a {x} {y} {\"k\": 1}", {"x": "{y}", "y": 2}) == "a {y} 2 {\"k\": 1}"
    with pytest.raises(PromptError, match=r"\{y\} has no value"):
        render_prompt("{y}", {})
    with pytest.raises(PromptError, match="no packaged prompt for step 'nope'"):
        load_prompt("nope")
    with pytest.raises(RecipeError, match=r"steps\.scenarios\.prompt: .*unknown placeholder\(s\) \{topic\}"):
        build_step("scenarios", {"prompt": "Scenarios for {topic}"}, StepContext())
    with pytest.raises(RecipeError, match=r"min_scenarios \(3\) is above max_scenarios \(2\)"):
        build_step("scenarios", {"min_scenarios": 3, "max_scenarios": 2}, StepContext())


def test_each_step_fills_every_placeholder_it_allows(store: Store, server: TestServer) -> None:
    chain = Chain(store, server)
    lec = Lecture(**lecture("Mechanics", "Forces"))
    point = KnowledgePoint(id="kp-1", discipline="Natural Sciences", subject="Physics", course="Mechanics",
                           lecture="Forces", term="Inertia", definition="d")
    scenario = keywords_module.ScenarioItem(scenario=Scenario(id="kp-1:s1", knowledge_point_id="kp-1", text="a bus"),
                                            term="Inertia", subject="Physics")
    link = meta_module.MetadataLink(video_id="y" * 11, scenario_id="kp-1:s1", knowledge_point_id="kp-1", title="t",
                                    channel="c", duration_s=75.5, description="", term="Inertia", definition="d",
                                    scenario="a bus")
    for name, item in (("knowledge_points", lec), ("scenarios", point), ("search_keywords", scenario),
                       ("metadata_relevance", link)):
        step = chain.step(name)
        values = step.values(item)
        assert set(values) == step.Config.PLACEHOLDERS, name
        assert PLACEHOLDER_RE.search(step.messages(values)[0]["content"]) is None, name  # all filled
    assert "- understand forces" in chain.step("knowledge_points").messages(
        chain.step("knowledge_points").values(lec))[0]["content"]
    assert chain.step("metadata_relevance").values(link)["duration"] == "01:15"


def invoke(*args: object) -> Any:
    return CliRunner().invoke(app, [str(a) for a in args], catch_exceptions=False)


def test_prompts_show_and_a_recipe_run_from_the_command_line(tmp_path: Path, server: TestServer,
                                                             responder: Responder) -> None:
    root = tmp_path / "ws"
    root.mkdir()
    models = {name: json.loads(m.model_dump_json()) for name, m in models_on(server).items()}
    config = {"recipe": ["kb", "knowledge_points", "scenarios", "search_keywords"], "models": models,
              "steps": {"kb": {"uses": "tests.collect.text_sources:Lectures", "records": physics_lectures()},
                        "scenarios": {"prompt": "Term: {term}\nWrite scenarios, please."}}}
    (root / "videokr.yaml").write_text(yaml.safe_dump(config))
    shown = invoke("-w", root, "prompts", "show", "scenarios")
    assert shown.exit_code == 0 and shown.stdout == "Term: {term}\nWrite scenarios, please.\n"
    packaged = invoke("-w", root, "prompts", "show", "scenarios", "--packaged")
    assert packaged.stdout == load_prompt("scenarios")
    assert invoke("prompts", "show", "nope").exit_code == 1
    dry = invoke("-w", root, "run", "--dry-run")
    assert dry.exit_code == 0 and server.stats.total_received == 0
    done = invoke("-w", root, "run")
    assert done.exit_code == 0, done.output
    assert {p for _, s, p in responder.seen if s == "Scenarios"} >= {"Term: Inertia\nWrite scenarios, please."}
    funnel = json.loads(invoke("-w", root, "status", "--funnel", "--json").stdout)
    rows = {r["step"]: r for r in funnel["steps"]}
    assert rows["scenarios"]["rejected_by_reason"] == {"duplicate": 1} and rows["search_keywords"]["pending"] == 0
    config["steps"]["scenarios"]["prompt"] = "Scenarios for {topic}"
    (root / "videokr.yaml").write_text(yaml.safe_dump(config))
    bad = invoke("-w", root, "prompts", "show", "scenarios")
    assert bad.exit_code == 1 and "steps.scenarios.prompt" in " ".join(bad.output.split())
