"""Running Qwen-VL video models locally: model inputs from frames, and a fast decoding engine.

Shared by everything that generates with a local checkpoint — the evaluation's
``transformers`` backend today, GRPO rollouts tomorrow — and specific to none of them:

- :mod:`videokr.inference.qwen_video`: Qwen2.5-VL / Qwen3-VL model inputs from already-sampled
  frames (through the model's processor, or with numpy where torchvision is missing);
- :mod:`videokr.inference.engine`: the batched decoding engine (static ring cache, CUDA
  graphs, continuous batching, per-request sampling streams);
- :mod:`videokr.inference.vision_attention`: one attention call per vision layer instead of
  one per frame group.

Importing this package loads neither torch nor transformers; its modules do so when used.
"""
