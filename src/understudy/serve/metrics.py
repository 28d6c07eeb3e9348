"""GET /metrics in Prometheus text format, from prometheus_client with one registry per app.

Requests are counted by route template (never the raw path, which a client could make endless), with a
latency histogram; classifier answers count how many went to a person; the queue depth is read at scrape.
"""

from __future__ import annotations

import time

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, disable_created_metrics, generate_latest

disable_created_metrics()  # the *_created series only double the page; nothing here reads them

# Latency buckets in seconds: a static student answers in about a millisecond, a language model in seconds.
BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)


class Metrics:
    def __init__(self, model: str, task: str, verdict: str):
        self.registry = r = CollectorRegistry()
        self.requests = Counter("understudy_requests", "HTTP requests answered", ["route", "status"], registry=r)
        self.latency = Histogram(
            "understudy_request_seconds", "Time to answer a request", ["route"], buckets=BUCKETS, registry=r
        )
        self.answers = Counter("understudy_predictions", "Inputs (texts or rows) the model answered", registry=r)
        self.deferred = Counter("understudy_deferred", "Inputs sent to a person by the oversight policy", registry=r)
        self.deferred_share = Gauge(
            "understudy_deferred_share", "Share of inputs sent to a person since the server started", registry=r
        )
        self.deferred_share.set_function(lambda: self.deferred._value.get() / max(1.0, self.answers._value.get()))
        self.queue_depth = Gauge("understudy_review_queue_pending", "Inputs waiting for a reviewer", registry=r)
        info = Gauge("understudy_model", "The model served (always 1)", ["model", "task", "verdict"], registry=r)
        info.labels(model=model, task=task, verdict=verdict).set(1)

    def watch_queue(self, queue) -> None:
        self.queue_depth.set_function(lambda: queue.counts()["pending"])

    def count_answers(self, n: int, deferred: int) -> None:
        self.answers.inc(n)
        self.deferred.inc(deferred)

    def text(self) -> bytes:
        return generate_latest(self.registry)


class Timing:
    """ASGI middleware that feeds Metrics: one count and one latency per request, by route template."""

    def __init__(self, app, metrics: Metrics):
        self.app, self.metrics = app, metrics

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        start, status = time.perf_counter(), [500]

        async def watched(message):
            if message["type"] == "http.response.start":
                status[0] = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, watched)
        finally:
            route = getattr(scope.get("route"), "path", None) or "unmatched"
            self.metrics.requests.labels(route=route, status=str(status[0])).inc()
            self.metrics.latency.labels(route=route).observe(time.perf_counter() - start)
