"""The review queue over HTTP, for reviewers only: what waits, a decision on one item, the audit log, exports.

Who decided is the authenticated reviewer (key or desk session), never a name the client sends.
"""

from __future__ import annotations

from typing import Literal

from fastapi import Depends, Path, Query
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, field_validator

from ..oversight.queue import AlreadyDecided, ReviewNotFound
from .keys import Principal
from .security import error
from .text import check_unicode

MAX_ID = 2**63 - 1  # SQLite's largest integer: a bigger id can only be a mistake


class ReviewDecision(BaseModel):
    model_config = ConfigDict(extra="ignore")
    label: str
    correct: bool = False  # change a decision already made (the audit log keeps both)

    _unicode = field_validator("label")(check_unicode)


def add_review_routes(app, queue, labels: list[str], require) -> None:
    reviewer = require("reviewer")

    @app.get("/v1/review")
    def pending(
        limit: int = Query(100, ge=1, le=1000),
        offset: int = Query(0, ge=0, le=MAX_ID),
        who: Principal = Depends(reviewer),
    ):
        return {"items": queue.pending(limit, offset), "labels": labels, **queue.counts()}

    @app.get("/v1/review/decided")
    def decided(
        limit: int = Query(100, ge=1, le=1000),
        offset: int = Query(0, ge=0, le=MAX_ID),
        who: Principal = Depends(reviewer),
    ):
        return {"items": queue.decided(limit, offset), **queue.counts()}

    @app.get("/v1/review/audit")
    def audit(
        limit: int = Query(100, ge=1, le=1000),
        offset: int = Query(0, ge=0, le=MAX_ID),
        who: Principal = Depends(reviewer),
    ):
        return {"entries": queue.audit(limit, offset)}

    @app.get("/v1/review/export")
    def export(format: Literal["csv", "label-studio"] = "csv", who: Principal = Depends(reviewer)):
        if format == "csv":
            return Response(
                queue.export_csv(None),
                media_type="text/csv; charset=utf-8",
                headers={"Content-Disposition": 'attachment; filename="corrections.csv"'},
            )
        return Response(
            queue.export_label_studio(None),
            media_type="application/json",
            headers={"Content-Disposition": 'attachment; filename="corrections-label-studio.json"'},
        )

    @app.get("/v1/review/{item}")
    def one(item: int = Path(ge=1, le=MAX_ID), who: Principal = Depends(reviewer)):
        found = queue.get(item)
        return found if found is not None else error(404, f"review item {item} does not exist", "item")

    @app.post("/v1/review/{item}")
    def decide(body: ReviewDecision, item: int = Path(ge=1, le=MAX_ID), who: Principal = Depends(reviewer)):
        if body.label not in labels:
            return error(422, f"label {body.label!r} is not one of {', '.join(labels)}", "label")
        try:
            return queue.decide(item, body.label, labels, who.name, correct=body.correct)
        except ReviewNotFound:
            return error(404, f"review item {item} does not exist", "item")
        except AlreadyDecided as exc:
            return error(409, str(exc), "item")
