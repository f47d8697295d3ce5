"""A setting of ``roadmap search`` is declared once, on its field of `SearchSettings`: what a
study stores, what a resume must match, the command's options and flags are derived from it,
so adding one is one edit (docs/DESIGN.md, "Adding a setting")."""

from __future__ import annotations

import argparse
import json
from dataclasses import dataclass, field, fields
from pathlib import Path

import pytest

from roadmap.cli import build_parser
from roadmap.cli.search_cmd import add_setting_flags
from roadmap.errors import RoadmapError
from roadmap.search.settings import Constraints, SearchSettings, _picked, resolve_search, resolve_settings
from roadmap.search.settings_file import BINDING_DEFAULTS, BINDING_SETTINGS, SETTINGS_TYPES
from roadmap.search.settings_schema import (
    NUMBER,
    Arg,
    binding_keys,
    missing_values,
    option_keys,
    part,
    setting,
    settings_of,
    stored_types,
)

OPTIONS = {"backend": "local", "fidelity": "smoke"}


def search_parser() -> argparse.ArgumentParser:
    action = next(a for a in build_parser()._actions if a.__class__.__name__ == "_SubParsersAction")
    return action.choices["search"]


def test_the_study_files_lists_are_the_declared_ones():
    assert binding_keys(SearchSettings) == BINDING_SETTINGS
    assert (
        BINDING_DEFAULTS
        == missing_values(SearchSettings)
        == {
            "latency_backend": "torch",
            "task": {"name": "denoise", "sigma": [25.0, 25.0]},
        }
    )
    assert {**stored_types(SearchSettings), "created": (str,)} == SETTINGS_TYPES
    assert set(SETTINGS_TYPES) - set(BINDING_SETTINGS) == {"budget", "created"}  # what may change between runs


def test_a_study_stores_its_binding_settings_in_the_files_order():
    settings = resolve_settings(OPTIONS, Path("unused"), None)
    assert (
        tuple(settings.binding())
        == BINDING_SETTINGS
        == (
            "seed",
            "variant",
            "seed_spec",
            "space",
            "fidelity",
            "data",
            "sampler",
            "population_size",
            "random_seed",
            "max_latency_ms",
            "max_memory_mb",
            "min_psnr",
            "device",
            "latency_backend",
            "latency_command",
            "task",
        )
    )
    for key, value in {**settings.binding(), "budget": settings.budget}.items():
        assert isinstance(value, SETTINGS_TYPES[key]), key  # what it writes, the reader takes


def test_every_option_is_a_flag_of_the_command_and_every_flag_an_option():
    dests = {a.dest for a in search_parser()._actions if a.option_strings} - {"help", "quiet", "json"}
    assert set(option_keys(SearchSettings)) == dests


def test_resolve_search_finds_the_study_and_its_stored_settings(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    new = resolve_search({**OPTIONS, "ignored": 1})
    assert new.study_dir == Path("studies/runs/nafnet") and new.budget == 50
    assert resolve_search({**OPTIONS, "seed": "unet", "task": "sr", "scale": 3}).study_dir == Path(
        "studies/runs/unet-sr-x3"
    )
    study = tmp_path / "s"
    study.mkdir()
    stored = resolve_settings({**OPTIONS, "sampler": "random", "min_psnr": 21.0}, study, None)
    (study / "settings.json").write_text(
        json.dumps({**stored.binding(), "budget": 7, "created": "2025-01-01T10:00:00"})
    )
    resumed = resolve_search({"backend": "local", "study": str(study)})
    assert resumed.study_dir == study and resumed.budget == 7 and resumed.sampler == "random"
    assert resumed.constraints.min_psnr == 21.0 and resumed.binding() == stored.binding()


@pytest.mark.parametrize("name", [s.name for s in settings_of(SearchSettings) if s.arg])
def test_a_declared_flag_is_in_the_help(name):
    assert f"--{name.replace('_', '-')}" in search_parser().format_help()


@dataclass(frozen=True)
class ParamsConstraints(Constraints):
    """`Constraints` with DESIGN.md's example: the one edit that adds a setting."""

    max_params_m: float | None = field(
        default=None,
        metadata=setting(*NUMBER, None, arg=Arg("constraints", "reject candidates over this many M parameters", float)),
    )


@dataclass(frozen=True, kw_only=True)
class Extended(SearchSettings):
    """`SearchSettings` as if `Constraints` had been edited (a field keeps its place)."""

    constraints: ParamsConstraints = field(default_factory=ParamsConstraints, metadata=part())


def test_a_new_setting_is_stored_bound_resolved_and_a_flag():
    keys = list(BINDING_SETTINGS)
    keys.insert(keys.index("min_psnr") + 1, "max_params_m")
    assert binding_keys(Extended) == tuple(keys)  # refused on a resume with another value
    assert stored_types(Extended)["max_params_m"] == (int, float, type(None))  # read back from settings.json
    assert "max_params_m" in option_keys(Extended) and "max_params_m" not in missing_values(Extended)
    base = resolve_settings(OPTIONS, Path("unused"), None)
    limits = ParamsConstraints(**_picked({"max_params_m": 2.5}, {"min_psnr": 20}, ParamsConstraints))
    assert limits == ParamsConstraints(min_psnr=20, max_params_m=2.5)  # the option, else the study's
    settings = Extended(
        **{f.name: getattr(base, f.name) for f in fields(base) if f.name != "constraints"}, constraints=limits
    )
    stored = json.loads(json.dumps(settings.binding()))
    expected = {**json.loads(json.dumps(base.binding())), "min_psnr": 20, "max_params_m": 2.5}
    assert list(stored.items()) == [(k, expected[k]) for k in keys]  # written in the fields' order
    parser = argparse.ArgumentParser()
    add_setting_flags(parser.add_argument_group("constraints"), "constraints", Extended)
    args = parser.parse_args(["--max-params-m", "3", "--min-psnr", "20"])
    assert args.max_params_m == 3.0 and args.min_psnr == 20.0 and args.max_latency_ms is None


def test_cuda_trials_on_ray_reserve_a_share_of_a_gpu_unless_told():
    """Ray gives a trial that reserves no GPU an empty ``CUDA_VISIBLE_DEVICES``: ``--device cuda``
    alone once meant every training failed there. (``--address``: the device is not checked on
    this CPU-only machine.)"""
    ray = {"fidelity": "smoke", "backend": "ray", "address": "10.0.0.1:6379"}
    cuda = resolve_settings({**ray, "device": "cuda"}, Path("unused"), None)
    assert cuda.execution.gpus_per_trial == 0.25
    told = resolve_settings({**ray, "device": "cuda", "gpus_per_trial": 1.0}, Path("unused"), None)
    assert told.execution.gpus_per_trial == 1.0
    assert resolve_settings(ray, Path("unused"), None).execution.gpus_per_trial == 0.0  # cpu
    local = resolve_settings({"fidelity": "smoke", "backend": "local"}, Path("unused"), None)
    assert local.execution.gpus_per_trial == 0.0
    with pytest.raises(RoadmapError, match=r"^--device cuda:1: on Ray a trial sees only the GPU Ray gives it"):
        resolve_settings({**ray, "device": "cuda:1"}, Path("unused"), None)
