"""Tiny random-initialised Qwen2.5-VL and Qwen3-VL checkpoints: a smoke test of a whole install.

Real architectures from transformers with random weights, nothing downloaded: the tokenizer is a
byte-level BPE trained here on a few sentences, with the Qwen special tokens and a minimal Qwen
chat template. `save_tiny_checkpoint` lays one out as a user's checkpoint is — weights, tokenizer,
and the processor's files (image and video processor configs, chat template) a released checkpoint
carries — so where torchvision imports it loads with its processor, elsewhere with its tokenizer,
exactly as a real one does. `videokr train tiny-model OUT` writes one, so the training and
evaluation commands can be tried end to end on a CPU in seconds; the tests use the same models.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

SPECIALS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|vision_start|>", "<|vision_end|>",
            "<|image_pad|>", "<|video_pad|>"]
CHAT_TEMPLATE = (
    "{% for m in messages %}<|im_start|>{{ m['role'] }}\n"
    "{% if m['content'] is string %}{{ m['content'] }}{% else %}{% for c in m['content'] %}"
    "{% if c['type'] == 'video' %}<|vision_start|><|video_pad|><|vision_end|>"
    "{% elif c['type'] == 'text' %}{{ c['text'] }}{% endif %}{% endfor %}{% endif %}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
CORPUS = [
    "<think>the video shows a bicycle</think><answer>A</answer>",
    "Select the best answer to the following multiple-choice question based on the video.",
    "Please answer this question based on the visual content. The best answer is: B C D",
    "Therefore, the final answer is: seconds frames 0 1 2 3 4 5 6 7 8 9",
] * 20


def tiny_tokenizer() -> Any:
    """A byte-level BPE of 600 tokens with the Qwen special tokens and chat template."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=600, special_tokens=SPECIALS,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    tok.train_from_iterator(CORPUS, trainer)
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, eos_token="<|im_end|>", pad_token="<|endoftext|>",
                                   additional_special_tokens=SPECIALS[1:])
    fast.chat_template = CHAT_TEMPLATE
    return fast


def _ids(tok: Any) -> dict[str, int]:
    c = tok.convert_tokens_to_ids
    return dict(image_token_id=c("<|image_pad|>"), video_token_id=c("<|video_pad|>"),
                vision_start_token_id=c("<|vision_start|>"), vision_end_token_id=c("<|vision_end|>"))


def tiny_qwen25vl(tok: Any) -> Any:
    """A two-layer Qwen2.5-VL (hidden size 64) with random weights, seeded."""
    import torch
    from transformers import Qwen2_5_VLConfig, Qwen2_5_VLForConditionalGeneration

    torch.manual_seed(0)
    config = Qwen2_5_VLConfig(
        text_config=dict(vocab_size=len(tok), hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=8192,
                         rope_parameters={"rope_type": "default", "rope_theta": 10000.0, "mrope_section": [2, 3, 3]},
                         eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id, bos_token_id=None),
        vision_config=dict(depth=2, hidden_size=32, intermediate_size=64, num_heads=2, out_hidden_size=64,
                           patch_size=14, spatial_merge_size=2, temporal_patch_size=2, window_size=56,
                           fullatt_block_indexes=[1]),
        **_ids(tok),
    )
    return Qwen2_5_VLForConditionalGeneration(config).eval()


def tiny_qwen3vl(tok: Any) -> Any:
    """A two-layer Qwen3-VL (hidden size 64, deepstack) with random weights, seeded."""
    import torch
    from transformers import Qwen3VLConfig, Qwen3VLForConditionalGeneration

    torch.manual_seed(0)
    config = Qwen3VLConfig(
        text_config=dict(vocab_size=len(tok), hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, head_dim=16, max_position_embeddings=8192,
                         rope_parameters={"rope_type": "default", "rope_theta": 10000.0, "mrope_section": [2, 3, 3],
                                          "mrope_interleaved": True},
                         eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id, bos_token_id=None),
        vision_config=dict(depth=2, hidden_size=32, intermediate_size=64, num_heads=2, out_hidden_size=64,
                           patch_size=16, spatial_merge_size=2, temporal_patch_size=2, num_position_embeddings=64,
                           deepstack_visual_indexes=[1]),
        **_ids(tok),
    )
    return Qwen3VLForConditionalGeneration(config).eval()


FAMILIES = ("qwen2.5-vl", "qwen3-vl")
CLIP_MEAN = [0.48145466, 0.4578275, 0.40821073]
CLIP_STD = [0.26862954, 0.26130258, 0.27577711]


def _processor_files(family: str) -> dict[str, dict]:
    if family == "qwen3-vl":
        common = {"patch_size": 16, "temporal_patch_size": 2, "merge_size": 2, "image_mean": [0.5] * 3,
                  "image_std": [0.5] * 3, "processor_class": "Qwen3VLProcessor"}
        return {
            "preprocessor_config.json": {**common, "image_processor_type": "Qwen2VLImageProcessorFast",
                                         "size": {"shortest_edge": 65536, "longest_edge": 16777216}},
            "video_preprocessor_config.json": {**common, "video_processor_type": "Qwen3VLVideoProcessor",
                                               "size": {"shortest_edge": 4096, "longest_edge": 25165824}},
        }
    common = {"patch_size": 14, "temporal_patch_size": 2, "merge_size": 2, "image_mean": CLIP_MEAN,
              "image_std": CLIP_STD, "processor_class": "Qwen2_5_VLProcessor"}
    return {
        "preprocessor_config.json": {**common, "image_processor_type": "Qwen2VLImageProcessor",
                                     "min_pixels": 3136, "max_pixels": 12845056},
        "video_preprocessor_config.json": {**common, "video_processor_type": "Qwen2VLVideoProcessor",
                                           "size": {"shortest_edge": 128 * 28 * 28, "longest_edge": 768 * 28 * 28}},
    }


def save_tiny_checkpoint(family: str, path: Path) -> Path:
    """Write a tiny random checkpoint of ``family`` to ``path`` (weights, tokenizer, processor files)."""
    tok = tiny_tokenizer()
    model = (tiny_qwen3vl if family == "qwen3-vl" else tiny_qwen25vl)(tok)
    model.save_pretrained(path)
    tok.save_pretrained(path)
    for name, content in _processor_files(family).items():
        (path / name).write_text(json.dumps(content, indent=2) + "\n", encoding="utf-8")
    (path / "chat_template.jinja").write_text(CHAT_TEMPLATE, encoding="utf-8")
    return path
