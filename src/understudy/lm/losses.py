"""Token-level distillation losses for language models, as pure tensor functions.

The generalised Jensen-Shannon divergence is trl's (GKD, Agarwal et al. 2024): beta 0 is forward KL(teacher ||
student), beta 1 is reverse KL(student || teacher), 0.5 the symmetric JSD; both sides are divided by the same
temperature. Positions whose mask is 0 (prompt, padding) are left out; the result is the mean over kept positions.
"""

from __future__ import annotations

import os

import torch

BETAS = {"forward-kl": 0.0, "reverse-kl": 1.0}


def _trl_jsd():
    os.environ.setdefault("TRL_EXPERIMENTAL_SILENCE", "1")
    from trl.experimental.gkd.gkd_trainer import GKDTrainer

    return GKDTrainer.generalized_jsd_loss


def generalized_jsd(
    student_logits: torch.Tensor,
    teacher_logits: torch.Tensor,
    mask: torch.Tensor | None = None,
    *,
    beta: float = 0.5,
    temperature: float = 1.0,
) -> torch.Tensor:
    """Mean generalised JSD over the masked positions of (..., vocab) logits."""
    labels = None
    if mask is None:
        mask = torch.ones(student_logits.shape[:-1], dtype=torch.bool, device=student_logits.device)
    labels = torch.where(mask.bool(), 0, -100)
    return _trl_jsd()(student_logits, teacher_logits, labels=labels, beta=float(beta), temperature=temperature)


def forward_kl(student_logits, teacher_logits, mask=None, *, temperature: float = 1.0) -> torch.Tensor:
    """KL(teacher || student): the student spreads to cover everything the teacher might say."""
    return generalized_jsd(student_logits, teacher_logits, mask, beta=0.0, temperature=temperature)


def reverse_kl(student_logits, teacher_logits, mask=None, *, temperature: float = 1.0) -> torch.Tensor:
    """KL(student || teacher): the student commits to the teacher's main answer."""
    return generalized_jsd(student_logits, teacher_logits, mask, beta=1.0, temperature=temperature)


def divergence(
    student_logits, teacher_logits, mask=None, *, kind: str = "forward-kl", beta: float = 0.5, temperature: float = 1.0
) -> torch.Tensor:
    """The recipe's `training.divergence` by name."""
    return generalized_jsd(student_logits, teacher_logits, mask, beta=BETAS.get(kind, beta), temperature=temperature)


def topk_buckets(student_logits: torch.Tensor, topk_ids: torch.Tensor, topk_logprobs: torch.Tensor):
    """Both distributions over k + 1 buckets: the teacher's top-k tokens and one tail bucket for the rest.

    A teacher that gives only its top-k log-probs (an API, or the store) still defines a proper distribution this
    way: the tail holds 1 - (sum of the top-k probabilities). Returns (student, teacher) log-probs, (..., k + 1).
    """
    student = student_logits.float().log_softmax(-1).gather(-1, topk_ids.long())
    teacher = topk_logprobs.float()

    def with_tail(logp):
        mass = logp.exp().sum(-1, keepdim=True).clamp(max=1.0)
        tail = torch.log1p(-mass + 1e-6).clamp(min=-30.0)  # never log(0): keeps gradients finite
        return torch.cat([logp, tail], dim=-1)

    return with_tail(student), with_tail(teacher)


def topk_divergence(
    student_logits,
    topk_ids,
    topk_logprobs,
    mask=None,
    *,
    kind: str = "forward-kl",
    beta: float = 0.5,
    temperature: float = 1.0,
) -> torch.Tensor:
    """The divergence on the top-k-plus-tail buckets. The temperature softens both bucket distributions."""
    s, t = topk_buckets(student_logits, topk_ids, topk_logprobs)
    return divergence(s, t, mask, kind=kind, beta=beta, temperature=temperature)


def answer_cross_entropy(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Mean next-token cross-entropy over positions whose label is not -100 (labels already shifted)."""
    return torch.nn.functional.cross_entropy(
        logits.reshape(-1, logits.shape[-1]).float(), labels.reshape(-1), ignore_index=-100
    )
