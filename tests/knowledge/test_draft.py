"""`videokr kb draft`: a model drafts syllabi over loopback HTTP; drafts feed nothing until an import approves them."""

import json
import re
from pathlib import Path

import yaml

from tests.cli_support import invoke
from videokr.demo import sample_dir
from videokr.pipeline.runner import run_step
from videokr.records import Outcome
from videokr.steps.kb import KbConfig, KbStep, approved_lectures, bank_entries, draft_lectures_pending, import_file
from videokr.pipeline.step import StepContext
from videokr.store import Store
from videokr.testing import TestServer
from videokr.workspace import Workspace

SAMPLE = sample_dir() / "knowledge-bank.yaml"




def syllabus_reply(body: dict, fingerprint: str) -> str:
    """Four courses of two lectures each, named after the subject the prompt asks about."""
    subject = re.search(r"^Subject: (.+)$", body["messages"][-1]["content"], re.M).group(1)
    return json.dumps({"courses": [
        {"course": f"{subject} {n}", "lectures": [
            {"lecture": f"Foundations of {subject} {n}", "objectives": [f"Explain the core ideas of {subject} {n}"]},
            {"lecture": f"Methods of {subject} {n}", "objectives": ["Apply the methods", "Interpret results"]},
        ]} for n in ("I", "II", "III", "IV")]})


def make_workspace(tmp_path: Path, server: TestServer) -> Path:
    ws = tmp_path / "ws"
    assert invoke("init", ws).exit_code == 0
    config = yaml.safe_load((ws / "videokr.yaml").read_text())
    config["models"] = {"loop": {"base_url": server.base_url, "model": "loop", "api_key_env": "VIDEOKR_TEST_KEY",
                                 "modalities": ["text"], "price": {"input_per_mtok": 1.0, "output_per_mtok": 2.0}}}
    config["steps"] = {"kb_draft": {"models": ["loop"]}}
    (ws / "videokr.yaml").write_text(yaml.safe_dump(config))
    assert invoke("-w", ws, "kb", "import", SAMPLE).exit_code == 0
    return ws


def test_draft_review_and_approval(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("VIDEOKR_TEST_KEY", "sk-test-key-value")
    with TestServer(responder=syllabus_reply) as server:
        ws = make_workspace(tmp_path, server)
        store = Store(ws / "videokr.sqlite")
        dry = invoke("-w", ws, "kb", "draft", "--dry-run")
        assert dry.exit_code == 0, dry.output
        assert "kb_draft: 79 subjects, 0 drafted before, 79 would be drafted; 79 model requests" in dry.text
        assert server.stats.total_received == 0 and "kb_draft" not in store.ledger_summary()

        drafted = invoke("-w", ws, "kb", "draft", "--subject", "biology", "--subject", "Marine Science")
        assert drafted.exit_code == 0, drafted.output
        assert "kb_draft: 2 in — 2 accepted" in drafted.text and "16 draft lectures in 2 subjects" in drafted.text
        assert server.stats.total_received == 2
        drafts = draft_lectures_pending(store)
        assert len(drafts) == 16 and all(d.draft and d.id.startswith("kb-draft:") for d in drafts)
        assert drafts[0].extra == {"drafted_by": "loop"} and drafts[0].subject == "Biology"
        # drafts feed nothing: the approved bank and the knowledge_points step's inputs are unchanged
        assert len(approved_lectures(store)) == 12
        assert all(not lec.draft for lec in Workspace.open(ws).step("knowledge_points").inputs(store))
        summary = json.loads(invoke("-w", ws, "kb", "status", "--json", "--subject", "Biology").stdout)
        (biology,) = summary["disciplines"][0]["by_subject"]
        assert (biology["courses"], biology["draft_courses"], biology["draft_lectures"]) == (0, 4, 8)
        assert summary["draft_lectures"] == 8

        again = invoke("-w", ws, "kb", "draft", "--subject", "Biology")
        assert "1 already done" in again.text and server.stats.total_received == 2  # never pays twice

        review = tmp_path / "review.yaml"
        exported = invoke("-w", ws, "kb", "export", review, "--drafts", "--subject", "Biology")
        assert exported.exit_code == 0 and "8 draft lectures in 4 courses of 1 subjects" in exported.text
        text = review.read_text()
        assert text.startswith("# Knowledge-bank DRAFT: 8 lectures") and "drafted_by: loop" in text
        data = yaml.safe_load(text)
        courses = data["subjects"][0]["courses"]
        del courses[3]  # the expert drops a course,
        courses[0]["lectures"][0]["lecture"] = "Cell structure and function"  # renames a lecture,
        courses[1]["lectures"][1]["knowledge_points"] = [{"term": "Allele", "definition": "A variant of a gene."}]
        review.write_text(yaml.safe_dump(data, sort_keys=False))
        approved = invoke("-w", ws, "kb", "import", review)
        assert approved.exit_code == 0, approved.output
        assert "6 entries — 6 accepted, 0 rejected" in approved.text and "the drafts of Biology are settled" in \
            approved.text

        bio = [lec for lec in approved_lectures(store) if lec.subject == "Biology"]
        assert len(bio) == 6 and not any(lec.draft for lec in bio) and all(lec.id.startswith("kb:") for lec in bio)
        assert bio[0].lecture == "Cell structure and function" and bio[0].extra == {"drafted_by": "loop"}
        assert [p.term for p in bio[3].knowledge_points] == ["Allele"]
        assert not [e for e in store.ledger_entries("kb") if e.code == "conflict" or e.outcome is not Outcome.ACCEPTED]
        left = draft_lectures_pending(store)
        assert {d.subject for d in left} == {"Marine Science"} and len(left) == 8
        assert not [i for i in store.iter_records("lecture") if i.id.startswith("kb-draft:biology/")]
        summary = json.loads(invoke("-w", ws, "kb", "status", "--json").stdout)
        assert (summary["covered"], summary["on_target"], summary["draft_lectures"]) == (4, 0, 8)

        later = invoke("-w", ws, "kb", "draft", "--dry-run")
        assert "kb_draft: 78 subjects, 1 drafted before, 77 would be drafted" in later.text  # Biology is covered now


def test_settling_survives_a_crash_between_import_and_settle(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("VIDEOKR_TEST_KEY", "sk-test-key-value")
    with TestServer(responder=syllabus_reply) as server:
        ws = make_workspace(tmp_path, server)
        assert invoke("-w", ws, "kb", "draft", "--subject", "Geography").exit_code == 0
        review = tmp_path / "geo.yaml"
        assert invoke("-w", ws, "kb", "export", review, "--drafts").exit_code == 0
    store = Store(ws / "videokr.sqlite")
    step = KbStep(KbConfig(), StepContext(root=ws))
    run_step(store, step, items=bank_entries(review, ws))  # the run committed, then the process died
    assert len(draft_lectures_pending(store)) == 8
    report = import_file(store, review, root=ws)
    assert report.step.skipped == 8 and report.settled == ["Geography"] and not draft_lectures_pending(store)


def test_a_full_subject_is_not_drafted(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("VIDEOKR_TEST_KEY", "sk-test-key-value")
    with TestServer(responder=syllabus_reply) as server:
        ws = make_workspace(tmp_path, server)
        rows = ["subject,course,lecture"] + [f"Physics,Course {n},Lecture {n}" for n in range(6)]
        (ws / "more.csv").write_text("\n".join(rows) + "\n")
        assert "6 accepted" in invoke("-w", ws, "kb", "import", ws / "more.csv").text
        result = invoke("-w", ws, "kb", "draft", "--subject", "Physics")
        assert result.exit_code == 0 and "1 rejected" in result.text
        assert "Physics already has 8 courses" in result.text and server.stats.total_received == 0


def test_without_a_model_list_the_draft_draws_from_the_knowledge_points_pool(tmp_path: Path) -> None:
    from videokr.knowledge.draft import DRAFT_POOL_STEP
    from videokr.models.pool import PAPER_TABLE8

    assert DRAFT_POOL_STEP == "knowledge_points"  # Table 8's "Lecture → Knowledge Point" row: text models
    ws = tmp_path / "ws"
    assert invoke("init", ws).exit_code == 0  # the paper's seven models, no endpoint reachable
    assert invoke("-w", ws, "kb", "import", SAMPLE).exit_code == 0
    dry = invoke("-w", ws, "kb", "draft", "--dry-run", "--subject", "History", "--subject", "Law")
    assert dry.exit_code == 0, dry.output
    assert "kb_draft: 2 subjects, 0 drafted before, 2 would be drafted; 2 model requests" in dry.text
    step = Workspace.open(ws).step("kb_draft")
    eligible = {m for m, mark in PAPER_TABLE8["knowledge_points"].items() if mark == "✓"}
    drawn = {step.draw_model(f"draft:subject-{n}") for n in range(40)}
    assert drawn <= eligible and len(drawn) > 1
    assert step.draw_model("draft:history") == step.draw_model("draft:history")


def test_the_draft_prompt_is_a_data_file(tmp_path: Path) -> None:
    """`prompts/kb_draft.md` is what the step sends and `videokr prompts show kb_draft` prints;
    a workspace's `steps.kb_draft.prompt` replaces it."""
    import pytest

    from videokr.knowledge.draft import DRAFT_PLACEHOLDERS
    from videokr.pipeline.recipe import RecipeError, build_step
    from videokr.prompts import load_prompt, placeholders

    packaged = load_prompt("kb_draft")
    assert placeholders(packaged) == DRAFT_PLACEHOLDERS  # the file uses every field the step fills, and no other
    assert "kb_draft" in invoke("prompts", "list").stdout.split()
    shown = invoke("prompts", "show", "kb_draft", "--packaged")
    assert shown.exit_code == 0 and shown.stdout == packaged

    ws = tmp_path / "ws"
    assert invoke("init", ws).exit_code == 0
    assert Workspace.open(ws).step("kb_draft").template == packaged
    config = yaml.safe_load((ws / "videokr.yaml").read_text())
    config["steps"] = {"kb_draft": {"prompt": "Courses of {subject} ({discipline}), {course_range}.{existing}"}}
    (ws / "videokr.yaml").write_text(yaml.safe_dump(config))
    assert Workspace.open(ws).step("kb_draft").template.startswith("Courses of {subject}")
    assert invoke("-w", ws, "prompts", "show", "kb_draft").stdout.startswith("Courses of {subject}")
    with pytest.raises(RecipeError, match=r"steps\.kb_draft\.prompt: .*unknown placeholder\(s\) \{topic\}"):
        build_step("kb_draft", {"prompt": "Courses about {topic}"}, StepContext())
