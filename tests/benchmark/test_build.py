"""`videokr benchmark build` end to end: real benchmark files, real MP4s, real HTTP to a loopback model."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

from tests.benchmark.world import CLAUDE, FPS, GPT, QWEN, Model, make_workspace, write_sources
from tests.cli_support import invoke
from videokr.benchmark.retention import live_candidates
from videokr.evaluate.benchmarks import read_benchmark
from videokr.records import EvalItem, FrameProbe, Outcome
from videokr.sets import live_set
from videokr.steps.benchmark import live_benchmark
from videokr.steps.decontam import benchmark_refs
from videokr.steps.frame_probe import PROBE_MODELS, probe_seed
from videokr.store import Store
from videokr.testing import TestServer
from videokr.video.probe import probe
from videokr.video.sampling import times_random
from videokr.workspace import Workspace

QUESTIONS = 8  # readable source examples with their video


def build_args(ws: Path, sources: dict[str, tuple[Path, Path]], *more: str) -> list[Any]:
    args: list[Any] = ["-w", ws, "benchmark", "build"]
    for name, (file, videos) in sources.items():
        args += ["--source", f"{name}={file}", "--video-root", f"{name}={videos}"]
    return args + list(more)


def expected_indices(candidate_id: str, video: str, model: str, same_frame: bool = False) -> list[int]:
    drawn = times_random(probe(video), 1 if same_frame else 3, probe_seed(candidate_id, model))
    return sorted(round(t * FPS) for t in (drawn * 3 if same_frame else drawn))


def test_build_probes_with_one_frame_keeps_what_no_model_solves_and_a_rerun_sends_nothing(tmp_path: Path) -> None:
    sources = write_sources(tmp_path / "bench")
    model = Model()
    with TestServer(responder=model) as server:
        ws = make_workspace(tmp_path, server)
        built = invoke(*build_args(ws, sources))
        assert built.exit_code == 0, built.output
        assert not model.problems  # every request: exactly one image, then the prompt; no timestamp, no other frame
        store = Store(ws / "videokr.sqlite")

        # the sources went into videokr.yaml, paths as given (outside the workspace: absolute)
        section = yaml.safe_load((ws / "videokr.yaml").read_text())["steps"]["benchmark_sources"]
        assert [s["name"] for s in section["sources"]] == ["MMVU", "VideoMMMU", "SciVideoBench"]
        assert Path(section["sources"][0]["video_root"]) == sources["MMVU"][1].resolve()

        # bad records are rejected naming FILE:LINE; the rest go on
        rejected = {e.code: e.reason for e in store.ledger_entries("benchmark_sources", Outcome.REJECTED)}
        reasons = sorted(e.reason for e in store.ledger_entries("benchmark_sources", Outcome.REJECTED))
        assert any(r.startswith("validation.json:5: answer 'F'") for r in reasons), reasons
        assert any(r.startswith("Perception.jsonl:3: ") for r in reasons), reasons
        assert "jove_1002.mp4" in rejected["video_missing"]
        candidates = {c.question: c for c in live_candidates(store)}
        assert len(candidates) == QUESTIONS

        # three trials per model, each with the frame its seed draws: three different frames
        frames = model.frames()
        assert set(frames) == {(q, m) for q in candidates for m in PROBE_MODELS}
        for (question, name), indices in frames.items():
            c = candidates[question]
            assert sorted(indices) == expected_indices(c.id, c.video_path, name)
            assert len(set(indices)) == 3, (question, name, indices)
        prompt = model.log[0]["prompt"]
        assert "Options:\nA. rolling friction" in prompt or "Options" not in prompt
        assert "[00:" not in prompt

        # every trial is recorded: frame time, raw reply, answer read, correctness
        solvable = model.solvable()
        for probe_record in store.live_outputs("frame_probe", "frame_probe"):
            assert isinstance(probe_record, FrameProbe)
            c = next(c for c in candidates.values() if c.id == probe_record.candidate_id)
            seen = sorted((e["index"], e["right"]) for e in model.log
                          if e["question"] == c.question and e["model"] == probe_record.model)
            assert sorted((round(t.frame_time_s * FPS), t.correct is True) for t in probe_record.trials) == seen
            assert probe_record.solvable == solvable[c.question, probe_record.model]
            assert all(t.raw for t in probe_record.trials)
        gpt_q1 = store.get("frame_probe", f"{candidates['MMVU q1 what slows the cart?'].id}|{GPT}")
        assert [t.answer for t in gpt_q1.trials] == ["A", "A", "A"] and gpt_q1.solvable
        silent = store.get("frame_probe", f"{candidates['VideoMMMU q6 what is measured?'].id}|{CLAUDE}")
        assert [t.answer for t in silent.trials] == [None] * 3 and not silent.solvable
        period = store.get("frame_probe", f"{candidates['MMVU q4 what is the period?'].id}|{QWEN}")
        assert [t.answer for t in period.trials] == ["2 seconds"] * 3 and period.solvable

        # retained = the intersection over models of "not solvable"
        retained = {q for q in candidates if not any(solvable[q, m] for m in PROBE_MODELS)}
        assert {"MMVU q2 which force acts?", "VideoMMMU q6 what is measured?"} <= retained
        assert not {"MMVU q1 what slows the cart?", "MMVU q3 what is conserved?",
                    "SciVideoBench q7 which step comes first?", "MMVU q4 what is the period?"} & retained
        items = live_benchmark(store)
        assert {i.question for i in items} == retained
        assert all(i.extra["origin"] == "source" and i.dataset == candidates[i.question].dataset for i in items)
        filtered = {e.item_id: e for e in store.ledger_entries("benchmark", Outcome.REJECTED)}
        assert {candidates[q].id for q in candidates if q not in retained} == set(filtered)
        assert all(e.code == "single_frame_solvable" for e in filtered.values())
        assert filtered[candidates["MMVU q3 what is conserved?"].id].detail["solvable_by"] == [GPT]

        # the benchmark is the live evaluation set, so the videos step and decontamination see its videos
        assert {i.id for i in live_set(store, "eval")} == {i.id for i in items}
        wsp = Workspace.open(ws)
        from videokr.pipeline.runner import run_step

        run_step(store, wsp.step("videos"))
        refs = benchmark_refs(store, wsp.video_root(), [], ws)
        assert {r.id for r in refs} == {i.video_id for i in items}
        assert all(Path(r.path).is_file() for r in refs)

        # exported in the official layout (read back by the official reader) and as an lmms-eval task
        out = ws / "exports" / "videokr-eval"
        read = read_benchmark("VideoKR-Eval", out / "VideoKR_eval.jsonl")
        assert read.rejected == []
        assert {(i.id, i.question, i.answer, tuple(i.options)) for i in read.items} == \
            {(i.id, i.question, i.answer, tuple(i.options)) for i in items}
        assert all(Path(i.video_path).is_file() for i in read.items)
        task = yaml.safe_load((out / "videokr_eval" / "videokr_eval.yaml").read_text().replace("!function", ""))
        assert task["dataset_path"] == "json"
        assert task["dataset_kwargs"]["data_files"]["test"] == [str((out / "VideoKR_eval.jsonl").resolve())]

        # Tables 2 and 9 from the store
        shown = invoke("-w", ws, "benchmark", "report", "--json")
        assert shown.exit_code == 0, shown.output
        report = json.loads(shown.stdout)
        by_dataset = {q: candidates[q].dataset for q in candidates}
        for row in report["table2"]["rows"]:
            for dataset in ("MMVU", "VideoMMMU", "SciVideoBench"):
                mine = [q for q in candidates if by_dataset[q] == dataset]
                cell = row["cells"][dataset]
                assert cell["probed"] == len(mine)
                assert cell["solvable"] == sum(solvable[q, row["model"]] for q in mine)
                assert cell["percent"] == round(100 * cell["solvable"] / len(mine), 1)
        nine = {r["benchmark"]: r for r in report["table9"]["rows"]}
        for dataset, n in (("MMVU", 4), ("VideoMMMU", 2), ("SciVideoBench", 2)):
            kept = sum(1 for q in retained if by_dataset[q] == dataset)
            assert (nine[dataset]["candidates"], nine[dataset]["retained"], nine[dataset]["filtered"],
                    nine[dataset]["final"], nine[dataset]["reannotated"]) == (n, kept, n - kept, kept, 0)
        assert nine["MMVU"]["paper"]["filtered"] == 639
        assert report["table9"]["total"]["final"] == len(items)
        table = invoke("-w", ws, "benchmark", "report")
        assert table.exit_code == 0 and "Table 9" in table.text and "1,254" in table.text

        # a rerun pays nothing: no request reaches the server, no step redoes an item
        received = server.stats.total_received
        again = invoke(*build_args(ws, sources))
        assert again.exit_code == 0, again.output
        assert server.stats.total_received == received
        assert "0 accepted, 0 rejected, 0 quarantined" in again.text


def test_same_frame_shows_one_frame_in_three_requests(tmp_path: Path) -> None:
    sources = write_sources(tmp_path / "bench")
    model = Model()
    with TestServer(responder=model) as server:
        ws = make_workspace(tmp_path, server)
        config = yaml.safe_load((ws / "videokr.yaml").read_text())
        config["steps"] = {"frame_probe": {"same_frame": True}}
        (ws / "videokr.yaml").write_text(yaml.safe_dump(config))
        built = invoke(*build_args(ws, {"MMVU": sources["MMVU"]}))
        assert built.exit_code == 0, built.output
        store = Store(ws / "videokr.sqlite")
        candidates = {c.question: c for c in live_candidates(store)}
        frames = model.frames()
        assert len(frames) == 4 * 3
        for (question, name), indices in frames.items():
            assert len(indices) == 3 and len(set(indices)) == 1  # three requests, one frame
            c = candidates[question]
            assert sorted(indices) == expected_indices(c.id, c.video_path, name, same_frame=True)


def test_a_failing_model_quarantines_and_the_next_run_asks_only_what_failed(tmp_path: Path) -> None:
    sources = {"MMVU": write_sources(tmp_path / "bench")["MMVU"]}
    model = Model()
    failing = {"on": True}

    def script(body: dict[str, Any], fingerprint: str, attempt: int) -> str | None:
        return "500" if failing["on"] and body["model"] == GPT else None

    with TestServer(responder=model, script=script) as server:
        ws = make_workspace(tmp_path, server)
        first = invoke(*build_args(ws, sources))
        assert first.exit_code == 1 and "quarantined" in first.text
        store = Store(ws / "videokr.sqlite")
        assert {e.outcome for e in store.ledger_entries("frame_probe")} == {Outcome.QUARANTINED}
        assert "HTTP 500" in store.ledger_entries("frame_probe")[0].reason or "500" in \
            store.ledger_entries("frame_probe")[0].reason
        assert live_benchmark(store) == []
        answered = {name: sum(e["model"] == name for e in model.log) for name in PROBE_MODELS}
        assert answered == {GPT: 0, CLAUDE: 12, QWEN: 12}

        failing["on"] = False
        second = invoke(*build_args(ws, sources))
        assert second.exit_code == 0, second.output
        now = {name: sum(e["model"] == name for e in model.log) for name in PROBE_MODELS}
        assert now == {GPT: 12, CLAUDE: 12, QWEN: 12}  # the others' replies came from the store
        assert {e.outcome for e in store.ledger_entries("frame_probe")} == {Outcome.ACCEPTED}
        assert all(isinstance(i, EvalItem) for i in live_benchmark(store))


def test_dry_run_prices_the_probing_and_changes_nothing(tmp_path: Path) -> None:
    sources = write_sources(tmp_path / "bench")
    model = Model()
    with TestServer(responder=model) as server:
        ws = make_workspace(tmp_path, server)
        before = (ws / "videokr.yaml").read_text()
        dry = invoke(*build_args(ws, sources, "--dry-run"))
        assert dry.exit_code == 0, dry.output
        assert f"{QUESTIONS} to probe" in dry.text and f"{QUESTIONS * 9} model requests" in dry.text, dry.text
        assert server.stats.total_received == 0
        assert (ws / "videokr.yaml").read_text() == before
        store = Store(ws / "videokr.sqlite")
        assert store.ledger_summary() == {}
        assert invoke(*build_args(ws, sources)).exit_code == 0
        again = invoke(*build_args(ws, sources, "--dry-run"))
        assert f"0 to probe, {QUESTIONS} probed already" in again.text, again.text


def test_build_says_what_is_wrong_without_a_traceback(tmp_path: Path) -> None:
    sources = write_sources(tmp_path / "bench")
    with TestServer(responder=Model()) as server:
        ws = make_workspace(tmp_path, server)
        for args, message in (
            (["--source", "NoSuchBench=x.json"], "unknown benchmark 'NoSuchBench'"),
            (["--source", f"MMVU={tmp_path / 'missing.json'}"], "no such file or directory"),
            (["--source", "MMVU"], "give NAME=PATH"),
            (["--source", f"MMVU={sources['MMVU'][0]}", "--video-root", f"MMVU={tmp_path / 'nowhere'}"],
             "no such directory"),
            (["--video-root", f"VideoMMMU={sources['VideoMMMU'][1]}"], "VideoMMMU is no source"),
            ([], "no source benchmark"),
        ):
            result = invoke("-w", ws, "benchmark", "build", *args)
            assert result.exit_code == 1 and message in result.text, (args, result.text)
            assert "Traceback" not in result.output


def test_the_steps_run_in_a_recipe_ahead_of_the_main_job(tmp_path: Path) -> None:
    from tests.cli_support import assert_accounted, funnel
    from videokr.benchmark import BUILD_STEPS

    mmvu, videos = write_sources(tmp_path / "bench")["MMVU"]
    with TestServer(responder=Model()) as server:
        ws = make_workspace(tmp_path, server)
        config = yaml.safe_load((ws / "videokr.yaml").read_text())
        recipe = [*BUILD_STEPS, "videos", "probe"]
        config["recipe"] = recipe
        config["steps"] = {"benchmark_sources": {"sources": [{"name": "mmvu", "path": str(mmvu),
                                                              "video_root": str(videos)}]}}
        (ws / "videokr.yaml").write_text(yaml.safe_dump(config))
        ran = invoke("-w", ws, "run")
        assert ran.exit_code == 0, ran.output
        rows = funnel(ws)
        assert_accounted(rows, recipe)
        assert rows["benchmark_sources"]["rejected_by_reason"] == {"bad_line": 1}
        assert rows["benchmark"]["accepted"] == 1 and rows["benchmark"]["rejected_by_reason"] == \
            {"single_frame_solvable": 3}
        store = Store(ws / "videokr.sqlite")
        assert {v.id for v in store.live_outputs("videos", "video")} == {"MMVU/cart.mp4"}
        assert {p.id for p in store.live_outputs("probe", "video_probe")} == {"MMVU/cart.mp4"}
        # `build` replaces a configured source of the same benchmark, however it was spelt
        again = invoke("-w", ws, "benchmark", "build", "--source", f"MMVU={mmvu}")
        assert again.exit_code == 0, again.output
        sources = yaml.safe_load((ws / "videokr.yaml").read_text())["steps"]["benchmark_sources"]["sources"]
        assert sources == [{"name": "MMVU", "path": str(mmvu), "video_root": str(videos)}]
        assert "benchmark_sources: 5 in — 0 accepted, 0 rejected, 0 quarantined, 5 already done" in again.text


def test_a_probe_model_missing_from_the_models_table_is_said_before_any_request(tmp_path: Path) -> None:
    sources = {"MMVU": write_sources(tmp_path / "bench")["MMVU"]}
    with TestServer(responder=Model()) as server:
        ws = make_workspace(tmp_path, server)
        config = yaml.safe_load((ws / "videokr.yaml").read_text())
        del config["models"][GPT]
        (ws / "videokr.yaml").write_text(yaml.safe_dump(config))
        result = invoke(*build_args(ws, sources))
        assert result.exit_code == 1, result.output
        assert "steps.frame_probe.models: gpt-5.2 not configured under `models:`" in result.text, result.text
        assert server.stats.total_received == 0


def test_a_refused_request_rejects_the_example_and_a_missing_video_is_named(tmp_path: Path) -> None:
    sources = {"MMVU": write_sources(tmp_path / "bench")["MMVU"]}
    refused = "MMVU q2 which force acts?"

    def script(body: dict[str, Any], fingerprint: str, attempt: int) -> str | None:
        return "400" if body["model"] == CLAUDE and refused in json.dumps(body) else None

    with TestServer(responder=Model(), script=script) as server:
        ws = make_workspace(tmp_path, server)
        built = invoke(*build_args(ws, sources))
        assert built.exit_code == 0, built.output
        store = Store(ws / "videokr.sqlite")
        (entry,) = store.ledger_entries("frame_probe", Outcome.REJECTED)
        assert entry.item_id == "MMVU/m2" and entry.code == "refused" and CLAUDE in entry.reason
        assert "MMVU/m2" not in {i.id for i in live_benchmark(store)}
        # the video goes away: the source step names it, and what was built from it is retired
        (sources["MMVU"][1] / "wheel.mp4").unlink()
        again = invoke(*build_args(ws, sources))
        assert again.exit_code == 0, again.output
        missing = store.ledger_get("benchmark_sources", "MMVU/m3")
        assert missing.code == "video_missing" and missing.reason.endswith("wheel.mp4")
        assert store.get("frame_probe", f"MMVU/m3|{GPT}") is None
