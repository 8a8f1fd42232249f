"""The decoding engine against ``model.generate``, token for token, on tiny random Qwen-VL models."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from videokr.inference import engine
from videokr.evaluate.backends import GenerationRequest, TransformersBackend
from videokr.evaluate.frames import EvalFrame

from videokr.testing.tiny_models import tiny_qwen3vl, tiny_qwen25vl, tiny_tokenizer

MODELS = pytest.mark.parametrize("make", [tiny_qwen25vl, tiny_qwen3vl], ids=["qwen2.5-vl", "qwen3-vl"])


def _requests(count: int, max_new: int = 12, temperature: float = 0.0) -> list[GenerationRequest]:
    rng = np.random.default_rng(0)
    out = []
    for i in range(count):
        frames = [EvalFrame(j, 0.5 * j, rng.integers(0, 255, (48 + 16 * (i % 2), 96, 3), dtype=np.uint8))
                  for j in range(2 + 2 * (i % 3))]
        out.append(GenerationRequest(key=str(i), prompt="Select the best answer " * (1 + i), frames=frames,
                                     max_new_tokens=max_new, temperature=temperature, top_p=0.9, seed=100 + i))
    return out


def _reference(model, backend: TransformersBackend, request: GenerationRequest) -> list[int]:  # type: ignore[no-untyped-def]
    """Greedy ``model.generate`` on the request alone (no padding): the ground truth."""
    inputs = backend._inputs([request])
    with torch.inference_mode():
        out = model.generate(**inputs, do_sample=False, max_new_tokens=request.max_new_tokens)
    return out[0, inputs["input_ids"].shape[1]:].tolist()


@MODELS
def test_greedy_tokens_equal_generate(make) -> None:  # type: ignore[no-untyped-def]
    tok = tiny_tokenizer()
    model = make(tok).float()
    backend = TransformersBackend(model, tok, batch_size=2)
    requests = _requests(5)
    expected = [_reference(model, backend, r) for r in requests]
    eng = engine.DecodingEngine(model, rows=2)  # 5 requests over 2 rows: rows are refilled mid-flight
    got = eng.generate([backend._inputs([r]) for r in requests], [engine.Sampling(r.max_new_tokens) for r in requests])
    eos = engine._eos_ids(model)
    for want, have in zip(expected, got):
        want = [t for t in want if t != tok.pad_token_id]  # generate pads rows that stopped early
        assert have.tokens == want
        assert have.finished == (bool(want) and want[-1] in eos)


@MODELS
def test_long_generation_wraps_the_ring_cache(make) -> None:  # type: ignore[no-untyped-def]
    """Rows refilled late write past the end of the slot ring and wrap; outputs stay exact."""
    tok = tiny_tokenizer()
    model = make(tok).float()
    backend = TransformersBackend(model, tok)
    requests = _requests(4, max_new=40)
    eng = engine.DecodingEngine(model, rows=2, eos_token_ids=[])  # never stop early: every row runs 40 steps
    got = eng.generate([backend._inputs([r]) for r in requests], [engine.Sampling(40) for _ in requests])
    for request, result in zip(requests, got):
        inputs = backend._inputs([request])
        with torch.inference_mode():
            ref = model.generate(**inputs, do_sample=False, max_new_tokens=40, min_new_tokens=40,
                                 eos_token_id=None, suppress_tokens=None)
        assert result.tokens == ref[0, inputs["input_ids"].shape[1]:].tolist()
        assert len(result.tokens) == 40 and not result.finished


def test_sampling_is_per_request_and_batch_independent() -> None:
    tok = tiny_tokenizer()
    model = tiny_qwen3vl(tok).float()
    backend = TransformersBackend(model, tok)
    requests = _requests(4, max_new=16, temperature=1.0)
    inputs = [backend._inputs([r]) for r in requests]
    spec = [engine.Sampling(16, temperature=1.0, top_p=0.9, seed=r.seed, ignore_eos=True) for r in requests]
    together = engine.DecodingEngine(model, rows=4).generate(inputs, spec)
    alone = [engine.DecodingEngine(model, rows=1).generate([x], [s])[0] for x, s in zip(inputs, spec)]
    assert [g.tokens for g in together] == [g.tokens for g in alone]
    reseeded = engine.DecodingEngine(model, rows=4).generate(
        inputs, [engine.Sampling(16, temperature=1.0, top_p=0.9, seed=s.seed + 1, ignore_eos=True) for s in spec])
    assert [g.tokens for g in reseeded] != [g.tokens for g in together]


def test_top_p_keeps_only_the_nucleus() -> None:
    logits = torch.log(torch.tensor([[0.5, 0.3, 0.15, 0.05]]))
    seen = set()
    sampler = engine.Sampler(engine.Sampling(1, temperature=1.0, top_p=0.7, seed=3))
    for _ in range(200):
        seen.add(int(engine.choose_tokens(logits.clone(), [sampler])[0]))
    assert seen == {0, 1}
    tiny_p = engine.Sampler(engine.Sampling(1, temperature=0.1, top_p=0.001, seed=3))  # the evaluation setting
    assert {int(engine.choose_tokens(logits.clone(), [tiny_p])[0]) for _ in range(50)} == {0}


@MODELS
def test_backend_uses_the_engine_and_matches_plain_generate(make) -> None:  # type: ignore[no-untyped-def]
    tok = tiny_tokenizer()
    model = make(tok).float()
    requests = _requests(3, max_new=8)
    fast = TransformersBackend(model, tok, batch_size=2).generate(requests)
    plain = [TransformersBackend(model, tok, decoding="generate").generate([r])[0] for r in requests]
    assert fast == plain


def test_unknown_decoding_is_refused() -> None:
    tok = tiny_tokenizer()
    with pytest.raises(ValueError, match="decoding must be one of"):
        TransformersBackend(tiny_qwen3vl(tok), tok, decoding="fastest")


def test_non_qwen_models_are_not_supported() -> None:
    assert not engine.supports(torch.nn.Linear(2, 2))
    with pytest.raises(TypeError, match="not a Qwen-VL style decoder"):
        engine.decoder_parts(torch.nn.Linear(2, 2))


def _full_forward_logits(model, inputs: dict, continuation: list[int]) -> torch.Tensor:  # type: ignore[no-untyped-def]
    """Logits of one forward pass over prompt + continuation (no cache): what each step must reproduce."""
    extra = torch.tensor([continuation])
    full = dict(inputs)
    full["input_ids"] = torch.cat([inputs["input_ids"], extra], dim=1)
    full["attention_mask"] = torch.ones_like(full["input_ids"])
    if "mm_token_type_ids" in inputs:
        full["mm_token_type_ids"] = torch.cat([inputs["mm_token_type_ids"], torch.zeros_like(extra).int()], dim=1)
    with torch.inference_mode():
        return model(**full).logits[0, inputs["input_ids"].shape[1] - 1:].float()


@MODELS
@pytest.mark.parametrize("attention", engine.DECODE_ATTENTION)
def test_step_logits_equal_a_full_forward_pass(make, attention: str) -> None:  # type: ignore[no-untyped-def]
    """Teacher-forced: every step's logits equal the uncached model's, for rows of different
    prompt lengths whose prompts straddle the end of the slot ring."""
    tok = tiny_tokenizer()
    model = make(tok).float()
    backend = TransformersBackend(model, tok)
    requests = _requests(2)
    inputs = [backend._inputs([r]) for r in requests]
    lengths = [x["input_ids"].shape[1] for x in inputs]
    steps = 9
    rng = np.random.default_rng(1)
    forced = [rng.integers(10, len(tok) - 10, steps).tolist() for _ in inputs]
    with torch.inference_mode():
        state = engine._DecodeState(model, rows=2, slots=max(lengths) + steps + 3, attention=attention)
        start = 5  # prompts end at slot 5: they wrap around the end of the ring
        state.slot.fill_(start)
        firsts = []
        for row, x in enumerate(inputs):
            keys, values, first, position = engine.prefill(model, x)
            state.load_prompt(row, keys, values, start, position)
            firsts.append(first[0])
        got = [[f] for f in firsts]
        for i in range(steps):
            state.tokens.copy_(torch.tensor([forced[0][i], forced[1][i]]))
            logits = state.step()
            for row in range(2):
                got[row].append(logits[row].clone())
    for row, x in enumerate(inputs):
        want = _full_forward_logits(model, x, forced[row])
        have = torch.stack(got[row])
        assert have.shape == want.shape
        torch.testing.assert_close(have, want, atol=2e-4, rtol=1e-4)


def test_top_p_falls_back_to_a_full_sort_when_the_candidates_hold_too_little() -> None:
    flat = torch.zeros(1, 2 * engine.NUCLEUS_CANDIDATES)  # uniform: the top 256 of 512 hold half the mass
    sampler = engine.Sampler(engine.Sampling(1, temperature=1.0, top_p=0.9, seed=0))
    picks = {int(engine.choose_tokens(flat.clone(), [sampler])[0]) for _ in range(400)}
    assert max(picks) >= engine.NUCLEUS_CANDIDATES  # tokens beyond the candidates are reachable
    full = engine.Sampler(engine.Sampling(1, temperature=1.0, top_p=1.0, seed=0))  # no top-p: no sort at all
    assert len({int(engine.choose_tokens(flat.clone(), [full])[0]) for _ in range(400)}) > 200


@pytest.mark.skipif(not torch.cuda.is_available(), reason="compiled prefill is measured on a GPU")
def test_compiled_prefill_matches_eager_on_gpu() -> None:
    tok = tiny_tokenizer()
    model = tiny_qwen3vl(tok).cuda()
    backend = TransformersBackend(model, tok)
    requests = _requests(3, max_new=10)
    inputs = [backend._inputs([r]) for r in requests]
    spec = [engine.Sampling(10, ignore_eos=True) for _ in requests]
    eager = engine.DecodingEngine(model, rows=2).generate(inputs, spec)
    assert engine.compile_layers(model) == len(model.model.language_model.layers) + len(model.model.visual.blocks)
    compiled = engine.DecodingEngine(model, rows=2).generate(inputs, spec)
    assert [g.tokens for g in compiled] == [g.tokens for g in eager]


def test_runs_of_one_item_share_a_prefill(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    tok = tiny_tokenizer()
    model = tiny_qwen3vl(tok).float()
    backend = TransformersBackend(model, tok)
    calls: list[int] = []
    real_prefill = engine.prefill
    monkeypatch.setattr(engine, "prefill", lambda m, x: calls.append(1) or real_prefill(m, x))
    items = [backend._inputs([r]) for r in _requests(2)]
    inputs = [items[0], items[1], items[0], items[1], items[0]]  # three runs of item 0, two of item 1
    spec = [engine.Sampling(12, temperature=1.0, top_p=0.9, seed=s, ignore_eos=True) for s in range(5)]
    shared = engine.DecodingEngine(model, rows=2).generate(inputs, spec)
    assert len(calls) == 2
    calls.clear()
    alone = [engine.DecodingEngine(model, rows=1).generate([x], [s])[0] for x, s in zip(inputs, spec)]
    assert len(calls) == 5
    assert [g.tokens for g in shared] == [g.tokens for g in alone]  # each run still samples with its own seed
    assert len({tuple(g.tokens) for g in shared}) > 1


def test_backend_builds_one_input_per_prompt_and_frames() -> None:
    tok = tiny_tokenizer()
    model = tiny_qwen3vl(tok).float()
    backend = TransformersBackend(model, tok, batch_size=2)
    first = _requests(1, max_new=6)[0]
    runs = [GenerationRequest(first.key, first.prompt, first.frames, max_new_tokens=6, temperature=0.0, seed=s)
            for s in range(3)]
    built: list[int] = []
    real_inputs = backend._inputs
    backend._inputs = lambda batch: built.append(len(batch)) or real_inputs(batch)  # type: ignore[method-assign]
    outputs = backend.generate(runs)
    assert built == [1] and len(outputs) == 3 and len(set(outputs)) == 1  # greedy: the same text three times


def test_frame_rates_of_one_frame_are_never_zero() -> None:
    from videokr.inference.qwen_video import frame_rates

    image = np.zeros((4, 4, 3), np.uint8)
    assert frame_rates([EvalFrame(0, 0.04, image)]) == (1.0, 1.0)  # index 0 at a non-zero start time
    assert frame_rates([EvalFrame(50, 2.0, image)]) == (25.0, 25.0)
    assert frame_rates([EvalFrame(0, 0.0, image), EvalFrame(50, 2.0, image), EvalFrame(100, 4.0, image)]) == (25.0, 0.5)


def test_output_settings_follow_what_changes_the_outputs() -> None:
    from videokr.evaluate.runner import EvalSettings, output_settings, settings_fingerprint

    tok = tiny_tokenizer()
    model = tiny_qwen3vl(tok).float()
    fast = TransformersBackend(model, tok, batch_size=2).output_settings()
    assert fast["decoding"] == "engine" and "batch_size" not in fast  # the engine's outputs are batch-independent
    assert fast["dtype"] == "torch.float32" and fast["inputs"]["path"] == "numpy"
    assert fast == TransformersBackend(model, tok, batch_size=8).output_settings()
    plain = TransformersBackend(model, tok, decoding="generate", batch_size=2).output_settings()
    assert plain["decoding"] == "generate" and plain["batch_size"] == 2  # one sampling stream per batch
    eval_settings = EvalSettings("tiny", "other", [4], 1)
    fingerprints = {settings_fingerprint(output_settings(eval_settings, b)) for b in (
        TransformersBackend(model, tok), TransformersBackend(model, tok, decoding="generate"),
        TransformersBackend(model, tok, vision=engine_vision(model, max_pixels=64 * 28 * 28)))}
    assert len(fingerprints) == 3


def engine_vision(model, **overrides):  # type: ignore[no-untyped-def]
    from videokr.inference.qwen_video import QwenVision

    return QwenVision.from_config(model.config, **overrides)
