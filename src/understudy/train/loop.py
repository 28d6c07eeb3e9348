"""A small training loop that knows nothing of the model (after minGPT's trainer).

The student module maps a batch to (logits, predicted teacher embedding or None); the loop keeps the
epoch whose held-out agreement with the teacher is best and stops when it stops improving.
"""

from __future__ import annotations

import copy
import time
from collections import defaultdict
from collections.abc import Callable, Iterable

import numpy as np
import torch

from ..progress import QUIET, Progress


class Trainer:
    def __init__(
        self,
        model: torch.nn.Module,
        loss_fn: Callable,
        optimizers: list,
        *,
        epochs: int,
        patience: int = 4,
        progress: Progress = QUIET,
    ):
        self.model, self.loss_fn, self.optimizers = model, loss_fn, optimizers
        self.epochs, self.patience, self.progress = epochs, patience, progress
        self.callbacks: dict[str, list[Callable]] = defaultdict(list)
        self.history: list[dict] = []
        self.best_epoch = 0

    def add_callback(self, event: str, fn: Callable) -> None:
        """Events: 'on_batch_end' (trainer, loss), 'on_epoch_end' (trainer, record)."""
        self.callbacks[event].append(fn)

    def _fire(self, event: str, *args) -> None:
        for fn in self.callbacks[event]:
            fn(self, *args)

    def fit(
        self, make_batches: Callable[[int], Iterable[dict]], n_batches: int, validate: Callable[[], float] | None = None
    ) -> Trainer:
        best_score, best_state, since_best = -np.inf, None, 0
        start = time.perf_counter()
        with self.progress.task("training student", self.epochs * n_batches) as advance:
            for epoch in range(1, self.epochs + 1):
                self.model.train()
                losses = []
                for batch in make_batches(epoch):
                    for opt in self.optimizers:
                        opt.zero_grad()
                    logits, emb = self.model(batch)
                    loss = self.loss_fn(logits, emb, batch)
                    loss.backward()
                    for opt in self.optimizers:
                        opt.step()
                    losses.append(loss.item())
                    self._fire("on_batch_end", loss.item())
                    advance(1)
                self.model.eval()
                score = validate() if validate else -float(np.mean(losses))
                record = {
                    "epoch": epoch,
                    "loss": round(float(np.mean(losses)), 5),
                    "val_agreement": round(float(score), 4),
                }
                self.history.append(record)
                self._fire("on_epoch_end", record)
                if score > best_score:
                    best_score, best_state, since_best, self.best_epoch = (
                        score,
                        copy.deepcopy(self.model.state_dict()),
                        0,
                        epoch,
                    )
                else:
                    since_best += 1
                    if since_best >= self.patience:
                        advance((self.epochs - epoch) * n_batches)  # the bar ends full when stopping early
                        break
        if best_state is not None:
            self.model.load_state_dict(best_state)
        self.seconds = time.perf_counter() - start
        return self

    def summary(self) -> dict:
        return {
            "seconds": round(self.seconds, 2),
            "epochs_run": len(self.history),
            "best_epoch": self.best_epoch,
            "history": self.history,
        }
