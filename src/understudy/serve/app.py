"""The FastAPI app factory: a run folder's student, a teacher folder or a GGUF, behind keys and limits.

Language models: the OpenAI routes (lm_routes.py). Classifiers: /v1/classify with the oversight policy, the
review queue for reviewers (review.py) and the review desk. Table students: /v1/predict (predict_rows.py), with
the policy, queue and desk where the student classifies. Every app: /health (open), /v1/models, /metrics,
and the way in (docs.py): / (open), /docs (open, Swagger UI from the installed package), /openapi.json.
"""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path

from ..errors import StudentBlocked, UserError
from .keys import KeyStore

log = logging.getLogger("understudy.serve")
CLASSIFIER_KINDS = ("static", "transformer", "onnx")  # onnx: `understudy export`'s folder, onnxruntime only
TABLE_TASKS = ("tabular-classification", "tabular-regression")  # student.json's task: any table kind


def resolve_target(target: str) -> tuple[str, Path | str]:
    """('lm' | 'classifier' | 'table', what to load) for a run folder, a model folder, a .gguf file or 'builtin:NAME'.

    A table student is known by its student.json's task, not its kind, so a new table kind needs no edit here."""
    if target.startswith("builtin:"):
        return "lm", target
    path = Path(target).expanduser()
    if not path.exists():
        raise UserError(f"nothing to serve at {path}: give a run folder, a model folder or a .gguf file")
    student = path / "student"
    if path.name == "student" and (path.parent / "stages.json").is_file():
        path, student = path.parent, path  # a run's student folder: served only as that run evaluated it
    if student.is_dir():
        from ..run import RunFolder

        RunFolder(path).require_evaluated("understudy serve")
        meta = _meta(student)
        if meta.get("task") in TABLE_TASKS:
            return "table", student
        if (student / "config.json").is_file() and meta.get("kind", "causal-lm") == "causal-lm":
            return "lm", student
        if meta.get("kind") in CLASSIFIER_KINDS:
            return "classifier", student
        raise UserError(f"{student} holds no student this server knows (student.json kind: {meta.get('kind')!r})")
    meta = _meta(path) if path.is_dir() else {}
    if meta.get("task") in TABLE_TASKS:
        return "table", path
    if meta.get("kind") in CLASSIFIER_KINDS:
        return "classifier", path
    return "lm", path


def _meta(folder: Path) -> dict:
    """student.json, or {} where there is none."""
    meta = folder / "student.json"
    if not meta.is_file():
        return {}
    try:
        found = json.loads(meta.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise UserError(f"{meta} is not valid JSON (line {exc.lineno}): {exc.msg}; the folder is damaged") from None
    return found if isinstance(found, dict) else {}


def run_verdict(what) -> tuple[str, str]:
    """(verdict, why) of the run a student folder belongs to; ('not gated', ...) for a bare model folder."""
    from ..run import RunFolder

    run = Path(str(what)).parent
    report = run / "report.json"
    if Path(str(what)).name != "student" or not report.is_file():
        return "not gated", "a model folder, not a run: understudy has not measured it"
    from ..report.verdict import verdict_sentence

    found = RunFolder(run).read_json("report.json") or {}
    verdict = (found.get("gates") or {}).get("verdict", "not gated")
    # The report's own one-sentence reason, in plain words: every caller of /health reads it, so no JSON paths.
    why = verdict_sentence(found).strip().rstrip(".")
    if why.upper().startswith(f"{verdict}: "):
        why = why[len(verdict) + 2 :]
    return verdict, why or "see report.html"


def student_name(what) -> str:
    """The id clients see: the student's name as its run booked it, else the model folder's (or file's) name."""
    from ..run import RunFolder

    path = Path(str(what))
    if str(what).startswith("builtin:"):
        return str(what)
    run = RunFolder(path.parent) if path.name == "student" and (path.parent / "stages.json").is_file() else None
    report = (run.read_json("report.json") if run else None) or {}
    meta = RunFolder(path).read_json("student.json") if path.is_dir() else None
    recipe = _recipe(path.parent / "recipe.yaml") if run else {}
    for found in (
        (report.get("student") or {}).get("name"),  # with a licence's name prefix, as the report shows it
        (meta or {}).get("name"),
        (recipe.get("student") or {}).get("name"),
        f"{recipe['name']}-student" if recipe.get("name") else None,
    ):
        if isinstance(found, str) and found.strip():
            return found.strip()
    return path.parent.name if run else path.stem


def _recipe(path: Path) -> dict:
    import yaml

    if not path.is_file():
        return {}
    try:
        found = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise UserError(f"{path} is not valid YAML ({exc}): restore the run's recipe or pass --name") from None
    return found if isinstance(found, dict) else {}


def check_name(name: str) -> str:
    """A model id clients can send back: 1-128 printable characters, no spaces at either end."""
    if not name.strip() or len(name) > 128 or not name.isprintable() or name != name.strip():
        raise UserError(f"--name {name!r}: give 1 to 128 printable characters with no space at either end")
    return name


def create_app(
    target: str,
    *,
    keys: KeyStore,
    name: str | None = None,
    allow_blocked: bool = False,
    max_body_mb: float = 1.0,
    max_batch: int = 256,
    keep_decided_days: float | None = 90,
    keep_pending_days: float | None = None,
    model=None,
):
    """The app for one model. Loads it now, so a bad target fails at start, not on the first request.

    `model` serves another classifier in the student's place (anything with `labels` and `predict_proba`), with
    the run folder's policy: how the load benchmark serves the teacher exactly as the student is served.
    """
    from fastapi import Depends, FastAPI
    from fastapi.responses import Response

    from .docs import add_docs_routes
    from .metrics import Metrics, Timing
    from .security import BodyLimit, guard, install_errors

    kind, what = resolve_target(target)
    verdict, why = run_verdict(what)
    if verdict == "BLOCK" and not allow_blocked:
        raise StudentBlocked(
            f"{Path(str(what)).parent}: the gates blocked this student ({why}); it is not served unless you "
            "pass --allow-blocked, and then /health says so to every caller"
        )
    if not keys.has_keys():
        raise UserError(
            f"no active API key in {keys.path}: every endpoint but /health needs one. "
            "Make one with `understudy api-keys create NAME` (add --role reviewer for the review queue)"
        )
    model_id = check_name(name) if name is not None else student_name(what)
    # docs.py serves the spec behind a key and Swagger UI from the installed package, not FastAPI's CDN page.
    app = FastAPI(title=f"understudy: {model_id}", version="1", docs_url=None, redoc_url=None, openapi_url=None)
    task = {"lm": "text-generation", "classifier": "text-classification"}.get(kind) or _meta(Path(what))["task"]
    created = int(time.time())
    require = guard(keys)
    metrics = Metrics(model_id, task, verdict)
    install_errors(app)
    app.add_middleware(BodyLimit, max_bytes=int(max_body_mb * 1024 * 1024))
    app.add_middleware(Timing, metrics=metrics)  # added last, so outermost: it times what BodyLimit refuses too
    health = {"status": "ok", "model": model_id, "task": task, "verdict": verdict}
    if verdict == "BLOCK":
        health["warning"] = f"served although the gates blocked it ({why}): do not rely on its answers"
        log.warning("serving %s although its verdict is BLOCK (%s)", model_id, why)
    app.state.health = health

    @app.get("/health")
    def health_route():
        return health

    @app.get("/v1/models", dependencies=[Depends(require("client"))])
    def models():
        return {
            "object": "list",
            "data": [{"id": model_id, "object": "model", "created": created, "owned_by": "understudy"}],
        }

    @app.get("/metrics", dependencies=[Depends(require("client"))])
    def metrics_route():
        return Response(metrics.text(), media_type="text/plain; version=0.0.4; charset=utf-8")

    if kind == "lm":
        from .lm_routes import add_lm_routes

        add_lm_routes(app, what, model_id, require)
        add_docs_routes(app, require, health, desk=False)
        return app

    from ..oversight.abstain import load_policy
    from ..oversight.queue import ReviewQueue
    from ..students import load_student
    from .desk import add_desk_routes
    from .review import add_review_routes

    student = model if model is not None else load_student(what)
    folder = Path(what)
    regression = task == "tabular-regression"
    # The oversight policy calibrated at distillation: below its threshold a person decides, via the queue.
    # A regression has none: deferral is calibrated on class probabilities.
    policy = load_policy(folder) if (folder / "oversight.json").is_file() and not regression else None
    queue = None
    if policy is not None:
        queue = ReviewQueue(
            folder.parent / "review_queue.sqlite",
            keep_decided_days=keep_decided_days,
            keep_pending_days=keep_pending_days,
        )
        metrics.watch_queue(queue)
    if kind == "table":
        from ..modalities.table import TableSchema
        from .docs import example_row
        from .predict_rows import add_predict_route

        schema = TableSchema.from_json(_meta(folder)["schema"])
        example = example_row(schema)
        app.state.example = {"path": "/v1/predict", "body": {"row": example}}  # for the banner's "try:" line
        add_predict_route(
            app,
            student,
            schema,
            model_id,
            require,
            policy=policy,
            queue=queue,
            metrics=metrics,
            max_batch=max_batch,
            example=example,
        )
    else:
        from .classify import add_classify_route

        app.state.example = {"path": "/v1/classify", "body": {"text": "my order never arrived"}}
        add_classify_route(
            app, student, model_id, require, policy=policy, queue=queue, metrics=metrics, max_batch=max_batch
        )
    if queue is not None:
        add_review_routes(app, queue, list(student.labels), require)
        add_desk_routes(app, keys, list(student.labels), model_id)
    add_docs_routes(app, require, health, desk=queue is not None)
    return app
