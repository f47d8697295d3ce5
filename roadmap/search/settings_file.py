"""A study's ``settings.json``: what it may hold (the keys and JSON types declared on the fields
of `SearchSettings`), reading it back (damage refused in one line naming the key), refusing a
resume with other settings (naming the fields that differ), and writing it."""

from __future__ import annotations

import datetime
import json
import math
from pathlib import Path
from typing import Any

from roadmap.errors import RoadmapError
from roadmap.search.settings import SearchSettings
from roadmap.search.settings_schema import binding_keys, missing_values, stored_types

__all__ = [
    "BINDING_SETTINGS",
    "BINDING_DEFAULTS",
    "SETTINGS_TYPES",
    "read_settings",
    "study_task",
    "check_settings",
    "write_settings",
]

# Settings that define what a study measures: resuming with another value is refused; and the
# value a study created before a binding setting existed had (its settings.json lacks it). Both
# are declared on the fields of `SearchSettings` (budget, concurrency, address, resources and
# --quiet may change between runs).
BINDING_SETTINGS = binding_keys(SearchSettings)
BINDING_DEFAULTS = missing_values(SearchSettings)

# settings.json: each key and the JSON types it may hold (None = null), from the fields of
# `SearchSettings`, and when it was created. What the values mean is checked by
# `resolve_settings` when a search resumes; this refuses what would crash it.
SETTINGS_TYPES: dict[str, tuple[Any, ...]] = {**stored_types(SearchSettings), "created": (str,)}
SETTINGS_MAX_BYTES = 16 << 20  # the space and a seed's spec YAML: kilobytes


def read_settings(directory: Path) -> dict[str, Any] | None:
    """The settings of an existing study, ``None`` when ``directory`` holds no study.

    Any content gives a dict whose keys and types are those of :data:`SETTINGS_TYPES`, or
    one :class:`RoadmapError` line naming the file and the field (:mod:`roadmap.io`)."""
    from roadmap import io

    path = Path(directory) / "settings.json"
    if not path.exists():
        if (Path(directory) / "study.db").exists():
            raise RoadmapError(_settings_lost(Path(directory)))
        return None
    label = f"study settings {path}"
    data = io.parse_json(io.read_text(path, "study settings", SETTINGS_MAX_BYTES), label)
    if not isinstance(data, dict):
        raise RoadmapError(f"{label}: must be a JSON object, got {type(data).__name__}")
    for key, value in data.items():
        if key not in SETTINGS_TYPES:
            raise RoadmapError(
                f"{label}: {io.one_line(key, 60)}: unknown field (a study stores {', '.join(SETTINGS_TYPES)})"
            )
        types = SETTINGS_TYPES[key]
        if isinstance(value, bool) or not isinstance(value, types):
            raise RoadmapError(f"{label}: {key}: must be {_type_names(types)}, got {io.one_line(repr(value), 60)}")
    return data


def _settings_lost(directory: Path) -> str:
    """The refusal of a study.db without its settings.json, with what is intact and what to do."""
    from roadmap.search.resume_point import database_problem, resume_point_text

    intact = "study.db is intact" if database_problem(directory / "study.db") is None else "study.db is damaged too"
    copy = resume_point_text(directory)
    todo = (
        f"restore it from the last good copy ({copy}) with `roadmap restore {directory}`"
        if copy
        else "no copy of it was kept (resume-point/); keep study.db for optuna-dashboard, or to start over, remove "
        "the folder"
    )
    return (
        f"study {directory}: settings.json is missing ({intact}, but a study needs the settings it was created "
        f"with); {todo}"
    )


def study_task(settings: dict[str, Any], directory: Path | str = "") -> Any:
    """The `Task` a study was created with (``settings``: :func:`read_settings`'s dict); a
    study from before the tasks lacks it and was denoising at sigma 25 (:data:`BINDING_DEFAULTS`).
    A damaged entry is one `RoadmapError` line naming the file."""
    from roadmap.evaluation.tasks import Task

    data = settings.get("task", BINDING_DEFAULTS["task"])
    try:
        return Task.from_dict(data)
    except (RoadmapError, TypeError) as exc:
        raise RoadmapError(f"study settings {Path(directory) / 'settings.json'}: task: {exc}") from None


def _type_names(types: tuple[Any, ...]) -> str:
    """``(int, float, NoneType)`` -> ``a number or null``."""
    words = {int: "an integer", float: "a number", str: "text", dict: "an object", type(None): "null"}
    names = [words[t] for t in types if not (t is int and float in types)]
    return " or ".join(names)


def _short(value: Any, key: str = "") -> str:
    if isinstance(value, dict) and "steps" in value:
        return "<search space>"
    if key == "seed_spec":
        return "a spec file's content" if value else "none (a named seed)"
    if key == "task" and isinstance(value, dict):
        from roadmap.evaluation.tasks import Task

        try:
            return Task.from_dict(value).describe()
        except (RoadmapError, TypeError):
            pass  # a damaged entry is shown as it is
    text = json.dumps(value, sort_keys=True)
    return text if len(text) <= 120 else text[:117] + "..."


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, float) or isinstance(b, float):
        try:
            return math.isclose(float(a), float(b), rel_tol=1e-12)
        except (TypeError, ValueError):
            return False
    return json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True)


def check_settings(directory: Path, stored: dict[str, Any], wanted: dict[str, Any]) -> None:
    """Refuse to resume the study in ``directory`` with settings other than its own, naming its
    settings.json and, for a setting that is a document (the fidelity, the search space, a seed
    spec file's content), only the fields that differ."""
    diffs = []
    for key in BINDING_SETTINGS:
        if key not in stored and key not in wanted:
            continue
        have = stored.get(key, BINDING_DEFAULTS.get(key))
        if not _same(have, wanted.get(key)):
            diffs += _differences(key, have, wanted.get(key))
    if diffs:
        shown = diffs[:MAX_DIFFERENCES] + (
            [f"... {len(diffs) - MAX_DIFFERENCES} more"] if len(diffs) > MAX_DIFFERENCES else []
        )
        raise RoadmapError(
            f"study {directory} was created with other settings ({Path(directory) / 'settings.json'}: "
            f"{'; '.join(shown)}); rerun with the study's settings or use another --study"
        )


MAX_DIFFERENCES = 6  # differing fields a refusal lists


def _differences(key: str, have: Any, want: Any) -> list[str]:
    """``field: study has X, command gives Y`` for each differing field of one setting: a spec
    file's YAML content is compared as a document, a task by its description."""
    if key == "task" or not (isinstance(have, (dict, str)) and isinstance(want, (dict, str))):
        return [f"{key}: study has {_short(have, key)}, command gives {_short(want, key)}"]
    documents = [_document(v) for v in (have, want)]
    if not all(isinstance(d, (dict, list)) for d in documents):
        return [f"{key}: study has {_short(have, key)}, command gives {_short(want, key)}"]
    return _leaf_differences(key, *documents) or [f"{key}: the same fields in another order or form"]


def _document(value: Any) -> Any:
    """A dict as it is; a spec's YAML text as its data (None when it is not a document)."""
    if isinstance(value, (dict, list)):
        return value
    import yaml

    try:
        return yaml.safe_load(value) if "\n" in value else None
    except yaml.YAMLError:
        return None


_ABSENT = object()


def _leaf_differences(path: str, have: Any, want: Any) -> list[str]:
    """The differing leaves of two documents (mappings by key, equal-length lists by index)."""
    if isinstance(have, dict) and isinstance(want, dict):
        keys = list(have) + [k for k in want if k not in have]
        return [d for k in keys for d in _leaf_differences(f"{path}.{k}", have.get(k, _ABSENT), want.get(k, _ABSENT))]
    if isinstance(have, list) and isinstance(want, list) and len(have) == len(want):
        return [
            d for i, (a, b) in enumerate(zip(have, want, strict=False)) for d in _leaf_differences(f"{path}[{i}]", a, b)
        ]
    if have is not _ABSENT and want is not _ABSENT and _same(have, want):
        return []
    return [f"{path}: study has {_leaf(have)}, command gives {_leaf(want)}"]


def _leaf(value: Any) -> str:
    if value is _ABSENT:
        return "nothing"
    text = json.dumps(value, sort_keys=True, default=str)
    return text if len(text) <= 60 else text[:57] + "..."


def write_settings(directory: Path, settings: dict[str, Any]) -> None:
    data = dict(settings)
    data.setdefault("created", datetime.datetime.now().isoformat(timespec="seconds"))
    from roadmap.search.study import write_json_atomic

    write_json_atomic(Path(directory) / "settings.json", data)
