"""The transformer student: a small encoder (or the teacher with layers dropped), mean pooling and a linear head.

Saved in the model's own format (save_pretrained, safetensors) plus head.safetensors and student.json; never pickled.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import torch
from torch import nn

from .. import __version__
from ..errors import UserError
from ..losses import EMBEDDING_LOSSES, distillation_loss
from ..progress import QUIET, Progress
from ..train.loop import Trainer
from . import calibrate, read_temperature

BATCH = 64


@contextmanager
def hf_quiet():
    """transformers' load reports and progress bars off while we load or save (our own Progress reports instead)."""
    from transformers.utils import logging as hf

    level, bars = hf.get_verbosity(), hf.is_progress_bar_enabled()
    hf.set_verbosity_error()
    hf.disable_progress_bar()
    try:
        yield
    finally:
        hf.set_verbosity(level)
        if bars:
            hf.enable_progress_bar()


def load_pretrained(folder: Path):
    """AutoModel (float32) and AutoTokenizer from a local folder; never the network."""
    from transformers import AutoModel, AutoTokenizer

    if not (Path(folder) / "config.json").is_file():
        raise UserError(f"{folder} is not a transformers model folder (config.json missing)")
    try:
        with hf_quiet():
            return (
                AutoModel.from_pretrained(str(folder), local_files_only=True, dtype=torch.float32),
                AutoTokenizer.from_pretrained(str(folder), local_files_only=True),
            )
    except (OSError, ValueError) as exc:
        raise UserError(f"cannot load a transformer from {folder}: {exc}") from None


def model_folder(folder: str | Path) -> Path:
    """The folder holding the transformer: the root, or a sentence-transformers Transformer module's subfolder."""
    folder = Path(folder)
    modules = folder / "modules.json"
    if not (folder / "config.json").is_file() and modules.is_file():
        for m in json.loads(modules.read_text()):
            if m.get("type", "").endswith("Transformer") and (folder / m.get("path", "") / "config.json").is_file():
                return folder / m["path"]
    return folder


def drop_layers(model, keep: list[int], name: str) -> None:
    """Keep only the listed encoder layers (DistilBERT-style), renumbered from 0, and update the config."""
    n = model.config.num_hidden_layers
    where, stack = next(
        ((k, m) for k, m in model.named_modules() if isinstance(m, nn.ModuleList) and len(m) == n), ("", None)
    )
    if stack is None:
        raise UserError(
            f"student.keep_layers: cannot find the {n} encoder layers of {name} ({model.config.model_type})"
        )
    bad = [i for i in keep if not 0 <= i < n]
    if bad or not keep or len(set(keep)) != len(keep):
        what = f"{bad} out of range" if bad else "needs at least one index, each at most once"
        raise UserError(f"student.keep_layers {keep}: {what}; {name} has {n} layers, valid indices are 0 to {n - 1}")
    layers = [stack[i] for i in keep]
    for new, layer in enumerate(layers):
        for sub in layer.modules():
            if isinstance(getattr(sub, "layer_idx", None), int):
                sub.layer_idx = new
    parent, _, attr = where.rpartition(".")
    setattr(model.get_submodule(parent), attr, nn.ModuleList(layers))
    model.config.num_hidden_layers = len(keep)
    if isinstance(getattr(model.config, "layer_types", None), list):
        model.config.layer_types = [model.config.layer_types[i] for i in keep]


class Net(nn.Module):
    """Encoder -> mean over the attention mask -> linear head; an optional projection predicts the teacher's embedding."""

    def __init__(self, encoder, n_classes: int):
        super().__init__()
        self.encoder = encoder
        self.head = nn.Linear(encoder.config.hidden_size, n_classes)
        self.project = None

    def forward(self, batch: dict):
        h = self.encoder(input_ids=batch["ids"], attention_mask=batch["mask"]).last_hidden_state
        m = batch["mask"].unsqueeze(-1).to(h.dtype)
        x = (h * m).sum(1) / m.sum(1).clamp_min(1.0)
        return self.head(x), (self.project(x) if self.project is not None else None)


class Stepper:
    """Optimizer + linear warm-up/decay schedule + gradient clipping, behind the zero_grad/step the Trainer calls."""

    def __init__(self, params: list, lr: float, total: int, warmup: float = 0.1):
        self.params, self.opt = params, torch.optim.AdamW(params, lr=lr, weight_decay=0.01)
        self.zero_grad = self.opt.zero_grad
        warm = max(1, int(total * warmup))
        self.sched = torch.optim.lr_scheduler.LambdaLR(
            self.opt, lambda s: (s + 1) / warm if s < warm else max(0.0, (total - s) / max(1, total - warm))
        )

    def step(self) -> None:
        nn.utils.clip_grad_norm_(self.params, 1.0)
        self.opt.step()
        self.sched.step()


class TransformerStudent:
    kind = "transformer"
    training_defaults = {"epochs": 4, "learning_rate": 5e-5, "batch_size": 32}  # where the recipe leaves them unset
    temperature: float | None = None  # calibration.json's, set on load; None: the raw scores

    def __init__(self, encoder, tokenizer, labels: list[str], *, max_length: int = 256):
        self.tokenizer = tokenizer
        self.labels = list(labels)
        limit = getattr(encoder.config, "max_position_embeddings", None)
        self.max_length = min(max_length, limit) if isinstance(limit, int) and limit > 0 else max_length
        self.pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
        self.net = Net(encoder, len(self.labels))
        self.net.eval()

    # --- building ----------------------------------------------------------------------------------
    @classmethod
    def for_teacher(cls, base_folder, texts, labels, spec, progress, cache=None) -> TransformerStudent:
        """The engine's one way to start a student (the texts and cache are the static student's concern)."""
        return cls.from_base(base_folder, labels, spec, progress)

    @classmethod
    def from_base(cls, folder: str | Path, labels: list[str], spec, progress: Progress = QUIET) -> TransformerStudent:
        encoder, tokenizer = load_pretrained(model_folder(folder))
        n = encoder.config.num_hidden_layers
        if spec.keep_layers is not None:
            drop_layers(encoder, list(spec.keep_layers), Path(folder).name)
        progress.note(f"transformer student from {Path(folder).name}: {encoder.config.num_hidden_layers} of {n} layers")
        return cls(encoder, tokenizer, labels, max_length=spec.max_length)

    # --- inference ---------------------------------------------------------------------------------
    def token_ids(self, texts: Sequence[str]) -> list[list[int]]:
        if not len(texts):
            return []
        enc = self.tokenizer(list(texts), truncation=True, max_length=self.max_length, return_attention_mask=False)
        return [list(ids) for ids in enc["input_ids"]]

    def collate(self, seqs: list[list[int]]) -> dict:
        width = max(1, max(len(s) for s in seqs))
        ids = torch.full((len(seqs), width), self.pad_id, dtype=torch.long)
        mask = torch.zeros_like(ids)
        for row, s in enumerate(seqs):
            ids[row, : len(s)] = torch.tensor(s, dtype=torch.long)
            mask[row, : max(1, len(s))] = 1
        return {"ids": ids, "mask": mask}

    def _logits(self, ids: list[list[int]]) -> np.ndarray:
        order = np.argsort([len(s) for s in ids], kind="stable")  # similar lengths together: less padding
        out = np.zeros((len(ids), len(self.labels)), dtype=np.float32)
        self.net.eval()
        with torch.inference_mode():
            for i in range(0, len(order), BATCH):
                rows = order[i : i + BATCH]
                logits, _ = self.net(self.collate([ids[r] for r in rows]))
                out[rows] = logits.float().numpy()
        return out

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        probs = torch.softmax(torch.from_numpy(self._logits(self.token_ids(texts))), dim=1).numpy()
        return calibrate(probs, self.temperature)

    def predict(self, texts: Sequence[str]) -> list[str]:
        return [self.labels[i] for i in self.predict_proba(texts).argmax(1)]

    # --- training ----------------------------------------------------------------------------------
    def build_projection(self, teacher_dim: int) -> nn.Linear:
        """Linear(hidden, teacher_dim); the identity when the widths agree, so hidden states match directly."""
        hidden = self.net.encoder.config.hidden_size
        proj = nn.Linear(hidden, teacher_dim)
        if hidden == teacher_dim:
            with torch.no_grad():
                proj.weight.copy_(torch.eye(hidden))
                proj.bias.zero_()
        self.net.project = proj
        return proj

    def fit(
        self,
        texts: Sequence[str],
        teacher: dict[str, np.ndarray],
        *,
        gold: np.ndarray | None = None,
        settings=None,
        val_idx: np.ndarray | None = None,
        progress: Progress = QUIET,
    ) -> TransformerStudent:
        from . import DEFAULTS

        epochs = settings.epochs or DEFAULTS[self.kind]["epochs"]
        lr = settings.learning_rate or DEFAULTS[self.kind]["learning_rate"]
        if settings.embedding_loss not in EMBEDDING_LOSSES and settings.embedding_loss != "none":  # "auto", unresolved
            settings = settings.model_copy(update={"embedding_loss": "cosine" if "embedding" in teacher else "none"})
        torch.manual_seed(settings.seed)
        self.net.head.reset_parameters()  # a fresh head from the seed: the same run gives the same student
        rng = np.random.default_rng(settings.seed)
        ids = self.token_ids(texts)
        lengths = np.array([len(s) for s in ids])
        val_idx = np.asarray(val_idx if val_idx is not None else [], dtype=int)
        train_idx = np.setdiff1d(np.arange(len(ids)), val_idx)
        use_emb = "embedding" in teacher and settings.embedding_loss != "none" and settings.embedding_weight > 0
        self.net.project = self.build_projection(teacher["embedding"].shape[1]) if use_emb else None
        probs = torch.from_numpy(np.asarray(teacher["probs"], dtype=np.float32))
        emb = torch.from_numpy(np.asarray(teacher["embedding"], dtype=np.float32)) if use_emb else None
        gold_t = torch.from_numpy(np.asarray(gold, dtype=np.int64)) if gold is not None else None
        bs = settings.batch_size

        def make_batches(epoch: int):
            order = rng.permutation(train_idx)
            batches = []
            for c in range(0, len(order), bs * 50):  # sort by length within shuffled chunks: less padding
                chunk = order[c : c + bs * 50]
                chunk = chunk[np.argsort(lengths[chunk], kind="stable")]
                batches += [chunk[i : i + bs] for i in range(0, len(chunk), bs)]
            for k in rng.permutation(len(batches)):
                rows = batches[k]
                b = {**self.collate([ids[r] for r in rows]), "probs": probs[rows]}
                if emb is not None:
                    b["embedding"] = emb[rows]
                if gold_t is not None:
                    b["gold"] = gold_t[rows]
                yield b

        teacher_pred = np.asarray(teacher["probs"]).argmax(1)

        def validate() -> float:
            return float((self._logits([ids[i] for i in val_idx]).argmax(1) == teacher_pred[val_idx]).mean())

        n_batches = -(-len(train_idx) // bs)
        params = [p for p in self.net.parameters() if p.requires_grad]
        trainer = Trainer(
            self.net,
            lambda logits, e, b: distillation_loss(logits, e, b, settings),
            [Stepper(params, lr, epochs * n_batches)],
            epochs=epochs,
            patience=settings.patience if len(val_idx) else epochs,
            progress=progress,
        )
        trainer.fit(make_batches, n_batches, validate if len(val_idx) else None)
        self.net.eval()
        self.training_ = trainer.summary()
        return self

    # --- files -------------------------------------------------------------------------------------
    def save(self, path: str | Path) -> None:
        from safetensors.torch import save_file

        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        with hf_quiet():
            self.net.encoder.save_pretrained(str(path))
            self.tokenizer.save_pretrained(str(path))
        save_file(
            {k: v.detach().contiguous() for k, v in self.net.head.state_dict().items()}, str(path / "head.safetensors")
        )
        (path / "student.json").write_text(
            json.dumps(
                {
                    "kind": self.kind,
                    "labels": self.labels,
                    "max_length": self.max_length,
                    "understudy_version": __version__,
                },
                indent=2,
            )
        )

    @classmethod
    def load(cls, path: str | Path) -> TransformerStudent:
        from safetensors.torch import load_file

        path = Path(path)
        meta = json.loads((path / "student.json").read_text())
        student = cls(*load_pretrained(path), meta["labels"], max_length=meta["max_length"])
        student.net.head.load_state_dict(load_file(str(path / "head.safetensors")))
        student.temperature = read_temperature(path)
        return student
