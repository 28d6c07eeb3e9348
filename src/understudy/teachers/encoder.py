"""Local encoder teachers: a sentence-transformers/transformers folder, with a skops head or its own classifier."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ..errors import UserError
from .base import check_probs, fingerprint_files
from .python import load_skops


def quiet_transformers() -> None:
    """transformers prints load reports and weight-loading bars; our own progress bars say what matters."""
    import transformers

    transformers.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()


class SentenceEncoder:
    """Sentence embeddings from a sentence-transformers folder (a plain transformers folder gets mean pooling)."""

    provides = frozenset({"embedding"})
    labels: list[str] = []

    def __init__(self, folder: str | Path, max_length: int | None = None):
        self.folder = Path(folder)
        if not self.folder.is_dir():
            raise UserError(f"teacher encoder folder not found: {self.folder}")
        self.max_length = max_length
        self.fingerprint = fingerprint_files(self.folder, extra=f"encoder:{max_length}")
        self.description = f"sentence encoder {self.folder}"
        self._model = None
        # labelling.runtime (teachers.onnx_encoder.LabellingRuntime): the same weights through ONNX Runtime or in
        # bfloat16 once parity holds, so the fingerprint, which keys the stored outputs, stays.
        self.runtime = None

    @property
    def model(self):
        if self._model is None:
            from sentence_transformers import SentenceTransformer

            quiet_transformers()
            try:
                self._model = SentenceTransformer(str(self.folder), device="cpu", local_files_only=True)
            except Exception as exc:  # a broken folder: say which and why
                raise UserError(f"cannot load the encoder in {self.folder}: {exc}") from None
            if self.max_length:
                self._model.max_seq_length = self.max_length
        return self._model

    def predict(self, texts: Sequence[str]) -> dict[str, np.ndarray]:
        return self.runtime.predict(texts) if self.runtime is not None else self.torch_predict(texts)

    def torch_predict(self, texts: Sequence[str]) -> dict[str, np.ndarray]:
        emb = self.model.encode(list(texts), batch_size=len(texts), convert_to_numpy=True, show_progress_bar=False)
        return {"embedding": emb.astype(np.float32)}

    def bf16_predict(self, texts: Sequence[str]) -> dict[str, np.ndarray]:
        """The same weights with the matrix products in bfloat16 (torch autocast): several times faster on a CPU
        with AMX or AVX-512 BF16, slower on one without; labelling.runtime and the speed check measure which."""
        import torch

        with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16):
            emb = self.model.encode(list(texts), batch_size=len(texts), convert_to_tensor=True, show_progress_bar=False)
        return {"embedding": emb.float().numpy()}


class EncoderWithHead:
    """An encoder plus a scikit-learn head (skops) on its embeddings: the usual 'model we already have'.

    The expensive part, the encoder, is labelled and stored under its own fingerprint, so a new head
    never re-encodes the data.
    """

    provides = frozenset({"probs", "embedding"})

    def __init__(
        self, folder: str | Path, head: str | Path, labels: list[str] | None = None, max_length: int | None = None
    ):
        self.encoder = SentenceEncoder(folder, max_length)
        self.head_path = Path(head)
        self.head = load_skops(self.head_path)
        if not hasattr(self.head, "predict_proba"):
            raise UserError(f"teacher head {self.head_path} has no predict_proba (use e.g. LogisticRegression)")
        classes = [str(c) for c in getattr(self.head, "classes_", [])]
        self.labels = list(labels) if labels else classes
        if labels and classes and labels != classes:
            raise UserError(f"teacher.labels {labels} differ from the head's classes {classes} in {self.head_path}")
        self.fingerprint = fingerprint_files(self.encoder.folder, self.head_path, extra=f"head:{max_length}")
        self.description = f"encoder {self.encoder.folder} + head {self.head_path.name}"
        self.files = [self.encoder.folder, self.head_path]

    def from_embeddings(self, emb: np.ndarray) -> np.ndarray:
        return check_probs(self.head.predict_proba(emb), len(emb), self.labels, f"teacher head {self.head_path}")

    def predict(self, texts: Sequence[str]) -> dict[str, np.ndarray]:
        return self.with_encoder(self.encoder.predict)(texts)

    def with_encoder(self, encode):
        """This teacher's predict with the embeddings from `encode` (another runtime of the same encoder)."""

        def predict(texts: Sequence[str]) -> dict[str, np.ndarray]:
            emb = encode(texts)["embedding"]
            return {"probs": self.from_embeddings(emb), "embedding": emb}

        return predict


class HFClassifier:
    """A transformers sequence-classification folder; its mean-pooled last hidden state is the embedding."""

    provides = frozenset({"probs", "embedding"})

    def __init__(self, folder: str | Path, labels: list[str] | None = None, max_length: int | None = None):
        from transformers import AutoConfig

        self.folder = Path(folder)
        try:
            config = AutoConfig.from_pretrained(self.folder, local_files_only=True)
        except Exception as exc:
            raise UserError(f"cannot read the classifier config in {self.folder}: {exc}") from None
        own = [str(config.id2label[i]) for i in range(config.num_labels)]
        if labels and len(labels) != len(own):
            raise UserError(
                f"teacher.labels has {len(labels)} names; the model in {self.folder} has {len(own)} classes"
            )
        self.labels = list(labels) if labels else own
        self.max_length = max_length or 512
        self.fingerprint = fingerprint_files(self.folder, extra=f"hf:{self.max_length}")
        self.description = f"transformers classifier {self.folder}"
        self.files = [self.folder]
        self._model = None

    def _load(self):
        if self._model is None:
            from transformers import AutoModelForSequenceClassification, AutoTokenizer

            quiet_transformers()
            self._tok = AutoTokenizer.from_pretrained(self.folder, local_files_only=True)
            self._model = AutoModelForSequenceClassification.from_pretrained(self.folder, local_files_only=True).eval()
        return self._model, self._tok

    def predict(self, texts: Sequence[str]) -> dict[str, np.ndarray]:
        import torch

        model, tok = self._load()
        enc = tok(list(texts), padding=True, truncation=True, max_length=self.max_length, return_tensors="pt")
        with torch.inference_mode():
            out = model(**enc, output_hidden_states=True)
        mask = enc["attention_mask"].unsqueeze(-1).float()
        emb = (out.hidden_states[-1] * mask).sum(1) / mask.sum(1).clamp(min=1)
        probs = torch.softmax(out.logits.float(), dim=-1).numpy()
        return {
            "probs": check_probs(probs, len(texts), self.labels, self.description),
            "embedding": emb.numpy().astype(np.float32),
        }


def _model_path(path: str, resolve) -> str:
    from ..data.builtin import builtin_model

    return str(builtin_model(path)) if path.startswith("builtin:") else resolve(path)


def build_encoder(spec, resolve=lambda p: p, head_builder=None) -> EncoderWithHead:
    """Teacher kind 'encoder' (registered in pyproject.toml): a sentence encoder plus a skops head.

    `head_builder(name, encoder)` makes a 'builtin:' head (the demo's) and returns its path.
    """
    folder = _model_path(spec.path, resolve)
    head = spec.head
    if head.startswith("builtin:"):
        if head_builder is None:
            raise UserError(f"teacher.head '{head}' is a builtin head; only the built-in demo can make it")
        head = head_builder(head, SentenceEncoder(folder, spec.max_length))
    else:
        head = resolve(head)
    return EncoderWithHead(folder, head, spec.labels, spec.max_length)


def build_hf_classifier(spec, resolve=lambda p: p, head_builder=None) -> HFClassifier:
    """Teacher kind 'hf-classifier': a transformers sequence-classification folder."""
    return HFClassifier(_model_path(spec.path, resolve), spec.labels, spec.max_length)
