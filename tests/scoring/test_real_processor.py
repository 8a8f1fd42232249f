"""The transformers video processors against videokr's numpy input builder.

Runs where torchvision imports (a CUDA or matching CPU build); elsewhere it is skipped and the
backend uses the numpy builder this test holds to the processors' layout.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from videokr.evaluate.backends import GenerationRequest, TransformersBackend
from videokr.inference.qwen_video import torchvision_available
from videokr.evaluate.frames import EvalFrame

from videokr.testing.tiny_models import CHAT_TEMPLATE, tiny_qwen3vl, tiny_qwen25vl, tiny_tokenizer

pytestmark = pytest.mark.skipif(not torchvision_available(), reason="torchvision does not import here")


def _processor(family: str, tok):  # type: ignore[no-untyped-def]
    if family == "qwen3-vl":
        from transformers import Qwen3VLProcessor
        from transformers.models.qwen2_vl.image_processing_qwen2_vl import Qwen2VLImageProcessor
        from transformers.models.qwen3_vl.video_processing_qwen3_vl import Qwen3VLVideoProcessor

        return Qwen3VLProcessor(image_processor=Qwen2VLImageProcessor(patch_size=16), tokenizer=tok,
                                video_processor=Qwen3VLVideoProcessor(), chat_template=CHAT_TEMPLATE)
    from transformers import Qwen2_5_VLProcessor
    from transformers.models.qwen2_vl.image_processing_qwen2_vl import Qwen2VLImageProcessor
    from transformers.models.qwen2_vl.video_processing_qwen2_vl import Qwen2VLVideoProcessor

    return Qwen2_5_VLProcessor(image_processor=Qwen2VLImageProcessor(), tokenizer=tok,
                               video_processor=Qwen2VLVideoProcessor(), chat_template=CHAT_TEMPLATE)


def _frames(count: int, height: int, width: int, source_fps: float = 25.0, step: int = 50) -> list[EvalFrame]:
    rng = np.random.default_rng(count)
    return [EvalFrame(i * step, i * step / source_fps, rng.integers(0, 256, (height, width, 3), dtype=np.uint8))
            for i in range(count)]


def _resized(frames: list[EvalFrame], height: int, width: int) -> list[EvalFrame]:
    from PIL import Image

    return [EvalFrame(f.index, f.pts_seconds, np.asarray(Image.fromarray(f.image).resize((width, height), Image.BICUBIC)))
            for f in frames]


@pytest.mark.parametrize("family,make", [("qwen2.5-vl", tiny_qwen25vl), ("qwen3-vl", tiny_qwen3vl)])
@pytest.mark.parametrize("count", [4, 5])
def test_numpy_builder_matches_the_processor(family: str, make, count: int) -> None:  # type: ignore[no-untyped-def]
    from videokr.inference.qwen_video import QwenVision

    tok = tiny_tokenizer()
    model = make(tok)
    processor = _processor(family, tok)
    real = TransformersBackend(model, processor)
    request = GenerationRequest("r", "Which option?", _frames(count, 120, 200))
    first = real._inputs([request])
    # The processors' resize rules vary by version; once the frames already have the size the
    # processor picks, neither side resizes and the layouts must agree exactly.
    groups, h, w = (int(v) for v in first["video_grid_thw"][0])
    patch = model.config.vision_config.patch_size
    request = GenerationRequest("r", "Which option?", _resized(request.frames, h * patch, w * patch))
    pixels = h * patch * w * patch
    vision = QwenVision.from_config(model.config, min_pixels=pixels, max_pixels=pixels)
    mine = TransformersBackend(model, tok, vision=vision)._numpy_inputs([request])
    theirs = real._inputs([request])
    assert theirs["video_grid_thw"].tolist() == mine["video_grid_thw"].tolist() == [[groups, h, w]]
    assert tok.decode(theirs["input_ids"][0]) == tok.decode(mine["input_ids"][0])
    assert theirs["input_ids"].tolist() == mine["input_ids"].tolist()
    torch.testing.assert_close(theirs["pixel_values_videos"].float(), mine["pixel_values_videos"].float(),
                               atol=2e-2, rtol=0)
    if family == "qwen2.5-vl":
        torch.testing.assert_close(theirs["second_per_grid_ts"].float(), mine["second_per_grid_ts"].float())
    if "mm_token_type_ids" in theirs:
        assert theirs["mm_token_type_ids"].tolist() == mine["mm_token_type_ids"].tolist()


@pytest.mark.parametrize("family,make", [("qwen2.5-vl", tiny_qwen25vl), ("qwen3-vl", tiny_qwen3vl)])
def test_backend_generates_through_the_real_processor(family: str, make) -> None:  # type: ignore[no-untyped-def]
    tok = tiny_tokenizer()
    model = make(tok).float()
    backend = TransformersBackend(model, _processor(family, tok), batch_size=2)
    requests = [GenerationRequest(str(i), "Which option?", _frames(2 + i, 96, 128), max_new_tokens=6, temperature=0.0)
                for i in range(3)]
    fast = backend.generate(requests)
    plain = [TransformersBackend(model, _processor(family, tok), decoding="generate").generate([r])[0] for r in requests]
    assert fast == plain and len(fast) == 3


@pytest.mark.parametrize("family,make", [("qwen2.5-vl", tiny_qwen25vl), ("qwen3-vl", tiny_qwen3vl)])
def test_output_settings_name_the_processor_path_as_plain_json(family: str, make) -> None:  # type: ignore[no-untyped-def]
    import json

    from videokr.hashing import canonical_json

    tok = tiny_tokenizer()
    model = make(tok)
    settings = TransformersBackend(model, _processor(family, tok)).output_settings()
    again = TransformersBackend(model, _processor(family, tok)).output_settings()
    assert settings["inputs"]["path"] == "processor" and settings["decoding"] == "engine"
    assert canonical_json(settings) == canonical_json(again)  # no object reprs: the same in every process
    assert " at 0x" not in json.dumps(settings)
    numpy_path = TransformersBackend(model, tok).output_settings()
    assert numpy_path["inputs"]["path"] == "numpy" and numpy_path != settings
