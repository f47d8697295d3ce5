"""The settings of a search, resolved once into typed objects.

`resolve_settings` turns the command's options (``None`` = not given) and the settings a study
was created with into a frozen `SearchSettings`: options left out take the study's value, then
the default; options given must match the study's (resuming with another fidelity, space,
sampler ... is refused, naming each difference). Everything is validated here, before any
study directory is touched, and every error is one line naming the option.

What a study stores (``settings.json``) is `SearchSettings.binding` plus the budget: the
settings that define what the study measures. How it runs (backend, concurrency, Ray address,
resources) is `Execution` and may change from one run to the next. Each setting is declared once,
on its field (`roadmap.search.settings_schema`: what is stored, what binds, which options and
flag give it); `resolve_search` is the command's one call: the study folder, its stored
settings and the defaults.
"""

from __future__ import annotations

import math
from dataclasses import MISSING, dataclass, field, fields, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from roadmap.errors import RoadmapError
from roadmap.evaluation.fidelity import Fidelity, default_preset, get_fidelity, load_fidelity
from roadmap.evaluation.latency_backends import LatencyConfig
from roadmap.evaluation.tasks import DEFAULT_TASK, TASK_OPTIONS, Task, task_from_options
from roadmap.search.samplers import SAMPLERS
from roadmap.search.settings_schema import NUMBER, Arg, option_keys, part, setting, settings_of
from roadmap.search.space import SearchSpace, check_space, default_space_path, load_space

if TYPE_CHECKING:
    from roadmap.spec import UNetSpec

__all__ = [
    "Constraints",
    "Execution",
    "SearchSettings",
    "resolve_settings",
    "resolve_search",
    "SAMPLERS",
    "DEFAULT_BUDGET",
    "MAX_BUDGET",
]

# Chosen on benchmarks/search_efficiency.py: TPE beat random search (Mann-Whitney, 10 and 20 seeds)
# where NSGA-II with a population of 10 did not (README, "Samplers").
DEFAULT_SAMPLER = "tpe"
DEFAULT_BUDGET = 50
# Candidates one study may ask for: 10,000 screens of the default fidelity are ~36 CPU hours
# on this 2-core machine; more is a typo (10**9 was stored and promised an ETA of 2.9M hours).
MAX_BUDGET = 10_000
BACKENDS = ("ray", "local")
# GPUs a trial reserves on Ray with --device cuda and no --gpus-per-trial: four small proxy
# trainings share one GPU (none of them fills it)
GPU_SHARE = 0.25
# --task and the options of each task: one per field of `Task` (its name is --task)
TASK_OPTION_KEYS = ("task", *TASK_OPTIONS)  # the task's name, then its options


@dataclass(frozen=True)
class Constraints:
    """Hard limits: candidates over a latency / memory limit are rejected before training
    (no budget used); ``min_psnr`` keeps candidates below it off the front."""

    max_latency_ms: float | None = field(
        default=None,
        metadata=setting(
            *NUMBER,
            None,
            arg=Arg("constraints", "reject candidates slower than this (measured before training)", float),
        ),
    )
    max_memory_mb: float | None = field(
        default=None,
        metadata=setting(
            *NUMBER,
            None,
            arg=Arg(
                "constraints",
                "reject candidates whose predicted or measured peak memory is above this (before training)",
                float,
            ),
        ),
    )
    min_psnr: float | None = field(
        default=None,
        metadata=setting(
            *NUMBER, None, arg=Arg("constraints", "candidates below this PSNR are marked infeasible", float)
        ),
    )

    def __post_init__(self) -> None:
        for name in ("max_latency_ms", "max_memory_mb"):
            value = getattr(self, name)
            if value is not None and (not math.isfinite(value) or value <= 0):
                raise RoadmapError(f"--{name.replace('_', '-')}: impossible constraint {value:g} (must be > 0)")
        if self.min_psnr is not None and (not math.isfinite(self.min_psnr) or self.min_psnr >= 100):
            raise RoadmapError(
                f"--min-psnr: impossible constraint {self.min_psnr:g} dB (a proxy training reaches 20-40 dB)"
            )


@dataclass(frozen=True)
class Execution:
    """Where the trainings run; free to change between runs of one study."""

    backend: str = "ray"
    address: str | None = None
    concurrency: int | None = None  # None: CPUs (or GPUs) / per-trial resources
    cpus_per_trial: float = 1.0
    gpus_per_trial: float = 0.0

    def __post_init__(self) -> None:
        if self.backend not in BACKENDS:
            raise RoadmapError(f"--backend: must be one of {', '.join(BACKENDS)}, got {self.backend!r}")
        if self.address and self.backend != "ray":
            raise RoadmapError("--address needs --backend ray")
        if self.concurrency is not None and self.concurrency < 1:
            raise RoadmapError(f"--concurrency: must be >= 1, got {self.concurrency}")
        if not (math.isfinite(self.cpus_per_trial) and self.cpus_per_trial > 0):
            raise RoadmapError(f"--cpus-per-trial: must be > 0, got {self.cpus_per_trial:g}")
        if not (math.isfinite(self.gpus_per_trial) and self.gpus_per_trial >= 0):
            raise RoadmapError(f"--gpus-per-trial: must be >= 0, got {self.gpus_per_trial:g}")


@dataclass(frozen=True, kw_only=True)  # keyword-only: fields in settings.json's order, defaults or not
class SearchSettings:
    """Everything one run of ``roadmap search`` needs, validated.

    Each field declares, in its metadata (`setting`), what a study stores of it, whether a
    resume must match it and the options that give it; the study's file types, the resume
    check and the command's options are derived from there (`roadmap.search.settings_schema`).
    ``fidelity`` fixes the proxy training and its rungs (`Fidelity.rungs`); ``budget`` counts
    candidates trained at the first rung (complete + failed); promotions to later rungs and
    the noise replicates are the search's own and are not counted.
    """

    study_dir: Path = field(metadata=setting(options=["study"]))
    seed: str = field(metadata=setting(str))  # a seed name, or the path of the user's spec file
    variant: str = field(metadata=setting(str, None))
    # the spec of a seed given as a file (the study keeps it)
    seed_yaml: str | None = field(default=None, metadata=setting(str, None, key="seed_spec", options=()))
    space: SearchSpace = field(
        metadata=setting(
            dict,
            None,
            to_json=SearchSpace.to_dict,
            arg=Arg("what to search", "search-space YAML (default search_spaces/<seed>.yaml)", metavar="FILE"),
        )
    )
    fidelity: Fidelity = field(metadata=setting(dict, str, to_json=Fidelity.to_dict, options=["fidelity", "threads"]))
    data: str | None = field(default=None, metadata=setting(str, None))
    sampler: str = field(
        default=DEFAULT_SAMPLER,
        metadata=setting(
            str,
            arg=Arg(
                "sampler",
                "tpe (default: it beat random search in benchmarks/search_efficiency.py), nsga2 or random",
                choices=SAMPLERS.names,
            ),
        ),
    )
    population_size: int = field(
        default=10,
        metadata=setting(int, arg=Arg("sampler", "NSGA-II population / TPE start-up trials (default 10)", int)),
    )
    random_seed: int = field(default=0, metadata=setting(int))
    constraints: Constraints = field(default_factory=Constraints, metadata=part())
    device: str = field(default="cpu", metadata=setting(str))
    latency: LatencyConfig = field(  # where latency is measured; a study from before the backends timed with torch
        default_factory=LatencyConfig,
        metadata=setting(
            stored={"latency_backend": (str,), "latency_command": (str, None)},
            to_json=LatencyConfig.binding,
            missing={"latency_backend": "torch"},
            options=["latency_backend", "latency_command", "latency_timeout"],
        ),
    )
    task: Task = field(  # what the candidates restore; a study from before the tasks denoised at sigma 25
        default=DEFAULT_TASK,
        metadata=setting(
            dict,
            to_json=Task.to_dict,
            missing={"task": {"name": "denoise", "sigma": [25.0, 25.0]}},
            options=TASK_OPTION_KEYS,
        ),
    )
    budget: int = field(default=DEFAULT_BUDGET, metadata=setting(int, binding=False))  # stored, may grow
    execution: Execution = field(
        default_factory=Execution, metadata=setting(options=[f.name for f in fields(Execution)])
    )

    def binding(self) -> dict[str, Any]:
        """The settings that define what the study measures (``settings.json``)."""
        return {k: v for s in settings_of(type(self)) if s.binding for k, v in s.json(self).items()}

    def seed_spec(self) -> UNetSpec:
        """The seed as the task needs it (an up-sampling head for ``sr``: `for_task`)."""
        from roadmap.evaluation.tasks import for_task
        from roadmap.seeds import get_seed
        from roadmap.spec import load_spec

        spec = load_spec(self.seed_yaml) if self.seed_yaml else get_seed(self.seed, self.variant)
        fitted: UNetSpec = for_task(spec, self.task)
        return fitted


def _given(value: Any, default: Any) -> Any:
    """``value`` unless it was not given (``None``); a 0 stays 0, to be checked, not replaced."""
    return default if value is None else value


def _pick(options: dict[str, Any], stored: dict[str, Any] | None, key: str, default: Any) -> Any:
    value = options.get(key)
    if value is None and stored:
        value = stored.get(key)
    return default if value is None else value


def _seed(options: dict[str, Any], stored: dict[str, Any] | None) -> tuple[str, str, str | None]:
    """(seed, variant, spec YAML of a seed file): a seed name, or a spec file (a resumed study
    keeps the spec it was created with; a changed file is refused as a changed setting)."""
    from roadmap.seeds import get_seed, list_seeds, resolve_spec

    seed = _pick(options, stored, "seed", "nafnet")
    if seed in list_seeds():
        spec = get_seed(seed, _pick(options, stored, "variant", None))
        return seed, str(spec.provenance.get("seed", "")).partition("/")[2], None
    if options.get("seed") is None and stored and stored.get("seed_spec"):
        return seed, "", stored["seed_spec"]
    return seed, "", resolve_spec(seed, options.get("variant")).to_yaml()


def _space(
    options: dict[str, Any], stored: dict[str, Any] | None, seed: str, seed_yaml: str | None, study_dir: Path
) -> SearchSpace:
    """--space, else the study's, else the shipped space of a named seed, else one generated
    from the seed file's structure (`space_gen`)."""
    named = None if seed_yaml else seed
    if options.get("space"):
        return load_space(Path(options["space"]), named)
    if stored and stored.get("space"):
        return load_space(stored["space"], named, f"study settings {Path(study_dir) / 'settings.json'}: space")
    if named:
        return load_space(default_space_path(seed), seed)
    from roadmap.search.space_gen import default_space_data
    from roadmap.spec import load_spec

    return load_space(default_space_data(load_spec(cast(str, seed_yaml))))  # named is None: a seed file


def _fidelity(options: dict[str, Any], stored: dict[str, Any] | None, task: Task) -> Fidelity:
    """--fidelity, else the study's, else the task's default preset
    (`roadmap.evaluation.fidelity.default_preset`); --threads sets its thread count (a
    resume with another count is refused: latencies at other counts do not compare)."""
    if options.get("fidelity") is not None:
        fidelity = load_fidelity(options["fidelity"])
    elif stored and stored.get("fidelity") is not None:
        value = stored["fidelity"]
        fidelity = Fidelity.from_dict(value) if isinstance(value, dict) else get_fidelity(value)
    else:
        fidelity = get_fidelity(default_preset(task.name))
    if options.get("threads") is not None:
        fidelity = Fidelity.from_dict({**fidelity.to_dict(), "threads": int(options["threads"])})
    return fidelity


def _data(value: str | None) -> str | None:
    if value is None:
        return None
    from roadmap.evaluation.data import data_folder

    return str(data_folder(value).resolve())


def _device(value: str, execution: Execution) -> str:
    """``value`` checked (`check_device`); on Ray a trial sees only the GPU Ray gives it, as
    ``cuda:0``, so another index is refused."""
    from roadmap.evaluation.device import check_device

    device = check_device(value, remote=bool(execution.address))
    if execution.backend == "ray" and device.startswith("cuda") and device not in ("cuda", "cuda:0"):
        raise RoadmapError(
            f"--device {device}: on Ray a trial sees only the GPU Ray gives it (as cuda); use --device cuda"
        )
    return device


def _latency(options: dict[str, Any], stored: dict[str, Any] | None) -> LatencyConfig:
    """--latency-backend / --latency-command given, else the study's; a command given alone means
    the command backend, and the study's command is kept only for the command backend."""
    backend, command = options.get("latency_backend"), options.get("latency_command")
    backend = backend or ("command" if command is not None else (stored or {}).get("latency_backend"))
    if command is None and backend == "command":
        command = (stored or {}).get("latency_command")
    return LatencyConfig.from_options(backend, command, options.get("latency_timeout"))


def _task(options: dict[str, Any], stored: dict[str, Any] | None, seed_yaml: str | None, stored_dir: Path) -> Task:
    """--task and its options given, else the study's: a task option left out keeps the study's
    value when the task is the study's, its default otherwise. A new study of a
    super-resolution spec file with no task option is super-resolution at the spec's scale."""
    from roadmap.search.settings_file import study_task  # the one reader of a stored task

    base = study_task(stored, stored_dir) if stored else None
    if base is None and seed_yaml is not None:
        from roadmap.evaluation.tasks import task_of_spec
        from roadmap.spec import load_spec

        given = {k: options.get(k) for k in TASK_OPTIONS}
        return task_of_spec(load_spec(seed_yaml), options.get("task"), **given)
    name = options.get("task") or (base.name if base else DEFAULT_TASK.name)
    given = {k: options.get(k) for k in TASK_OPTIONS if options.get(k) is not None}
    if base is not None and base.name == name:
        from dataclasses import replace

        task = task_from_options(name, **given)  # refuses an option the task does not take
        merged: Task = replace(base, **{k: getattr(task, k) for k in given})
        return merged
    return task_from_options(name, **given)


def _picked(options: dict[str, Any], stored: dict[str, Any] | None, cls: type) -> dict[str, Any]:
    """Each plain setting of ``cls`` (`Setting.plain`, not in a part): the option, else the
    study's value, else the field's default. A setting added as a field needs nothing more."""
    defaults = {f.name: None if f.default is MISSING else f.default for f in fields(cls)}
    return {
        s.name: _pick(options, stored, s.name, defaults[s.name])
        for s in settings_of(cls)
        if s.plain and len(s.path) == 1
    }


def _execution(options: dict[str, Any]) -> Execution:
    """Where the trainings run: this run's options only (a study does not store them)."""
    return Execution(
        backend=options.get("backend") or "ray",
        address=options.get("address"),
        concurrency=options.get("concurrency"),
        cpus_per_trial=_given(options.get("cpus_per_trial"), 1.0),
        gpus_per_trial=_given(options.get("gpus_per_trial"), 0.0),
    )


def _gpu_share(execution: Execution, device: str) -> Execution:
    """``execution`` with `GPU_SHARE` GPUs per trial when trials on Ray train on ``cuda`` and
    ``--gpus-per-trial`` was not given: Ray hides the GPUs from a trial that reserves none
    (an empty ``CUDA_VISIBLE_DEVICES``), so every training would fail."""
    if execution.backend != "ray" or execution.gpus_per_trial or not device.startswith("cuda"):
        return execution
    return replace(execution, gpus_per_trial=GPU_SHARE)


def _check_budget(budget: int, given: bool, study_dir: Path) -> None:
    if not 1 <= budget <= MAX_BUDGET:
        where = "--budget" if given else f"study settings {Path(study_dir) / 'settings.json'}: budget (give --budget N)"
        raise RoadmapError(f"{where}: must be in [1, {MAX_BUDGET}], got {budget}")


def resolve_settings(options: dict[str, Any], study_dir: Path, stored: dict[str, Any] | None) -> SearchSettings:
    """Typed settings from the command's ``options`` (``None`` = not given) and the study's
    ``stored`` settings (``None`` for a new study). Raises `RoadmapError` naming the option."""
    if stored and options.get("seed") is not None:
        from roadmap.search.settings_file import check_settings

        # another seed than the study's: say so first, before its settings are read for this one
        check_settings(study_dir, {"seed": stored.get("seed")}, {"seed": options["seed"]})
    seed, variant, seed_yaml = _seed(options, stored)
    execution = _execution(options)
    picked = _picked(options, stored, SearchSettings)
    SAMPLERS.lookup(picked["sampler"])  # an unknown name: one line naming the known ones
    population = picked["population_size"]
    if not isinstance(population, int) or population < 2:
        raise RoadmapError(f"--population-size: must be an integer >= 2, got {population!r}")
    _check_budget(picked["budget"], options.get("budget") is not None, study_dir)
    default_device = "cuda" if execution.gpus_per_trial else "cpu"
    task = _task(options, stored, seed_yaml, study_dir)
    resolved = {  # in this order: the first error is the one reported
        "study_dir": study_dir,
        "seed": seed,
        "variant": variant,
        "space": _space(options, stored, seed, seed_yaml, study_dir),
        "fidelity": _fidelity(options, stored, task),
        "data": _data(picked["data"]),
        "device": _device(_pick(options, stored, "device", default_device), execution),
        "constraints": Constraints(**_picked(options, stored, Constraints)),
        "seed_yaml": seed_yaml,
        "latency": _latency(options, stored),
        "task": task,
    }
    resolved["execution"] = _gpu_share(execution, str(resolved["device"]))
    settings = SearchSettings(**{**picked, **resolved})
    check_space(settings.space, settings.seed_spec())  # every domain value, before the study exists
    return settings


def resolve_search(options: dict[str, Any]) -> SearchSettings:
    """`resolve_settings` with the study found from the options: ``--study``, else the default
    folder of the seed, variant and task (`default_study_dir`); a folder holding a study gives
    its stored settings. Reads the options of `option_keys` (``None`` = not given) and no others."""
    from roadmap.search.settings_file import read_settings
    from roadmap.search.study import default_study_dir

    options = {key: options.get(key) for key in option_keys(SearchSettings)}
    study_dir = Path(options["study"]) if options["study"] else None
    if study_dir is None:
        study_dir = default_study_dir(
            options["seed"] or "nafnet", options["variant"], options["task"], options["scale"]
        )
    stored = read_settings(study_dir) if study_dir.is_dir() else None
    return resolve_settings(options, study_dir, stored)
