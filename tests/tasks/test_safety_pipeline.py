"""A healthcare run end to end: fairness per group, the oversight policy stored with the student, the sector's gates."""

from __future__ import annotations

import json

import pytest
from cli_builders import explain, recipe_lines, write_recipe
from conftest import review_rows, write_csv
from typer.testing import CliRunner

from understudy.cli.main import app
from understudy.errors import UserError
from understudy.oversight.abstain import decide, load_policy


def test_healthcare_run_measures_groups_and_stores_an_oversight_policy(tmp_path, tiny_st, tiny_head):
    transfer = review_rows(60, seed=31)
    evaluation = review_rows(80, seed=32, exclude={t for t, _ in transfer})
    write_csv(tmp_path / "data" / "transfer.csv", [(t, "") for t, _ in transfer], header=("text", "note"))
    write_csv(
        tmp_path / "data" / "eval.csv",
        [(t, lab, "north" if i % 3 else "south") for i, (t, lab) in enumerate(evaluation)],
        header=("text", "label", "region"),
    )
    lines = recipe_lines(tiny_st, tiny_head)
    lines[lines.index("    label_column: label") + 1 : 1 + lines.index("    label_column: label")] = [
        "    group_columns: [region]"
    ]
    lines[1:1] = [
        "intended_use:",
        "  description: Sort patient feedback for the practice manager.",
        "  sector: healthcare",
    ]
    lines += ["safety:", "  robustness_texts: 20", "  counterfactual_texts: 20", "  min_group_size: 10"]
    recipe = write_recipe(tmp_path, lines)
    run = tmp_path / "run"
    result = CliRunner().invoke(app, ["distill", str(recipe), "--out", str(run), "--json", "-q"])
    assert result.exit_code in (0, 3), explain(result)  # a tiny model may well miss healthcare's bounds
    report = json.loads(result.stdout)

    fairness = report["fairness"]["attributes"]["region"]
    assert set(fairness["groups"]) == {"north", "south"}
    assert "widened_by" in json.dumps(fairness)

    resolved = (run / "recipe.yaml").read_text()
    assert "oversight_required: true" in resolved  # from the healthcare profile
    oversight = report["oversight"]
    assert set(oversight["policy"]["deferred_by_group"]["region"]) >= {"north", "south"}
    policy = load_policy(run / "student")
    assert policy["alpha"] == oversight["policy"]["alpha"] <= 0.05
    from understudy.students import load_student

    probs = load_student(run / "student").predict_proba(["great value, fast delivery"])
    assert decide(probs, policy) in ([True], [False])

    names = {g["name"]: g for g in report["gates"]["results"]}
    assert names["oversight_required"]["status"] in ("PASS", "BLOCK")
    if not oversight["policy"]["feasible"]:
        assert report["gates"]["verdict"] == "BLOCK" and result.exit_code == 3
    compliance = (run / "compliance.md").read_text()
    assert "high-risk" in compliance.lower() or "healthcare" in compliance.lower()

    # The server applies the stored policy: what the student may not answer alone waits in the review queue.
    from fastapi.testclient import TestClient
    from serve_builders import bearer, keys

    from understudy.serve.app import create_app

    store, _, reviewer_key = keys(tmp_path)
    # a BLOCK verdict is served only when asked for, and then says so
    if report["gates"]["verdict"] == "BLOCK":
        with pytest.raises(UserError, match="--allow-blocked"):
            create_app(str(run), keys=store)
    client = TestClient(create_app(str(run), keys=store, allow_blocked=True), headers=bearer(reviewer_key))
    texts = [t for t, _ in evaluation[:12]]
    results = client.post("/v1/classify", json={"texts": texts}).json()["results"]
    assert len(results) == 12 and results[0]["label"] in ("great", "other")
    deferred = [r["review_id"] for r in results if r["defer_to_human"]]
    queue = client.get("/v1/review").json()
    assert queue["pending"] == len(deferred) == len(queue["items"])
    if deferred:
        done = client.post(f"/v1/review/{deferred[0]}", json={"label": "great"})
        assert done.status_code == 200 and done.json()["label"] == "great" and done.json()["reviewer"] == "desk"
        assert client.post(f"/v1/review/{deferred[0]}", json={"label": "great"}).status_code == 409  # decided already
        assert client.post(f"/v1/review/{deferred[-1]}", json={"label": "maybe"}).status_code == 422
    if not oversight["policy"]["feasible"]:
        assert all(r["defer_to_human"] for r in results)  # an infeasible policy sends everything to a person
