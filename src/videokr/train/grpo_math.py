"""The arithmetic of GRPO (§5.1, Appendix C.1) as pure torch functions.

A GRPO batch is ``P`` prompts, each answered ``G`` times (``GROUP_SIZE = 8``), laid out the way
verl and TRL lay it out: the ``G`` responses of one prompt are contiguous, so a batch of
``P·G`` rows reshapes to ``(P, G)``. Each response ``i`` gets one scalar reward ``r_i``
(:func:`videokr.scoring.reward.reward`: 0.1·format + 0.9·accuracy) and response tokens
``t`` carry a mask ``m_it`` (1 for a generated token, 0 for padding). Then

- advantage (group-relative; one number per response, the same for all its tokens)::

      A_i = (r_i - mean_g(r)) / (std_g(r) + eps)         (eps = ADV_EPS = 1e-6)

  ``std`` is the *unbiased* (Bessel, n-1) one by default, because verl's
  ``compute_grpo_outcome_advantage`` calls ``torch.std``; ``"population"`` (n) is the other
  reading of the GRPO paper's "normalised by the group's standard deviation". A group whose
  rewards are all equal teaches nothing and gets exactly 0 (not 0/eps noise, never NaN);
  ``scale_by_std=False`` gives Dr. GRPO's ``A_i = r_i - mean_g(r)``;
- importance ratio and clipped surrogate, per token::

      ρ_it = exp(logp_it - old_logp_it)
      pg_it = max(-A_i · ρ_it, -A_i · clip(ρ_it, 1 - ε, 1 + ε))   (ε = CLIP_EPS = 0.2)

  With one update per batch (the paper's setting: batch 32 prompts, one pass) the old policy
  *is* the current one, ``ρ = 1`` and ``pg_it = -A_i · logp_it`` in value and gradient;
- KL to the reference (SFT) policy, per token, with ``d = ref_logp - logp``::

      k3 = exp(d) - d - 1        (the low-variance estimator; ≥ 0; verl "low_var_kl")
      k1 = logp - ref_logp       (the plain estimator; unbiased for the sequence KL, noisy)

  k3 is clamped to ``[-K3_CLAMP, K3_CLAMP]`` and ``d`` to ``[-20, 20]`` as verl does;
- aggregation over masked tokens: ``token-mean`` (verl's default) = Σ_it m·x / Σ_it m, every
  token of the batch weighs the same; ``seq-mean-token-mean`` = mean over responses with at
  least one token of (Σ_t m·x / Σ_t m), every response weighs the same;
- total loss::

      L = agg(pg) + kl_coef · agg(kl)                   (kl_coef = KL_COEF = 0.01)

Masked positions are zeroed *before* any arithmetic, so whatever sits in padding (−inf
log-probabilities, NaN) never reaches the loss or its gradient.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import get_args

import torch
from torch.utils.checkpoint import checkpoint

from videokr.train.grpo_config import (
    ADV_EPS,
    ADV_STD,
    BATCH_PROMPTS,
    CLIP_EPS,
    EPOCHS,
    GROUP_SIZE,
    K3_CLAMP,
    KL_COEF,
    KL_ESTIMATOR,
    LOSS_AGG,
    LR,
    MAX_RESPONSE_TOKENS,
    TEMPERATURE,
    KLEstimator,
    LossAgg,
    StdKind,
)

__all__ = [
    "ADV_EPS", "ADV_STD", "BATCH_PROMPTS", "CLIP_EPS", "EPOCHS", "GROUP_SIZE", "K3_CLAMP", "KL_COEF",
    "KL_ESTIMATOR", "LOSS_AGG", "LOG_RATIO_CLAMP", "LOGPROB_CHUNK_ROWS", "LR", "MAX_RESPONSE_TOKENS",
    "TEMPERATURE", "GRPOLoss", "aggregate", "group_advantages", "grpo_loss", "kl_penalty",
    "policy_loss", "token_advantages", "token_logprobs",
]

LOG_RATIO_CLAMP = 20.0
"""Log-ratios are clamped to ±20 before ``exp`` (verl does the same): exp(20) ≈ 5e8 is finite."""
LOGPROB_CHUNK_ROWS = 1024
"""Token rows per log-softmax chunk: 1024 rows × a 152k vocabulary in float32 is ~600 MB."""


# --- advantages --------------------------------------------------------------------------------


def group_advantages(
    rewards: torch.Tensor,
    group_size: int = GROUP_SIZE,
    *,
    std: StdKind = ADV_STD,
    eps: float = ADV_EPS,
    scale_by_std: bool = True,
) -> torch.Tensor:
    """One advantage per response: ``(r - mean_group) / (std_group + eps)``.

    ``rewards`` is ``(P·G,)`` with each prompt's ``G = group_size`` responses contiguous (or
    already ``(P, G)``); the result has the same shape. ``std`` chooses the unbiased (n-1,
    verl's ``torch.std``) or population (n) standard deviation. A group whose rewards are all
    equal gets advantage exactly 0 — nothing in it is better than anything else. Computed
    without gradient: the advantage is a constant weight on the log-probabilities.
    """
    if std not in get_args(StdKind):
        raise ValueError(f"unknown std {std!r}; choose one of {', '.join(get_args(StdKind))}")
    if group_size < 2:
        raise ValueError(f"GRPO compares responses within a group; group_size must be at least 2, got {group_size}")
    shape = rewards.shape
    if rewards.dim() == 2:
        if rewards.shape[1] != group_size:
            raise ValueError(f"rewards of shape {tuple(shape)} do not have groups of {group_size} in the last dimension")
        grouped = rewards
    elif rewards.dim() == 1:
        if rewards.numel() % group_size:
            raise ValueError(f"{rewards.numel()} rewards do not split into groups of {group_size}")
        grouped = rewards.reshape(-1, group_size)
    else:
        raise ValueError(f"rewards must be (P*G,) or (P, G), got shape {tuple(shape)}")
    with torch.no_grad():
        grouped = grouped.to(torch.float32) if not grouped.is_floating_point() else grouped
        mean = grouped.mean(dim=1, keepdim=True)
        centred = grouped - mean
        if scale_by_std:
            spread = grouped.std(dim=1, keepdim=True, correction=1 if std == "unbiased" else 0)
            centred = centred / (spread + eps)
        constant = (grouped == grouped[:, :1]).all(dim=1, keepdim=True)
        advantages = torch.where(constant, torch.zeros_like(centred), centred)
    return advantages.reshape(shape)


def token_advantages(advantages: torch.Tensor, response_mask: torch.Tensor) -> torch.Tensor:
    """``(B,)`` response advantages broadcast to ``(B, T)`` tokens, 0 on padding."""
    if advantages.dim() != 1 or response_mask.dim() != 2 or advantages.shape[0] != response_mask.shape[0]:
        raise ValueError(
            f"expected advantages (B,) and a response mask (B, T); got {tuple(advantages.shape)} "
            f"and {tuple(response_mask.shape)}"
        )
    mask = response_mask.bool()
    zero = torch.zeros((), dtype=advantages.dtype, device=advantages.device)
    return torch.where(mask, advantages.unsqueeze(1).expand(mask.shape), zero)


# --- KL ----------------------------------------------------------------------------------------


def kl_penalty(
    logp: torch.Tensor,
    ref_logp: torch.Tensor,
    estimator: KLEstimator = KL_ESTIMATOR,
    *,
    clamp: float | None = K3_CLAMP,
) -> torch.Tensor:
    """Per-token KL(π ‖ π_ref) estimate from the sampled tokens' log-probabilities.

    ``k3`` (default, the paper's "low-variance KL"): with ``d = ref_logp - logp``,
    ``exp(d) - d - 1`` — non-negative for every token and unbiased, with far less variance than
    ``k1``. ``k1``: ``logp - ref_logp``. ``clamp`` bounds k3 as verl does (``None`` to keep it
    raw); gradients flow to ``logp``, the reference is a constant.
    """
    ref_logp = ref_logp.detach()
    if estimator == "k1":
        return logp - ref_logp
    if estimator == "k3":
        d = torch.clamp(ref_logp - logp, -LOG_RATIO_CLAMP, LOG_RATIO_CLAMP)
        k3 = torch.exp(d) - d - 1
        return torch.clamp(k3, -clamp, clamp) if clamp is not None else k3
    raise ValueError(f"unknown KL estimator {estimator!r}; choose one of {', '.join(get_args(KLEstimator))}")


# --- aggregation -------------------------------------------------------------------------------


def aggregate(values: torch.Tensor, response_mask: torch.Tensor, mode: LossAgg = LOSS_AGG) -> torch.Tensor:
    """A ``(B, T)`` per-token quantity reduced to a scalar over the masked tokens.

    ``token-mean``: Σ m·x / Σ m (each token of the batch weighs the same; long responses weigh
    more). ``seq-mean-token-mean``: each response's token mean, averaged over responses that
    have at least one token (each response weighs the same). A batch with no token gives 0.
    """
    mask = response_mask.bool()
    x = torch.where(mask, values, torch.zeros((), dtype=values.dtype, device=values.device))
    m = mask.to(values.dtype)
    if mode == "token-mean":
        return x.sum() / m.sum().clamp(min=1)
    if mode == "seq-mean-token-mean":
        per_seq_tokens = m.sum(dim=-1)
        per_seq = x.sum(dim=-1) / per_seq_tokens.clamp(min=1)
        has_tokens = (per_seq_tokens > 0).to(values.dtype)
        return (per_seq * has_tokens).sum() / has_tokens.sum().clamp(min=1)
    raise ValueError(f"unknown loss aggregation {mode!r}; choose one of {', '.join(get_args(LossAgg))}")


# --- policy loss -------------------------------------------------------------------------------


def policy_loss(
    logp: torch.Tensor,
    old_logp: torch.Tensor | None,
    advantages: torch.Tensor,
    response_mask: torch.Tensor,
    *,
    clip_eps: float = CLIP_EPS,
    agg: LossAgg = LOSS_AGG,
) -> tuple[torch.Tensor, torch.Tensor]:
    """The clipped surrogate ``max(-A·ρ, -A·clip(ρ, 1-ε, 1+ε))``, aggregated; and the clip fraction.

    ``advantages`` is per token ``(B, T)`` (see :func:`token_advantages`) or per response
    ``(B,)``. ``old_logp=None`` means the rollout policy is the current one (one update per
    batch): then ``ρ = 1`` and the loss is ``-A·logp`` in value (−A) and in gradient. The clip
    fraction (share of tokens where the clipped branch is taken) is returned for logging.
    """
    mask = response_mask.bool()
    if advantages.dim() == 1:
        advantages = token_advantages(advantages, response_mask)
    zero = torch.zeros((), dtype=logp.dtype, device=logp.device)
    logp = torch.where(mask, logp, zero)
    old = logp.detach() if old_logp is None else torch.where(mask, old_logp.detach(), zero)
    adv = torch.where(mask, advantages.detach().to(logp.dtype), zero)
    ratio = torch.exp(torch.clamp(logp - old, -LOG_RATIO_CLAMP, LOG_RATIO_CLAMP))
    unclipped = -adv * ratio
    clipped = -adv * torch.clamp(ratio, 1.0 - clip_eps, 1.0 + clip_eps)
    per_token = torch.maximum(unclipped, clipped)
    clip_frac = aggregate((clipped > unclipped).to(logp.dtype), mask, "token-mean").detach()
    return aggregate(per_token, mask, agg), clip_frac


@dataclass(frozen=True)
class GRPOLoss:
    """The total loss to back-propagate and its parts (detached) for logging."""

    loss: torch.Tensor
    pg_loss: torch.Tensor
    kl: torch.Tensor
    clip_frac: torch.Tensor


def grpo_loss(
    logp: torch.Tensor,
    advantages: torch.Tensor,
    response_mask: torch.Tensor,
    *,
    old_logp: torch.Tensor | None = None,
    ref_logp: torch.Tensor | None = None,
    kl_coef: float = KL_COEF,
    kl_estimator: KLEstimator = KL_ESTIMATOR,
    clip_eps: float = CLIP_EPS,
    agg: LossAgg = LOSS_AGG,
) -> GRPOLoss:
    """``L = agg(pg) + kl_coef · agg(kl)`` over the response tokens of a batch.

    ``logp``/``old_logp``/``ref_logp`` are ``(B, T)`` log-probabilities of the sampled tokens
    under the current, rollout and reference policies (:func:`token_logprobs`); ``advantages``
    per response ``(B,)`` or per token ``(B, T)``. ``kl_coef=0`` drops the KL term (reported as
    0); otherwise ``ref_logp`` is required — a forgotten reference must not silently train
    without the paper's KL term.
    """
    if kl_coef < 0:
        raise ValueError(f"kl_coef must not be negative, got {kl_coef}")
    if kl_coef > 0 and ref_logp is None:
        raise ValueError(f"kl_coef is {kl_coef} but no ref_logp was given; pass the reference policy's log-probs or kl_coef=0")
    pg, clip_frac = policy_loss(logp, old_logp, advantages, response_mask, clip_eps=clip_eps, agg=agg)
    if ref_logp is None or kl_coef == 0:
        kl = torch.zeros((), dtype=pg.dtype, device=pg.device)
        total = pg
    else:
        mask = response_mask.bool()
        zero = torch.zeros((), dtype=logp.dtype, device=logp.device)
        per_token_kl = kl_penalty(torch.where(mask, logp, zero), torch.where(mask, ref_logp, zero), kl_estimator)
        kl = aggregate(per_token_kl, mask, agg)
        total = pg + kl_coef * kl
    return GRPOLoss(loss=total, pg_loss=pg.detach(), kl=kl.detach(), clip_frac=clip_frac)


# --- log-probabilities -------------------------------------------------------------------------


def _chunk_logprobs(logits: torch.Tensor, tokens: torch.Tensor, temperature: float) -> torch.Tensor:
    """float32 log-softmax of a ``(rows, V)`` chunk at ``temperature``, gathered at ``(rows, 1)`` tokens."""
    chunk = logits.float()
    if temperature != 1.0:
        chunk = chunk / temperature
    return torch.log_softmax(chunk, dim=-1).gather(-1, tokens).squeeze(-1)


def token_logprobs(
    logits: torch.Tensor,
    tokens: torch.Tensor,
    *,
    temperature: float = TEMPERATURE,
    chunk_rows: int = LOGPROB_CHUNK_ROWS,
) -> torch.Tensor:
    """``log softmax(logits / temperature)[token]`` per position, one chunk of rows at a time.

    ``logits`` is ``(..., V)`` and already aligned with ``tokens`` ``(...)`` — for a causal LM
    pass ``logits[:, :-1]`` with ``tokens = input_ids[:, 1:]`` (position t predicts token t+1).
    The float32 log-softmax of ``(B·T, V)`` would be 1.2 GB per 2,048-token response with a
    152k vocabulary; here it exists for ``chunk_rows`` positions at a time and only the gathered
    column is kept. When a gradient is wanted each chunk is recomputed in the backward pass
    (activation checkpointing), so autograd does not keep every chunk's float32 copy alive
    either: the peak extra memory is one chunk, in the forward and the backward pass.
    Log-probabilities are taken at the sampling temperature, so that they are those of the
    distribution the rollouts were drawn from.
    """
    if logits.shape[:-1] != tokens.shape:
        raise ValueError(f"logits {tuple(logits.shape)} do not align with tokens {tuple(tokens.shape)}")
    if temperature <= 0:
        raise ValueError(f"temperature must be positive, got {temperature}")
    if chunk_rows < 1:
        raise ValueError(f"chunk_rows must be at least 1, got {chunk_rows}")
    flat_logits = logits.reshape(-1, logits.shape[-1])
    flat_tokens = tokens.reshape(-1, 1).long()
    if flat_logits.shape[0] == 0:
        return torch.zeros(tokens.shape, dtype=torch.float32, device=logits.device)
    recompute = torch.is_grad_enabled() and logits.requires_grad
    pieces = []
    for start in range(0, flat_logits.shape[0], chunk_rows):
        rows, ids = flat_logits[start:start + chunk_rows], flat_tokens[start:start + chunk_rows]
        if recompute:
            pieces.append(checkpoint(_chunk_logprobs, rows, ids, temperature, use_reentrant=False))
        else:
            pieces.append(_chunk_logprobs(rows, ids, temperature))
    return torch.cat(pieces).reshape(tokens.shape)
