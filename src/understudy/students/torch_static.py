"""Training of the static student in torch; the trained weights go back into numpy arrays."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..losses import distillation_loss
from ..progress import QUIET
from ..train.loop import Trainer


class StaticNet(nn.Module):
    """Mean of token embeddings -> (normalise) -> MLP head; a projection predicts the teacher's embedding."""

    def __init__(self, embeddings: np.ndarray, n_classes: int, hidden: int, teacher_dim: int | None, normalize: bool):
        super().__init__()
        self.bag = nn.EmbeddingBag.from_pretrained(
            torch.from_numpy(embeddings.copy()), freeze=False, mode="mean", sparse=True
        )
        dim = embeddings.shape[1]
        self.head = nn.Sequential(nn.Linear(dim, hidden), nn.ReLU(), nn.Linear(hidden, n_classes))
        self.project = nn.Linear(dim, teacher_dim) if teacher_dim else None
        self.normalize = normalize

    def pooled(self, ids: torch.Tensor, offsets: torch.Tensor) -> torch.Tensor:
        x = self.bag(ids, offsets)
        return F.normalize(x, dim=-1, eps=1e-12) if self.normalize else x

    def forward(self, batch: dict):
        x = self.pooled(batch["ids"], batch["offsets"])
        return self.head(x), (self.project(x) if self.project is not None else None)


def pack(token_ids: list[list[int]]) -> tuple[torch.Tensor, torch.Tensor]:
    lengths = [len(t) for t in token_ids]
    offsets = torch.tensor([0] + lengths[:-1], dtype=torch.long).cumsum(0)
    flat = torch.tensor([i for t in token_ids for i in t], dtype=torch.long)
    return flat, offsets


def train_static(student, texts, teacher: dict[str, np.ndarray], *, gold=None, settings, val_idx=None, progress=QUIET):
    torch.manual_seed(settings.seed)
    rng = np.random.default_rng(settings.seed)
    ids = student.token_ids(texts)
    n = len(texts)
    val_idx = np.asarray(val_idx if val_idx is not None else [], dtype=int)
    train_idx = np.setdiff1d(np.arange(n), val_idx)
    use_emb = settings.embedding_loss != "none" and settings.embedding_weight > 0 and "embedding" in teacher
    teacher_dim = teacher["embedding"].shape[1] if use_emb else None
    net = StaticNet(student.embeddings, len(student.labels), student.hidden, teacher_dim, student.normalize)

    probs = torch.from_numpy(teacher["probs"].astype(np.float32))
    emb = torch.from_numpy(teacher["embedding"].astype(np.float32)) if use_emb else None
    gold_t = torch.from_numpy(np.asarray(gold, dtype=np.int64)) if gold is not None else None

    def dropped(row_ids: list[int]) -> list[int]:
        if not settings.token_dropout or len(row_ids) < 2:
            return row_ids
        keep = rng.random(len(row_ids)) >= settings.token_dropout
        return [t for t, k in zip(row_ids, keep) if k] or row_ids

    def batch_of(rows: np.ndarray, train: bool = False) -> dict:
        flat, offsets = pack([dropped(ids[i]) if train else ids[i] for i in rows])
        b = {"ids": flat, "offsets": offsets, "probs": probs[rows]}
        if emb is not None:
            b["embedding"] = emb[rows]
        if gold_t is not None:
            b["gold"] = gold_t[rows]
        return b

    def make_batches(epoch: int):
        order = rng.permutation(train_idx)
        for i in range(0, len(order), settings.batch_size):
            yield batch_of(order[i : i + settings.batch_size], train=True)

    teacher_pred = teacher["probs"].argmax(1)

    def validate() -> float:
        if len(val_idx) == 0:
            return 0.0
        with torch.no_grad():
            logits, _ = net(batch_of(val_idx))
        return float((logits.argmax(1).numpy() == teacher_pred[val_idx]).mean())

    dense = [p for name, p in net.named_parameters() if not name.startswith("bag.")]
    optimizers = [torch.optim.Adam(dense, lr=settings.learning_rate)]
    if settings.embedding_lr_scale > 0:
        optimizers.append(
            torch.optim.SparseAdam(list(net.bag.parameters()), lr=settings.learning_rate * settings.embedding_lr_scale)
        )
    else:  # frozen embeddings: only the head learns
        net.bag.weight.requires_grad_(False)
    trainer = Trainer(
        net,
        lambda logits, e, b: distillation_loss(logits, e, b, settings),
        optimizers,
        epochs=settings.epochs,
        patience=settings.patience if len(val_idx) else settings.epochs,
        progress=progress,
    )
    n_batches = -(-len(train_idx) // settings.batch_size)
    trainer.fit(make_batches, n_batches, validate if len(val_idx) else None)

    student.embeddings = net.bag.weight.detach().numpy().astype(np.float32)
    lin1, lin2 = net.head[0], net.head[2]
    student.head_ = {
        "w1": lin1.weight.detach().numpy(),
        "b1": lin1.bias.detach().numpy(),
        "w2": lin2.weight.detach().numpy(),
        "b2": lin2.bias.detach().numpy(),
    }
    student.training_ = trainer.summary()
    return student
