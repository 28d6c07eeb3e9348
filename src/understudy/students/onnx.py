"""A student exported to ONNX (`understudy export`): onnxruntime, tokenizers and numpy only, never torch.

The folder holds model.onnx (padded token ids + attention mask -> logits and probs), tokenizer.json and
student.json, whose `inputs` say how texts become ids, as the source student did it.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ..errors import UserError
from . import calibrate, read_temperature

BATCH = 64


class OnnxStudent:
    kind = "onnx"
    temperature: float | None = None  # the copied calibration.json's, set on load; None: the raw scores

    def __init__(self, session, tokenizer, labels: list[str], inputs: dict):
        self.session = session
        self.tokenizer = tokenizer
        self.labels = list(labels)
        self.max_length = int(inputs["max_length"])
        self.add_special_tokens = bool(inputs["add_special_tokens"])
        self.truncate_ids = inputs["truncation"] == "ids"  # static: cut the ids, then drop unknown tokens
        self.drop_ids = set(inputs.get("drop_ids") or [])
        self.pad_id = int(inputs.get("pad_id", 0))
        self.min_mask = int(inputs.get("min_mask", 0))  # transformer: an empty text still attends to one position
        if not self.truncate_ids:  # as transformers calls it: no padding, truncation to max_length
            self.tokenizer.no_padding()
            self.tokenizer.enable_truncation(self.max_length, direction=inputs.get("truncation_side", "right"))
        # static: the tokenizer as saved, as StaticStudent uses it (the export refused batch-dependent padding)

    @classmethod
    def for_teacher(cls, *args, **kwargs):
        """The training engine's entry: an ONNX student is exported from a trained one, never trained itself."""
        raise UserError(
            "student.kind 'onnx' cannot be trained: distil a 'static' or 'transformer' student, then "
            "`understudy export RUN --format onnx`"
        )

    @classmethod
    def load(cls, path: str | Path) -> OnnxStudent:
        try:
            import onnxruntime as ort
        except ImportError:
            raise UserError(
                "an ONNX student needs onnxruntime: pip install onnxruntime (or understudy[serve])"
            ) from None
        from tokenizers import Tokenizer

        path = Path(path)
        meta = json.loads((path / "student.json").read_text(encoding="utf-8"))
        for name in ("model.onnx", "tokenizer.json"):
            if not (path / name).is_file():
                raise UserError(f"{path} is not a complete ONNX export: {name} missing; rerun `understudy export`")
        options = ort.SessionOptions()
        options.log_severity_level = 3  # onnxruntime's own warnings go to stderr, not through our reporting
        session = ort.InferenceSession(str(path / "model.onnx"), options, providers=["CPUExecutionProvider"])
        student = cls(session, Tokenizer.from_file(str(path / "tokenizer.json")), meta["labels"], meta["inputs"])
        student.temperature = read_temperature(path)  # an export carries its calibration.json
        return student

    def token_ids(self, texts: Sequence[str]) -> list[list[int]]:
        if not len(texts):
            return []
        encodings = self.tokenizer.encode_batch_fast(list(texts), add_special_tokens=self.add_special_tokens)
        if not self.truncate_ids:
            return [list(e.ids) for e in encodings]
        return [[i for i in e.ids[: self.max_length] if i not in self.drop_ids] for e in encodings]

    def _run(self, seqs: list[list[int]]) -> np.ndarray:
        width = max(1, max(len(s) for s in seqs))
        ids = np.full((len(seqs), width), self.pad_id, dtype=np.int64)
        mask = np.zeros_like(ids)
        for row, s in enumerate(seqs):
            ids[row, : len(s)] = s
            mask[row, : max(self.min_mask, len(s))] = 1
        return self.session.run(["probs"], {"input_ids": ids, "attention_mask": mask})[0]

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        ids = self.token_ids(texts)
        out = np.zeros((len(ids), len(self.labels)), dtype=np.float32)
        order = np.argsort([len(s) for s in ids], kind="stable")  # similar lengths together: less padding
        for i in range(0, len(order), BATCH):
            rows = order[i : i + BATCH]
            out[rows] = self._run([ids[r] for r in rows])
        return calibrate(out, self.temperature)

    def predict(self, texts: Sequence[str]) -> list[str]:
        return [self.labels[i] for i in self.predict_proba(texts).argmax(1)]
