"""GRPO's arithmetic against numbers worked out by hand, and one toy policy that learns."""

from __future__ import annotations

import math

import pytest
import torch

from videokr.train import grpo_config as C
from videokr.train import grpo_math as G

LN2 = math.log(2.0)


# --- the paper's settings ----------------------------------------------------------------------


def test_paper_constants_are_pinned() -> None:
    for module in (C, G):
        assert module.GROUP_SIZE == 8
        assert module.TEMPERATURE == 1.0
        assert module.KL_COEF == 0.01
        assert module.KL_ESTIMATOR == "k3"
        assert module.LR == 5e-6
        assert module.BATCH_PROMPTS == 32
        assert module.EPOCHS == 1
        assert module.MAX_RESPONSE_TOKENS == 2048
        assert module.CLIP_EPS == 0.2
        assert module.ADV_EPS == 1e-6
        assert module.ADV_STD == "unbiased"
        assert module.LOSS_AGG == "token-mean"
        assert module.K3_CLAMP == 10.0


def test_config_defaults_are_the_paper_settings() -> None:
    cfg = C.GRPOConfig()
    assert (cfg.group_size, cfg.temperature, cfg.kl_coef, cfg.kl_estimator) == (8, 1.0, 0.01, "k3")
    assert (cfg.lr, cfg.batch_prompts, cfg.epochs, cfg.max_response_tokens, cfg.clip_eps) == (5e-6, 32, 1, 2048, 0.2)
    assert (cfg.adv_std, cfg.adv_eps, cfg.scale_by_std, cfg.loss_agg) == ("unbiased", 1e-6, True, "token-mean")
    assert cfg.reward_mode == "official"
    assert cfg.rollouts_per_batch == 256
    assert C.GRPOConfig.from_section(None) == cfg
    assert C.GRPOConfig.from_section({"kl_coef": 0.0, "adv_std": "population"}).adv_std == "population"


def test_config_errors_name_the_key() -> None:
    with pytest.raises(ValueError, match=r"train\.grpo\.group_sise"):
        C.GRPOConfig.from_section({"group_sise": 8})
    with pytest.raises(ValueError, match=r"train\.grpo\.group_size"):
        C.GRPOConfig.from_section({"group_size": 1})
    with pytest.raises(ValueError, match=r"train\.grpo\.kl_estimator"):
        C.GRPOConfig.from_section({"kl_estimator": "k2"})
    with pytest.raises(ValueError, match=r"train\.grpo\.clip_eps"):
        C.GRPOConfig.from_section({"clip_eps": 1.5})


# --- advantages --------------------------------------------------------------------------------

# Three groups of G = 4, worked by hand:
#   [1, 0, 0, 0]:        mean 0.25; unbiased std sqrt((0.75² + 3·0.25²)/3) = 0.5
#                        -> [1.5, -0.5, -0.5, -0.5]; population std sqrt(0.75/4) = √3/4
#                        -> [√3, -1/√3, -1/√3, -1/√3]
#   [0.5, 0.5, 0.5, 0.5]: all equal -> 0
#   [1, 0.1, 0.1, 1]:    mean 0.55, deviations ±0.45; unbiased std sqrt(4·0.2025/3) = sqrt(0.27)
#                        -> ±0.45/0.5196152 = ±0.8660254; population std 0.45 -> ±1
REWARDS = torch.tensor([1.0, 0.0, 0.0, 0.0, 0.5, 0.5, 0.5, 0.5, 1.0, 0.1, 0.1, 1.0])
UNBIASED = [1.5, -0.5, -0.5, -0.5, 0.0, 0.0, 0.0, 0.0, 0.8660254, -0.8660254, -0.8660254, 0.8660254]
R3 = 1 / math.sqrt(3)
POPULATION = [math.sqrt(3), -R3, -R3, -R3, 0.0, 0.0, 0.0, 0.0, 1.0, -1.0, -1.0, 1.0]


def test_advantages_by_hand_unbiased_std() -> None:
    got = G.group_advantages(REWARDS, 4)
    assert got.tolist() == pytest.approx(UNBIASED, abs=1e-5)
    assert G.group_advantages(REWARDS.reshape(3, 4), 4).flatten().tolist() == pytest.approx(UNBIASED, abs=1e-5)


def test_advantages_by_hand_population_std() -> None:
    got = G.group_advantages(REWARDS, 4, std="population")
    assert got.tolist() == pytest.approx(POPULATION, abs=1e-5)


def test_advantages_without_std_scaling_are_centred_rewards() -> None:
    got = G.group_advantages(REWARDS, 4, scale_by_std=False)
    assert got.tolist() == pytest.approx([0.75, -0.25, -0.25, -0.25, 0, 0, 0, 0, 0.45, -0.45, -0.45, 0.45], abs=1e-6)


def test_advantages_follow_torch_std_the_way_verl_does() -> None:
    rewards = torch.rand(5 * 8, generator=torch.Generator().manual_seed(0))
    groups = rewards.reshape(5, 8)
    want = (groups - groups.mean(1, keepdim=True)) / (torch.std(groups, dim=1, keepdim=True) + 1e-6)
    assert torch.allclose(G.group_advantages(rewards), want.flatten(), atol=1e-6)


@pytest.mark.parametrize("std", ["unbiased", "population"])
@pytest.mark.parametrize("value", [0.0, 0.1, 1.0, 0.1 + 0.9 * 0.37, 1 / 3])
def test_zero_variance_groups_give_zero_not_nan(std: str, value: float) -> None:
    rewards = torch.tensor([value] * 8 + [1.0, 0, 0, 0, 0, 0, 0, 0])
    for eps in (G.ADV_EPS, 0.0):
        got = G.group_advantages(rewards, 8, std=std, eps=eps)  # type: ignore[arg-type]
        assert not torch.isnan(got).any()
        assert torch.equal(got[:8], torch.zeros(8))
        assert got[8] > 0 > got[9]


def test_advantage_shapes_are_checked() -> None:
    with pytest.raises(ValueError, match="at least 2"):
        G.group_advantages(torch.ones(4), 1)
    with pytest.raises(ValueError, match="do not split into groups of 8"):
        G.group_advantages(torch.ones(12), 8)
    with pytest.raises(ValueError, match="unknown std"):
        G.group_advantages(torch.ones(8), 8, std="sample")  # type: ignore[arg-type]


def test_advantages_broadcast_to_response_tokens() -> None:
    mask = torch.tensor([[1, 1, 1], [1, 0, 0]])
    got = G.token_advantages(torch.tensor([1.5, -0.5]), mask)
    assert got.tolist() == [[1.5, 1.5, 1.5], [-0.5, 0.0, 0.0]]


# --- KL ----------------------------------------------------------------------------------------

# logp = [ln .5, ln .25, ln .5], ref = [ln .25, ln .5, ln .5], d = ref - logp = [-ln2, ln2, 0]
#   k3 = e^d - d - 1 = [0.5 + ln2 - 1, 2 - ln2 - 1, 0] = [0.1931472, 0.3068528, 0]
#   k1 = logp - ref  = [ln2, -ln2, 0]
#   d k3 / d logp = 1 - e^d = [0.5, -1, 0]
LOGP = [math.log(0.5), math.log(0.25), math.log(0.5)]
REF = [math.log(0.25), math.log(0.5), math.log(0.5)]


def test_k3_by_hand() -> None:
    logp = torch.tensor(LOGP, dtype=torch.float64, requires_grad=True)
    k3 = G.kl_penalty(logp, torch.tensor(REF, dtype=torch.float64))
    assert k3.tolist() == pytest.approx([0.1931472, 0.3068528, 0.0], abs=1e-7)
    k3.sum().backward()
    assert logp.grad.tolist() == pytest.approx([0.5, -1.0, 0.0], abs=1e-12)


def test_k1_by_name() -> None:
    k1 = G.kl_penalty(torch.tensor(LOGP), torch.tensor(REF), "k1")
    assert k1.tolist() == pytest.approx([LN2, -LN2, 0.0], abs=1e-6)
    with pytest.raises(ValueError, match="unknown KL estimator"):
        G.kl_penalty(torch.tensor(LOGP), torch.tensor(REF), "k9")  # type: ignore[arg-type]


def test_k3_is_non_negative_and_clamped() -> None:
    gen = torch.Generator().manual_seed(1)
    logp, ref = -5 * torch.rand(1000, generator=gen), -5 * torch.rand(1000, generator=gen)
    assert (G.kl_penalty(logp, ref) >= 0).all()
    # d = 60 -> e^20 - 21, clamped to 10; d = -5 -> e^-5 + 5 - 1 = 4.0067379
    far = G.kl_penalty(torch.tensor([-60.0, 0.0]), torch.tensor([0.0, -5.0]))
    assert far.tolist() == [10.0, pytest.approx(4.0067379)]
    assert G.kl_penalty(torch.tensor([-60.0]), torch.tensor([0.0]), clamp=None).item() == pytest.approx(math.exp(20) - 21)


# --- aggregation -------------------------------------------------------------------------------


def test_aggregation_by_hand() -> None:
    values = torch.tensor([[1.0, 2.0, 3.0], [4.0, 99.0, 99.0], [9.0, 9.0, 9.0]])
    mask = torch.tensor([[1, 1, 1], [1, 0, 0], [0, 0, 0]])
    assert G.aggregate(values, mask, "token-mean").item() == pytest.approx(10 / 4)  # (1+2+3+4)/4
    assert G.aggregate(values, mask, "seq-mean-token-mean").item() == pytest.approx(3.0)  # (2 + 4)/2
    assert G.aggregate(values, torch.zeros_like(mask), "token-mean").item() == 0.0
    assert G.aggregate(values, torch.zeros_like(mask), "seq-mean-token-mean").item() == 0.0
    with pytest.raises(ValueError, match="unknown loss aggregation"):
        G.aggregate(values, mask, "sum")  # type: ignore[arg-type]


# --- the surrogate -----------------------------------------------------------------------------


def test_single_update_ratio_is_one_and_loss_is_minus_a_logp() -> None:
    gen = torch.Generator().manual_seed(2)
    logits = torch.randn(4, 6, 10, generator=gen)
    tokens = torch.randint(0, 10, (4, 6), generator=gen)
    mask = torch.tensor([[1] * 6, [1] * 4 + [0] * 2, [1] * 2 + [0] * 4, [1] * 6])
    adv = torch.tensor([1.5, -0.5, 0.0, 2.0])
    for agg in ("token-mean", "seq-mean-token-mean"):
        a = logits.clone().requires_grad_(True)
        logp = G.token_logprobs(a, tokens)
        loss, clip_frac = G.policy_loss(logp, None, adv, mask, agg=agg)  # type: ignore[arg-type]
        loss.backward()
        b = logits.clone().requires_grad_(True)
        reference = G.aggregate(-G.token_advantages(adv, mask) * G.token_logprobs(b, tokens), mask, agg)  # type: ignore[arg-type]
        reference.backward()
        assert loss.item() == pytest.approx(G.aggregate(-G.token_advantages(adv, mask), mask, agg).item())  # type: ignore[arg-type]
        assert torch.allclose(a.grad, b.grad, atol=1e-7)
        assert clip_frac.item() == 0.0
        # passing the rollout log-probabilities explicitly is the same thing
        c = logits.clone().requires_grad_(True)
        logp_c = G.token_logprobs(c, tokens)
        explicit, _ = G.policy_loss(logp_c, logp_c.detach(), adv, mask, agg=agg)  # type: ignore[arg-type]
        assert explicit.item() == pytest.approx(loss.item())


def test_gradient_sign_raises_good_tokens_and_lowers_bad_ones() -> None:
    logp = torch.log(torch.tensor([[0.3, 0.3]])).requires_grad_(True)
    mask = torch.ones(1, 2)
    loss, _ = G.policy_loss(logp, None, torch.tensor([[1.0, -1.0]]), mask)
    loss.backward()
    assert logp.grad[0, 0] < 0  # raising the log-probability of a positive-advantage token lowers the loss
    assert logp.grad[0, 1] > 0  # and of a negative-advantage token raises it
    # one gradient step on the loss therefore raises the good token and lowers the bad one
    stepped = logp.detach() - 0.1 * logp.grad
    after, _ = G.policy_loss(stepped, logp.detach(), torch.tensor([[1.0, -1.0]]), mask)
    assert after.item() < loss.item()


def test_clipping_by_hand() -> None:
    # ratios 1.5, 0.5, 1.5, 0.5 with A = +1, +1, -1, -1 and ε = 0.2:
    #   A=+1, ρ=1.5: max(-1.5, -1.2) = -1.2 (clipped, no gradient)
    #   A=+1, ρ=0.5: max(-0.5, -0.8) = -0.5 (d/dlogp = -A·ρ = -0.5)
    #   A=-1, ρ=1.5: max( 1.5,  1.2) =  1.5 (d/dlogp = -A·ρ = 1.5)
    #   A=-1, ρ=0.5: max( 0.5,  0.8) =  0.8 (clipped, no gradient)
    # token-mean = (-1.2 - 0.5 + 1.5 + 0.8)/4 = 0.15; gradients /4; half the tokens clipped
    old = torch.log(torch.tensor([[0.2, 0.2, 0.2, 0.2]], dtype=torch.float64))
    logp = (old + torch.log(torch.tensor([[1.5, 0.5, 1.5, 0.5]], dtype=torch.float64))).requires_grad_(True)
    adv = torch.tensor([[1.0, 1.0, -1.0, -1.0]], dtype=torch.float64)
    loss, clip_frac = G.policy_loss(logp, old, adv, torch.ones(1, 4))
    assert loss.item() == pytest.approx(0.15)
    assert clip_frac.item() == pytest.approx(0.5)
    loss.backward()
    assert logp.grad.tolist() == [pytest.approx([0.0, -0.125, 0.375, 0.0])]


def test_total_loss_by_hand() -> None:
    # logp = [ln .5, ln .25], ref = [ln .25, ln .5], A = 1, one update:
    #   pg = token-mean(-A) = -1; kl = (0.1931472 + 0.3068528)/2 = 0.25; L = -1 + 0.01·0.25 = -0.9975
    logp = torch.tensor([LOGP[:2]], dtype=torch.float64, requires_grad=True)
    ref = torch.tensor([REF[:2]], dtype=torch.float64)
    out = G.grpo_loss(logp, torch.tensor([1.0]), torch.ones(1, 2), ref_logp=ref)
    assert out.loss.item() == pytest.approx(-0.9975)
    assert (out.pg_loss.item(), out.kl.item()) == (pytest.approx(-1.0), pytest.approx(0.25))
    out.loss.backward()
    # d/dlogp = (-A + 0.01·(1 - e^d)) / 2 = (-1 + 0.01·[0.5, -1]) / 2
    assert logp.grad.tolist() == [pytest.approx([-0.4975, -0.505])]
    assert G.grpo_loss(logp, torch.tensor([1.0]), torch.ones(1, 2), ref_logp=ref, kl_coef=0).loss.item() == -1.0
    assert G.grpo_loss(logp, torch.tensor([1.0]), torch.ones(1, 2), kl_coef=0).kl.item() == 0.0
    with pytest.raises(ValueError, match="no ref_logp"):
        G.grpo_loss(logp, torch.tensor([1.0]), torch.ones(1, 2))  # the paper's loss has a KL term
    k1 = G.grpo_loss(logp, torch.tensor([1.0]), torch.ones(1, 2), ref_logp=ref, kl_estimator="k1")
    assert k1.kl.item() == pytest.approx(0.0)  # (ln2 - ln2)/2


def test_padding_contributes_nothing() -> None:
    gen = torch.Generator().manual_seed(3)
    real = [torch.randn(n, generator=gen) - 2 for n in (5, 2, 3)]
    old = [x + 0.1 * torch.randn(x.shape, generator=gen) for x in real]
    ref = [x + 0.3 * torch.randn(x.shape, generator=gen) for x in real]
    adv = torch.tensor([1.2, -0.7, 0.4])
    mask = torch.zeros(3, 5)
    for i, x in enumerate(real):
        mask[i, : len(x)] = 1

    def padded(parts: list[torch.Tensor], fill: float) -> torch.Tensor:
        out = torch.full((3, 5), fill)
        for i, x in enumerate(parts):
            out[i, : len(x)] = x
        return out

    for agg in ("token-mean", "seq-mean-token-mean"):
        losses, grads = [], []
        for fill in (0.0, -float("inf"), float("nan"), 123.0):
            logp = padded(real, fill).requires_grad_(True)
            out = G.grpo_loss(logp, adv, mask, old_logp=padded(old, fill), ref_logp=padded(ref, -fill),
                              agg=agg)  # type: ignore[arg-type]
            out.loss.backward()
            losses.append(out.loss.item())
            grads.append(logp.grad)
        assert all(math.isfinite(v) for v in losses)
        assert losses == pytest.approx([losses[0]] * 4, abs=1e-7)
        for g in grads:
            assert torch.isfinite(g).all()
            assert torch.equal(g[mask == 0], torch.zeros(int((mask == 0).sum())))
        # and the loss is the one of the unpadded responses
        per_seq = []
        for i, x in enumerate(real):
            ratio = torch.exp(x - old[i])
            pg = torch.maximum(-adv[i] * ratio, -adv[i] * ratio.clamp(0.8, 1.2))
            d = ref[i] - x
            per_seq.append(pg + 0.01 * (torch.exp(d) - d - 1))
        if agg == "token-mean":
            want = torch.cat(per_seq).mean().item()
        else:
            want = torch.stack([p.mean() for p in per_seq]).mean().item()
        assert losses[0] == pytest.approx(want, abs=1e-6)


# --- log-probabilities -------------------------------------------------------------------------


def naive_logprobs(logits: torch.Tensor, tokens: torch.Tensor, temperature: float = 1.0) -> torch.Tensor:
    """The textbook definition, position by position: log(softmax(logits / T))[token]."""
    out = torch.empty(tokens.shape, dtype=torch.float64)
    for b in range(tokens.shape[0]):
        for t in range(tokens.shape[1]):
            row = logits[b, t].double() / temperature
            out[b, t] = torch.log(torch.exp(row)[tokens[b, t]] / torch.exp(row).sum())
    return out


@pytest.mark.parametrize("chunk_rows", [1, 4, 7, 15, 10_000])
@pytest.mark.parametrize("temperature", [1.0, 0.7])
def test_token_logprobs_equal_the_naive_ones(chunk_rows: int, temperature: float) -> None:
    gen = torch.Generator().manual_seed(4)
    logits = 3 * torch.randn(3, 5, 11, generator=gen)
    tokens = torch.randint(0, 11, (3, 5), generator=gen)
    got = G.token_logprobs(logits, tokens, temperature=temperature, chunk_rows=chunk_rows)
    assert got.dtype == torch.float32
    assert torch.allclose(got.double(), naive_logprobs(logits, tokens, temperature), atol=1e-5)


def test_token_logprobs_gradient_equals_the_naive_one() -> None:
    gen = torch.Generator().manual_seed(5)
    logits = torch.randn(2, 6, 9, generator=gen, dtype=torch.float64)
    tokens = torch.randint(0, 9, (2, 6), generator=gen)
    weights = torch.randn(2, 6, generator=gen, dtype=torch.float64)
    a = logits.clone().requires_grad_(True)
    (G.token_logprobs(a, tokens, chunk_rows=5) * weights).sum().backward()
    b = logits.clone().requires_grad_(True)
    (naive_logprobs(b, tokens) * weights).sum().backward()
    assert torch.allclose(a.grad, b.grad, atol=1e-6)


def test_token_logprobs_keep_no_float32_copy_of_the_vocabulary_for_backward() -> None:
    logits = torch.randn(2, 64, 3000, dtype=torch.bfloat16, requires_grad=True)
    tokens = torch.randint(0, 3000, (2, 64))

    def saved_bytes(fn):  # type: ignore[no-untyped-def]
        sizes: list[int] = []

        def pack(t: torch.Tensor) -> torch.Tensor:
            sizes.append(t.numel() * t.element_size())
            return t

        with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
            out = fn()
        return sum(sizes), out

    naive, _ = saved_bytes(lambda: torch.log_softmax(logits.float(), -1).gather(-1, tokens.unsqueeze(-1)))
    assert naive >= logits.numel() * 4  # the textbook way keeps the float32 log-softmax for backward
    kept, out = saved_bytes(lambda: G.token_logprobs(logits, tokens, chunk_rows=16))
    # the chunked one keeps only (views of) the bf16 logits it was given and the token ids
    assert kept <= logits.numel() * logits.element_size() + tokens.numel() * 8
    out.sum().backward()
    assert torch.isfinite(logits.grad.float()).all()


def test_token_logprobs_check_alignment() -> None:
    with pytest.raises(ValueError, match="do not align"):
        G.token_logprobs(torch.zeros(2, 5, 7), torch.zeros(2, 4, dtype=torch.long))


# --- a toy policy learns -----------------------------------------------------------------------


def test_policy_gradient_steps_raise_expected_reward_on_a_toy_policy() -> None:
    """A categorical policy over 4 answers; answer 2 earns reward 1; groups of 8 samples."""
    torch.manual_seed(0)
    gen = torch.Generator().manual_seed(6)
    theta = torch.zeros(4, requires_grad=True)
    ref_logp_all = torch.log_softmax(theta.detach(), -1)
    optimizer = torch.optim.SGD([theta], lr=0.5)
    right = 2
    start = torch.softmax(theta.detach(), -1)[right].item()
    for _ in range(50):
        with torch.no_grad():
            actions = torch.multinomial(torch.softmax(theta, -1), G.GROUP_SIZE, replacement=True, generator=gen)
        rewards = (actions == right).float()
        advantages = G.group_advantages(rewards, G.GROUP_SIZE)
        logp = torch.log_softmax(theta, -1)[actions].unsqueeze(1)  # 8 one-token responses
        mask = torch.ones(G.GROUP_SIZE, 1)
        out = G.grpo_loss(logp, advantages, mask, ref_logp=ref_logp_all[actions].unsqueeze(1))
        optimizer.zero_grad()
        out.loss.backward()
        optimizer.step()
    end = torch.softmax(theta.detach(), -1)[right].item()
    assert start == pytest.approx(0.25)
    assert end > 0.9
