"""Each export loads with the library it is meant for, and matches the official converters."""

import json

import pyarrow.parquet as pq
import pytest

from videokr.formats.exporters import VIDEO_PRESETS, ExportOptions, export, release_val_indices
from videokr.steps.importing import import_file
from videokr.sets import live_set
from videokr.steps.split import apply_split
from videokr.records import EvalItem, Example
from videokr.store import Store

INSTRUCTION = ("Please answer this question based on the visual content.\nProvide your thinking process between "
               "the <think> and </think> tags, and then give your final answer between the <answer> and </answer> "
               "tags.\n")
MC_TAIL = "Please provide only the single option letter (e.g., A, B, C, D, etc.) within the <answer>...</answer> tags."
OE_TAIL = "Please provide only your final answer within the <answer>...</answer> tags."


def mc_example(**kw):
    base = dict(id="p1", problem_type="multiple choice", question="Which?", options=["red", "green"], answer="B",
                video_id="Videos/a.mp4", video_path="Videos/a.mp4", cot="I look.", split="sft")
    return Example(**{**base, **kw})


def oe_example(**kw):
    base = dict(id="p2", problem_type="open-ended", question="How many?", answer="3", video_id="./b.mp4",
                video_path="b.mp4", cot="<count>", split="sft")
    return Example(**{**base, **kw})


def test_llamafactory_matches_official_converter(tmp_path):
    report = export([mc_example(), oe_example()], "sft", "llamafactory", tmp_path, ExportOptions(video_prefix="videos"))
    rows = json.loads((tmp_path / "videokr_train.json").read_text())
    assert rows[0] == {
        "messages": [
            {"role": "user", "content": "<video>Which?\n\nOptions:\nA. red\nB. green\n" + INSTRUCTION + MC_TAIL},
            {"role": "assistant", "content": "<think>I look.</think>\n<answer>B</answer>"},
        ],
        "videos": ["videos/Videos/a.mp4"],
    }
    assert rows[1]["messages"][0]["content"] == "<video>How many?\n" + INSTRUCTION + OE_TAIL + "\n"
    info = json.loads((tmp_path / "dataset_info.json").read_text())
    assert info["videokr_train"]["formatting"] == "sharegpt"
    assert info["videokr_train"]["columns"] == {"messages": "messages", "videos": "videos"}
    assert report.written == 2


def test_llamafactory_skips_items_without_cot(tmp_path):
    report = export([mc_example(cot=None)], "sft", "llamafactory", tmp_path, ExportOptions())
    assert report.written == 0 and "no chain of thought" in report.skipped[0]


def test_llamafactory_loads_with_datasets(tmp_path):
    import datasets

    export([mc_example(), oe_example()], "sft", "llamafactory", tmp_path, ExportOptions())
    ds = datasets.load_dataset("json", data_files=str(tmp_path / "videokr_train.json"), split="train")
    assert ds.num_rows == 2 and ds[0]["videos"] == ["Videos/a.mp4"]


def test_verl_schema_and_release_holdout(tmp_path):
    items = [mc_example(id=f"p{i}", split="rl") for i in range(30)]
    export(items, "rl", "verl", tmp_path, ExportOptions(val_size=5))
    train = pq.read_table(tmp_path / "train.parquet").to_pylist()
    test = pq.read_table(tmp_path / "test.parquet").to_pylist()
    assert (len(train), len(test)) == (25, 5)
    held = release_val_indices(30, 5, 42)
    assert {r["extra_info"]["problem_id"] for r in test} == {f"p{i}" for i in held}
    row = train[0]
    assert set(row) == {"data_source", "prompt", "videos", "ability", "reward_model", "extra_info"}
    assert row["data_source"] == "videokr" and row["ability"] == "video_qa"
    assert row["prompt"] == [{"role": "user", "content": "<video>\nWhich?\nOptions:\nA. red\nB. green\n"
                                                          + INSTRUCTION + MC_TAIL}]
    assert row["reward_model"] == {"style": "rule", "ground_truth": "<answer>B</answer>"}
    assert row["videos"][0] == {"video": "Videos/a.mp4", **VIDEO_PRESETS["paper-qwen2.5-vl"]}
    assert row["extra_info"]["answer"] == "B" and row["extra_info"]["split"] == "train"
    assert [r["extra_info"]["index"] for r in test] == list(range(5))


def test_video_presets_token_budgets():
    # paper: 128 frames = 64 temporal groups x 64 merged tokens = 4,096 video tokens
    assert VIDEO_PRESETS["paper-qwen2.5-vl"]["max_pixels"] // (28 * 28) * 128 // 2 == 4096
    assert VIDEO_PRESETS["paper-qwen3-vl"]["max_pixels"] // (32 * 32) * 128 // 2 == 4096
    assert VIDEO_PRESETS["release"]["max_pixels"] == 128 * 28 * 28  # 8,192 tokens at 128 frames


def test_verl_loads_with_datasets(tmp_path):
    import datasets

    export([mc_example(split="rl"), oe_example(split="rl")], "rl", "verl", tmp_path, ExportOptions(val_size=1))
    ds = datasets.load_dataset("parquet", data_files={"train": str(tmp_path / "train.parquet"),
                                                      "test": str(tmp_path / "test.parquet")})
    assert ds["train"].num_rows + ds["test"].num_rows == 2
    assert ds["train"][0]["reward_model"]["style"] == "rule"


def test_hf_dataset_in_conversational_form(tmp_path):
    import datasets

    export([mc_example(), oe_example()], "sft", "hf", tmp_path, ExportOptions())
    ds = datasets.load_dataset(str(tmp_path), split="train")
    row = ds[0]
    user, assistant = row["messages"]
    assert user["role"] == "user" and user["content"][0]["type"] == "video"
    assert user["content"][0]["video"] == "Videos/a.mp4"
    assert user["content"][1]["text"].startswith("Which?\n\nOptions:\nA. red")
    assert assistant["content"][0]["text"] == "<think>I look.</think>\n<answer>B</answer>"
    assert row["prompt"] == [user] and row["completion"] == [assistant]


def test_jsonl_round_trip_is_lossless(tmp_path, sample):
    source = Store(tmp_path / "a.sqlite")
    for name, kind in (("videokr-sft-sample.jsonl", "sft"), ("videokr-rl-sample.json", "rl"),
                       ("videokr-eval-sample.jsonl", "eval")):
        import_file(source, sample / name, kind)
    apply_split(source, seed=2)
    target = Store(tmp_path / "b.sqlite")
    exported = []
    for set_name in ("sft", "rl", "eval"):
        items = live_set(source, set_name)
        assert items, set_name
        exported += items
        export(items, set_name, "jsonl", tmp_path / set_name, ExportOptions())
        import_file(target, tmp_path / set_name / f"videokr-{set_name}.jsonl", set_name)
    # the exported sets are the split's sets: what the target imports is exactly what was exported
    assert sorted(target.iter_records("example"), key=lambda r: r.id) + list(target.iter_records("eval_item")) == \
        sorted((r for r in exported if r.kind == "example"), key=lambda r: r.id) + \
        [r for r in exported if r.kind == "eval_item"]


def test_unknown_format_and_preset(tmp_path):
    with pytest.raises(ValueError, match="unknown export format"):
        export([], "sft", "csv", tmp_path, ExportOptions())
    with pytest.raises(ValueError, match="unknown video preset"):
        export([], "sft", "verl", tmp_path, ExportOptions(video_preset="huge"))


def test_eval_items_export_to_verl_test_split(tmp_path):
    item = EvalItem(id="q", problem_type="open-ended", question="q", answer="a", video_id="v", video_path="v.mp4")
    export([item], "eval", "verl", tmp_path, ExportOptions())
    assert pq.read_table(tmp_path / "test.parquet").num_rows == 1
    assert pq.read_table(tmp_path / "train.parquet").num_rows == 0
