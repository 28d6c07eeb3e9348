"""The static student as an ONNX graph, written with onnx.helper (no torch): the same arithmetic as
StaticStudent.predict_proba.

model2vec's own export takes flat ids + offsets (an EmbeddingBag) and returns embeddings; this graph takes
padded ids + an attention mask, as exported transformers do, so one runtime serves both kinds, and it returns
the head's logits and probabilities. Texts become ids outside the graph (tokenizer.json), as in model2vec.
"""

from __future__ import annotations

import numpy as np

from ..errors import UserError

OPSET = 17
HEAD_KEYS = {"w1", "b1", "w2", "b2"}


def check_static(student, folder) -> None:
    """What the graph reproduces: a trained one-hidden-layer head, and a tokenizer whose ids do not depend on the batch."""
    head = student.head_
    if head is None:
        raise UserError(f"{folder}: the static student has no head (head.safetensors); train it before exporting")
    if set(head) != HEAD_KEYS:
        raise UserError(
            f"{folder}/head.safetensors holds {sorted(head)}; the ONNX export supports the head {sorted(HEAD_KEYS)} "
            "(one hidden layer with ReLU) only"
        )
    padding = student.tokenizer.padding
    if padding is not None and padding.get("length") is None:  # to the longest text of each batch
        raise UserError(
            f"{folder}/tokenizer.json pads each batch to its longest text, so the student's answer for a text "
            "depends on the texts batched with it; the ONNX export cannot reproduce that: save the tokenizer "
            "without padding (tokenizer.no_padding())"
        )


def build_static_graph(student, *, half: bool):
    """ModelProto: input_ids, attention_mask [batch, seq] int64 -> logits, probs [batch, classes] float32.

    `half`: keep the embedding table in float16 (as model.safetensors stores it) and cast after the lookup;
    exact when the table came from that file, and half the size."""
    from onnx import TensorProto, helper, numpy_helper

    emb = np.asarray(student.embeddings, dtype=np.float32)
    if half and not np.array_equal(emb.astype(np.float16).astype(np.float32), emb):
        half = False  # not a float16 table after all: keep it exact
    h = {k: np.asarray(v, dtype=np.float32) for k, v in student.head_.items()}
    n_classes = h["w2"].shape[0]
    if n_classes != len(student.labels):
        raise UserError(f"the static student's head has {n_classes} outputs for {len(student.labels)} labels")
    inits = [
        numpy_helper.from_array(emb.astype(np.float16) if half else emb, "embeddings"),
        numpy_helper.from_array(np.ascontiguousarray(h["w1"].T), "w1_t"),
        numpy_helper.from_array(h["b1"], "b1"),
        numpy_helper.from_array(np.ascontiguousarray(h["w2"].T), "w2_t"),
        numpy_helper.from_array(h["b2"], "b2"),
        numpy_helper.from_array(np.array([1], dtype=np.int64), "axis1"),
        numpy_helper.from_array(np.array([2], dtype=np.int64), "axis2"),
        numpy_helper.from_array(np.array(1.0, dtype=np.float32), "one"),
        numpy_helper.from_array(np.array(1e-12, dtype=np.float32), "eps"),
    ]
    node = helper.make_node
    nodes = [node("Gather", ["embeddings", "input_ids"], ["looked_up"])]
    if half:
        nodes.append(node("Cast", ["looked_up"], ["vectors"], to=TensorProto.FLOAT))
    else:
        nodes.append(node("Identity", ["looked_up"], ["vectors"]))
    nodes += [
        # mean over the real tokens; a text with none stays zero, as in StaticStudent.embed
        node("Cast", ["attention_mask"], ["mask"], to=TensorProto.FLOAT),
        node("Unsqueeze", ["mask", "axis2"], ["mask3"]),
        node("Mul", ["vectors", "mask3"], ["masked"]),
        node("ReduceSum", ["masked", "axis1"], ["summed"], keepdims=0),
        node("ReduceSum", ["mask", "axis1"], ["count"], keepdims=1),
        node("Max", ["count", "one"], ["count1"]),
        node("Div", ["summed", "count1"], ["mean"]),
    ]
    pooled = "mean"
    if student.normalize:
        nodes += [
            node("ReduceL2", ["mean"], ["norm"], axes=[1], keepdims=1),
            node("Add", ["norm", "eps"], ["norm_eps"]),
            node("Div", ["mean", "norm_eps"], ["unit"]),
        ]
        pooled = "unit"
    # MatMul + Add rather than Gemm: onnxruntime's dynamic int8 quantises MatMul, not Gemm
    nodes += [
        node("MatMul", [pooled, "w1_t"], ["pre1"]),
        node("Add", ["pre1", "b1"], ["pre1_b"]),
        node("Relu", ["pre1_b"], ["hidden"]),
        node("MatMul", ["hidden", "w2_t"], ["pre2"]),
        node("Add", ["pre2", "b2"], ["logits"]),
        node("Softmax", ["logits"], ["probs"], axis=1),
    ]
    ids = helper.make_tensor_value_info("input_ids", TensorProto.INT64, ["batch", "sequence"])
    mask = helper.make_tensor_value_info("attention_mask", TensorProto.INT64, ["batch", "sequence"])
    outs = [helper.make_tensor_value_info(n, TensorProto.FLOAT, ["batch", n_classes]) for n in ("logits", "probs")]
    graph = helper.make_graph(nodes, "understudy_static_student", [ids, mask], outs, initializer=inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="understudy")
    model.ir_version = 8  # what onnxruntime releases of the last years all read
    return model
