"""The static student: model2vec embeddings distilled from the teacher's encoder, fine-tuned with a small head.

Training needs torch; inference needs only numpy, scipy and tokenizers (see `predict_proba`).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import threading
from collections import Counter
from collections.abc import Sequence
from contextlib import contextmanager, nullcontext
from functools import cache
from itertools import chain
from operator import attrgetter
from pathlib import Path

import numpy as np

from .. import __version__
from ..errors import UserError
from ..progress import QUIET, Progress
from . import calibrate, read_temperature
from .static_tokens import fast_tokens

WORD = re.compile(r"[^\W\d_]{2,}")
DISTIL_METHOD = "model2vec-0.10-unpadded-words"  # how cached vectors were made (static_vocab)


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


@cache
def _blas_libraries() -> list:
    from threadpoolctl import ThreadpoolController

    return [lib for lib in ThreadpoolController().lib_controllers if lib.user_api == "blas"]


_blas_lock = threading.Lock()
_blas_users = [0, []]  # how many predictions hold the one-thread setting now, and the thread counts to restore


@contextmanager
def one_blas_thread():
    """The head's products are too small to gain from BLAS threads, and OpenBLAS's threads keep spinning after a
    call, taking the cores from the tokenizer's threads in the next one (benchmarks/tokenizer_wall.py). Set by
    hand: threadpoolctl's own limit() costs more than the head at batch 1. Counted under a lock: a server predicts
    from several threads at once, and the first in must not restore before the last is out."""
    libraries = _blas_libraries()
    with _blas_lock:
        if _blas_users[0] == 0:
            _blas_users[1] = [lib.get_num_threads() for lib in libraries]
            for lib in libraries:
                lib.set_num_threads(1)
        _blas_users[0] += 1
    try:
        yield
    finally:
        with _blas_lock:
            _blas_users[0] -= 1
            if _blas_users[0] == 0:
                for lib, n in zip(libraries, _blas_users[1]):
                    lib.set_num_threads(n)


def softmax(logits: np.ndarray) -> np.ndarray:
    z = logits - logits.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def calibrated_softmax(logits: np.ndarray, temperature: float | None) -> np.ndarray:
    """calibrate(softmax(logits), T) with one softmax: softmax(log p / T) is softmax(logits / T) while no
    probability is under calibrate's floor (1e-12, a margin of 27.6 - log(classes)); past it, calibrate itself."""
    if temperature is None or not np.isfinite(temperature) or temperature <= 0:
        return calibrate(softmax(logits), temperature)  # None: the raw scores; a bad T: calibrate's error
    if logits.size and (logits.max(axis=1) - logits.min(axis=1)).max() > 27.6 - np.log(logits.shape[1]):
        return calibrate(softmax(logits), temperature)
    return softmax(logits / np.float32(temperature))


class StaticStudent:
    kind = "static"
    # where the recipe leaves them unset; batch 64 measured steadier than 32 on three text sets (benchmarks/RESULTS.md)
    training_defaults = {"epochs": 30, "learning_rate": 3e-3, "batch_size": 64}
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
        self.words = fast_tokens(tokenizer)  # a word cache in front of a BERT-style tokenizer, else None

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
        # DISTIL_METHOD in the key: vectors cached before added words were encoded unpadded are not reused.
        parts = [fingerprint_files(folder), vocabulary, spec.pca_dims, DISTIL_METHOD]
        key = hashlib.sha256(json.dumps(parts).encode()).hexdigest()[:16]
        cached = Path(cache) / f"static-base-{key}" if cache else None
        if cached is not None and (cached / "embeddings.safetensors").is_file():
            from safetensors.numpy import load_file

            progress.note(f"reusing distilled static embeddings from {cached}")
            meta = json.loads((cached / "meta.json").read_text())
            emb = load_file(str(cached / "embeddings.safetensors"))["embeddings"]
            return cls(Tokenizer.from_file(str(cached / "tokenizer.json")), emb, labels, normalize=meta["normalize"])
        try:  # static_vocab uses model2vec 0.10's distill parts (with skeletoken and transformers)
            from model2vec.tokenizer import clean_and_create_vocabulary  # noqa: F401
            from skeletoken import TokenizerModel  # noqa: F401
        except ImportError:
            raise UserError(
                "the static student needs model2vec[distill] 0.10: pip install -r requirements.txt"
            ) from None
        from .static_vocab import distil_embeddings, load_encoder

        progress.note(
            f"distilling static embeddings from {base_ref(folder)} (+{len(vocabulary or [])} words of your own "
            "data); this passes every token through the encoder once"
        )
        try:
            model, tokenizer = load_encoder(folder)
            student_tokenizer, emb = distil_embeddings(model, tokenizer, vocabulary, spec.pca_dims, progress)
        except Exception as exc:
            raise UserError(f"model2vec could not distil {folder}: {exc}") from None
        emb = np.asarray(emb, dtype=np.float32)
        if cached is not None:
            from safetensors.numpy import save_file

            tmp = cached.with_name(cached.name + ".tmp")
            shutil.rmtree(tmp, ignore_errors=True)
            tmp.mkdir(parents=True)
            save_file({"embeddings": emb}, str(tmp / "embeddings.safetensors"))
            student_tokenizer.save(str(tmp / "tokenizer.json"))
            (tmp / "meta.json").write_text(json.dumps({"normalize": True, "encoder": str(folder)}))
            os.replace(tmp, cached)
        return cls(student_tokenizer, emb, labels, normalize=True, max_length=512)

    # --- inference: numpy, scipy and tokenizers only --------------------------------------------------
    def _ids(self, texts: Sequence[str]) -> list[list[int]]:
        """Each text's token ids, as the tokenizer gives them: through the word cache where it applies."""
        if self.words is not None:
            return self.words.ids(texts)
        return list(map(attrgetter("ids"), self.tokenizer.encode_batch_fast(list(texts), add_special_tokens=False)))

    def token_ids(self, texts: Sequence[str]) -> list[list[int]]:
        unk = self.unk_id
        return [[i for i in ids[: self.max_length] if i != unk] for ids in self._ids(texts)]

    def packed_ids(self, texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """What token_ids gives, as one flat id array and each id's text number: tokenized once, no list per text
        built in Python (the student must not be much slower than its tokenizer: benchmarks/tokenizer_wall.py)."""
        ids = self._ids(texts)
        if len(ids) == 1:  # one text: fewer numpy calls (their overhead is most of the time at batch 1)
            flat = np.array(ids[0][: self.max_length], dtype=np.intp)
            flat = flat[flat != self.unk_id] if self.unk_id is not None else flat
            return flat, np.zeros(flat.size, dtype=np.intp)
        lengths = np.fromiter(map(len, ids), dtype=np.intp, count=len(ids))
        flat = np.fromiter(chain.from_iterable(ids), dtype=np.intp, count=int(lengths.sum()))
        text_of = np.repeat(np.arange(len(ids)), lengths)
        keep = flat != self.unk_id if self.unk_id is not None else np.ones(flat.size, dtype=bool)
        if lengths.size and lengths.max() > self.max_length:  # truncate first, then drop unknowns, as token_ids
            keep &= np.arange(flat.size) - (np.cumsum(lengths) - lengths)[text_of] < self.max_length
        return flat[keep], text_of[keep]

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        flat, text_of = self.packed_ids(texts)
        n = len(texts)
        if n == 1:  # one text: a plain gather is cheaper than building the sparse matrix
            out = self.embeddings[flat].sum(axis=0, keepdims=True) / max(flat.size, 1)  # the mean; zeros if empty
        else:  # the means as one sparse (texts x vocabulary) product: no gathered copy of the rows
            from scipy.sparse import csr_matrix

            counts = np.bincount(text_of, minlength=n)
            indptr = np.concatenate(([0], np.cumsum(counts)))
            ones = np.ones(flat.size, dtype=np.float32)
            bag = csr_matrix((ones, flat, indptr), shape=(n, self.embeddings.shape[0]))
            out = np.asarray(bag @ self.embeddings, dtype=np.float32)
            out /= np.maximum(counts, 1)[:, None]
        if self.normalize:
            out /= np.linalg.norm(out, axis=1, keepdims=True) + 1e-12
        return out

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        if self.head_ is None:
            raise UserError("the static student is not trained yet")
        h = self.head_
        pooled = self.embed(texts)
        with one_blas_thread() if len(pooled) > 1 else nullcontext():  # one row: a product too small to thread
            hidden = np.maximum(pooled @ h["w1"].T + h["b1"], 0)
            logits = hidden @ h["w2"].T + h["b2"]
        return calibrated_softmax(logits, self.temperature)

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
