"""The sentence-encoder teacher in other runtimes: ONNX Runtime (the same weights, exported once, cached) and
PyTorch bfloat16, each parity checked against PyTorch float32 before it counts.

A sentence-transformers encoder (Transformer, mean Pooling, optional Normalize) becomes model.onnx:
input_ids, attention_mask -> embedding, pooled and normalised inside the graph as sentence-transformers does it.
The export lies in cache_dir()/teacher-onnx-<encoder fingerprint>/ (the fingerprint covers the encoder's files
and max_length), beside the demo head, so every run on that encoder reuses it. model.int8.onnx (dynamic
quantisation, as `understudy export --format onnx-int8` makes it) is made there on first use.

The texts are tokenised by the encoder's own tokenizer (sentence-transformers' tokenize), so both runtimes see
the same ids; only the transformer runs in ONNX Runtime.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ..errors import UserError

PARITY_TEXTS = 256  # texts the ONNX and bfloat16 forms are checked on against PyTorch float32
LOW_PRECISION_MIN_AGREEMENT = 0.99  # int8 and bfloat16 count only where their labels agree with float32's this often
MIN_COSINE = 0.99  # bfloat16: every embedding at least this close (cosine) to float32's
MAX_DIFF = 1e-3  # largest embedding difference float32 may show and still be "the same model"


def unsupported(st_model) -> str | None:
    """Why this sentence-transformers pipeline cannot be exported as [Transformer, mean Pooling, Normalize?]."""
    mods = list(st_model)
    names = [type(m).__name__ for m in mods]
    if len(mods) < 2 or names[0] != "Transformer" or names[1] != "Pooling":
        return f"its modules are {names}; the ONNX form covers Transformer + Pooling (+ Normalize)"
    if getattr(mods[1], "pooling_mode", "mean") != "mean" and not getattr(mods[1], "pooling_mode_mean_tokens", False):
        return f"its pooling is {getattr(mods[1], 'pooling_mode', '?')}; the ONNX form pools by the mean"
    if names[2:] not in ([], ["Normalize"]):
        return f"its modules after pooling are {names[2:]}; the ONNX form covers Normalize only"
    return None


def tokenize(st_model, texts: list[str]) -> dict:
    """The ids sentence-transformers itself feeds the transformer (`preprocess` since v5.2, `tokenize` before)."""
    step = getattr(st_model, "preprocess", None) or st_model.tokenize
    return step(texts)


def export_encoder(st_model, path: Path) -> None:
    """model.onnx with the transformer, mean pooling over the attention mask and (where the model has it)
    L2 normalisation; traced through the student's exporter (export.transformer_graph.trace_to_onnx)."""
    import torch

    from ..export.transformer_graph import trace_to_onnx

    why = unsupported(st_model)
    if why:
        raise UserError(f"the teacher encoder cannot run in ONNX Runtime: {why}")
    mods = list(st_model)
    normalize = len(mods) > 2

    class Pooled(torch.nn.Module):
        def __init__(self, net):
            super().__init__()
            self.net = net

        def forward(self, input_ids, attention_mask):
            hidden = self.net(input_ids=input_ids, attention_mask=attention_mask)[0]
            mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
            emb = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
            return torch.nn.functional.normalize(emb, p=2, dim=1) if normalize else emb

    net = mods[0].auto_model.eval()
    # A batch with padding: a trace on equal lengths may drop the attention mask as all-ones.
    feats = tokenize(st_model, ["an example text to trace the encoder with", "short"])
    trace_to_onnx(Pooled(net), (feats["input_ids"], feats["attention_mask"]), path, ["embedding"], "the teacher")


def onnx_folder(encoder, cache: str | Path | None = None, progress=None) -> Path:
    """The encoder's export folder (model.onnx, meta.json), made once and reused by every later call."""
    from ..data.builtin import cache_dir

    folder = Path(cache or cache_dir()) / f"teacher-onnx-{encoder.fingerprint[:16]}"
    if (folder / "meta.json").is_file():
        return folder
    if progress is not None:
        progress.note(f"exporting the teacher's encoder to ONNX once (cached in {folder})")
    tmp = folder.with_name(folder.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    try:
        export_encoder(encoder.model, tmp / "model.onnx")
        meta = {"encoder": str(encoder.folder), "fingerprint": encoder.fingerprint, "max_length": encoder.max_length}
        (tmp / "meta.json").write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
        shutil.rmtree(folder, ignore_errors=True)
        os.replace(tmp, folder)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return folder


def int8_model(folder: Path) -> Path:
    """model.int8.onnx beside model.onnx, quantised once (export.onnx.quantize: int8 MatMul and Gather weights)."""
    from ..export.onnx import quantize

    out = folder / "model.int8.onnx"
    if not out.is_file():
        tmp = folder / "model.int8.onnx.tmp"
        quantize(folder / "model.onnx", tmp)
        os.replace(tmp, out)
    return out


class OnnxEncoder:
    """A SentenceEncoder's predict through an onnxruntime session (threads fixed per session, as ORT needs)."""

    provides = frozenset({"embedding"})

    def __init__(self, encoder, model_path: str | Path, threads: int = 0):
        self.encoder, self.model_path, self.threads = encoder, Path(model_path), threads
        self._session = None

    def set_threads(self, n: int) -> None:
        if n != self.threads:
            self.threads, self._session = n, None

    @property
    def session(self):
        if self._session is None:
            try:
                import onnxruntime as ort
            except ImportError:
                raise UserError("the ONNX teacher needs onnxruntime: pip install understudy[export]") from None
            opts = ort.SessionOptions()
            opts.intra_op_num_threads = self.threads  # 0: all cores, as torch uses them while labelling
            opts.inter_op_num_threads = 1
            opts.log_severity_level = 3
            self._session = ort.InferenceSession(str(self.model_path), opts, providers=["CPUExecutionProvider"])
        return self._session

    def predict(self, texts: Sequence[str]) -> dict[str, np.ndarray]:
        feats = tokenize(self.encoder.model, list(texts))
        feed = {k: feats[k].numpy().astype(np.int64) for k in ("input_ids", "attention_mask")}
        return {"embedding": self.session.run(["embedding"], feed)[0].astype(np.float32)}


def embed(predict, texts: Sequence[str], batch_size: int = 64) -> np.ndarray:
    return np.concatenate([predict(texts[i : i + batch_size])["embedding"] for i in range(0, len(texts), batch_size)])


def compare(reference: np.ndarray, candidate: np.ndarray, head=None) -> dict:
    """max |difference| and the smallest cosine of the embeddings, and (with a head) the share of texts given the
    same label."""
    norms = np.linalg.norm(reference, axis=1) * np.linalg.norm(candidate, axis=1)
    cosine = (reference * candidate).sum(axis=1) / np.maximum(norms, 1e-12)
    found = {
        "texts": len(reference),
        "max_abs_diff": float(np.abs(reference - candidate).max()),
        "min_cosine": round(float(cosine.min()), 6),
    }
    if head is not None:
        same = head(reference).argmax(1) == head(candidate).argmax(1)
        found["agreement"] = round(float(same.mean()), 4)
    return found


def qualifies(parity: dict | None) -> bool:
    """float32 counts as the same model: the same label on every text, embeddings within MAX_DIFF."""
    return bool(parity) and parity["max_abs_diff"] <= MAX_DIFF and parity.get("agreement", 1.0) >= 1.0


def close_enough(parity: dict | None) -> bool:
    """bfloat16 counts as the same teacher: every embedding within MIN_COSINE of float32's and, where a head
    gave labels, the same label on LOW_PRECISION_MIN_AGREEMENT of the texts."""
    return (
        bool(parity)
        and parity["min_cosine"] >= MIN_COSINE
        and parity.get("agreement", 1.0) >= LOW_PRECISION_MIN_AGREEMENT
    )


def encoder_of(teacher):
    """The SentenceEncoder a teacher runs on (itself, or an EncoderWithHead's), or None."""
    from .encoder import SentenceEncoder

    found = teacher if isinstance(teacher, SentenceEncoder) else getattr(teacher, "encoder", None)
    return found if isinstance(found, SentenceEncoder) else None


def head_of(teacher):
    return teacher.from_embeddings if hasattr(teacher, "from_embeddings") else None


def runtimes(teacher, threads: int = 0, progress=None) -> tuple[dict, str | None]:
    """({"torch", "torch_bf16", "onnx", "onnx_int8": predict}, None), or without the ONNX forms and why not: the
    same teacher in each runtime, for timing side by side. Only a sentence-encoder teacher has other forms."""
    encoder = encoder_of(teacher)
    if encoder is None:
        return {"torch": teacher.predict}, "only a sentence-encoder teacher has an ONNX Runtime form here"
    wrap = teacher.with_encoder if hasattr(teacher, "with_encoder") else (lambda encode: encode)
    forms = {"torch": wrap(encoder.torch_predict), "torch_bf16": wrap(encoder.bf16_predict)}
    try:
        import onnxruntime  # noqa: F401

        folder = onnx_folder(encoder, progress=progress)
        forms["onnx"] = wrap(OnnxEncoder(encoder, folder / "model.onnx", threads).predict)
        forms["onnx_int8"] = wrap(OnnxEncoder(encoder, int8_model(folder), threads).predict)
    except (ImportError, UserError) as exc:  # no onnx / onnxruntime, or a pipeline the export does not cover
        return {k: forms[k] for k in ("torch", "torch_bf16")}, str(exc)
    return forms, None


class LabellingRuntime:
    """labelling.runtime on a SentenceEncoder (set as its `runtime`): how its texts are encoded.

    The first PARITY_TEXTS texts are encoded by PyTorch float32, which answers them (they are the reference,
    stored as usual), and by each candidate: ONNX Runtime float32 and PyTorch bfloat16, each timed on the same
    batches (its first batch, which loads it, left out). Then 'auto' labels the rest through the fastest
    candidate that stayed the same teacher, if it beat float32 by a tenth: ONNX float32 within MAX_DIFF of
    PyTorch on every embedding and the same label on every text; bfloat16 within MIN_COSINE of float32 on every
    embedding and, where the teacher's head is known by then, the same label on LOW_PRECISION_MIN_AGREEMENT of
    the texts. 'onnx' and 'bf16' use theirs either way. The ONNX export is made (or found in the cache) on the
    first call, so a run whose texts are all stored never exports; without onnxruntime 'auto' tries bfloat16
    alone and 'onnx' is an error. The stored outputs keep the teacher's fingerprint: report.json's labelling
    section says which runtime answered how many texts and what the parity was."""

    def __init__(self, encoder, setting: str, progress=None):
        self.encoder, self.setting, self.progress = encoder, setting, progress
        self.candidates: dict | None = None
        self.decided: str | None = None
        self.decided_on_labels = False  # whether the head was known when auto decided
        self.note: str | None = None
        self.head = None  # the teacher's head on the embeddings, where known (use_labelling_runtime sets it)
        self.reference: list[np.ndarray] = []
        self.found: dict[str, list[np.ndarray]] = {}
        self.timings: dict[str, list[tuple[int, float]]] = {"torch": []}
        self.counts = {"torch": 0, "onnx": 0, "bf16": 0}

    def _start(self) -> None:
        found: dict = {}
        if self.setting in ("auto", "onnx"):
            try:
                import onnxruntime  # noqa: F401

                folder = onnx_folder(self.encoder, progress=self.progress)
                found["onnx"] = OnnxEncoder(self.encoder, folder / "model.onnx").predict
            except (ImportError, UserError) as exc:
                if self.setting == "onnx":
                    raise UserError(f"labelling.runtime is 'onnx', but {exc}") from None
                self.note = str(exc)
        if self.setting in ("auto", "bf16"):
            found["bf16"] = self.encoder.bf16_predict
        self.candidates = found
        self.found = {name: [] for name in found}
        self.timings.update({name: [] for name in found})
        if not found:
            self.decided = "torch"

    def _timed(self, name: str, predict, texts) -> dict:
        start = time.perf_counter()
        out = predict(texts)
        self.timings[name].append((len(texts), time.perf_counter() - start))
        return out

    def speed(self, name: str) -> float | None:
        """Texts/s on the parity texts, the first (loading) batch left out when there are others."""
        runs = self.timings.get(name) or []
        runs = runs[1:] if len(runs) > 1 else runs
        seconds = sum(t for _, t in runs)
        return round(sum(n for n, _ in runs) / seconds, 2) if seconds > 0 else None

    def predict(self, texts: Sequence[str]) -> dict[str, np.ndarray]:
        if self.candidates is None:
            self._start()
        if self.decided is not None:
            use = (self.candidates or {}).get(self.decided, self.encoder.torch_predict)
            self.counts[self.decided] += len(texts)
            return use(texts)
        ref = self._timed("torch", self.encoder.torch_predict, texts)
        self.reference.append(ref["embedding"])
        for name, candidate in (self.candidates or {}).items():
            self.found[name].append(self._timed(name, candidate, texts)["embedding"])
        self.counts["torch"] += len(texts)
        if sum(len(r) for r in self.reference) >= PARITY_TEXTS:
            self.decided = self._decide()
        return ref

    def parity(self, name: str, head=None) -> dict | None:
        if not self.reference or not self.found.get(name):
            return None
        found = compare(np.concatenate(self.reference), np.concatenate(self.found[name]), head)
        return {**found, "texts_per_s": self.speed(name)}

    def same_teacher(self, name: str, parity: dict | None) -> bool:
        return qualifies(parity) if name == "onnx" else close_enough(parity)

    def _decide(self) -> str:
        if self.setting in ("onnx", "bf16"):
            return self.setting
        self.decided_on_labels = self.head is not None
        base = self.speed("torch") or 0.0
        good = [n for n in self.found if self.same_teacher(n, self.parity(n, self.head))]
        fastest = max(good, key=lambda n: self.speed(n) or 0.0, default=None)
        chosen = fastest if fastest is not None and (self.speed(fastest) or 0.0) > 1.1 * base else "torch"
        if self.progress is not None:
            said = ", ".join(f"{n} {self.speed(n)}/s" for n in ["torch", *self.found])
            self.progress.note(f"teacher runtime: {chosen} (on the first {PARITY_TEXTS} texts: {said})")
        return chosen

    def report(self, head=None) -> dict:
        """What report.json's labelling section records: the setting, the runtime that labelled, the parity."""
        parity = {}
        for name in self.found:
            found = self.parity(name, head)
            if found is not None:
                parity[name] = {**found, "qualified": self.same_teacher(name, found)}
        note = self.note
        used = self.decided or "torch"
        if used == "bf16" and not parity.get("bf16", {}).get("qualified", True):
            agree = parity["bf16"].get("agreement")
            note = (
                f"bfloat16 was chosen on its embeddings, before the teacher's head was known; its labels agree with "
                f"float32's on {agree:.1%} of the parity texts, under {LOW_PRECISION_MIN_AGREEMENT:.0%}: set "
                "labelling.runtime: torch"
            )
        from ..report.schema import LabellingRuntimeFigures

        return LabellingRuntimeFigures(
            setting=self.setting,
            runtime=used,
            texts=self.counts,
            speed={"torch": self.speed("torch"), **{n: self.speed(n) for n in self.found}},
            parity=parity or None,
            decided_on_labels=self.decided_on_labels,
            note=note,
        ).model_dump()


def use_labelling_runtime(teacher, setting: str, progress=None, like: LabellingRuntime | None = None):
    """Put labelling.runtime on the teacher's sentence encoder; `like`: one already on another encoder object
    of the same files (the demo head's), whose parity and counts it then shares. Returns it, or None."""
    encoder = encoder_of(teacher)
    if encoder is None or setting == "torch":
        return None
    gate = like if like is not None and like.encoder.fingerprint == encoder.fingerprint else None
    gate = gate or LabellingRuntime(encoder, setting, progress)
    gate.head = gate.head or head_of(teacher)
    encoder.runtime = gate
    return gate
