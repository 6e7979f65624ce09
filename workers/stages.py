"""The pipeline's stages: where each runs, what it applies to, how long it may take."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from storage.db.schema import Recording
from storage.params import to_json
from storage.services import Services

StageFn = Callable[[Services, str, Any, Callable[[float], None]], dict[str, Any]]
# Recording statuses that are processed: stored, or stored though it changed during the read.
PROCESSED_STATUSES = ("stored", "changed-during-read")


@dataclass(frozen=True)
class Stage:
    name: str
    queue: str
    module: str  # holds the pure stage function and its parameter dataclass
    function: str
    params_class: str
    media_kinds: tuple[str, ...]
    realtime_factor: float  # time limit = base + factor x media duration
    base_limit_s: float = 300.0

    def load(self) -> tuple[StageFn, type]:
        module = importlib.import_module(self.module)
        fn: StageFn = getattr(module, self.function)
        params_cls: type = getattr(module, self.params_class)
        return fn, params_cls

    def default_params(self, svc: Services) -> dict[str, Any]:
        _fn, cls = self.load()
        factory = getattr(cls, "from_settings", None)
        params = factory(svc.settings) if callable(factory) else cls()
        data: dict[str, Any] = to_json(params)
        return data

    def applies_to(self, recording: Recording) -> bool:
        return (
            recording.status in PROCESSED_STATUSES
            and recording.media_kind in self.media_kinds
            and recording.disposed_at is None
        )

    def time_limit_ms(self, duration_s: float | None) -> int:
        return int((self.base_limit_s + self.realtime_factor * (duration_s or 600.0)) * 1000)


STAGES: dict[str, Stage] = {
    s.name: s
    for s in (
        Stage(
            "normalise",
            "cpu",
            "ingest.normalise",
            "run_normalise",
            "NormaliseParams",
            ("video", "audio"),
            realtime_factor=6.0,
        ),
        Stage(
            "transcribe",
            "gpu",
            "models.speech.transcribe_stage",
            "run_transcribe",
            "TranscribeParams",
            ("video", "audio"),
            realtime_factor=4.0,
        ),
        Stage(
            "detect",
            "gpu",
            "models.vision.detect_stage",
            "run_detect",
            "DetectParams",
            ("video",),
            realtime_factor=10.0,
        ),
    )
}
