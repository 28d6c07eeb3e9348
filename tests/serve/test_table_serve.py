"""`understudy serve` for a table student: POST /v1/predict with rows checked against its schema (422 naming the row
and the column), the oversight policy deferring the unsure rows into the review queue, and a real run on uvicorn."""

from __future__ import annotations

import json

import httpx
import pytest
from fastapi.testclient import TestClient
from serve_builders import Uvicorn, bearer, keys
from tables_builders import STAYS, SURE, UNSURE, table_run, table_student_folder

import understudy
from understudy.serve.app import create_app, resolve_target


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    where = tmp_path_factory.mktemp("table-serve")
    folder = table_student_folder(where / "student", threshold=0.8)
    store, client_key, reviewer_key = keys(where)
    app = create_app(str(folder), keys=store, name="churn-student", max_batch=8)
    server = SimpleServer(TestClient(app), client_key, reviewer_key, folder)
    server.keys = store
    return server


class SimpleServer:
    def __init__(self, api, client_key, reviewer_key, folder):
        self.api, self.client, self.reviewer, self.folder = api, bearer(client_key), bearer(reviewer_key), folder

    def predict(self, body):
        return self.api.post("/v1/predict", json=body, headers=self.client)

    def raw(self, text: str):
        return self.api.post(
            "/v1/predict", content=text.encode(), headers={**self.client, "content-type": "application/json"}
        )


def test_rows_get_the_students_answers_and_the_unsure_ones_wait_for_a_person(served):
    model = understudy.load(served.folder)
    health = served.api.get("/health").json()
    assert health["task"] == "tabular-classification" and health["model"] == "churn-student"
    one = served.predict({"row": SURE})
    assert one.status_code == 200, one.text
    [answer] = one.json()["results"]
    assert answer["label"] == "Yes" and answer["defer_to_human"] is False and answer["review_id"] is None
    assert answer["probabilities"]["Yes"] == pytest.approx(float(model.predict_proba(SURE)[1]), abs=1e-6)
    assert one.json()["classes"] == ["No", "Yes"] and one.json()["warnings"] == []

    before = served.api.get("/v1/review", headers=served.reviewer).json()["pending"]
    batch = served.predict({"rows": [SURE, UNSURE, STAYS]}).json()["results"]
    assert [r["label"] for r in batch] == model.predict([SURE, UNSURE, STAYS])
    assert [r["defer_to_human"] for r in batch] == [False, True, False]
    item = served.api.get(f"/v1/review/{batch[1]['review_id']}", headers=served.reviewer).json()
    # the row as the review desk shows it: every feature, as plain col=value text
    assert item["text"] == "tenure=20, contract=Month-to-month, charges=60" and item["suggested"] == "Yes"
    assert served.api.get("/v1/review", headers=served.reviewer).json()["pending"] == before + 1
    metrics = served.api.get("/metrics", headers=served.client).text
    assert 'understudy_model{model="churn-student",task="tabular-classification"' in metrics


def test_null_is_a_missing_value_and_unseen_categories_and_extra_columns_are_warnings(served):
    odd = {**STAYS, "contract": "Three year", "customer": "c-17", "churn": "No"}
    answer = served.predict({"rows": [odd, {**STAYS, "contract": None}]})
    assert answer.status_code == 200, answer.text
    unseen, missing = answer.json()["results"]
    assert unseen["probabilities"] == missing["probabilities"]  # an unseen category is none of the known ones
    said = answer.json()["warnings"]
    assert any("rows[0]: column 'contract': 'Three year' is a category the student never saw" in w for w in said)
    assert "ignored: 'customer', 'churn' are not feature columns of this student" in said


def test_a_working_example_in_the_docs_and_the_keys_as_for_classifiers(served):
    assert served.api.post("/v1/predict", json={"row": SURE}).status_code == 401
    spec = served.api.get("/openapi.json", headers=served.client).json()
    assert spec["paths"]["/v1/predict"]["post"]["security"] == [{"bearer": []}]
    examples = spec["components"]["schemas"]["TablePredictRequest"]["examples"]
    assert examples[0]["row"]["contract"] == "Month-to-month" and isinstance(examples[0]["row"]["tenure"], float)
    for example in examples:
        assert served.predict(example).status_code == 200, example
    models = served.api.get("/v1/models", headers=served.client).json()
    assert [m["id"] for m in models["data"]] == ["churn-student"]
    for path in ("/v1/classify", "/v1/chat/completions"):
        refused = served.api.post(path, json={"text": "my order never arrived"}, headers=served.client)
        assert refused.status_code == 404 and "POST /v1/predict" in refused.json()["error"]["message"]


@pytest.mark.parametrize(
    ("body", "status", "said", "param"),
    [
        (
            {"rows": [SURE, {"tenure": 3.0, "charges": 20.0}]},
            422,
            "rows[1]: no value for the feature column 'contract'",
            "rows[1].contract",
        ),
        (
            {"row": {"Tenure": 3.0, "contract": "One year", "charges": 20.0}},
            422,
            "did you mean 'Tenure' for 'tenure'?",
            "row.tenure",
        ),
        (
            {"row": {**SURE, "tenure": "3"}},
            422,
            "row: column 'tenure': the text '3' is not a number, but the column is numeric; send a number",
            "row.tenure",
        ),
        ({"row": {**SURE, "tenure": True}}, 422, "column 'tenure': true is not a number", "row.tenure"),
        (
            {"rows": [SURE, SURE, {**SURE, "contract": 2}]},
            422,
            "rows[2]: column 'contract': the number 2 is not text, "
            "but the column is categorical; send its category as a string (e.g. 'Month-to-month')",
            "rows[2].contract",
        ),
        ({"row": {**SURE, "contract": ["One year"]}}, 422, "column 'contract': a list is not text", "row.contract"),
        ({"rows": []}, 422, "rows: the list is empty", "rows"),
        ({"rows": ["tenure=3"]}, 422, "rows[0] is the text 'tenure=3', not a JSON object", "rows"),
        ({"row": [3, "One year", 20]}, 422, "row: a list is not a JSON object", "row"),
        ({"row": SURE, "rows": [SURE]}, 422, "send either 'row' (one row, {column: value}) or 'rows'", None),
        ({}, 422, "send either 'row'", None),
        ({"rows": [SURE] * 9}, 413, "9 rows in one request; this server takes at most 8", "rows"),
    ],
)
def test_bad_rows_are_refused_naming_the_row_and_the_column(served, body, status, said, param):
    answer = served.predict(body)
    assert answer.status_code == status, answer.text
    error = answer.json()["error"]
    assert said in error["message"] and error["param"] == param


@pytest.mark.parametrize(
    ("text", "said"),
    [
        ('{"row": {"tenure": NaN, "contract": "One year", "charges": 20}}', "column 'tenure': NaN is not a finite"),
        (
            '{"row": {"tenure": 3, "contract": "One year", "charges": -Infinity}}',
            "'charges': -Infinity is not a finite",
        ),
        ('{"row": {"tenure": 1e400, "contract": "One year", "charges": 20}}', "'tenure': Infinity is not a finite"),
        ('{"row": {"tenure": 3, "contract": "\\ud800", "charges": 20}}', "surrogate"),
    ],
)
def test_numbers_json_should_not_hold_and_broken_text_are_422(served, text, said):
    answer = served.raw(text)
    assert answer.status_code == 422 and said in answer.json()["error"]["message"], answer.text


def test_a_regression_answers_values_with_nothing_to_defer(tmp_path):
    folder = table_student_folder(tmp_path / "spend", regression=True)
    store, client_key, reviewer_key = keys(tmp_path)
    api = TestClient(create_app(str(folder), keys=store))
    assert api.get("/health").json()["task"] == "tabular-regression"
    answer = api.post("/v1/predict", json={"rows": [SURE, STAYS]}, headers=bearer(client_key))
    assert answer.status_code == 200, answer.text
    values = [r["value"] for r in answer.json()["results"]]
    assert values == pytest.approx(understudy.load(folder).predict([SURE, STAYS]))
    assert set(answer.json()["results"][0]) == {"value"}
    assert api.get("/v1/review", headers=bearer(reviewer_key)).status_code == 404  # no queue: nothing defers


def test_the_server_knows_a_table_student_by_its_task_not_its_kind(tmp_path):
    folder = table_student_folder(tmp_path / "student")
    meta = json.loads((folder / "student.json").read_text())
    (folder / "student.json").write_text(json.dumps({**meta, "kind": "a-kind-not-written-yet"}))
    assert resolve_target(str(folder)) == ("table", folder)


def test_a_real_table_run_served_on_uvicorn(tmp_path_factory, tmp_path):
    run = table_run(tmp_path_factory)
    store, client_key, _ = keys(tmp_path)
    model = understudy.load(run)
    with Uvicorn(create_app(str(run), keys=store)) as url:
        with httpx.Client(base_url=url, headers=bearer(client_key), timeout=30) as http:
            health = http.get("/health").json()
            assert health["task"] == "tabular-classification" and health["verdict"] == model.verdict
            row = {"tenure": 2, "contract": "Month-to-month", "monthly_charges": 99.5, "senior": 0}
            answer = http.post("/v1/predict", json={"row": row})
            assert answer.status_code == 200, answer.text
            [result] = answer.json()["results"]
            assert result["label"] == model.predict(row)
            assert "defer_to_human" not in result  # the recipe has no oversight
            refused = http.post("/v1/predict", json={"row": {**row, "senior": "no"}})
            assert refused.status_code == 422 and refused.json()["error"]["param"] == "row.senior"


def test_the_banner_and_a_text_route_point_a_table_server_at_predict(served):
    from understudy.serve.cli import banner

    said = "\n".join(banner(served.api.app, "127.0.0.1", 8000, served.keys))
    assert "/v1/predict" in said and '{"row": {' in said and "chat/completions" not in said
    got = served.api.post("/v1/classify", json={"text": "x"}, headers=served.client)
    assert got.status_code == 404 and "use POST /v1/predict" in got.json()["error"]["message"]
