"""POST /v1/classify: the student's label for each text, with the oversight decision and a review id.

A text the oversight policy defers goes into the review queue in the same request, in one transaction, so
the id each result carries is that text's own.
"""

from __future__ import annotations

from fastapi import Depends
from pydantic import BaseModel, ConfigDict, field_validator, model_validator

from .security import error
from .text import check_unicode


class ClassifyRequest(BaseModel):
    # The example is what /docs' "Try it out" sends first: one that works, not both fields filled in.
    model_config = ConfigDict(
        extra="ignore",
        json_schema_extra={"examples": [{"text": "my order never arrived"}, {"texts": ["great tea", "stale tea"]}]},
    )
    texts: list[str] | None = None
    text: str | None = None

    _unicode = field_validator("texts", "text")(check_unicode)

    @model_validator(mode="after")
    def one_of(self):
        if (self.texts is None) == (self.text is None):
            raise ValueError("send either 'text' (one text) or 'texts' (a list of texts)")
        texts = self.all()
        if not texts:
            raise ValueError("'texts' must hold at least one text")
        empty = [i for i, t in enumerate(texts) if not t.strip()]
        if empty:
            where = "text" if self.text is not None else f"texts[{empty[0]}]"
            raise ValueError(f"{where} is empty ({len(empty)} empty text(s)): there is nothing to classify")
        return self

    def all(self) -> list[str]:
        return [self.text] if self.text is not None else list(self.texts or [])


def add_classify_route(app, student, model_id: str, require, *, policy, queue, metrics, max_batch: int) -> None:
    labels = list(student.labels)

    @app.post("/v1/classify", dependencies=[Depends(require("client"))])
    def classify(req: ClassifyRequest):
        texts = req.all()
        if len(texts) > max_batch:
            return error(
                413,
                f"{len(texts)} texts in one request; this server takes at most {max_batch} (serve --max-batch)",
                "texts",
            )
        results = answers(student.predict_proba(texts), texts, labels, policy, queue, metrics)
        return {"model": model_id, "classes": labels, "results": results}


def answers(probs, inputs, labels: list[str], policy, queue, metrics, show=str) -> list[dict]:
    """One result per input: its label, confidence and probabilities; with a policy, whether a person decides and,
    for those, the review id of the input (as `show` puts it for the review desk) queued in the same transaction."""
    from ..oversight.abstain import decide

    best = probs.argmax(1)
    defer = decide(probs, policy) if policy is not None else [False] * len(probs)
    deferred = [
        (show(x), labels[int(b)], float(p.max()), dict(zip(labels, p.tolist())))
        for x, p, b, d in zip(inputs, probs, best, defer)
        if d
    ]
    ids = iter(queue.add_many(deferred) if queue is not None and deferred else [])
    results = []
    for p, b, d in zip(probs, best, defer):
        result = {
            "label": labels[int(b)],
            "confidence": round(float(p[b]), 6),
            "probabilities": {label: round(float(x), 6) for label, x in zip(labels, p)},
        }
        if policy is not None:
            result["defer_to_human"] = bool(d)
            result["review_id"] = next(ids) if d else None
        results.append(result)
    metrics.count_answers(len(probs), len(deferred))
    return results
