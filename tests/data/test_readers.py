"""Data readers: every format reads the same texts, and every bad input gives a message that says what to fix."""

import json

import pandas as pd
import pytest

from understudy.data.readers import load_texts, read_table
from understudy.errors import UserError
from understudy.recipe import DataFile

TEXTS = ["great product", "awful, broke in a day", "okay I guess", 'said "wow"\nthen left']
LABELS = ["great", "other", "other", "great"]


def spec(path, text="text", label="label", **kw):
    return DataFile(path=str(path), text_column=text, label_column=label, **kw)


def write_csv(path, rows, header="text,label"):
    path.write_text(header + "\n" + "\n".join(rows) + "\n", encoding="utf-8")
    return path


def write_all_formats(tmp_path):
    df = pd.DataFrame({"text": TEXTS, "label": LABELS})
    paths = {}
    paths["csv"] = tmp_path / "d.csv"
    df.to_csv(paths["csv"], index=False)
    paths["tsv"] = tmp_path / "d.tsv"
    df.to_csv(paths["tsv"], index=False, sep="\t")
    paths["jsonl"] = tmp_path / "d.jsonl"
    paths["jsonl"].write_text("\n".join(json.dumps(r) for r in df.to_dict("records")) + "\n", encoding="utf-8")
    paths["parquet"] = tmp_path / "d.parquet"
    df.to_parquet(paths["parquet"])
    import datasets

    paths["datasets"] = tmp_path / "d_ds"
    datasets.Dataset.from_dict({"text": TEXTS, "label": LABELS}).save_to_disk(str(paths["datasets"]))
    return paths


def test_all_formats_read_the_same_texts(tmp_path):
    for fmt, path in write_all_formats(tmp_path).items():
        got = load_texts(spec(path), str(path), role="evaluation", known_labels=["great", "other"], require_labels=True)
        assert got.texts == TEXTS, fmt
        assert got.labels == LABELS, fmt
        assert got.rows_read == 4 and got.skipped == {"empty": 0, "duplicate": 0}, fmt
        assert got.sha256 and len(got.sha256) == 64, fmt
        report = got.to_report()
        assert report["rows_used"] == 4 and report["gold_labels"] is True
        assert report["label_counts"] == {"great": 2, "other": 2}
        assert list(read_table(str(path)).columns) == ["text", "label"], fmt


def test_no_label_column_and_numbers_as_text(tmp_path):
    path = tmp_path / "t.jsonl"
    path.write_text('{"text": 42}\n\n{"text": "hello"}\n{"text": null}\n', encoding="utf-8")
    got = load_texts(spec(path, label=None), str(path), role="transfer")
    assert got.texts == ["42", "hello"] and got.labels is None
    assert got.skipped["empty"] == 1 and got.skipped_examples["empty"] == [3]
    assert "label_counts" not in got.to_report() and got.to_report()["gold_labels"] is False


def test_unknown_extension(tmp_path):
    path = tmp_path / "d.xlsx"
    path.write_bytes(b"x")
    with pytest.raises(UserError) as exc:
        load_texts(spec(path), str(path), role="transfer")
    assert "d.xlsx" in str(exc.value) and ".csv" in str(exc.value) and "save_to_disk" in str(exc.value)


def test_latin1_csv_names_line_and_suggests_utf8(tmp_path):
    path = tmp_path / "bad.csv"
    path.write_bytes("text,label\nfine,great\ncaf\u00e9 au lait,other\n".encode("latin-1"))
    with pytest.raises(UserError) as exc:
        load_texts(spec(path), str(path), role="transfer")
    msg = str(exc.value)
    assert "bad.csv" in msg and "line 3" in msg and "byte offset 25" in msg and "UTF-8" in msg


def test_bom_is_fine(tmp_path):
    path = tmp_path / "bom.csv"
    path.write_bytes(b"\xef\xbb\xbftext,label\nhello,great\n")
    assert load_texts(spec(path), str(path), role="transfer").texts == ["hello"]


def test_broken_jsonl_line(tmp_path):
    path = tmp_path / "bad.jsonl"
    path.write_text('{"text": "a", "label": "great"}\n{"text": "b", "label": \n', encoding="utf-8")
    with pytest.raises(UserError) as exc:
        load_texts(spec(path), str(path), role="transfer")
    msg = str(exc.value)
    assert "bad.jsonl:2" in msg and "line 2" in msg and "not valid JSON" in msg


def test_malformed_csv(tmp_path):
    path = write_csv(tmp_path / "bad.csv", ["a,great", "b,other,extra,more"])
    with pytest.raises(UserError) as exc:
        load_texts(spec(path), str(path), role="transfer")
    assert "bad.csv" in str(exc.value) and "Expected 2 fields" in str(exc.value)


def test_missing_column_lists_columns(tmp_path):
    path = write_csv(tmp_path / "d.csv", ["a,great"], header="review,stars")
    with pytest.raises(UserError) as exc:
        load_texts(spec(path), str(path), role="evaluation")
    msg = str(exc.value)
    assert "no column 'text'" in msg and "'review', 'stars'" in msg and "data.evaluation.text_column" in msg
    with pytest.raises(UserError) as exc:
        load_texts(spec(path, text="review", label="gold"), str(path), role="evaluation")
    assert "no column 'gold'" in str(exc.value) and "label_column" in str(exc.value)


def test_empty_and_duplicates_counted(tmp_path):
    rows = ["hello,great", ",other", "   ,other", "  hello ,great", "bye,other", "hello,other", "bye,", '"\t",great']
    path = write_csv(tmp_path / "d.csv", rows)
    got = load_texts(spec(path), str(path), role="transfer")
    assert got.texts == ["hello", "bye"]
    assert got.labels == ["great", "other"]
    assert got.skipped == {"empty": 3, "duplicate": 3}
    assert got.skipped_examples == {"empty": [2, 3, 8], "duplicate": [4, 6, 7]}
    report = got.to_report()
    assert report["rows_read"] == 8 and report["rows_used"] == 2


def test_missing_label_when_required(tmp_path):
    path = write_csv(tmp_path / "d.csv", ["a,great", "b,", "c,other"])
    got = load_texts(spec(path), str(path), role="evaluation", require_labels=True)
    assert (
        got.texts == ["a", "c"] and got.skipped["missing_label"] == 1 and got.skipped_examples["missing_label"] == [2]
    )
    loose = load_texts(spec(path), str(path), role="transfer")
    assert loose.labels == ["great", None, "other"]


def test_conflicting_duplicate_labels_in_evaluation(tmp_path):
    path = write_csv(tmp_path / "d.csv", ["same,great", "other text,other", "same,other", "same,great", "x,great"])
    got = load_texts(spec(path), str(path), role="evaluation", require_labels=True)
    assert got.texts == ["other text", "x"]
    assert got.skipped["conflicting_labels"] == 3 and got.skipped_examples["conflicting_labels"] == [1, 3, 4]
    # in the transfer role the first copy is kept and the rest are plain duplicates
    transfer = load_texts(spec(path), str(path), role="transfer")
    assert transfer.texts == ["same", "other text", "x"] and transfer.skipped["duplicate"] == 2


def test_unknown_label(tmp_path):
    rows = ["a,great", "b,other", "c,neutral", "d,great", "e,neutral", "f,neutral", "g,meh"]
    path = write_csv(tmp_path / "eval.csv", rows)
    with pytest.raises(UserError) as exc:
        load_texts(spec(path), str(path), role="evaluation", known_labels=["great", "other"])
    msg = str(exc.value)
    assert msg.startswith(f"evaluation set {path}: label 'neutral' (3 rows, e.g. rows 3, 5, 6 (lines 4, 6, 7))")
    assert "label 'meh' (1 row, e.g. row 7 (line 8))" in msg
    assert "teacher's labels ['great', 'other']" in msg and "map or remove" in msg


def test_numeric_labels_compare_as_strings(tmp_path):
    path = tmp_path / "d.jsonl"
    path.write_text('{"text": "a", "label": 1}\n{"text": "b"}\n{"text": "c", "label": 0}\n', encoding="utf-8")
    got = load_texts(spec(path), str(path), role="transfer", known_labels=["0", "1"])
    assert got.labels == ["1", None, "0"]


def test_all_rows_empty(tmp_path):
    path = write_csv(tmp_path / "d.csv", [",great", "  ,other"])
    with pytest.raises(UserError) as exc:
        load_texts(spec(path), str(path), role="transfer")
    msg = str(exc.value)
    assert "d.csv" in msg and "no usable rows" in msg and "empty: 2" in msg and "text_column" in msg


def test_list_text_is_an_error(tmp_path):
    path = tmp_path / "d.jsonl"
    path.write_text('{"text": "ok"}\n{"text": ["a", "b"]}\n', encoding="utf-8")
    with pytest.raises(UserError) as exc:
        load_texts(spec(path, label=None), str(path), role="transfer")
    assert "row 2 (line 2)" in str(exc.value) and "list" in str(exc.value)


def test_limit_applies_before_cleaning(tmp_path):
    path = write_csv(tmp_path / "d.csv", ["a,great", ",other", "a,great", "b,other", "c,other"])
    got = load_texts(spec(path, limit=3), str(path), role="transfer")
    assert got.texts == ["a"] and got.rows_read == 3
    assert got.skipped == {"empty": 1, "duplicate": 1}


def test_multiline_csv_rows_point_at_their_lines(tmp_path):
    path = tmp_path / "d.csv"
    path.write_text('text,label\n"two\nlines",great\nnext,bad\n', encoding="utf-8")
    with pytest.raises(UserError) as exc:
        load_texts(spec(path), str(path), role="evaluation", known_labels=["great"])
    assert "row 2 (line 4)" in str(exc.value)


def test_every_copy_of_a_conflicting_text_is_counted(tmp_path):
    path = write_csv(tmp_path / "d.csv", ["same,great", "same,great", "same,other", "kept,other"])
    got = load_texts(spec(path), str(path), role="evaluation")
    assert got.texts == ["kept"] and got.skipped == {"empty": 0, "duplicate": 0, "conflicting_labels": 3}
    assert got.rows_read - sum(got.skipped.values()) == len(got.texts)


def test_a_misspelt_column_gets_did_you_mean(tmp_path):
    path = write_csv(tmp_path / "d.csv", ["great product,great", "awful,other"], header="text,category")
    with pytest.raises(UserError) as err:
        load_texts(spec(path, label="categroy"), str(path), role="evaluation")
    msg = str(err.value)
    assert "no column 'categroy' (did you mean 'category'? data.evaluation.label_column)" in msg
    assert err.value.recipe_key == ("data", "evaluation", "label_column")  # check names the recipe line
    with pytest.raises(UserError) as err:
        load_texts(spec(path, text="Text", label=None), str(path), role="transfer")
    assert "did you mean 'text'?" in str(err.value)  # the same but for case
    with pytest.raises(UserError) as err:
        load_texts(spec(path, text="body", label=None), str(path), role="transfer")
    assert "did you mean" not in str(err.value)  # nothing close: no guess


def test_a_label_that_differs_only_in_case_gets_did_you_mean(tmp_path):
    path = write_csv(tmp_path / "d.csv", ["great product,Great", "awful,other"])
    with pytest.raises(UserError) as err:
        load_texts(spec(path), str(path), role="evaluation", known_labels=["great", "other"], require_labels=True)
    assert "label 'Great'" in str(err.value) and "did you mean 'great'?" in str(err.value)
