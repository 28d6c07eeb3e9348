"""The static student: model2vec embeddings distilled from the teacher's encoder, fine-tuned with a small head.

Training needs torch; inference needs only numpy and tokenizers (see `predict_proba`).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from .. import __version__
from ..errors import UserError
from ..progress import QUIET, Progress
from . import calibrate, read_temperature

WORD = re.compile(r"[^\W\d_]{2,}")


def transfer_vocabulary(texts: Sequence[str], known: set[str], size: int, min_count: int = 2) -> list[str]:
    """The business's own words: frequent transfer-set words the encoder's tokenizer lacks as whole tokens."""
    counts = Counter(w for t in texts for w in WORD.findall(t.lower()))
    words = [w for w, c in counts.most_common() if c >= min_count and w not in known]
    return words[:size]


def base_ref(folder: str | Path) -> str:
    """The encoder a static student is distilled from, named as the shipped files name models
    (understudy.report.redact.model_ref: 'tickets-encoder (sha256:1a2b3c4d)', 'org/name' from the Hub cache); a
    built-in model by its built-in name, not the folder its package keeps it in ('model')."""
    from ..report.redact import model_ref

    ref = model_ref(folder)
    builtin = _builtin_name(Path(folder))
    if builtin is None:
        return ref
    own = Path(folder).name
    return builtin + ref[len(own) :] if ref.startswith(own) else f"{builtin} ({ref})"


def _builtin_name(folder: Path) -> str | None:
    """'builtin:NAME' where `folder` is where understudy keeps that built-in model; found without building it."""
    from ..data import builtin

    def minilm():
        return builtin.minilm_folder()

    def mpnet():
        return builtin.cache_dir() / "all-mpnet-base-v2"

    try:
        here = folder.resolve()
    except OSError:
        return None
    for name, where in (("all-MiniLM-L6-v2", minilm), ("all-mpnet-base-v2", mpnet)):
        try:
            if Path(where()).resolve() == here:
                return f"builtin:{name}"
        except Exception:  # the built-in's package is not installed: it is not this folder
            continue
    return None


def softmax(logits: np.ndarray) -> np.ndarray:
    z = logits - logits.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


class StaticStudent:
    kind = "static"
    training_defaults = {"epochs": 30, "learning_rate": 3e-3}  # where the recipe leaves them unset
    temperature: float | None = None  # calibration.json's, set on load; None: the raw scores

    def __init__(
        self,
        tokenizer,
        embeddings: np.ndarray,
        labels: list[str],
        *,
        normalize: bool = True,
        max_length: int = 512,
        head: dict[str, np.ndarray] | None = None,
        hidden: int = 256,
    ):
        self.tokenizer = tokenizer
        self.embeddings = embeddings.astype(np.float32)
        self.labels = list(labels)
        self.normalize = normalize
        self.max_length = max_length
        self.hidden = hidden
        self.head_ = head
        self.unk_id = self._unk_id()

    def _unk_id(self) -> int | None:
        model = json.loads(self.tokenizer.to_str()).get("model", {})
        unk = model.get("unk_token")
        return self.tokenizer.token_to_id(unk) if isinstance(unk, str) else None

    # --- building ----------------------------------------------------------------------------------
    @classmethod
    def for_teacher(cls, base_folder, texts, labels, spec, progress, cache=None) -> StaticStudent:
        """The engine's one way to start a student: from the base encoder, the transfer texts and the labels."""
        return cls.distil(base_folder, texts, labels, spec, progress, cache=cache)

    @classmethod
    def distil(
        cls,
        encoder_folder: str | Path,
        texts: Sequence[str],
        labels: list[str],
        spec,
        progress: Progress = QUIET,
        cache: str | Path | None = None,
    ) -> StaticStudent:
        """Static embeddings from the encoder (model2vec), with the transfer set's own words added.

        Distilling passes every vocabulary token through the encoder (minutes on a CPU), so the result
        is cached under `cache`, keyed by the encoder's files, the vocabulary and the width.
        """
        from tokenizers import Tokenizer

        from ..teachers.base import fingerprint_files

        folder = Path(encoder_folder)
        vocabulary = None
        if spec.vocabulary_from_transfer and spec.vocabulary_size:
            tok_file = folder / "tokenizer.json"
            known = set(Tokenizer.from_file(str(tok_file)).get_vocab()) if tok_file.is_file() else set()
            vocabulary = transfer_vocabulary(texts, known, spec.vocabulary_size)
        key = hashlib.sha256(json.dumps([fingerprint_files(folder), vocabulary, spec.pca_dims]).encode()).hexdigest()[
            :16
        ]
        cached = Path(cache) / f"static-base-{key}" if cache else None
        if cached is not None and (cached / "embeddings.safetensors").is_file():
            from safetensors.numpy import load_file

            progress.note(f"reusing distilled static embeddings from {cached}")
            meta = json.loads((cached / "meta.json").read_text())
            emb = load_file(str(cached / "embeddings.safetensors"))["embeddings"]
            return cls(Tokenizer.from_file(str(cached / "tokenizer.json")), emb, labels, normalize=meta["normalize"])
        try:
            from model2vec.distill import distill
        except ImportError:
            raise UserError("the static student needs model2vec[distill]: pip install -r requirements.txt") from None
        progress.note(
            f"distilling static embeddings from {base_ref(folder)} (+{len(vocabulary or [])} words of your own "
            "data); this passes every token through the encoder once"
        )
        try:
            m2v = distill(model_name=str(folder), vocabulary=vocabulary, pca_dims=spec.pca_dims, device="cpu")
        except Exception as exc:
            raise UserError(f"model2vec could not distil {folder}: {exc}") from None
        emb = np.asarray(m2v.embedding, dtype=np.float32)
        if m2v.token_mapping is not None:  # vocabulary quantisation: expand to one row per token
            emb = emb[np.asarray(m2v.token_mapping)]
        if m2v.weights is not None:
            emb = emb * np.asarray(m2v.weights, dtype=np.float32)[:, None]
        if cached is not None:
            from safetensors.numpy import save_file

            tmp = cached.with_name(cached.name + ".tmp")
            shutil.rmtree(tmp, ignore_errors=True)
            tmp.mkdir(parents=True)
            save_file({"embeddings": emb}, str(tmp / "embeddings.safetensors"))
            m2v.tokenizer.save(str(tmp / "tokenizer.json"))
            (tmp / "meta.json").write_text(json.dumps({"normalize": bool(m2v.normalize), "encoder": str(folder)}))
            os.replace(tmp, cached)
        return cls(m2v.tokenizer, emb, labels, normalize=bool(m2v.normalize), max_length=512)

    # --- inference: numpy and tokenizers only ------------------------------------------------------
    def token_ids(self, texts: Sequence[str]) -> list[list[int]]:
        encodings = self.tokenizer.encode_batch_fast(list(texts), add_special_tokens=False)
        unk = self.unk_id
        return [[i for i in e.ids[: self.max_length] if i != unk] for e in encodings]

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        out = np.zeros((len(texts), self.embeddings.shape[1]), dtype=np.float32)
        for row, ids in enumerate(self.token_ids(texts)):
            if ids:
                out[row] = self.embeddings[ids].mean(axis=0)
        if self.normalize:
            out /= np.linalg.norm(out, axis=1, keepdims=True) + 1e-12
        return out

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        if self.head_ is None:
            raise UserError("the static student is not trained yet")
        h = self.head_
        hidden = np.maximum(self.embed(texts) @ h["w1"].T + h["b1"], 0)
        return calibrate(softmax(hidden @ h["w2"].T + h["b2"]), self.temperature)

    def predict(self, texts: Sequence[str]) -> list[str]:
        return [self.labels[i] for i in self.predict_proba(texts).argmax(1)]

    # --- training ----------------------------------------------------------------------------------
    def fit(
        self,
        texts: Sequence[str],
        teacher: dict[str, np.ndarray],
        *,
        gold: np.ndarray | None = None,
        settings=None,
        val_idx: np.ndarray | None = None,
        progress: Progress = QUIET,
    ):
        from .torch_static import train_static

        return train_static(self, texts, teacher, gold=gold, settings=settings, val_idx=val_idx, progress=progress)

    # --- files -------------------------------------------------------------------------------------
    def save(self, path: str | Path) -> None:
        """A model2vec folder (loadable by model2vec itself) plus head.safetensors and student.json."""
        from safetensors.numpy import save_file

        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        save_file({"embeddings": self.embeddings.astype(np.float16)}, str(path / "model.safetensors"))
        self.tokenizer.save(str(path / "tokenizer.json"))
        (path / "config.json").write_text(
            json.dumps(
                {
                    "model_type": "model2vec",
                    "architectures": ["StaticModel"],
                    "normalize": self.normalize,
                    "hidden_dim": int(self.embeddings.shape[1]),
                    "seq_length": self.max_length,
                },
                indent=2,
            )
        )
        save_file({k: v.astype(np.float32) for k, v in self.head_.items()}, str(path / "head.safetensors"))
        (path / "student.json").write_text(
            json.dumps(
                {
                    "kind": self.kind,
                    "labels": self.labels,
                    "normalize": self.normalize,
                    "max_length": self.max_length,
                    "hidden": self.hidden,
                    "understudy_version": __version__,
                },
                indent=2,
            )
        )

    @classmethod
    def load(cls, path: str | Path) -> StaticStudent:
        from safetensors.numpy import load_file
        from tokenizers import Tokenizer

        path = Path(path)
        meta = json.loads((path / "student.json").read_text())
        emb = load_file(str(path / "model.safetensors"))["embeddings"]
        head = load_file(str(path / "head.safetensors"))
        student = cls(
            Tokenizer.from_file(str(path / "tokenizer.json")),
            emb,
            meta["labels"],
            normalize=meta["normalize"],
            max_length=meta["max_length"],
            head=head,
            hidden=meta["hidden"],
        )
        student.temperature = read_temperature(path)
        return student
