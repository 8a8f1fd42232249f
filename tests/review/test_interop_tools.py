"""The exported files read by the tools' own Python packages, where they are installed (they are not by default).

`pip install label-studio-sdk argilla==2.8.0` in a scratch environment and run this module to check
the formats against the tools themselves: label-studio-sdk's `LabelInterface` must accept each
queue's labeling config, tasks and pre-filled predictions, and its `Converter` must turn a JSON
export into the JSON_MIN that the tests simulate (which imports to the same verdicts); argilla's
`Settings` and `Record` must read the exported dataset and write it back unchanged. Argilla's client
checks a server when a setting is built, so a loopback stand-in answers that one request.
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from tests.review import test_interop_labelstudio as ls_tests
from tests.review.test_interop_common import (
    final_of,
    interop,  # noqa: F401 - the fixture
    key,
    served,
)
from videokr.review.interop import argilla
from videokr.review.schema import QUEUES


@pytest.mark.parametrize("queue", QUEUES)
def test_label_studio_sdk_accepts_and_converts_the_export(interop, queue, tmp_path):
    interface = pytest.importorskip("label_studio_sdk.label_interface")
    converter = pytest.importorskip("label_studio_sdk.converter")
    config, tasks = ls_tests.exported(interop, queue)
    checker = interface.LabelInterface(config)
    for task in tasks:
        assert checker.validate_task({k: v for k, v in task.items() if k != "predictions"})
        for prediction in task.get("predictions", []):
            assert checker.validate_prediction(prediction)
    full = ls_tests.ls_export(tasks, ls_tests.with_verdicts(interop["verdicts"][queue]))
    source = ls_tests.write_json(tmp_path / "export.json", full)
    converter.Converter(config=config, project_dir=str(tmp_path), download_resources=False).convert(
        str(source), str(tmp_path / "min"), "JSON_MIN", is_dir=False
    )
    real = json.loads((tmp_path / "min" / "result.json").read_text(encoding="utf-8"))
    assert real == ls_tests.to_json_min(full, config)
    got, _ = ls_tests.imported(tmp_path / "min" / "result.json", interop)
    assert not got.problems and sorted(got.verdicts, key=key) == sorted(interop["verdicts"][queue], key=key)


class _Me(BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 - the stdlib's name
        body = json.dumps(
            {
                "id": "00000000-0000-4000-8000-000000000001",
                "username": "owner",
                "role": "owner",
                "first_name": "o",
                "api_key": "test",
            }
        ).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.mark.parametrize("queue", QUEUES)
def test_argilla_reads_the_dataset_and_writes_it_back_unchanged(interop, queue, tmp_path):
    rg = pytest.importorskip("argilla")
    from argilla._models import DatasetModel
    from argilla.records._resource import Record

    server = ThreadingHTTPServer(("127.0.0.1", 0), _Me)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        rg.Argilla(api_url=f"http://127.0.0.1:{server.server_address[1]}", api_key="test")
        out = tmp_path / queue
        argilla.write_dataset(
            out,
            queue,
            interop["items"][queue],
            final_of(interop["verdicts"][queue]),
            media=served(interop, ls_tests.MEDIA),
        )
        DatasetModel(**json.loads((out / argilla.DATASET_FILE).read_text(encoding="utf-8")))
        settings = rg.Settings.from_json(out / argilla.SETTINGS_FILE)
        assert settings.serialize() == json.loads((out / argilla.SETTINGS_FILE).read_text(encoding="utf-8"))
        raw = json.loads((out / argilla.RECORDS_FILE).read_text(encoding="utf-8"))
        for record in raw:
            parsed = Record.from_dict(record)
            assert parsed.to_dict() == record
            for suggestion in parsed.suggestions:
                question = settings.questions[suggestion.question_name]
                if question.type == "label_selection":
                    assert suggestion.value in question.labels
    finally:
        server.shutdown()


def test_the_argilla_sample_is_what_argilla_reads(tmp_path):
    pytest.importorskip("argilla")
    from argilla.records._resource import Record

    sample = Path(__file__).parent / "data" / "argilla-audit"
    records = json.loads((sample / argilla.RECORDS_FILE).read_text(encoding="utf-8"))
    assert [Record.from_dict(r).to_dict()["responses"] for r in records] == [r["responses"] for r in records]
