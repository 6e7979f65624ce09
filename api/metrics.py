"""Prometheus metrics of one app: request latency, uploads, and jobs by state (read live)."""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy import func, select

from storage.db.schema import Job
from storage.services import Services

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


class _JobsCollector(Collector):
    def __init__(self, svc: Services) -> None:
        self.svc = svc

    def collect(self) -> Iterator[GaugeMetricFamily]:
        by_state = GaugeMetricFamily(
            "custos_jobs", "Pipeline jobs by stage and state", labels=["stage", "state"]
        )
        with self.svc.db.session() as session:
            rows = session.execute(
                select(Job.stage, Job.status, func.count()).group_by(Job.stage, Job.status)
            ).all()
        for stage, state, count in rows:
            by_state.add_metric([str(stage), str(state)], float(count))
        yield by_state


class Metrics:
    """A registry of its own per app, so that several apps (tests) never collide."""

    def __init__(self, svc: Services) -> None:
        self.registry = CollectorRegistry()
        self.latency = Histogram(
            "custos_http_request_duration_seconds",
            "HTTP request latency",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.uploads = Counter(
            "custos_uploads", "tus uploads by outcome", ["outcome"], registry=self.registry
        )
        self.upload_bytes = Counter(
            "custos_upload_bytes", "bytes received by tus uploads", registry=self.registry
        )
        self.registry.register(_JobsCollector(svc))

    def render(self) -> bytes:
        return generate_latest(self.registry)
