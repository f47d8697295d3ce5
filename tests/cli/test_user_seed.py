"""A user's own spec is a seed: `roadmap space` writes its generated space, the search takes
both, and the study keeps the spec it was created with."""

from __future__ import annotations

import json

import pytest

from roadmap.cli import main
from roadmap.search import resolve_settings, run_search
from roadmap.search.space import load_space
from roadmap.search.testing import FakeEvaluator

# Not a shipped seed: 3 levels, width 24, uneven depths, concat skips.
MY_SPEC = """name: my-unet
in_channels: 3
out_channels: 3
stem: {kernel: 3}
encoder: [{block: nafblock, depth: 1, width: 24}, {block: nafblock, depth: 2, width: 48},
  {block: nafblock, depth: 1, width: 96}]
down: [{type: strided_conv, kernel: 2}, {type: strided_conv, kernel: 2}, {type: strided_conv, kernel: 2}]
middle: [{block: nafblock, depth: 2, width: 192}]
up: [{type: pixel_shuffle}, {type: pixel_shuffle}, {type: pixel_shuffle}]
decoder: [{block: nafblock, depth: 1, width: 24}, {block: nafblock, depth: 1, width: 48},
  {block: nafblock, depth: 2, width: 96}]
skips: [{type: concat}, {type: concat}, {type: concat}]
head: {kernel: 3}
global_residual: true
"""


@pytest.fixture
def my_spec(tmp_path):
    path = tmp_path / "my.yaml"
    path.write_text(MY_SPEC)
    return path


def test_space_command_writes_a_space_the_search_accepts(my_spec, tmp_path, capsys):
    out = tmp_path / "space.yaml"
    assert main(["space", str(my_spec), "--out", str(out)]) == 0
    space = load_space(out)
    transforms = [s.transform for s in space.steps]
    assert {"depth", "pconv", "decouple", "drop_skips"} <= set(transforms)
    depth = next(s for s in space.steps if s.transform == "depth")
    assert list(depth.params["levels"].choices) == [1, 2]  # every shallower U of 3 levels
    drop = next(s for s in space.steps if s.transform == "drop_skips")
    assert list(drop.params["levels"].choices) == [0, 1, 2]
    # its msiam channel maths fail for 24 channels at every ratio tried: no msiam step at all
    assert "msiam" not in transforms
    settings = resolve_settings(
        {"seed": str(my_spec), "space": str(out), "budget": 3, "fidelity": "smoke", "backend": "local"},
        tmp_path / "study",
        None,
    )
    assert settings.space.steps == space.steps


def test_search_on_a_spec_file_keeps_the_spec_and_refuses_a_changed_file(my_spec, tmp_path):
    study = tmp_path / "study"
    options = {"seed": str(my_spec), "budget": 3, "fidelity": "smoke", "backend": "local"}
    summary = run_search(resolve_settings(options, study, None), FakeEvaluator())
    assert summary.done == 3 and summary.complete == 3 + 1  # and the seed, trained besides the budget
    assert any("reference mofa skipped" in n for n in summary.notes)
    stored = json.loads((study / "settings.json").read_text())
    assert stored["seed"] == str(my_spec) and "my-unet" in stored["seed_spec"]
    my_spec.unlink()  # the study resumes without the file: it kept the spec
    resumed = resolve_settings({"budget": 4, "backend": "local"}, study, stored)
    assert resumed.seed_spec().name == "my-unet"
    assert run_search(resumed, FakeEvaluator()).done == 4
    my_spec.write_text(MY_SPEC.replace("width: 192", "width: 96"))
    from roadmap.errors import RoadmapError

    with pytest.raises(RoadmapError, match="seed_spec"):
        run_search(resolve_settings({**options, "budget": 5}, study, stored), FakeEvaluator())


def test_unknown_seed_names_the_choices(tmp_path, capsys):
    code = main(["search", "--seed", "nosuch", "--study", str(tmp_path / "s"), "--backend", "local"])
    err = capsys.readouterr().err
    assert code == 2 and "unknown seed 'nosuch'" in err and "spec .yaml file" in err
    assert not (tmp_path / "s").exists()
