"""Shared helpers of the benchmark scripts: result paths and text tables."""

from __future__ import annotations

import json
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"


def write_json(name: str, data) -> Path:
    """Write ``data`` to ``benchmarks/results/<name>`` (created if needed)."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / name
    path.write_text(json.dumps(data, indent=2, default=str) + "\n")
    return path


def table(rows: list[list], header: list[str]) -> str:
    """A plain left-aligned text table."""
    rows = [[str(v) for v in r] for r in rows]
    widths = [max(len(r[c]) for r in [header, *rows]) for c in range(len(header))]
    fmt = lambda r: "  ".join(v.ljust(w) for v, w in zip(r, widths, strict=False)).rstrip()  # noqa: E731
    return "\n".join([fmt(header), fmt(["-" * w for w in widths]), *map(fmt, rows)])


def task_of(args):
    """The `Task` of the options `roadmap.cli.common.add_task_arguments` put on ``args``
    (denoise at sigma 25 when none is given)."""
    from roadmap.cli.common import task_options
    from roadmap.evaluation.tasks import task_from_options

    options = task_options(args)
    return task_from_options(options.pop("task"), **options)
