"""The transformer student as an ONNX graph, through torch.onnx.export.

torch 2.13's default exporter (dynamo=True) needs onnxscript and onnx-ir beside onnx; the TorchScript exporter
(dynamo=False) needs only onnx, is several times faster on these small encoders and gave the same logits
(within 1e-7) on a tiny BERT, so it is the one used. Its deprecation and tracer warnings are silenced: the
parity figures, measured on held-out texts after export, are the check that the trace generalises.
"""

from __future__ import annotations

import warnings
from pathlib import Path

from ..errors import UserError

OPSET = 17


def check_transformer(student, folder) -> None:
    """The exported runtime tokenizes with `tokenizers` alone: the student needs a fast tokenizer (tokenizer.json)."""
    if not getattr(student.tokenizer, "is_fast", False) or not (Path(folder) / "tokenizer.json").is_file():
        raise UserError(
            f"{folder} has no tokenizer.json (a slow tokenizer); the ONNX export tokenizes with the tokenizers "
            "package only: save the student with a fast tokenizer"
        )


def export_transformer(student, path: Path) -> None:
    """model.onnx: input_ids, attention_mask [batch, sequence] int64 -> logits, probs [batch, classes]."""
    import torch

    class Logits(torch.nn.Module):
        def __init__(self, net):
            super().__init__()
            self.net = net

        def forward(self, input_ids, attention_mask):
            logits, _ = self.net({"ids": input_ids, "mask": attention_mask})
            return logits, torch.softmax(logits, dim=1)

    net = student.net.eval()
    project, net.project = net.project, None  # the training-only projection stays out of the graph
    # A batch with padding: a trace on equal lengths may drop the attention mask as all-ones.
    batch = student.collate(student.token_ids(["an example text to trace with", "short"]))
    try:
        trace_to_onnx(Logits(net), (batch["ids"], batch["mask"]), path, ["logits", "probs"], "the transformer student")
    finally:
        net.project = project


def trace_to_onnx(module, inputs: tuple, path: Path, outputs: list[str], what: str) -> None:
    """torch.onnx.export (TorchScript) of `module(input_ids, attention_mask)`: batch and sequence axes dynamic,
    every output's first axis the batch. Shared by the transformer student and the encoder teacher."""
    import torch

    dynamic = {"input_ids": {0: "batch", 1: "sequence"}, "attention_mask": {0: "batch", 1: "sequence"}}
    dynamic.update({name: {0: "batch"} for name in outputs})
    try:
        with warnings.catch_warnings(), torch.inference_mode(False), torch.no_grad():
            warnings.simplefilter("ignore")
            torch.onnx.export(
                module,
                inputs,
                str(path),
                input_names=["input_ids", "attention_mask"],
                output_names=outputs,
                dynamic_axes=dynamic,
                opset_version=OPSET,
                do_constant_folding=True,
                dynamo=False,
            )
    except ImportError as exc:
        raise UserError(f"exporting a transformer to ONNX needs the onnx package: pip install onnx ({exc})") from None
    except Exception as exc:  # the exporter's own errors name the op it could not convert
        raise UserError(f"torch.onnx.export could not export {what}: {exc}") from None
