"""The SFT loss: token cross-entropy on the response, summed, for one micro-batch.

The sum (not the mean) is returned so the training loop can divide by the number of
response tokens of the whole optimizer step, over every micro-batch and every process.
That makes the step's gradient the mean over all its response tokens, whatever the
micro-batch size, the number of processes, or how long each example's answer is (as
transformers' trainer does with ``num_items_in_batch``).

Only the positions that predict a response token are passed through the language-model
head (``logits_to_keep`` given as those positions): a row's prompt is mostly video tokens, and
their logits over a vocabulary of 150,000 would be most of the memory and none of the loss —
in a packed row (:mod:`videokr.train.packing`) the other examples' videos come after the first
response, so a trailing slice would not do.
"""

from __future__ import annotations

from typing import Any

from videokr.inference.qwen_video import IGNORE_INDEX


def first_labelled(labels: Any) -> int:
    """The first position (over the batch) whose token is learned."""
    import torch

    learned = (labels != IGNORE_INDEX).any(dim=0)
    if not bool(learned.any()):
        return int(labels.shape[1])
    return int(torch.nonzero(learned)[0, 0])


def logits_to_keep(labels: Any) -> int:
    """How many trailing positions need logits: from the one before the first learned token."""
    return max(1, int(labels.shape[1]) - first_labelled(labels) + 1)


def response_loss_sum(logits: Any, labels: Any) -> Any:
    """Summed cross-entropy of the learned tokens.

    ``logits`` are those of the last ``logits.shape[1]`` positions (each predicts the token
    after it); ``labels`` are the full rows, IGNORE_INDEX where nothing is learned."""
    import torch

    kept = int(logits.shape[1])
    targets = labels[:, labels.shape[1] - kept + 1 :]
    predictions = logits[:, :-1, :].float()
    return torch.nn.functional.cross_entropy(
        predictions.reshape(-1, predictions.shape[-1]), targets.reshape(-1),
        ignore_index=IGNORE_INDEX, reduction="sum",
    )


def predicting_positions(labels: Any) -> Any:
    """The positions (of any row) whose next token is learned: where logits are needed. With none
    (a filler row) the last position, so the model still runs to its head."""
    import torch

    learned = (labels[:, 1:] != IGNORE_INDEX).any(dim=0)
    positions = torch.nonzero(learned).squeeze(1)
    if positions.numel() == 0:
        return torch.tensor([int(labels.shape[1]) - 1], device=labels.device)
    return positions


def forward_loss_sum(model: Any, batch: dict[str, Any]) -> Any:
    """The model's summed response loss on a batch (``batch`` holds ``labels``)."""
    import torch

    inputs = {k: v for k, v in batch.items() if k != "labels"}
    labels = batch["labels"]
    positions = predicting_positions(labels)
    logits = model(**inputs, use_cache=False, logits_to_keep=positions).logits.float()
    targets = labels[:, (positions + 1).clamp(max=labels.shape[1] - 1)]
    if positions.numel() == 1 and int(positions[0]) == labels.shape[1] - 1:
        targets = torch.full_like(targets, IGNORE_INDEX)  # a filler: nothing to learn
    return torch.nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1),
                                             ignore_index=IGNORE_INDEX, reduction="sum")
