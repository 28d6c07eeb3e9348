"""The sentence-encoder teacher through ONNX Runtime: the same weights, exported once, cached, parity checked.

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
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ..errors import UserError

PARITY_TEXTS = 256  # texts the ONNX form is checked on against PyTorch
INT8_MIN_AGREEMENT = 0.99  # int8 counts only where its labels agree with float32 on this share of the texts
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
    """max |difference| of the embeddings, and (with a head) the share of texts given the same label."""
    found = {"texts": len(reference), "max_abs_diff": float(np.abs(reference - candidate).max())}
    if head is not None:
        same = head(reference).argmax(1) == head(candidate).argmax(1)
        found["agreement"] = round(float(same.mean()), 4)
    return found


def qualifies(parity: dict | None) -> bool:
    """float32 counts as the same model: the same label on every text, embeddings within MAX_DIFF."""
    return bool(parity) and parity["max_abs_diff"] <= MAX_DIFF and parity.get("agreement", 1.0) >= 1.0


def encoder_of(teacher):
    """The SentenceEncoder a teacher runs on (itself, or an EncoderWithHead's), or None."""
    from .encoder import SentenceEncoder

    found = teacher if isinstance(teacher, SentenceEncoder) else getattr(teacher, "encoder", None)
    return found if isinstance(found, SentenceEncoder) else None


def head_of(teacher):
    return teacher.from_embeddings if hasattr(teacher, "from_embeddings") else None


def runtimes(teacher, threads: int = 0, progress=None) -> tuple[dict, str | None]:
    """({"torch": predict, "onnx": predict, "onnx_int8": predict}, None), or ({"torch": predict}, why not ONNX):
    the same teacher in each runtime, for timing side by side. Only a sentence-encoder teacher has ONNX forms."""
    encoder = encoder_of(teacher)
    if encoder is None:
        return {"torch": teacher.predict}, "only a sentence-encoder teacher has an ONNX Runtime form here"
    wrap = teacher.with_encoder if hasattr(teacher, "with_encoder") else (lambda encode: encode)
    forms = {"torch": wrap(encoder.torch_predict)}
    try:
        import onnxruntime  # noqa: F401

        folder = onnx_folder(encoder, progress=progress)
        forms["onnx"] = wrap(OnnxEncoder(encoder, folder / "model.onnx", threads).predict)
        forms["onnx_int8"] = wrap(OnnxEncoder(encoder, int8_model(folder), threads).predict)
    except (ImportError, UserError) as exc:  # no onnx / onnxruntime, or a pipeline the export does not cover
        return {"torch": forms["torch"]}, str(exc)
    return forms, None


class LabellingRuntime:
    """labelling.runtime on a SentenceEncoder (set as its `onnx`): the first PARITY_TEXTS texts are encoded in
    both runtimes and answered from PyTorch (so they are the reference, stored as usual); from then on 'auto'
    answers through ONNX Runtime float32 if its embeddings stayed within MAX_DIFF of PyTorch's, else PyTorch;
    'onnx' answers through ONNX Runtime either way. The export is made (or found in the cache) on the first
    call, so a run whose texts are all stored never exports. No onnxruntime: 'auto' stays on PyTorch, 'onnx'
    is an error."""

    def __init__(self, encoder, setting: str, progress=None):
        self.encoder, self.setting, self.progress = encoder, setting, progress
        self.candidate, self.decided, self.note = None, None, None
        self.reference, self.found, self.counts = [], [], {"torch": 0, "onnx": 0}

    def _start(self) -> None:
        try:
            import onnxruntime  # noqa: F401

            self.candidate = OnnxEncoder(self.encoder, onnx_folder(self.encoder, progress=self.progress) / "model.onnx")
        except (ImportError, UserError) as exc:
            if self.setting == "onnx":
                raise UserError(f"labelling.runtime is 'onnx', but {exc}") from None
            self.decided, self.note = "torch", str(exc)

    def predict(self, texts: Sequence[str]) -> dict[str, np.ndarray]:
        if self.candidate is None and self.decided is None:
            self._start()
        if self.decided is not None:
            use = self.candidate.predict if self.decided == "onnx" else self.encoder.torch_predict
            self.counts[self.decided] += len(texts)
            return use(texts)
        ref = self.encoder.torch_predict(texts)
        self.reference.append(ref["embedding"])
        self.found.append(self.candidate.predict(texts)["embedding"])
        self.counts["torch"] += len(texts)
        if sum(len(r) for r in self.reference) >= PARITY_TEXTS:
            ok = qualifies(compare(np.concatenate(self.reference), np.concatenate(self.found)))
            self.decided = "onnx" if ok or self.setting == "onnx" else "torch"
        return ref

    def report(self, head=None) -> dict:
        """What report.json's labelling section records: the setting, the runtime that labelled, the parity."""
        parity = None
        if self.reference:
            parity = compare(np.concatenate(self.reference), np.concatenate(self.found), head)
            parity["qualified"] = qualifies(parity)
        from ..report.schema import LabellingRuntimeFigures

        return LabellingRuntimeFigures(
            setting=self.setting, runtime=self.decided or "torch", texts=self.counts, parity=parity, note=self.note
        ).model_dump()


def use_labelling_runtime(teacher, setting: str, progress=None, like: LabellingRuntime | None = None):
    """Put labelling.runtime on the teacher's sentence encoder; `like`: one already on another encoder object
    of the same files (the demo head's), whose parity and counts it then shares. Returns it, or None."""
    encoder = encoder_of(teacher)
    if encoder is None or setting == "torch":
        return None
    gate = like if like is not None and like.encoder.fingerprint == encoder.fingerprint else None
    gate = gate or LabellingRuntime(encoder, setting, progress)
    encoder.onnx = gate
    return gate
