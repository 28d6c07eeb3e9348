"""Distillation losses as pure tensor functions. Each says what it needs from the teacher."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from .errors import UserError


def soften(teacher_probs: torch.Tensor, temperature: float) -> torch.Tensor:
    """Teacher probabilities at a temperature: softmax(log p / T), the same as dividing the logits by T."""
    return torch.softmax(torch.log(teacher_probs.clamp_min(1e-12)) / temperature, dim=-1)


def kd_kl(student_logits: torch.Tensor, teacher_probs: torch.Tensor, temperature: float = 1.0) -> torch.Tensor:
    """KL(teacher_T || student_T) * T^2 (Hinton et al.), averaged over the batch. Needs teacher 'probs'."""
    target = soften(teacher_probs, temperature)
    log_student = F.log_softmax(student_logits / temperature, dim=-1)
    return F.kl_div(log_student, target, reduction="batchmean") * temperature**2


kd_kl.requires = frozenset({"probs"})


def embedding_cosine(student_emb: torch.Tensor, teacher_emb: torch.Tensor) -> torch.Tensor:
    """1 - cosine similarity, averaged: direction only, so scale-free. Needs teacher 'embedding'."""
    return (1 - F.cosine_similarity(student_emb, teacher_emb, dim=-1)).mean()


embedding_cosine.requires = frozenset({"embedding"})


def embedding_mse(student_emb: torch.Tensor, teacher_emb: torch.Tensor) -> torch.Tensor:
    return F.mse_loss(student_emb, teacher_emb)


embedding_mse.requires = frozenset({"embedding"})

EMBEDDING_LOSSES = {"cosine": embedding_cosine, "mse": embedding_mse}


def gold_ce(student_logits: torch.Tensor, gold: torch.Tensor) -> torch.Tensor:
    """Cross-entropy on gold labels; rows with gold < 0 (no label) are ignored."""
    if (gold >= 0).sum() == 0:
        return student_logits.sum() * 0.0
    return F.cross_entropy(student_logits, gold, ignore_index=-1)


def distillation_loss(logits, emb_pred, batch, settings) -> torch.Tensor:
    """The recipe's weighted sum: soft labels, embedding matching, and gold labels where given."""
    loss = settings.kd_weight * kd_kl(logits, batch["probs"], settings.temperature)
    if emb_pred is not None and settings.embedding_weight > 0 and "embedding" in batch:
        loss = loss + settings.embedding_weight * EMBEDDING_LOSSES[settings.embedding_loss](
            emb_pred, batch["embedding"]
        )
    if settings.gold_weight > 0 and "gold" in batch:
        loss = loss + settings.gold_weight * gold_ce(logits, batch["gold"])
    return loss


RECIPE_KEYS = {
    "probs": "training.kd_weight: 0 (train on gold labels only), or a teacher that gives class probabilities",
    "embedding": "training.embedding_loss: none (or training.embedding_weight: 0), or a teacher that gives "
    "embeddings (teacher.kind encoder)",
}
LOSS_OF = {"probs": "kd (soft-label KL, kd_kl)", "embedding": "embedding matching (training.embedding_loss cosine/mse)"}


def check_requires(
    needed: dict[str, frozenset[str]] | set[str] | frozenset[str], provides: frozenset[str], teacher_description: str
) -> None:
    """Plan before work: every loss the recipe turns on against what the teacher gives. `needed` is either
    {loss name: its .requires} or a plain set of outputs. Raises a UserError naming the loss, what it needs, what
    the teacher gives and the recipe key to change."""
    by_loss = needed if isinstance(needed, dict) else {LOSS_OF.get(n, n): frozenset({n}) for n in sorted(needed)}
    problems = []
    for loss, req in by_loss.items():
        missing = sorted(set(req) - set(provides))
        if missing:
            keys = "; ".join(RECIPE_KEYS.get(m, f"the setting that turns on '{m}'") for m in missing)
            problems.append(
                f"the loss '{loss}' needs the teacher's {', '.join(repr(m) for m in missing)}; change {keys}"
            )
    if problems:
        raise UserError(
            f"the teacher ({teacher_description}) gives {sorted(provides) or 'nothing'}, but " + "; and ".join(problems)
        )
