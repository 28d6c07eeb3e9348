"""A table teacher from an ONNX model (e.g. a scikit-learn model or pipeline exported with skl2onnx), run by
ONNX Runtime on the CPU.

The two shapes skl2onnx exports come in:
  one float tensor (n, d)   the numeric feature columns, in the order `teacher.options.columns` lists them
                            (default: the table's numeric columns in order; a categorical column needs the
                            other shape)
  one input per column      named as the columns: float tensors for numeric ones, string tensors for
                            categorical ones, each (n, 1)
A classifier's probabilities come as a tensor (n, k) or as skl2onnx's ZipMap (a list of {class: p}, whose keys
name the classes when teacher.labels does not); a regressor's numbers as (n, 1) or (n,).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from ..errors import UserError
from .base import fingerprint_files
from .boosted import TEXT_TASK, as_numbers, check_options, missing_column, model_file, option_columns, text_of
from .tabular import TableTeacher, _name

OPTIONS = {
    "columns": "for a model with one float input: the numeric columns it takes, in its order",
    "output": "the name of the output holding the probabilities (classification) or the numbers (regression)",
    "threads": "ONNX Runtime's threads within an operator (0, the default: all cores)",
}
FLOATS = {"tensor(float)": np.float32, "tensor(double)": np.float64}
INTS = {"tensor(int64)": np.int64, "tensor(int32)": np.int32}
STRINGS = {"tensor(string)"}


class OnnxTableTeacher(TableTeacher):
    def __init__(self, path: str | Path, schema, labels, regression: bool, options: dict | None = None):
        try:
            import onnxruntime as ort
        except ImportError:
            raise UserError("teacher kind onnx needs ONNX Runtime: pip install 'understudy[export]'") from None
        self.path = Path(path)
        where = f"ONNX model {self.path}"
        options = dict(options or {})
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = int(options.get("threads", 0))  # 0: all cores
        opts.inter_op_num_threads = 1
        opts.log_severity_level = 3
        try:
            self.session = ort.InferenceSession(str(self.path), opts, providers=["CPUExecutionProvider"])
        except Exception as exc:  # onnxruntime's InvalidProtobuf, Fail, ...
            raise UserError(
                f"{self.path}: ONNX Runtime cannot load it as an ONNX model ({str(exc).strip()[:200]}); export the "
                "model with skl2onnx (to_onnx or convert_sklearn) and save model.SerializeToString()"
            ) from None
        self.where = where
        self.feed = self._inputs(schema, options, where)
        self.output, self.zipmap = self._output(options.get("output"), regression, where)
        if not regression:
            labels = self._labels(labels, where)
        self.description = f"ONNX model {self.path.name} ({'regression' if regression else f'{len(labels)} classes'})"
        super().__init__(schema, labels, regression)
        extra = json.dumps(["onnx-table", self.feed, self.output], sort_keys=True)
        self.fingerprint = fingerprint_files(self.path, extra=extra)
        self.files = [self.path]

    # --- inputs ---------------------------------------------------------------------------------------

    def _inputs(self, schema, options, where) -> list:
        """[input name, its type, its rank, [columns]]: one entry for a matrix input, one per column otherwise."""
        inputs = self.session.get_inputs()
        columns = option_columns(options, schema, where)
        one = inputs[0] if len(inputs) == 1 else None
        if one is not None and (columns is not None or one.name not in schema.features):
            return [self._matrix(one, schema, columns, where)]
        if columns is not None:
            raise UserError(
                f"{where} has one input per column ({', '.join(i.name for i in inputs)}): teacher.options.columns is "
                "for a model with one float input; leave it out"
            )
        feed = []
        for i in inputs:
            if i.name not in schema.features:
                raise UserError(missing_column(i.name, schema, where, f"the model's input '{i.name}'"))
            kind = schema.column(i.name).kind
            if i.type in STRINGS:
                pass  # a numeric column is sent as its text ('3' for 3.0)
            elif i.type in FLOATS or i.type in INTS:
                if kind == "categorical":
                    raise UserError(
                        f"{where}: input '{i.name}' takes numbers ({i.type}) but the table reads '{i.name}' as "
                        "categories; list it in data.numeric in the recipe"
                    )
            else:
                raise UserError(f"{where}: input '{i.name}' is a {i.type}; float, integer and string inputs are read")
            feed.append([i.name, i.type, len(i.shape or [None, 1]), [i.name]])
        return feed

    @staticmethod
    def _matrix(one, schema, columns, where) -> list:
        if one.type not in FLOATS:
            raise UserError(
                f"{where}: its one input '{one.name}' is a {one.type}; one float tensor of the numeric columns, or "
                "one input per column, is read"
            )
        if columns is None:
            cats = [c.name for c in schema.columns if c.kind == "categorical"]
            if cats:
                raise UserError(
                    f"{where} takes one float tensor, but the table has categorical columns ({', '.join(cats)}). "
                    "Export the model with one input per column (skl2onnx convert_sklearn with initial_types "
                    "[(column, FloatTensorType([None, 1])) or StringTensorType for each]), or list the numeric "
                    "columns it takes, in its order, in teacher.options.columns"
                )
            columns = [c.name for c in schema.columns]
        wrong = [c for c in columns if schema.column(c).kind != "numeric"]
        if wrong:
            raise UserError(
                f"{where} takes one float tensor, but teacher.options.columns names categorical columns "
                f"({', '.join(wrong)}); export the model with one input per column, or list them in data.numeric"
            )
        width = (one.shape or [None, None])[-1]
        if isinstance(width, int) and width != len(columns):
            raise UserError(
                f"{where} takes {width} columns in its input '{one.name}', but {len(columns)} are given "
                f"({', '.join(columns[:12])}); list the ones it takes, in its order, in teacher.options.columns"
            )
        return [one.name, one.type, 2, columns]

    def _feeds(self, frame) -> dict:
        out = {}
        for name, type_, rank, columns in self.feed:
            if type_ in STRINGS:
                values = np.array([text_of(v) or "" for v in frame[columns[0]].tolist()], dtype=object)
            else:
                if len(columns) == 1:
                    values = as_numbers(frame, columns[0], self.where).reshape(-1, 1)
                else:  # the columns were checked numeric against the schema: one conversion for all
                    values = frame[columns].to_numpy(dtype=np.float64, na_value=np.nan)
                if type_ in INTS:
                    missing = np.isnan(values).any(axis=1)
                    if missing.any():
                        raise UserError(
                            f"{self.where}: input '{name}' takes integers and row {int(np.argmax(missing))} of this "
                            "batch has no value; set data.on_missing: skip, or export the model with a float input"
                        )
                values = values.astype(FLOATS.get(type_) or INTS[type_])
            out[name] = values.reshape(len(frame), -1) if rank >= 2 else values.reshape(-1)
        return out

    # --- outputs --------------------------------------------------------------------------------------

    def _output(self, named, regression, where) -> tuple[str, bool]:
        outputs = {o.name: o for o in self.session.get_outputs()}
        zipmaps = [n for n, o in outputs.items() if o.type.startswith("seq(map(")]
        if regression and zipmaps:
            raise UserError(f"{where} is a classifier (output {zipmaps[0]}): use it with task tabular-classification")
        if named is not None:
            if named not in outputs:
                raise UserError(f"teacher.options.output: {where} has no output '{named}'; it has {', '.join(outputs)}")
            return named, named in zipmaps
        if zipmaps:
            return zipmaps[0], True
        floats = [n for n, o in outputs.items() if o.type in FLOATS]
        if not floats:
            raise UserError(f"{where} has no float output ({', '.join(outputs)}); name it in teacher.options.output")
        if len(floats) > 1:
            prefer = [n for n in floats if "prob" in n.lower()] if not regression else []
            if len(prefer) != 1:
                raise UserError(
                    f"{where} has several float outputs ({', '.join(floats)}); name the one to read in "
                    "teacher.options.output"
                )
            floats = prefer
        return floats[0], False

    def _labels(self, labels, where) -> list[str]:
        found = _graph_classes(self.path, "ZipMap" if self.zipmap else None)
        if found is None and self.zipmap:
            found = self._zipmap_classes()
        self.order = None  # for a probability tensor: which of its columns each label is
        if labels:
            labels = [str(x) for x in labels]
            if found is not None and sorted(found) != sorted(labels):
                raise UserError(
                    f"teacher.labels {labels} are not the classes {where} names ({found}); list those, in any order"
                )
            if found is not None and not self.zipmap:
                self.order = [found.index(x) for x in labels]
            return labels
        if found is None:
            raise UserError(
                f"{where} does not name its classes; list them in teacher.labels in the order of its "
                "probability columns"
            )
        return found

    def _zipmap_classes(self) -> list[str]:
        """The classes ZipMap names, read from its answer on one blank row (where the onnx package is missing)."""
        probe = {}
        for name, type_, rank, columns in self.feed:
            shape = (1, len(columns)) if rank >= 2 else (1,)
            if type_ in STRINGS:
                probe[name] = np.full(shape, "", dtype=object)
            else:
                probe[name] = np.zeros(shape, dtype=FLOATS.get(type_) or INTS[type_])
        try:
            maps = self.session.run([self.output], probe)[0]
        except Exception as exc:
            raise UserError(f"{self.where} failed on a probe row: {str(exc).strip()[:200]}") from None
        return [_name(k) for k in maps[0]]

    # --- predict --------------------------------------------------------------------------------------

    def predict(self, rows) -> dict[str, np.ndarray]:
        frame = self.frame(rows)
        try:
            raw = self.session.run([self.output], self._feeds(frame))[0]
        except UserError:
            raise
        except Exception as exc:
            raise UserError(f"{self.where} failed on {len(frame)} rows: {str(exc).strip()[:300]}") from None
        n = len(frame)
        if self.regression:
            raw = np.asarray(raw, dtype=np.float64)
            if raw.ndim == 2 and raw.shape[1] != 1:
                raise UserError(f"{self.where} returns {raw.shape[1]} numbers per row; a regressor returns one")
        elif self.zipmap:
            keys = {_name(k): k for k in raw[0]} if len(raw) else {}
            raw = np.array([[m[keys[x]] for x in self.labels] for m in raw], dtype=np.float64).reshape(n, -1)
        else:
            raw = np.asarray(raw, dtype=np.float64)
            if len(self.labels) == 2 and (raw.ndim == 1 or raw.shape[1] == 1):  # p of the second class only
                p = raw.reshape(-1)
                raw = np.column_stack([1.0 - p, p])
            if self.order is not None:
                raw = raw[:, self.order]
        return self.answer(raw, n)


def _graph_classes(path: Path, op: str | None = None) -> list[str] | None:
    """The class names the classifier nodes (or the `op` nodes) keep (classlabels_strings or _int64s), where they
    name one list; None where they name none, or several."""
    try:
        import onnx
        from onnx import helper

        model = onnx.load(str(path), load_external_data=False)
    except Exception:
        return None
    found = []
    for node in model.graph.node:
        if op is not None and node.op_type != op:
            continue
        for a in node.attribute:
            if a.name in ("classlabels_strings", "classlabels_int64s", "classlabels_ints"):
                value = helper.get_attribute_value(a)
                names = [_name(v.decode() if isinstance(v, bytes) else v) for v in value]
                if names not in found:
                    found.append(names)
    return found[0] if len(found) == 1 else None


def table_onnx(spec, resolve, schema, regression):
    options = check_options(spec, "onnx", OPTIONS)
    path = model_file(spec, resolve, "onnx", "ONNX model file (.onnx)")
    return OnnxTableTeacher(path, schema, spec.labels, regression, options)


def build_onnx(spec, resolve=lambda p: p, head_builder=None):
    """Teacher kind 'onnx' for a text task: refused; the table tasks call `table_builder`."""
    raise UserError(TEXT_TASK.format(kind="onnx"))


build_onnx.table_builder = table_onnx
