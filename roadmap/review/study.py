"""Read a study directory (DESIGN.md section 5) into plain records for review.

A study directory holds ``study.db`` (Optuna SQLite storage, study ``"roadmap"``) and
``trials/<number>/{spec.yaml,metrics.json}``. Trials carry ``values = [psnr, latency_ms,
peak_memory_measured_bytes]`` (directions maximise, minimise, minimise) and the user attrs
``metrics``, ``spec_yaml``, ``transforms``, ``reference`` and ``failure_reason``.

Only finished trials (state ``COMPLETE`` with three finite values and a metrics status other
than ``diverged``/``failed``) are reviewed; failed ones are counted.
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from roadmap.errors import RoadmapError

__all__ = [
    "OBJECTIVES",
    "MAXIMIZE",
    "STUDY_NAME",
    "TrialRecord",
    "StudyReview",
    "load_study_dir",
    "short_transforms",
]

STUDY_NAME = "roadmap"
OBJECTIVES = ("psnr", "latency_ms", "peak_memory_measured_bytes")
MAXIMIZE = (True, False, False)
REFERENCE_NAMES = ("seed", "mofa", "unet--")


@dataclass
class TrialRecord:
    """One finished trial with the metrics review needs."""

    number: int
    psnr: float
    latency_ms: float
    peak_memory_measured_bytes: float
    ssim: float | None = None
    peak_memory_predicted_bytes: float | None = None
    params: int | None = None
    macs: int | None = None
    transforms: list[dict[str, Any]] = field(default_factory=list)
    reference: str | None = None
    spec_yaml: str | None = None
    metrics: dict[str, Any] = field(default_factory=dict)

    @property
    def values(self) -> tuple[float, float, float]:
        return (self.psnr, self.latency_ms, self.peak_memory_measured_bytes)

    @property
    def memory_mb(self) -> float:
        """Measured peak memory in MB (2**20 bytes), the unit of ``--max-memory-mb``."""
        return self.peak_memory_measured_bytes / 2**20

    def to_dict(self) -> dict[str, Any]:
        """The trial as in ``roadmap pareto --json``."""
        return {
            "number": self.number,
            "psnr": self.psnr,
            "ssim": self.ssim,
            "latency_ms": self.latency_ms,
            "peak_memory_measured_bytes": _int_or_none(self.peak_memory_measured_bytes),
            "peak_memory_predicted_bytes": _int_or_none(self.peak_memory_predicted_bytes),
            "params": self.params,
            "macs": self.macs,
            "transforms": self.transforms,
            "reference": self.reference,
        }


@dataclass
class StudyReview:
    """The finished trials of a study (ordered by number) and what was left out."""

    directory: Path
    trials: list[TrialRecord]
    failed: int
    settings: dict[str, Any] = field(default_factory=dict)
    failures: dict[int, str] = field(default_factory=dict)  # number -> reason
    unfinished: dict[int, str] = field(default_factory=dict)  # pruned / running / waiting: number -> why

    def loss(self) -> np.ndarray:
        """``(n, 3)`` loss vectors (PSNR negated) of :attr:`trials`."""
        from roadmap.review.pareto import to_loss

        return to_loss([t.values for t in self.trials], MAXIMIZE)

    def trial(self, number: int) -> TrialRecord:
        for t in self.trials:
            if t.number == number:
                return t
        if number in self.failures:
            raise RoadmapError(f"trial {number} failed ({self.failures[number]}); pick a finished trial")
        if number in self.unfinished:
            raise RoadmapError(f"trial {number} did not finish ({self.unfinished[number]}); pick a finished trial")
        raise RoadmapError(
            f"trial {number} is not a finished trial of {self.directory} "
            f"(finished: {_ranges([t.number for t in self.trials])})"
        )

    def reference(self, name: str) -> TrialRecord | None:
        for t in self.trials:
            if t.reference == name:
                return t
        return None


def _int_or_none(x: float | None) -> int | None:
    return None if x is None or not math.isfinite(x) else int(round(x))


def _ranges(numbers: list[int]) -> str:
    if not numbers:
        return "none"
    numbers = sorted(numbers)
    parts, start, prev = [], numbers[0], numbers[0]
    for n in numbers[1:] + [None]:  # type: ignore[list-item]
        if n is not None and n == prev + 1:
            prev = n
            continue
        parts.append(str(start) if start == prev else f"{start}-{prev}")
        if n is not None:
            start = prev = n
    return ",".join(parts)


def _num(x: Any) -> float | None:
    try:
        v = float(x)
    except (TypeError, ValueError):
        return None
    return v if math.isfinite(v) else None


def _read_json(path: Path) -> dict[str, Any]:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return {}


def _open_optuna_study(directory: Path):
    """The Optuna study, read-only (``roadmap.search.study.open_study``)."""
    from roadmap.search.study import open_study

    return open_study(directory)


def load_study_dir(directory: str | Path) -> StudyReview:
    """Load the finished trials of the study in ``directory``.

    Raises:
        RoadmapError: the directory or its ``study.db`` does not exist, the storage has no
            ``roadmap`` study, or no trial finished.
    """
    from optuna.trial import TrialState

    directory = Path(directory)
    if not directory.is_dir():
        raise RoadmapError(f"study directory {directory} does not exist")
    study = _open_optuna_study(directory)
    settings = _read_json(directory / "settings.json")
    records: list[TrialRecord] = []
    failures: dict[int, str] = {}
    unfinished: dict[int, str] = {}
    for ft in study.get_trials(deepcopy=False):
        attrs = ft.user_attrs
        if ft.state == TrialState.FAIL:
            failures[ft.number] = str(attrs.get("failure_reason") or "failed")
            continue
        if ft.state != TrialState.COMPLETE:  # running / waiting / pruned: not finished, not failed
            reason = attrs.get("failure_reason")
            unfinished[ft.number] = ft.state.name.lower() + (f": {reason}" if reason else "")
            continue
        metrics = attrs.get("metrics")
        if not isinstance(metrics, dict):
            metrics = _read_json(directory / "trials" / str(ft.number) / "metrics.json")
        values = [_num(v) for v in (ft.values or [])]
        status = metrics.get("status", "ok")
        if len(values) != 3 or any(v is None for v in values) or status in ("diverged", "failed"):
            failures[ft.number] = str(attrs.get("failure_reason") or metrics.get("reason") or status)
            continue
        spec_yaml = attrs.get("spec_yaml")
        if not spec_yaml:
            p = directory / "trials" / str(ft.number) / "spec.yaml"
            spec_yaml = p.read_text() if p.is_file() else None
        transforms = attrs.get("transforms")
        if transforms is None:
            transforms = _steps_from_yaml(spec_yaml)
        params, macs = _num(metrics.get("params")), _num(metrics.get("macs"))
        records.append(
            TrialRecord(
                number=ft.number,
                psnr=values[0],  # type: ignore[arg-type]
                latency_ms=values[1],  # type: ignore[arg-type]
                peak_memory_measured_bytes=values[2],  # type: ignore[arg-type]
                ssim=_num(metrics.get("ssim")),
                peak_memory_predicted_bytes=_num(metrics.get("peak_memory_predicted_bytes")),
                params=None if params is None else int(params),
                macs=None if macs is None else int(macs),
                transforms=list(transforms or []),
                reference=attrs.get("reference"),
                spec_yaml=spec_yaml,
                metrics=dict(metrics),
            )
        )
    records.sort(key=lambda r: r.number)
    if not records:
        extra = f" ({len(failures)} failed)" if failures else ""
        raise RoadmapError(f"study {directory} has no finished trial{extra}")
    return StudyReview(directory, records, len(failures), settings, failures, unfinished)


def _steps_from_yaml(spec_yaml: str | None) -> list[dict[str, Any]]:
    if not spec_yaml:
        return []
    import yaml

    try:
        data = yaml.safe_load(spec_yaml) or {}
    except yaml.YAMLError:
        return []
    prov = data.get("provenance") or {}
    return list(prov.get("steps") or [])


def _fmt_param(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:g}"
    if isinstance(v, (list, tuple)):
        return "[" + ",".join(_fmt_param(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{" + ",".join(f"{k}:{_fmt_param(x)}" for k, x in v.items()) + "}"
    return str(v)


def short_transforms(steps: list[dict[str, Any]]) -> str:
    """``pconv(portion=0.25) > msiam(target_level=2)``; ``-`` for the unchanged seed."""
    if not steps:
        return "-"
    parts = []
    for step in steps:
        params = step.get("params") or {}
        inner = ",".join(f"{k}={_fmt_param(v)}" for k, v in params.items() if v is not None)
        parts.append(f"{step.get('transform', '?')}({inner})")
    return " > ".join(parts)
